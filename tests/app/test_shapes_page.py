"""The Shapes page through AppTest: library choices, uploads of every format through file_uploader,
hostile uploads that keep the previous pair, modes, and the pair surviving page switches."""

import io

import numpy as np
import pytest
import trimesh
from streamlit.testing.v1 import AppTest

from swviz.shapes import FORMATS
from tests.conftest import ROOT
from tests.hostile import hostile_cases

SHAPES_PAGE = "pages/shapes.py"


def open_shapes(**query) -> AppTest:
    """The Shapes page on its own (fast); ``test_the_pair_survives_page_switches`` runs it inside app.py."""
    at = AppTest.from_file(str(ROOT / SHAPES_PAGE), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def pair_names(at):
    state = at.session_state["swviz_pair"]
    return state["source"].name, state["target"].name


def upload(at, side, name, data):
    if at.radio(key=f"origin_{side}").value != "Upload":
        at.radio(key=f"origin_{side}").set_value("Upload").run()
    at.file_uploader(key=f"up_{side}").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def errors(at):
    return [e.value for e in at.error]


def _mesh_files():
    m = trimesh.creation.icosphere(1)
    m.vertices *= [1.0, 0.8, 1.2]
    files = {}
    for fmt in ("obj", "ply", "stl", "off", "glb"):
        data = m.export(file_type=fmt)
        files[f"mesh.{fmt}"] = data.encode() if isinstance(data, str) else data
    pts = np.random.default_rng(0).normal(size=(60, 3))
    files["cloud.xyz"] = "\n".join(" ".join(f"{c:.6f}" for c in p) for p in pts).encode()
    files["cloud.txt"] = files["cloud.xyz"]
    files["cloud.csv"] = ("x,y,z\n" + "\n".join(",".join(f"{c:.6f}" for c in p) for p in pts)).encode()
    buf = io.BytesIO()
    np.save(buf, pts)
    files["cloud.npy"] = buf.getvalue()
    files["cloud.ply"] = trimesh.PointCloud(pts).export(file_type="ply")
    return m, pts, files


def test_default_page_renders_the_pair():
    at = open_shapes()
    assert [t.value for t in at.title] == ["Shapes"]
    assert not errors(at)
    assert pair_names(at) == ("sphere", "torus")
    assert [c.key for c in at.get("plotly_chart")] == ["shapes_side"]  # only the open view is drawn
    assert [c.key for c in open_shapes(sview="measures").get("plotly_chart")] == [
        "shapes_measure_source", "shapes_measure_target"]
    labels = [b.label for b in at.get("download_button")]
    assert len([lab for lab in labels if lab != "Figure as HTML"]) == 6  # three formats per side
    assert labels.count("Figure as HTML") == len(at.get("plotly_chart"))
    table = at.dataframe[0].value
    assert {"vertices", "faces", "surface area", "watertight", "bounding box"} <= set(table.index)
    assert table.loc["watertight"].tolist() == ["yes", "yes"]
    summary = at.sidebar.markdown[0].value
    assert "sphere" in summary and "torus" in summary
    assert [e.label for e in at.expander] == ["What am I looking at?"]
    assert "varifold" in at.latex[0].value and r"\tfrac13" in at.latex[0].value


def test_every_format_uploads_through_file_uploader():
    mesh, pts, files = _mesh_files()
    at = open_shapes()
    for name, data in files.items():
        upload(at, "target", name, data)
        assert not errors(at), (name, errors(at))
        src, tgt = pair_names(at)
        assert tgt == name and src == "sphere"
        shape = at.session_state["swviz_pair"]["shapes"][1]
        if name.startswith("mesh"):
            assert shape.is_mesh and shape.n_faces == len(mesh.faces)
            if not name.endswith("stl"):
                np.testing.assert_allclose(shape.vertices, mesh.vertices, atol=1e-5)  # file order kept
        else:
            assert not shape.is_mesh
            np.testing.assert_allclose(shape.vertices, pts, atol=1e-5)
    tgt = at.query_params["tgt"]
    tgt = tgt[0] if isinstance(tgt, list) else tgt
    assert tgt.startswith("@") and len(tgt) == 25  # an upload is named in the URL by its store key
    assert at.query_params["src"] == "sphere"


def test_hostile_uploads_show_a_message_and_keep_the_pair():
    at = open_shapes()
    upload(at, "source", "good.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    assert pair_names(at) == ("good.obj", "torus")
    seen = set()
    for case in hostile_cases():
        ext = case.filename.rsplit(".", 1)[-1]
        if case.caps or ext in seen or ext not in FORMATS:
            continue  # one hostile file per format here (streamlit itself refuses other extensions)
        seen.add(ext)
        upload(at, "target", case.filename, case.data)
        msgs = errors(at)
        assert msgs and case.filename.split(".")[0] in msgs[0], (case.id, msgs)
        assert "previous pair is kept" in msgs[0]
        assert pair_names(at) == ("good.obj", "torus"), case.id
        assert not at.exception
    assert len(seen) == 9


def test_a_2d_upload_against_a_3d_source_keeps_the_pair():
    at = open_shapes()
    upload(at, "target", "flat.csv", b"x,y\n0,0\n1,0\n0,1\n1,1\n")
    msgs = errors(at)
    assert msgs and "3D" in msgs[0] and "2D" in msgs[0] and "Kept the previous pair" in msgs[0]
    assert pair_names(at) == ("sphere", "torus")
    # a 2D library source makes the 2D upload acceptable
    at.selectbox(key="w_src").set_value("star").run()
    assert pair_names(at) == ("star", "flat.csv")
    assert at.session_state["swviz_pair"]["source"].dim == 2


def test_library_choice_modes_and_url():
    at = open_shapes()
    at.selectbox(key="w_src").set_value("bar").run()
    at.selectbox(key="w_tgt").set_value("bar (twisted)").run()
    at.selectbox(key="w_measure").set_value("varifold").run()
    assert not errors(at) and not at.exception
    state = at.session_state["swviz_pair"]
    assert state["source"].dim == 6 and state["target"].dim == 6
    assert state["source"].n == state["shapes"][0].n_faces  # one atom per face
    assert at.query_params["src"] == "bar" and at.query_params["tgt"] == "bar (twisted)"
    assert at.query_params["measure"] == "varifold"
    at.slider(key="w_nw").set_value(2.5).run()
    np.testing.assert_allclose(np.linalg.norm(at.session_state["swviz_pair"]["source"].points[:, 3:], axis=1), 2.5)
    at.selectbox(key="w_norm").set_value("unit-rms").run()
    assert at.session_state["swviz_pair"]["config"]["norm"] == "unit-rms"
    # a point cloud cannot be a varifold: message, and the pair stays
    at.selectbox(key="w_tgt").set_value("helix").run()
    assert any("needs a mesh" in m for m in errors(at))
    assert pair_names(at) == ("bar", "bar (twisted)")
    at.selectbox(key="w_measure").set_value("vertices").run()
    assert pair_names(at) == ("bar", "helix") and not errors(at)


def test_the_url_restores_a_library_pair():
    at = open_shapes(src="cube", tgt="capsule", n="300", seed="5", measure="vertices", norm="centre")
    assert pair_names(at) == ("cube", "capsule")
    config = at.session_state["swviz_pair"]["config"]
    assert config["n"] == 300 and config["seed"] == 5 and config["mode"] == "vertices" and config["norm"] == "centre"
    bad = open_shapes(src="nope", measure="quantum", n="-3")
    assert pair_names(bad) == ("sphere", "torus") and not errors(bad)


def test_the_pair_survives_page_switches():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(SHAPES_PAGE).run()
    upload(at, "target", "ball.ply", trimesh.creation.icosphere(1).export(file_type="ply"))
    at.switch_page("pages/home.py").run()
    assert not at.exception and pair_names(at) == ("sphere", "ball.ply")
    assert "ball.ply" in at.sidebar.markdown[0].value
    at.switch_page(SHAPES_PAGE).run()
    assert pair_names(at) == ("sphere", "ball.ply")
    assert at.radio(key="origin_target").value == "Upload"
    assert not errors(at)


@pytest.mark.parametrize("mode", ["surface", "vertices", "varifold", "points"])
def test_each_mode_gives_its_atoms_and_downloads(mode):
    at = open_shapes(src="cube", tgt="cone", measure=mode, n="200")
    src = at.session_state["swviz_pair"]["source"]
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert {"Mesh (PLY)", "Atoms (NPY)", "Atoms (CSV)"} <= set(buttons)
    assert src.n == {"surface": 200, "vertices": 98, "varifold": 192, "points": 98}[mode]
