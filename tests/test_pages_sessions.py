"""No state leaks between sessions: one link gives the same Home estimate in every fresh session,
whatever other sessions did on the same server (process-wide caches, the upload store) in between.

Each AppTest is a fresh session in this process, so they share every ``st.cache_data`` /
``st.cache_resource`` entry and module-level object, as browser sessions on one server do.
"""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import swviz
from swviz.shapes import library_shape, make_pair
from tests.test_pages_shapes import open_page

LINK = {"src": "cube", "tgt": "capsule", "n": "500", "seed": "3", "measure": "surface", "norm": "centre",
        "nw": "1", "est": "rqmc-spiral", "L": "200", "p": "2"}


def _session(page: str, query: dict) -> AppTest:
    return open_page(page, **query)


def _numbers(at: AppTest) -> tuple[str, str]:
    """The estimate and the reference as the page shows them."""
    return at.metric[0].value, at.metric[1].value


@pytest.mark.slow  # about 20 s of page runs on busy cores
def test_one_link_shows_one_estimate_in_every_session_whatever_others_did():
    first = _numbers(_session("home.py", LINK))
    # what the link means, computed without the app: the page shows exactly this value
    src, tgt = make_pair(library_shape("cube"), library_shape("capsule"), "surface", 500, 3, "centre", 1.0)
    direct = swviz.sliced_wasserstein(src.points, tgt.points, src.weights, tgt.weights, estimator="rqmc-spiral",
                                      n_projections=200, p=2, seed=3)
    assert first[0] == f"{direct.value:.6g}"

    # another session changes everything it can on the same pair and around it
    other = _session("shapes.py", {k: LINK[k] for k in ("src", "tgt", "n", "seed", "measure", "norm", "nw")})
    other.selectbox(key="w_norm").set_value("align").run()
    other.number_input(key="w_n").set_value(900).run()
    other.number_input(key="w_seed").set_value(8).run()
    other.selectbox(key="w_measure").set_value("vertices").run()
    for view in ("overlay", "measures", "discrepancy"):
        _session("shapes.py", {**{k: LINK[k] for k in ("src", "tgt", "n", "seed")}, "norm": "align",
                               "measure": "vertices", "sview": view})
    assert not other.exception, other.exception
    moved = other.session_state["swviz_pair"]
    assert moved["config"]["norm"] == "align" and moved["config"]["n"] == 900
    busy = _session("home.py", {**LINK, "n": "900", "seed": "8", "norm": "align", "est": "shcv-auto", "L": "300"})
    busy.run()  # a rerun of that session
    for est in ("qmc-gaussian", "rqmc-gaussian", "ucv"):
        _session("home.py", {**LINK, "est": est})

    # fresh sessions on the first link, and a rerun of one of them: the same numbers
    again = _session("home.py", LINK)
    assert _numbers(again) == first
    again.run()
    assert _numbers(again) == first
    assert _numbers(_session("home.py", LINK)) == first
    # and the pair those sessions hold is the one the link names, point for point
    pair = again.session_state["swviz_pair"]
    np.testing.assert_array_equal(pair["source"].points, src.points)
    np.testing.assert_array_equal(pair["target"].points, tgt.points)


def test_large_measures_are_hashed_whole_so_no_cache_mixes_two_of_them():
    from pages import ui

    n = 600_000  # Streamlit's own hash reads a sample of 100,000 entries of arrays this large
    x = np.random.default_rng(1).normal(size=(n, 1))
    y = np.random.default_rng(2).normal(size=(n, 1))
    sampled = np.unique(np.random.RandomState(0).choice(np.arange(n), size=100_000))  # what Streamlit would read
    i = int(np.setdiff1d(np.arange(n), sampled)[0])
    moved = y.copy()
    moved[i] += 50.0  # one atom far away: a different measure, and a different SW
    assert ui.array_digest(moved) != ui.array_digest(y)
    assert ui.array_digest(y) == ui.array_digest(y.copy())
    assert ui.array_digest(y) != ui.array_digest(y.reshape(1, -1)) != ui.array_digest(y.astype(np.float32))
    first = ui.reference(x, y, None, None, 2)
    second = ui.reference(x, moved, None, None, 2)  # the cache must not answer with the first pair's value
    exact = swviz.reference_sw(x, moved, p=2)
    assert second.value == exact.value and second.value > first.value
