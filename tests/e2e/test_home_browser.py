"""Home in a real Chromium: the chart renders, changing the estimator changes the estimate."""

import pytest

from tests.e2e.conftest import choose, settle

pytestmark = pytest.mark.e2e


def _estimate(page) -> str:
    return page.locator("[data-testid='stMetricValue']").first.inner_text()


def test_home_renders_and_reacts_to_the_estimator(app_url, page, artifacts):
    page.goto(app_url)
    settle(page)
    # the Plotly chart has drawn (a WebGL scene in 3D)
    page.wait_for_selector("[data-testid='stPlotlyChart'] .js-plotly-plot", timeout=60_000)
    assert page.locator("[data-testid='stPlotlyChart'] canvas, [data-testid='stPlotlyChart'] .main-svg").count() > 0
    assert page.locator("[data-testid='stException']").count() == 0
    before = _estimate(page)
    assert before and before != "—"

    choose(page, "Estimator", "MC")
    settle(page)
    after = _estimate(page)
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)
    assert after != before, (before, after)
    assert "est=mc" in page.url
    assert page.locator("[data-testid='stException']").count() == 0
