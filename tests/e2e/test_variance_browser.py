"""Variance page in a real Chromium: a small study draws its curves, the tabs render, no exception."""

import pytest

from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e


def test_variance_page_draws_a_study_and_its_tabs(app_url, page, artifacts):
    page.goto(app_url)  # through the app's navigation, as a visitor would
    settle(page)
    page.locator("[data-testid='stSidebarNavLink']", has_text="Variance").click()
    page.wait_for_url("**/variance**")
    settle(page, timeout=120)
    page.wait_for_selector("[data-testid='stPlotlyChart'] .js-plotly-plot", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    # the study tab: two figures with one curve per estimator, the table, and the exports
    curves = page.locator("[data-testid='stPlotlyChart'] .scatterlayer .trace")
    assert curves.count() >= 6
    assert page.get_by_text("Variance-reduction factors against Monte Carlo").count() == 1
    for label in ("Study as CSV", "Study as JSON", "Figure as HTML"):
        assert page.locator("[data-testid='stDownloadButton']", has_text=label).count() >= 1, label
    page.screenshot(path=str(artifacts / "variance_study.png"), full_page=True)
    for tab in ("One slice, explained", "Other slicing distributions"):
        page.get_by_role("tab", name=tab).click()
        settle(page)
        assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("Max-SW", exact=False).count() > 0  # the lazy tab ran when opened
    assert "v_tab=other" in page.url
    page.screenshot(path=str(artifacts / "variance_other.png"), full_page=True)
