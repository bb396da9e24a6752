"""The built-in library: enough shapes, all valid, reproducible; deformed pairs and their ground truth."""

import numpy as np
import pytest

from swviz import InputError
from swviz.shapes import (
    DEFORMATIONS,
    SHAPES,
    Shape,
    deform,
    deformation_pairs,
    deformed_shape,
    describe,
    face_areas,
    ground_truth,
    library_shape,
    same_connectivity,
    sample_shape,
    shape_names,
)
from swviz.shapes import library as lib
from swviz.shapes._isosurface import marching_tetrahedra


def test_at_least_12_3d_and_6_2d_shapes():
    assert len(shape_names(3)) >= 12 and len(shape_names(2)) >= 6
    assert len(shape_names(3, "mesh")) >= 12
    for name in ("sphere", "torus", "cube", "cylinder", "cone", "capsule", "bumpy sphere", "peanut",
                 "trefoil knot", "helix", "gaussian blobs", "circle", "square", "star", "spiral", "two moons",
                 "annulus"):
        assert name in SHAPES


@pytest.mark.parametrize("name", shape_names(kind="mesh"))
def test_library_meshes_are_closed_surfaces(name):
    s = library_shape(name)
    assert s.is_mesh and s.dim == 3 and s.n_faces > 100
    info = describe(s)
    assert info.watertight, name
    area = face_areas(s.vertices, s.faces)
    assert np.all(area > 0)
    # outward orientation: the signed volume is positive
    p = s.vertices[s.faces]
    assert np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() > 0
    assert s.vertices.nbytes < 2_000_000


@pytest.mark.parametrize("name", list(SHAPES))
def test_sample_shape_is_seeded(name):
    a, b = sample_shape(name, 300, seed=4), sample_shape(name, 300, seed=4)
    assert a.shape == (300, SHAPES[name].dim) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, sample_shape(name, 300, seed=5))


def test_known_shapes_have_known_geometry():
    assert describe(library_shape("cube")).area == pytest.approx(24.0)
    np.testing.assert_allclose(np.linalg.norm(library_shape("sphere").vertices, axis=1), 1.0)
    assert describe(library_shape("sphere")).area == pytest.approx(4 * np.pi, rel=0.01)
    torus_area = 4 * np.pi**2 * 1.0 * 0.35
    assert describe(library_shape("torus")).area == pytest.approx(torus_area, rel=0.01)
    np.testing.assert_allclose(np.linalg.norm(sample_shape("circle", 100), axis=1), 1.0)
    r = np.linalg.norm(sample_shape("annulus", 4000, seed=0), axis=1)
    assert r.min() >= 0.5 and r.max() <= 1.0
    assert np.mean(r < np.sqrt(0.625)) == pytest.approx(0.5, abs=0.03)  # uniform by area: median radius
    assert np.allclose(np.abs(sample_shape("square", 200)).max(1), 1.0)


def test_genus_of_the_implicit_shapes():
    for name, genus in (("double torus", 2), ("jack", 0), ("torus", 1), ("trefoil knot", 1)):
        s = library_shape(name)
        edges = np.sort(s.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        euler = s.n_vertices - len(np.unique(edges, axis=0)) + s.n_faces
        assert euler == 2 - 2 * genus, name


def test_assets_match_the_generator_and_are_small():
    total = 0
    for stem, build in lib.ASSET_BUILDS.items():
        path = lib.ASSETS / f"{stem}.ply"
        assert path.is_file(), f"run python assets/make_assets.py to create {path.name}"
        total += path.stat().st_size
        v, f = marching_tetrahedra(*build.implicit)
        stored_v, stored_f = build()
        np.testing.assert_array_equal(stored_f, f)
        np.testing.assert_allclose(stored_v, v, atol=1e-6)  # stored as float32
    assert total < 3_000_000


def test_library_builds_implicit_shapes_without_assets(tmp_path, monkeypatch):
    monkeypatch.setattr(lib, "ASSETS", tmp_path)
    lib._mesh_cached.cache_clear()
    try:
        s = library_shape("jack")
        assert s.is_mesh and describe(s).watertight
    finally:
        lib._mesh_cached.cache_clear()


def test_library_clouds_depend_on_n_and_seed():
    a = library_shape("two moons", 100, 1)
    assert a.vertices.shape == (100, 2) and a.key == "library:two moons:100:1"
    np.testing.assert_array_equal(a.vertices, library_shape("two moons", 100, 1).vertices)
    with pytest.raises(InputError, match="unknown shape"):
        library_shape("dodecahedron")


def test_deformed_pairs_share_vertex_order_and_have_identity_ground_truth():
    pairs = deformation_pairs()
    assert {"bar (bent)", "bar (twisted)", "bar (tapered)", "bar (perturbed)"} == {t for _, t in pairs}
    for src, tgt in pairs:
        a, b = library_shape(src), library_shape(tgt)
        assert same_connectivity(a, b)
        np.testing.assert_array_equal(ground_truth(a, b), np.arange(a.n_vertices))
        assert not np.allclose(a.vertices, b.vertices)
    with pytest.raises(InputError, match="no known correspondence"):
        ground_truth(library_shape("bar"), library_shape("sphere"))


def test_deformations_do_what_they_say():
    bar = library_shape("bar")
    v = bar.vertices
    np.testing.assert_allclose(deform(v, "twist", 0.0), v)
    # twist: distances to the long (z) axis and z are unchanged, the end rotates by 180 degrees in all
    t = deform(v, "twist", 1.0)
    np.testing.assert_allclose(np.hypot(t[:, 0], t[:, 1]), np.hypot(v[:, 0], v[:, 1]))
    np.testing.assert_allclose(t[:, 2], v[:, 2])
    top = np.argmax(v[:, 2] + v[:, 0] + v[:, 1])  # the corner (0.3, 0.3, 1.5) turns by 90 degrees
    np.testing.assert_allclose(t[top, :2] @ v[top, :2], 0.0, atol=1e-12)
    bottom = np.argmin(v[:, 2] - v[:, 0] - v[:, 1])  # the corner (0.3, 0.3, -1.5) by 90 degrees the other way
    np.testing.assert_allclose(t[bottom, :2], -t[top, :2], atol=1e-12)
    # taper: the bottom cross-section is kept, the top is 40 % as wide
    p = deform(v, "taper", 1.0)
    lo, hi = v[:, 2] == v[:, 2].min(), v[:, 2] == v[:, 2].max()
    np.testing.assert_allclose(np.abs(p[lo, :2]).max(), 0.3)
    np.testing.assert_allclose(np.abs(p[hi, :2]).max(), 0.12)
    # bend: the centre line keeps its length, the ends turn through 90 degrees in all
    b = deform(v, "bend", 1.0)
    line = np.column_stack([np.zeros(101), np.zeros(101), np.linspace(-1.5, 1.5, 101)])
    line = np.vstack([line, [[0.3, 0.3, -1.5], [-0.3, -0.3, 1.5]]])  # the centre line of a bar-like box
    arc = deform(line, "bend", 1.0)[:101]
    assert np.linalg.norm(np.diff(arc, axis=0), axis=1).sum() == pytest.approx(3.0, rel=1e-3)
    ends = np.diff(arc[[0, 1, -2, -1]], axis=0)[[0, 2]]
    ends /= np.linalg.norm(ends, axis=1, keepdims=True)
    assert ends[0] @ ends[1] == pytest.approx(0.0, abs=0.02)  # perpendicular ends (secants: 90 - 0.9 degrees)
    assert np.all(np.isfinite(b)) and not np.allclose(b, v)
    # perturb: seeded, smooth and small
    q1, q2 = deform(v, "perturb", 1.0, seed=1), deform(v, "perturb", 1.0, seed=1)
    np.testing.assert_array_equal(q1, q2)
    assert not np.allclose(q1, deform(v, "perturb", 1.0, seed=2))
    assert np.linalg.norm(q1 - v, axis=1).max() < 0.2 * np.linalg.norm(np.ptp(v, axis=0))
    with pytest.raises(InputError, match="unknown deformation"):
        deform(v, "melt")
    with pytest.raises(InputError, match="amount"):
        deform(v, "taper", 2.0)
    assert set(DEFORMATIONS) == {"bend", "twist", "taper", "perturb"}


def test_deformed_shape_of_an_upload_keeps_its_faces():
    s = library_shape("peanut")
    up = Shape("mine.obj", s.vertices, s.faces, "upload", "k")
    d = deformed_shape(up, "twist", 0.5)
    assert d.name == "mine.obj (twist)" and same_connectivity(up, d)
    with pytest.raises(InputError, match="3D mesh"):
        deformed_shape(library_shape("circle", 20), "bend")


def test_a_keyless_shape_is_keyed_by_its_content_not_its_identity():
    from swviz.shapes import Shape

    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 3))
    keys = set()
    for _ in range(20):  # freed and rebuilt: an id()-based key would repeat across different data
        keys.add(Shape("cloud", rng.normal(size=(50, 3))).key)
    assert len(keys) == 20
    assert Shape("cloud", v).key == Shape("cloud", v.copy()).key
    w = v.copy()
    w[7, 2] += 1e-12
    assert Shape("cloud", w).key != Shape("cloud", v).key
    faces = np.array([[0, 1, 2], [1, 2, 3]])
    assert Shape("m", v, faces).key != Shape("m", v, faces[::-1]).key != Shape("m", v).key
