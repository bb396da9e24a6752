"""No state leaks between browser sessions: after one session changed every setting of the pair,
two fresh sessions opening the same link at the same time (scripts running concurrently on the
server) show the estimate the link means."""

import pytest

import swviz
from swviz.shapes import library_shape, make_pair
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

LINK = "/?src=cube&tgt=capsule&n=500&seed=3&measure=surface&norm=centre&nw=1&est=rqmc-spiral&L=200&p=2"


def _estimate(page) -> str:
    page.wait_for_selector("[data-testid='stMetricValue']", timeout=90_000)
    return page.locator("[data-testid='stMetricValue']").first.inner_text()


def test_two_fresh_sessions_show_the_links_estimate_after_another_changed_everything(app_url, browser):
    src, tgt = make_pair(library_shape("cube"), library_shape("capsule"), "surface", 500, 3, "centre", 1.0)
    res = swviz.sliced_wasserstein(src.points, tgt.points, estimator="rqmc-spiral", n_projections=200, p=2, seed=3)
    expected = f"{res.value:.6g}"
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    try:
        busy, one, two = (c.new_page() for c in contexts)
        busy.goto(app_url + "/shapes?src=cube&tgt=capsule&n=900&seed=8&measure=vertices&norm=align&sview=discrepancy")
        settle(busy, 120)
        busy.goto(app_url + "/?src=cube&tgt=capsule&n=900&seed=8&measure=vertices&norm=align&est=shcv-auto&L=300")
        settle(busy, 120)
        one.goto(app_url + LINK)  # both sessions' scripts run at once
        two.goto(app_url + LINK)
        settle(one, 120)
        settle(two, 120)
        assert _estimate(one) == _estimate(two) == expected
    finally:
        for c in contexts:
            c.close()
