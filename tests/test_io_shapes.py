"""Loading shapes from bytes: round trips for every format, vertex order, caps, hostile files."""

import io
import re
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from swviz import InputError
from swviz.shapes import (
    FORMATS,
    MAX_FILE_BYTES,
    MAX_FILE_MB,
    MESH_FORMATS,
    Shape,
    ShapeLoadError,
    describe,
    load_measure,
    load_shape,
    make_pair,
    points_to_csv,
    points_to_npy,
    shape_to_ply,
)
from tests.conftest import ROOT
from tests.hostile import hostile_cases


@pytest.fixture(scope="module")
def scrambled_mesh():
    """An icosphere whose vertices are shuffled: any reordering by a loader would show."""
    m = trimesh.creation.icosphere(2)
    perm = np.random.default_rng(3).permutation(len(m.vertices))
    inv = np.argsort(perm)
    v = np.asarray(m.vertices)[perm] * [1.0, 0.7, 1.3] + [0.25, -1.0, 2.0]
    return v, inv[np.asarray(m.faces)]


def _export(v, f, fmt):
    data = trimesh.Trimesh(v, f, process=False).export(file_type=fmt)
    return data.encode() if isinstance(data, str) else data


@pytest.mark.parametrize("fmt", ["obj", "ply", "off", "glb"])
def test_mesh_round_trip_keeps_vertex_order(scrambled_mesh, fmt):
    v, f = scrambled_mesh
    s = load_shape(_export(v, f, fmt), f"ball.{fmt}")
    assert s.is_mesh and s.origin == "upload" and s.name == f"ball.{fmt}"
    assert s.vertices.shape == v.shape
    np.testing.assert_allclose(s.vertices, v, atol=1e-6)  # same order, not just the same set
    np.testing.assert_array_equal(s.faces, f)


def test_stl_corners_are_merged_in_order_of_first_appearance(scrambled_mesh):
    v, f = scrambled_mesh
    # the order in which the faces first use each vertex: what an STL still knows of vertex order
    _, first = np.unique(f.ravel(), return_index=True)
    appearance = f.ravel()[np.sort(first)]
    for kind in ("stl", "stl_ascii"):
        data = trimesh.Trimesh(v, f, process=False).export(file_type=kind)
        data = data.encode() if isinstance(data, str) else data
        s = load_shape(data, "ball.stl")
        assert s.n_faces == len(f) and s.n_vertices == len(v)  # 3 corners per face in the file, merged
        np.testing.assert_allclose(s.vertices, v[appearance], atol=1e-6)
        np.testing.assert_allclose(s.vertices[s.faces], v[f], atol=1e-6)  # the same triangles
        assert any("merged" in note and f"{3 * len(f):,} corners" in note for note in s.notes)


def test_merge_coincident_is_exact_whatever_the_units():
    from swviz.shapes.io import merge_coincident

    m = trimesh.creation.icosphere(1)
    soup_v = np.asarray(m.vertices)[m.faces].reshape(-1, 3)
    soup_f = np.arange(len(soup_v)).reshape(-1, 3)
    for scale in (1e-9, 1.0, 1e9):  # an absolute rounding tolerance would collapse the smallest
        v, f = merge_coincident(soup_v * scale, soup_f)
        assert len(v) == len(m.vertices)
        np.testing.assert_array_equal(v[f], soup_v[soup_f] * scale)
    corners = np.array([[0.0, 0, 0], [-0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    v, f = merge_coincident(corners, np.array([[0, 2, 3], [1, 3, 2]]))
    assert len(v) == 3 and f.tolist() == [[0, 1, 2], [0, 2, 1]]  # -0.0 is 0.0


@pytest.fixture(scope="module")
def library_mesh_bytes():
    """One library mesh written by trimesh to every supported mesh format (and both STL encodings)."""
    from swviz.shapes import library_mesh

    v, f = library_mesh("bumpy sphere")
    tm = trimesh.Trimesh(v, f, process=False)
    out = {}
    for kind, ext in (("obj", "obj"), ("ply", "ply"), ("stl", "stl"), ("stl_ascii", "stl"), ("off", "off"),
                      ("glb", "glb")):
        data = tm.export(file_type=kind)
        out[f"{kind}.{ext}"] = data.encode() if isinstance(data, str) else data
    return v, f, out


def test_one_mesh_reads_the_same_in_every_format(library_mesh_bytes):
    import swviz
    from swviz.directions import fibonacci_sphere

    v, f, files = library_mesh_bytes
    assert {name.rsplit(".", 1)[1] for name in files} == set(MESH_FORMATS)
    ref = Shape("ref", v, f)
    ref_area = describe(ref).area
    theta = fibonacci_sphere(200)
    other = np.random.default_rng(0).standard_normal((300, 3))
    ref_m = make_pair(ref, ref, mode="vertices")[0]
    ref_sw = swviz.sliced_wasserstein(ref_m.points, other, ref_m.weights, directions=theta).value
    for name, data in files.items():
        s = load_shape(data, name)
        assert (s.n_vertices, s.n_faces) == (len(v), len(f)), name
        assert describe(s).area == pytest.approx(ref_area, rel=1e-6), name  # float32 files: 1e-7 relative
        m = make_pair(s, ref, mode="vertices")[0]
        assert m.weights is not None and len(m.weights) == len(v)
        sw = swviz.sliced_wasserstein(m.points, other, m.weights, directions=theta).value
        assert sw == pytest.approx(ref_sw, rel=1e-6), name
        # the vertex measures themselves coincide: SW between this file's and the reference's is ~ 0
        gap = swviz.sliced_wasserstein(m.points, ref_m.points, m.weights, ref_m.weights, directions=theta).value
        assert gap < 1e-12 * ref_sw + 1e-12, name


def test_ply_ascii_and_binary_agree(scrambled_mesh):
    v, f = scrambled_mesh
    for enc in ("ascii", "binary"):
        data = trimesh.Trimesh(v, f, process=False).export(file_type="ply", encoding=enc)
        s = load_shape(data, "x.ply")
        np.testing.assert_allclose(s.vertices, v, atol=1e-6)
        np.testing.assert_array_equal(s.faces, f)


def test_glb_scene_is_merged_in_node_order():
    a = trimesh.creation.icosphere(1)
    b = trimesh.creation.box().apply_translation([3.0, 0.0, 0.0])
    data = trimesh.Scene([a, b]).export(file_type="glb")
    s = load_shape(data, "two.glb")
    assert s.n_vertices == len(a.vertices) + len(b.vertices)
    assert s.n_faces == len(a.faces) + len(b.faces)
    assert describe(s).watertight
    np.testing.assert_allclose(describe(s).area, a.area + b.area, rtol=1e-6)


def test_obj_polygons_are_triangulated_and_order_kept():
    data = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 9 9 9\nf 1 2 3 4\n"
    s = load_shape(data, "quad.obj")
    np.testing.assert_array_equal(s.vertices[4], [9, 9, 9])  # unused vertex kept in place
    assert s.n_faces == 2 and describe(s).area == pytest.approx(1.0)


def test_obj_negative_indices_and_uv_seams():
    s = load_shape(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\n", "neg.obj")
    np.testing.assert_array_equal(s.faces, [[0, 1, 2]])
    seam = (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\nvt 0.5 0.5\n"
            b"f 1/1 2/2 3/3\nf 2/5 4/4 3/3\n")
    s = load_shape(seam, "seam.obj")
    assert s.n_vertices == 4  # a vertex with two texture coordinates is not split


POINTS3 = np.array([[0.0, 0.5, 1.0], [2.0, -1.0, 0.25], [1e-3, 4.0, -2.0], [3.5, 3.5, 3.5]])


@pytest.mark.parametrize("name,text", [
    ("pts.xyz", "0 0.5 1\n2 -1 0.25\n0.001 4 -2\n3.5 3.5 3.5\n"),
    ("pts.txt", "# a comment\n0\t0.5\t1\n2\t-1\t0.25\n\n0.001\t4\t-2\n3.5 3.5 3.5\n"),
    ("pts.csv", "x,y,z\n0,0.5,1\n2,-1,0.25\n0.001,4,-2\n3.5,3.5,3.5\n"),
    ("pts.csv", "0;0.5;1\n2;-1;0.25\n0.001;4;-2\n3.5;3.5;3.5\n"),
    ("pts.csv", '"X","Y","Z","weight"\n0,0.5,1,0.1\n2,-1,0.25,0.2\n0.001,4,-2,0.3\n3.5,3.5,3.5,0.4\n'),
])
def test_text_point_clouds(name, text):
    s = load_shape(text.encode(), name)
    assert not s.is_mesh
    np.testing.assert_allclose(s.vertices, POINTS3)


def test_text_errors_name_the_line_in_the_file():
    prose = b"The quick brown fox\njumps over the lazy dog\n"
    with pytest.raises(ShapeLoadError) as err:
        load_shape(prose, "story.txt")
    msg = str(err.value)
    assert "line 2" in msg and "jumps" in msg and "row 0" not in msg
    assert "line 1" in msg and "header" in msg  # it says the first line was taken as a header
    # comments and blank lines are counted as the file counts them
    text = b"# points\n\n0 0 0\n1 0 0\n\n# more\n0 1 x\n"
    with pytest.raises(ShapeLoadError, match=r"line 7: 'x' is not a number"):
        load_shape(text, "c.xyz")
    with pytest.raises(ShapeLoadError, match=r"line 4: it has 2 value\(s\) but line 2 has 3"):
        load_shape(b"\r\n1 2 3\r\n4 5 6\r\n7 8\r\n", "crlf.txt")
    with pytest.raises(ShapeLoadError, match=r"line 3: 'b' is not a number"):
        load_shape(b"x,y,z,w\n1,2,3,a\n1,b,3,4\n", "cols.csv")  # only the chosen columns are checked
    with pytest.raises(ShapeLoadError, match=r"line 2 \('only words'\) is not numeric and no line follows"):
        load_shape(b"\nonly words\n", "h.txt")


def test_skipped_header_is_a_note_on_the_shape():
    s = load_shape(b"# my cloud\nX Y Z\n0 0.5 1\n2 -1 0.25\n0.001 4 -2\n3.5 3.5 3.5\n", "h.txt")
    np.testing.assert_allclose(s.vertices, POINTS3)
    assert len(s.notes) == 1 and "Line 2" in s.notes[0] and "'X Y Z'" in s.notes[0] and "header" in s.notes[0]
    assert s.with_vertices(s.vertices + 1).notes == s.notes  # a moved copy keeps what loading decided
    assert load_shape(b"0 0.5 1\n2 -1 0.25\n0.001 4 -2\n", "plain.txt").notes == ()
    assert load_shape(_export(*_tetra(), "ply"), "t.ply").notes == ()


def _tetra():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    return v, np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def test_two_column_csv_is_a_2d_cloud():
    s = load_shape(b"x,y\n0,1\n1,0\n2,2\n", "flat.csv")
    assert s.dim == 2 and s.n_vertices == 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_npy_round_trip(dtype):
    arr = (POINTS3 * 4).astype(dtype)
    s = load_shape(points_to_npy(arr) if dtype == np.float64 else _npy(arr), "p.npy")
    np.testing.assert_allclose(s.vertices, arr.astype(np.float64))
    two = load_shape(_npy(arr[:, :2]), "p2.npy")
    assert two.dim == 2


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_upload_keys_tell_files_apart():
    a = load_shape(b"1 2 3\n4 5 6\n7 8 0\n", "a.xyz")
    assert a.key == load_shape(b"1 2 3\n4 5 6\n7 8 0\n", "a.xyz").key  # same file, same cache key
    assert a.key != load_shape(b"1 2 3\n4 5 6\n7 8 0\n", "b.xyz").key
    assert a.key != load_shape(b"1 2 3\n4 5 6\n7 8 1\n", "a.xyz").key


def test_ply_without_faces_is_a_point_cloud():
    data = trimesh.PointCloud(POINTS3).export(file_type="ply")
    s = load_shape(data, "cloud.ply")
    assert not s.is_mesh
    np.testing.assert_allclose(s.vertices, POINTS3)


def test_writers_round_trip(scrambled_mesh):
    v, f = scrambled_mesh
    shape = Shape("ball", v, f)
    back = load_shape(shape_to_ply(shape), "ball.ply")
    np.testing.assert_allclose(back.vertices, v, atol=1e-6)  # PLY vertices are float32
    np.testing.assert_array_equal(back.faces, f)
    w = np.linspace(1, 2, len(POINTS3))
    csv = points_to_csv(POINTS3, w / w.sum()).decode()
    assert csv.splitlines()[0] == "x,y,z,weight"
    np.testing.assert_allclose(load_shape(csv.encode(), "again.csv").vertices, POINTS3)  # header picks x, y, z
    table = np.loadtxt(io.StringIO(csv), delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 3], w / w.sum(), rtol=1e-8)
    six = points_to_csv(np.zeros((2, 6))).decode().splitlines()[0]
    assert six == "x,y,z,nx,ny,nz,weight"


def test_file_name_is_never_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.obj").write_text("v 5 5 5\nv 6 5 5\nv 5 6 5\nf 1 2 3\n")
    data = b"mtllib ../../../../etc/passwd\nmtllib secret.obj\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    s = load_shape(data, "../../secret.obj")
    assert s.name == "secret.obj"
    np.testing.assert_array_equal(s.vertices[0], [0, 0, 0])  # the bytes, not the file on disk
    assert load_shape(data, "C:\\Users\\me\\x\x00\x1b.obj").name == "x.obj"
    with pytest.raises(ShapeLoadError, match="no vertices"):
        load_shape(b"x", "secret.obj")  # an existing file's name does not make garbage readable


HOSTILE = hostile_cases()


def test_there_are_at_least_40_hostile_files_across_all_formats():
    assert len(HOSTILE) >= 40
    exts = {c.filename.rsplit(".", 1)[-1] for c in HOSTILE}
    assert set(FORMATS) <= exts


@pytest.mark.parametrize("case", HOSTILE, ids=[c.id for c in HOSTILE])
def test_hostile_file_gives_a_clear_value_error(case):
    with pytest.raises(ShapeLoadError) as info:
        load_shape(case.data, case.filename, **case.caps)
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)
    assert case.filename.split(".")[0] in msg, msg  # the message names the file
    assert any(word in msg.lower() for word in case.expect), msg
    assert "Traceback" not in msg and len(msg) < 400


def test_over_the_default_byte_cap_is_refused_before_parsing():
    with pytest.raises(ShapeLoadError, match=f"limit is {MAX_FILE_MB}.0 MB"):
        load_shape(b"v 0 0 0\n" * (MAX_FILE_BYTES // 8 + 1), "big.obj")


def test_streamlit_upload_cap_matches_swviz():
    text = (ROOT / ".streamlit" / "config.toml").read_text()  # (tomllib is Python 3.11+, we support 3.10)
    section = text.split("[server]", 1)[1].split("\n[", 1)[0]
    assert int(re.search(r"^\s*maxUploadSize\s*=\s*(\d+)", section, re.M).group(1)) == MAX_FILE_MB


def test_a_2d_file_against_a_3d_shape_is_refused():
    from swviz.shapes import library_shape

    flat = load_shape(b"0 0\n1 0\n0 1\n", "flat.xyz")
    with pytest.raises(InputError, match="3D but the target 'flat.xyz' is 2D"):
        make_pair(library_shape("sphere"), flat)


def test_loaders_do_not_need_networkx_or_rtree():
    code = (
        "import sys; sys.modules['networkx'] = None; sys.modules['rtree'] = None\n"
        "import trimesh, numpy as np\n"
        "from swviz.shapes import load_shape, describe, to_measure, library_shape\n"
        "m = trimesh.creation.icosphere(1)\n"
        "for fmt in ('obj', 'ply', 'stl', 'off', 'glb'):\n"
        "    d = m.export(file_type=fmt); d = d.encode() if isinstance(d, str) else d\n"
        "    s = load_shape(d, 'a.' + fmt); describe(s); to_measure(s, 'varifold')\n"
        "describe(library_shape('double torus'))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_real_meshes_load_with_file_vertex_order(shared_meshes):
    expected = {"teapot.obj": (3644, 6320, False), "fandisk.obj": (6475, 12946, True),
                "woody.obj": (694, 1267, False), "beetle.obj": (None, 2053, None)}
    for path in sorted(shared_meshes.glob("*.obj")):
        data = path.read_bytes()
        s = load_shape(data, path.name)
        naive = np.array([ln.split()[1:4] for ln in data.decode().splitlines() if ln.startswith("v ")], float)
        np.testing.assert_array_equal(s.vertices, naive)
        nv, nf, watertight = expected.get(path.name, (None, None, None))
        if nv is not None:
            assert s.n_vertices == nv
        if nf is not None:
            assert s.n_faces == nf
        if watertight is not None:
            assert describe(s).watertight == watertight
        if path.name == "woody.obj":
            assert np.all(s.vertices[:, 2] == 0)  # planar: still a valid surface


def test_load_measure_is_load_then_to_measure(scrambled_mesh):
    v, f = scrambled_mesh
    data = _export(v, f, "ply")
    m = load_measure(data, "ball.ply", mode="vertices", normalise_how="centre")
    assert m.name == "ball.ply" and m.n == len(v) and m.weights is not None
    np.testing.assert_allclose(m.weights.sum(), 1.0)
    s = load_measure(data, "ball.ply", n=77, seed=1)
    assert s.n == 77 and s.mode == "uniform surface samples"
    with pytest.raises(ShapeLoadError, match="limit"):
        load_measure(data, "ball.ply", max_faces=10)
