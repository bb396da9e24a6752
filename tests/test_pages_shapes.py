"""The Shapes page through AppTest: the loader's notes on an upload are shown next to it (and on Home),
and the Measures tab's captions say what the colours mean (equal weights: one colour; unequal: a colour bar)."""

import numpy as np
import trimesh
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def open_page(page: str, **query) -> AppTest:
    """A fresh session on ``pages/<page>`` with URL parameters ``query`` (also used by test_pages_sessions)."""
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _upload(at: AppTest, side: str, name: str, data: bytes) -> AppTest:
    at.radio(key=f"origin_{side}").set_value("Upload").run()
    at.file_uploader(key=f"up_{side}").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def _infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def test_a_skipped_header_and_merged_stl_corners_are_shown_next_to_the_upload():
    pts = np.random.default_rng(3).normal(size=(50, 3))
    text = ("some words here\n" + "\n".join(" ".join(f"{c:.6f}" for c in p) for p in pts)).encode()
    at = _upload(open_page("shapes.py"), "source", "cloud.txt", text)
    notes = [i for i in _infos(at) if "cloud.txt" in i]
    assert len(notes) == 1 and "Line 1" in notes[0] and "header" in notes[0], _infos(at)
    mesh = trimesh.creation.icosphere(1)  # 42 vertices; STL stores 80 triangles x 3 corners apart
    at = _upload(at, "target", "ball.stl", mesh.export(file_type="stl"))
    merged = [i for i in _infos(at) if "ball.stl" in i]
    assert len(merged) == 1 and "240" in merged[0] and f"{len(mesh.vertices):,} vertices" in merged[0], _infos(at)
    assert at.session_state["swviz_pair"]["shapes"][1].n_vertices == len(mesh.vertices)
    # the same notes stand in the Home page's "pair in use"
    home = AppTest.from_file(str(ROOT / "pages" / "home.py"), default_timeout=90)
    home.session_state["swviz_pair"] = at.session_state["swviz_pair"]
    home.run()
    assert not home.exception, home.exception
    assert sum("cloud.txt" in i and "header" in i for i in _infos(home)) == 1
    assert sum("ball.stl" in i and "merged" in i for i in _infos(home)) == 1


def test_a_clean_upload_has_no_note():
    pts = np.random.default_rng(4).normal(size=(40, 3))
    text = "\n".join(" ".join(f"{c:.6f}" for c in p) for p in pts).encode()
    at = _upload(open_page("shapes.py"), "source", "clean.xyz", text)
    assert not [i for i in _infos(at) if "clean.xyz" in i]


def _measure_tab(**query):
    at = open_page("shapes.py", sview="measures", **query)
    captions = [c.value for c in at.caption if c.value.startswith(("**Source.**", "**Target.**"))]
    charts = list(at.get("plotly_chart"))  # the open tab's charts only: the two measures
    return at, captions, charts


def _scale_shown(chart) -> bool:
    import json

    fig = json.loads(chart.proto.spec)
    return any(t.get("marker", {}).get("showscale", False) for t in fig["data"])


def test_equal_weights_get_one_colour_and_unequal_weights_a_colour_bar():
    at, captions, charts = _measure_tab(measure="surface", src="cube", tgt="capsule", n="300")
    assert len(captions) == 2 and all("equal weights" in c and "one colour" in c for c in captions), captions
    assert not any("n·wᵢ" in c for c in captions)
    assert charts and not any(_scale_shown(c) for c in charts)
    at, captions, charts = _measure_tab(measure="vertices", src="cube", tgt="capsule")
    pair = at.session_state["swviz_pair"]
    assert len(captions) == 2 and all("n·wᵢ" in c and "equal weights" not in c for c in captions), captions
    for c, m in zip(captions, (pair["source"], pair["target"])):  # the range quoted is the measure's own
        rel = m.weights * m.n
        assert f"from {rel.min():.3g} to {rel.max():.3g}" in c
    assert len(charts) == 2 and all(_scale_shown(c) for c in charts)


def test_a_link_to_an_upload_carries_its_notes_to_other_pages():
    pts = np.random.default_rng(5).normal(size=(60, 3))
    text = ("name of my cloud\n" + "\n".join(" ".join(f"{c:.6f}" for c in p) for p in pts)).encode()
    at = _upload(open_page("shapes.py"), "source", "headed.txt", text)
    link = {k: at.query_params[k][0] if isinstance(at.query_params[k], list) else at.query_params[k]
            for k in ("src", "tgt", "n", "seed", "measure", "norm", "nw")}
    assert link["src"].startswith("@")
    other = open_page("correspondence.py", **link)  # a fresh session, reading the upload from the server's store
    side = [i.value for i in other.sidebar.info]
    assert sum("headed.txt" in i and "header" in i for i in side) == 1, side
    home = open_page("home.py", **link)  # Home shows them beside the pair in use, not twice
    assert sum("headed.txt" in i for i in _infos(home)) == 1
