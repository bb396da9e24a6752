"""The Gradient flow page in a real Chromium: the animation renders, and pressing Play moves it."""

import time

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

CHART = "[data-testid='stPlotlyChart']"


def _changed_fraction(a, b) -> float:
    x = np.asarray(Image.open(a).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(b).convert("RGB"), dtype=np.int16)
    if x.shape != y.shape:
        return 1.0
    return float((np.abs(x - y).sum(axis=2) > 30).mean())


def test_pressing_play_animates_the_flow(app_url, page, artifacts):
    page.goto(app_url)
    settle(page)
    t0 = time.perf_counter()
    page.get_by_role("link", name="Gradient flow").click()
    page.wait_for_selector(f"{CHART} .js-plotly-plot .updatemenu-button", timeout=120_000)
    first_render = time.perf_counter() - t0
    settle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    assert "/flow" in page.url

    chart = page.locator(CHART).first
    chart.scroll_into_view_if_needed()
    time.sleep(1.0)  # let the WebGL scenes paint
    slider_label = page.locator(f"{CHART} .slider-group text.slider-label").first  # the current value
    assert slider_label.text_content().strip() == "step 0"
    before, after = artifacts / "flow_before_play.png", artifacts / "flow_after_play.png"
    chart.screenshot(path=str(before))

    page.locator(f"{CHART} .updatemenu-button").first.click()  # ▶ Play
    time.sleep(2.0)
    chart.screenshot(path=str(after))
    label_after = slider_label.text_content().strip()

    assert label_after != "step 0", label_after
    changed = _changed_fraction(before, after)
    assert changed > 0.005, f"only {changed:.2%} of the figure's pixels changed after Play"
    print(f"first render of the flow page: {first_render:.1f} s; {changed:.1%} of the pixels changed; "
          f"slider at {label_after!r}")
