"""Time to first chart of every page against a bare Streamlit page, side by side in one run.

Starts two servers on free loopback ports, ``benchmarks/bare_page.py`` (one 2,048-point
Scatter3d: the floor set by Streamlit, Plotly and software WebGL) and ``app.py``, and drives
headless Chromium (Debian's ``/usr/bin/chromium``, software WebGL) through Playwright. For
each page it measures, in a fresh browser context (a new session) each time:

* ``warm``: the page's default link after the server has served it once (caches shared
  between sessions are warm, as for any visitor after the first);
* ``fresh``: the same link with a seed no session has used, so the measures, the reference and
  the page's computation are all new (what the first visitor of a new pair waits for);
* ``switch``: inside one session, from Home to the page by its sidebar link, until a chart of that page
  (by its key) is drawn.

The clock starts before navigation and stops when the page's first Plotly chart is drawn
(its ``.main-svg`` exists). Times are medians over ``--repeats``; ratios are to the bare
page's median, measured in the same loop. Machines are noisy: compare the ratios.

Reading the figures: Playwright sees the chart only when the page's main thread is next free,
and a page's charts insert their SVGs in the same instant (seen with a MutationObserver), so the
clock counts the render work of every chart on the page, not the first one alone. Measured
against the bare page on 2 cores: a page with only the Flow page's three-panel animation 1.27x,
six widgets and one KaTeX formula 1.27x, and each further chart about 0.15-0.2x more.

    .venv/bin/python benchmarks/bench_pages.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the shared server and browser helpers live in tests/e2e
    sys.path.insert(0, str(ROOT))

from tests.e2e.browser import launch, streamlit_server  # noqa: E402

#: page -> (URL path, prefix of its charts' keys: Streamlit gives each keyed chart the class st-key-<key>)
PAGES = {"home": ("", "home_"), "shapes": ("shapes", "shapes_"), "variance": ("variance", "v_"),
         "flow": ("flow", "flow_"), "correspondence": ("correspondence", "corr_"),
         "deformation": ("deformation", "deform_"), "amortized": ("amortized", "am_")}
#: timed unless --pages says otherwise (the Amortized page's first chart waits for its model: time it on its own)
DEFAULT_PAGES = ("home", "shapes", "variance", "flow", "correspondence", "deformation")
CHART = "[data-testid='stPlotlyChart'] .main-svg"


def page_chart(prefix: str) -> str:
    """A drawn chart of the page whose chart keys start with ``prefix`` (not a stale one of the last page)."""
    return f"[class*='st-key-{prefix}'] {CHART}"


def server(script: Path):
    return streamlit_server(script, health_timeout_s=120.0)


def first_chart(browser, url: str, timeout_s: float = 120.0) -> float:
    """Seconds from navigation to the first drawn Plotly chart, in a new browser context (NaN on a timeout)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(CHART, timeout=timeout_s * 1000)
        return time.perf_counter() - t0
    except PlaywrightTimeout:
        print(f"  timed out: {url}", flush=True)
        return float("nan")
    finally:
        ctx.close()


def switch_times(browser, base: str, pages: dict, timeout_s: float = 120.0) -> dict[str, float]:
    """Seconds from a click on a page's sidebar link (starting on Home) to its first chart."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    out = {}
    try:
        page.goto(base)
        page.wait_for_selector(CHART, timeout=timeout_s * 1000)
        for name, (path, prefix) in pages.items():
            if not path:
                continue
            page.goto(base)  # back to Home in the same session (a full load of Home, not timed)
            page.wait_for_selector(CHART, timeout=timeout_s * 1000)
            t0 = time.perf_counter()
            page.locator(f"[data-testid='stSidebarNav'] a[href$='/{path}']").first.click()
            page.wait_for_selector(page_chart(prefix), timeout=timeout_s * 1000)
            out[name] = time.perf_counter() - t0
    finally:
        ctx.close()
    return out


def _median(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return statistics.median(kept) if kept else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pages", nargs="+", choices=list(PAGES), default=list(DEFAULT_PAGES))
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one page's first chart")
    args = ap.parse_args()
    pages = {k: PAGES[k] for k in args.pages}
    from playwright.sync_api import sync_playwright

    with server(ROOT / "benchmarks" / "bare_page.py") as bare, server(ROOT / "app.py") as app, \
            sync_playwright() as pw:
        browser = launch(pw)
        def timed(url):
            return first_chart(browser, url, args.timeout)

        cold = {"bare": timed(bare)}
        for name, (path, _) in pages.items():  # the server's first visit of each page (imports, caches)
            cold[name] = timed(f"{app}/{path}")
        times: dict[str, dict[str, list[float]]] = {k: {"warm": [], "fresh": [], "switch": []}
                                                   for k in ["bare", *pages]}
        for r in range(args.repeats):
            times["bare"]["warm"].append(timed(bare))
            for name, (path, _) in pages.items():
                times[name]["warm"].append(timed(f"{app}/{path}"))
                times["bare"]["fresh"].append(timed(bare))
                times[name]["fresh"].append(timed(f"{app}/{path}?seed={1000 + r}"))
            for name, t in switch_times(browser, app, pages, args.timeout).items():
                times[name]["switch"].append(t)
        browser.close()

    bare_warm = _median(times["bare"]["warm"])
    bare_fresh = _median(times["bare"]["fresh"])
    print(f"first chart, medians of {args.repeats} (bare page: {bare_warm:.2f} s warm, {bare_fresh:.2f} s in the "
          f"fresh loop; first visits: bare {cold['bare']:.2f} s)")
    print(f"{'page':<16}{'warm s':>8}{'x bare':>8}{'fresh s':>9}{'x bare':>8}{'switch s':>10}{'x bare':>8}"
          f"{'1st visit s':>12}")
    for name in pages:
        w = _median(times[name]["warm"])
        f = _median(times[name]["fresh"])
        s = _median(times[name]["switch"])
        s_txt = f"{s:>10.2f}{s / bare_warm:>8.2f}" if s == s else f"{'—':>10}{'':>8}"
        print(f"{name:<16}{w:>8.2f}{w / bare_warm:>8.2f}{f:>9.2f}{f / bare_fresh:>8.2f}{s_txt}{cold[name]:>12.2f}")


if __name__ == "__main__":
    main()
