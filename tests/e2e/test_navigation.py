"""A fresh server's first visit straight to a sub-page still gets the app's navigation.

Streamlit runs a fresh server's first script in its legacy pages/ auto-discovery mode; every
page leaves that mode (pages/ui.ensure_app_navigation), so the sidebar lists exactly the
registered pages and never the helper modules in pages/.
"""

import re

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import settle, streamlit_server

pytestmark = pytest.mark.e2e


def test_first_visit_to_a_sub_page_uses_the_registered_navigation(browser, artifacts):
    titles = re.findall(r'st\.Page\([^)]*title="([^"]+)"', (ROOT / "app.py").read_text())
    with streamlit_server() as base:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{base}/shapes")
        settle(page)
        links = page.locator("[data-testid='stSidebarNavLink']")
        names = [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]
        page.screenshot(path=str(artifacts / "first_visit_shapes.png"))
        ctx.close()
    assert names == titles, names
    assert not {"pair", "ui"} & {n.lower() for n in names}
