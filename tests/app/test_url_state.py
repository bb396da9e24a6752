"""AppTest: a page's URL holds every setting and restores every widget; unusable URL values are notices.

For each page a link with non-default values for its widgets (and the pair) is opened in a
fresh session: every widget shows the link's value, the URL the page writes back is the same
link, every keyed widget of the page is in it, and a second fresh session opened from that
URL shows the same widgets. Bad values (unknown names, out of range, not numbers) each give a
visible notice that names them and the value used instead; uploads travel by store key.
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")

PAIR = {"src": "cube", "tgt": "capsule", "n": "300", "seed": "3", "measure": "vertices", "norm": "unit-rms",
        "nw": "2.5"}
#: Page -> a link's non-default settings for it (small enough to run in seconds).
VIEWS = {
    "pages/home.py": {**PAIR, "est": "lcv", "L": "37", "p": "1"},
    "pages/shapes.py": {**PAIR, "measure": "varifold", "nw": "2.5", "sview": "overlay"},
    "pages/variance.py": {**PAIR, "v_tab": "study", "v_p": "1", "v_seed": "5", "v_est": "mc,ucv",
                          "v_grid": "log-spaced", "v_Ln": "3",
                          "v_Lmin": "8", "v_Lmax": "32", "v_R": "4", "v_metric": "std", "v_phi": "45",
                          "v_pol": "100", "v_kappa": "3.5", "v_Lo": "64", "v_energy": "identity"},
    "pages/flow.py": {**PAIR, "fpreset": "fast", "fest": "mc,ucv", "floss": "sw", "fmode": "points", "fL": "12",
                      "fsteps": "30", "fh": "0.25", "fseed": "4", "fn": "96", "ftable": "0, 10, 30"},
    "pages/correspondence.py": {**PAIR, "cmeth": "bspot,min-swgg", "cn": "60", "cseed": "2", "clines": "40",
                                "cview": "min-swgg"},
}
#: Widgets whose key is not "w_" + their URL key.
WIDGET_PARAM = {"w_src": "src", "w_tgt": "tgt", "w_n": "n", "w_seed": "seed"}
INTERNAL = ("w__",)  # the share section and notices: not settings of the page


def _open(page: str, params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(params)
    at.run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _qp(at) -> dict:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def _widgets(at) -> dict:
    """URL key -> the widget's value as the URL writes it, for every keyed widget of the page."""
    out = {}
    for kind in ("selectbox", "multiselect", "number_input", "slider", "text_input", "toggle"):
        for w in at.get(kind):
            key = getattr(w, "key", None)
            if not key or not key.startswith("w_") or key.startswith(INTERNAL):
                continue
            v = w.value
            if kind == "multiselect":
                v = ",".join(map(str, v))
            elif kind == "toggle":
                v = "1" if v else "0"
            out[WIDGET_PARAM.get(key, key[2:])] = v
    return out


def _same(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


@pytest.mark.parametrize("page", list(VIEWS))
def test_the_url_round_trip_restores_every_widget(page):
    params = VIEWS[page]
    at = _open(page, params)
    assert not at.warning or not any("link" in w.value for w in at.warning), [w.value for w in at.warning]
    widgets = _widgets(at)
    url = _qp(at)
    for key, want in params.items():
        assert _same(url[key], want), (key, url[key], want)  # the page writes the link back unchanged
        if key in widgets:
            assert _same(widgets[key], want), (key, widgets[key], want)
    for key, value in widgets.items():  # every widget of the page is in its URL
        assert key in url and _same(url[key], value), (key, value, url.get(key))
    state = at.session_state["swviz_pair"]["config"]
    assert (state["src"], state["tgt"], state["n"], state["seed"], state["mode"], state["norm"], state["nw"]) == (
        "cube", "capsule", 300, 3, params["measure"], "unit-rms", 2.5)
    again = _open(page, url)  # a second fresh session from the written URL
    assert _widgets(again) == widgets
    assert _qp(again) == url


BAD = [
    ("pages/home.py", {"src": "bunny"}, ["src=bunny", "sphere"]),
    ("pages/home.py", {"est": "nope", "L": "-5"}, ["est=nope", "Upper CV", "L=-5", "100"]),
    ("pages/home.py", {"n": "abc", "seed": "2.5"}, ["n=abc", "1,024", "seed=2.5", "whole number"]),
    ("pages/home.py", {"src": "sphere", "tgt": "circle"}, ["2D", "3D"]),
    ("pages/shapes.py", {"measure": "foo", "norm": "bar"}, ["measure=foo", "norm=bar"]),
    ("pages/shapes.py", {"src": "helix", "measure": "varifold"}, ["varifold", "uniform surface samples"]),
    ("pages/flow.py", {"fest": "mc,bogus", "fL": "99999", "fsteps": "20", "fn": "64"},
     ["bogus", "fL=99999", "32"]),
    ("pages/variance.py", {"v_R": "1", "v_est": "mc", "v_Lmax": "16", "v_metric": "x"}, ["v_R=1", "v_metric=x"]),
    ("pages/correspondence.py", {"cn": "5000", "cmeth": "bspot"}, ["cn=5000", "1,000"]),
    ("pages/correspondence.py", {"cmeth": "bogus"}, ["bogus", "Exact assignment"]),
]


@pytest.mark.parametrize("page, params, words", BAD)
def test_an_unusable_url_value_is_a_notice_naming_it_and_what_was_used(page, params, words):
    at = _open(page, params)
    text = " ".join(w.value for w in at.warning)
    for word in words:
        assert word in text, (word, text)
    at.run()  # the notice stays on the next run, until dismissed
    assert all(word in " ".join(w.value for w in at.warning) for word in words)
    at.button(key="w__dismiss_notices").click().run()
    assert not any("link" in w.value for w in at.warning)


def test_correspondence_points_cannot_exceed_what_the_pair_has():
    at = _open("pages/correspondence.py", {"n": "200", "cmeth": "bspot", "cn": "150"})
    w = at.number_input(key="w_cn")
    assert w.max == 200 and w.value == 150 and "200" in w.help
    assert any("150 atoms from each side" in c.value for c in at.caption)  # what is used is what is shown
    at2 = _open("pages/correspondence.py", {"n": "200", "cmeth": "bspot"})
    assert at2.number_input(key="w_cn").value == 200  # the default 1,000 is capped, not silently cut


def test_flow_particles_cannot_exceed_what_the_pair_has():
    at = _open("pages/flow.py", {"n": "100", "fest": "mc", "fsteps": "10"})
    w = at.number_input(key="w_fn")
    assert w.max == 100 and w.value == 100
    table = at.dataframe[0].value
    assert list(table.columns) == ["MC"]


def test_home_with_an_upload_shows_the_pair_in_use_and_no_library_choices():
    from pages import pair

    pts = np.random.default_rng(0).normal(size=(200, 3))
    data = "\n".join(" ".join(f"{c:.9f}" for c in p) for p in pts).encode()
    key = pair.upload_store().put(data, "xyz", "my_cloud.xyz")
    at = _open("pages/home.py", {"src": "@" + key, "tgt": "sphere", "measure": "points"})
    assert not at.warning or not any("no longer" in w.value for w in at.warning)
    names = [s.key for s in at.selectbox]
    assert "w_src" not in names and "w_tgt" not in names
    assert any("my_cloud.xyz" in m.value and "upload" in m.value for m in at.markdown)
    assert _qp(at)["src"] == "@" + key
    state = at.session_state["swviz_pair"]
    np.testing.assert_allclose(state["source"].points, pts, atol=1e-9)
    at.number_input(key="w_seed").set_value(7).run()  # keeps the upload
    assert _qp(at)["src"] == "@" + key and _qp(at)["seed"] == "7"


def test_a_link_to_an_upload_the_server_no_longer_holds_says_so():
    at = _open("pages/home.py", {"src": "@" + "0" * 24})
    text = " ".join(w.value for w in at.warning)
    assert "no longer holds" in text and "sphere" in text
    assert _qp(at)["src"] == "sphere"  # the URL now says what is shown
