"""Sharing in a real Chromium: a link with an upload, the view archive, an evicted upload, presets.

Each "other person" is a fresh browser context (no cookies, no session) on the same server.
"""

import zipfile

import numpy as np
import pytest

from tests.e2e.conftest import choose, settle

pytestmark = pytest.mark.e2e


def _estimate(page) -> str:
    page.wait_for_selector("[data-testid='stMetricValue']", timeout=60_000)
    return page.locator("[data-testid='stMetricValue']").first.inner_text()


def _fresh(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    return ctx, ctx.new_page()


def _cloud_bytes() -> bytes:
    pts = np.random.default_rng(7).normal(size=(300, 3)) * [1.0, 0.5, 0.3]
    return "\n".join(" ".join(f"{c:.8f}" for c in p) for p in pts).encode()


def _share(page):
    page.locator("[data-testid='stSidebar'] [data-testid='stExpander']", has_text="Share this view").click()
    page.wait_for_timeout(300)


def test_a_link_holding_an_uploaded_pair_shows_the_same_estimate_elsewhere(app_url, browser, artifacts):
    ctx, page = _fresh(browser)
    try:
        page.goto(app_url + "/shapes")
        settle(page)
        page.get_by_role("radiogroup", name="Source from").get_by_text("Upload").click()
        settle(page)
        uploader = page.locator("[data-testid='stFileUploader']").filter(has_text="Source file")
        uploader.locator("input[type='file']").set_input_files(
            files=[{"name": "shared_cloud.xyz", "mimeType": "text/plain", "buffer": _cloud_bytes()}])
        settle(page)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]').innerText"
                               ".includes('shared_cloud.xyz')", timeout=60_000)
        page.locator("[data-testid='stSidebarNavLink']", has_text="Home").click()
        settle(page)
        assert "src=%40" in page.url or "src=@" in page.url, page.url
        link, before = page.url, _estimate(page)
        assert page.get_by_text("The pair in use").count() == 1  # not the library's selectboxes
    finally:
        ctx.close()
    ctx, other = _fresh(browser)
    try:
        other.goto(link)
        settle(other)
        assert _estimate(other) == before
        assert "shared_cloud.xyz" in other.locator("[data-testid='stSidebar']").inner_text()
        assert other.locator("[data-testid='stAlertContentWarning']").count() == 0
        other.screenshot(path=str(artifacts / "shared_upload_link.png"), full_page=True)
    finally:
        ctx.close()


def test_the_view_archive_round_trips_and_a_corrupt_one_is_named(app_url, browser, tmp_path):
    ctx, page = _fresh(browser)
    try:
        page.goto(app_url + "/?src=cube&tgt=capsule&n=400&seed=2&est=lcv&L=64&p=1&norm=centre")
        settle(page)
        before = _estimate(page)
        _share(page)
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download this view").click()
        path = tmp_path / "view.zip"
        dl.value.save_as(path)
    finally:
        ctx.close()
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {"view.json", "source_points.npy", "target_points.npy"} <= names
    ctx, other = _fresh(browser)
    try:
        other.goto(app_url + "/flow?fsteps=5&fn=32")  # elsewhere, with another pair
        settle(other)
        _share(other)
        opener = other.locator("[data-testid='stFileUploader']").filter(has_text="Open a view")
        opener.locator("input[type='file']").set_input_files(str(path))
        settle(other)
        other.wait_for_function("() => document.querySelector('h1') && "
                                "document.querySelector('h1').innerText.startsWith('swviz')", timeout=60_000)
        settle(other)
        url = other.url
        for part in ("src=cube", "tgt=capsule", "n=400", "seed=2", "est=lcv", "L=64", "p=1", "norm=centre"):
            assert part in url, (part, url)
        assert _estimate(other) == before
        # a corrupt archive: a clear message, and the view stays
        _share(other)
        opener = other.locator("[data-testid='stFileUploader']").filter(has_text="Open a view")
        opener.locator("input[type='file']").set_input_files(
            files=[{"name": "broken.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04 not really"}])
        settle(other)
        err = other.locator("[data-testid='stAlertContentError']").all_inner_texts()
        assert any("not a view archive" in e for e in err), err
        assert _estimate(other) == before
    finally:
        ctx.close()


def test_a_link_to_an_evicted_upload_says_so(app_url, browser):
    ctx, page = _fresh(browser)
    try:
        page.goto(app_url + "/?src=@" + "f" * 24)
        settle(page)
        text = " ".join(page.locator("[data-testid='stAlertContentWarning']").all_inner_texts())
        assert "no longer holds" in text and "sphere" in text, text
        assert "src=sphere" in page.url
    finally:
        ctx.close()


def test_the_paper_preset_shows_its_values_in_the_browser(app_url, browser, artifacts):
    ctx, page = _fresh(browser)
    try:
        page.goto(app_url + "/flow?fest=mc&fsteps=20&fn=64&n=128")
        settle(page)
        def value(label):
            return page.get_by_role("spinbutton", name=label, exact=True).input_value()

        assert value("Directions L") == "32"
        choose(page, "Preset", "paper")
        page.get_by_role("button", name="Run these flows").wait_for(timeout=60_000)  # the preset's run is drawn
        assert value("Directions L") == "10" and value("Steps") == "8000"
        assert float(value("Step size h")) == 0.01 and value("Particles") == "128"  # capped at the pair's 128
        box = page.get_by_role("combobox", name="Loss")
        loss = box.evaluate("e => e.value || e.innerText || e.textContent")
        assert "SW₂" in loss and "SW₂²" not in loss, loss
        page.screenshot(path=str(artifacts / "flow_paper_preset.png"))
    finally:
        ctx.close()
