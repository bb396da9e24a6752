"""Browser fixtures: `streamlit run` headless on a free port, and Debian's Chromium via Playwright.

Never downloads a browser: Playwright is pointed at /usr/bin/chromium. Without it the browser
tests skip locally and fail in CI (CI=true), where the set-up installs it.
"""

import os
import time

import pytest

from tests.e2e.browser import CHROMIUM, launch, streamlit_server


@pytest.fixture(scope="session")
def app_url():
    with streamlit_server() as base:  # RuntimeError (a setup error) if it never answers
        yield base


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: the set-up should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def settle(page, timeout: float = 60.0) -> None:
    """Wait until the app's script has finished running and figures had time to paint."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout * 1000)
    deadline = time.time() + timeout
    time.sleep(0.8)
    while time.time() < deadline:
        if page.get_attribute("[data-testid='stApp']", "data-test-script-state") == "notRunning":
            break
        time.sleep(0.25)
    time.sleep(1.0)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (Streamlit's react-aria combobox)."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
