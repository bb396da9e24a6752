"""Shapes as measures: surface sampling statistics, vertex weights, varifold atoms, normalisation."""

import numpy as np
import pytest
from scipy import stats

from swviz import InputError
from swviz.shapes import (
    MODES,
    Shape,
    face_areas,
    library_shape,
    make_pair,
    normalise,
    rms_radius,
    surface_centroid,
    surface_samples,
    to_measure,
    varifold_atoms,
    vertex_weights,
)

# the cube [-1, 1]^3 triangulated by hand: two triangles per face, outward orientation
CUBE_V = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])
# vertex i = 4 * (x > 0) + 2 * (y > 0) + (z > 0)
CUBE_F = np.array([
    [0, 1, 3], [0, 3, 2],  # x = -1
    [4, 6, 7], [4, 7, 5],  # x = +1
    [0, 4, 5], [0, 5, 1],  # y = -1
    [2, 3, 7], [2, 7, 6],  # y = +1
    [0, 2, 6], [0, 6, 4],  # z = -1
    [1, 5, 7], [1, 7, 3],  # z = +1
])


@pytest.fixture
def cube():
    return Shape("cube", CUBE_V, CUBE_F)


def test_cube_faces_are_outward():
    p = CUBE_V[CUBE_F]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.all((normal * p.mean(1)).sum(1) > 0)


def test_varifold_atoms_on_the_cube_by_hand(cube):
    atoms, w, face = varifold_atoms(cube.vertices, cube.faces, normal_weight=1.0)
    assert atoms.shape == (12, 6)
    np.testing.assert_array_equal(face, np.arange(12))
    np.testing.assert_allclose(w, np.full(12, 1 / 12))  # every triangle has area 2, total 24
    # faces 2k, 2k+1 lie on the plane x_{k//2} = -1 or +1 (k even: -1), normal = that sign times e_axis
    for f in range(12):
        axis, sign = f // 4, (-1.0 if (f // 2) % 2 == 0 else 1.0)
        normal = np.zeros(3)
        normal[axis] = sign
        np.testing.assert_allclose(atoms[f, 3:], normal, atol=1e-15)
        assert atoms[f, axis] == sign
        others = np.delete(atoms[f, :3], axis)
        np.testing.assert_allclose(np.abs(others), [1 / 3, 1 / 3])  # centroid of a right triangle of the face
    # the two triangles of a face have centroids mirrored through the face centre
    pair_sum = atoms[0::2, :3] + atoms[1::2, :3]
    expected = np.array([[-2, 0, 0], [2, 0, 0], [0, -2, 0], [0, 2, 0], [0, 0, -2], [0, 0, 2]], float)
    np.testing.assert_allclose(pair_sum, expected, atol=1e-15)


def test_varifold_normal_weight_scales_the_normal_block_only(cube):
    a1, w1, _ = varifold_atoms(cube.vertices, cube.faces, 1.0)
    a3, w3, _ = varifold_atoms(cube.vertices, cube.faces, 3.0)
    np.testing.assert_allclose(a3[:, :3], a1[:, :3])
    np.testing.assert_allclose(a3[:, 3:], 3.0 * a1[:, 3:])
    np.testing.assert_allclose(np.linalg.norm(a3[:, 3:], axis=1), 3.0)
    np.testing.assert_allclose(w1, w3)
    m = to_measure(cube, "varifold", normal_weight=0.5)
    assert m.dim == 6 and m.mode == MODES["varifold"]
    np.testing.assert_allclose(m.weights.sum(), 1.0)


def test_varifold_skips_zero_area_faces():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]], float)
    atoms, w, face = varifold_atoms(v, np.array([[0, 1, 2], [0, 1, 3]]))
    np.testing.assert_array_equal(face, [0])
    np.testing.assert_allclose(atoms[0], [1 / 3, 1 / 3, 0, 0, 0, 1])
    np.testing.assert_allclose(w, [1.0])


def test_vertex_weights_on_the_cube_by_hand(cube):
    # each triangle has area 2 and gives 2/3 to each corner: w_i = (2/3) * valence_i / 24 = valence_i / 36
    # counted in CUBE_F: the diagonals all run through vertices 0 and 7 (6 triangles each), the others are in 4
    valence = np.array([6, 4, 4, 4, 4, 4, 4, 6])
    np.testing.assert_array_equal(np.bincount(CUBE_F.ravel()), valence)
    np.testing.assert_allclose(vertex_weights(cube.vertices, cube.faces), valence / 36)
    m = to_measure(cube, "vertices")
    np.testing.assert_allclose(m.weights, valence / 36)
    np.testing.assert_array_equal(m.points, CUBE_V)  # vertex order kept


def test_vertex_weights_give_isolated_vertices_zero():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]], float)
    w = vertex_weights(v, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3, 0])


def test_surface_samples_lie_on_their_faces():
    s = library_shape("trefoil knot")
    pts, face = surface_samples(s.vertices, s.faces, 3000, seed=1)
    a, b, c = (s.vertices[s.faces[face, k]] for k in range(3))
    # solve p - a = u (b - a) + v (c - a) per point, then check the barycentric coordinates
    m = np.stack([b - a, c - a], -1)  # (n, 3, 2)
    uv = np.einsum("nij,nj->ni", np.linalg.pinv(m), pts - a)  # least squares (u, v) per point
    np.testing.assert_allclose(np.einsum("nij,nj->ni", m, uv), pts - a, atol=1e-12)  # in the plane
    assert np.all(uv >= -1e-12) and np.all(uv.sum(1) <= 1 + 1e-12)  # inside the triangle


def test_surface_samples_on_the_cube_are_on_its_surface():
    pts = to_measure(library_shape("cube"), "surface", n=5000, seed=0).points
    np.testing.assert_allclose(np.abs(pts).max(1), 1.0, atol=1e-12)


def test_faces_are_drawn_in_proportion_to_area():
    # a fan of triangles with areas 1, 2, ..., 8 (very different sizes)
    k = 8
    v = [[0.0, 0.0, 0.0]]
    faces = []
    for i in range(k):
        x0 = 10.0 * i
        v += [[x0, 0.0, 0.0], [x0 + 1.0, 0.0, 0.0], [x0, 2.0 * (i + 1), 0.0]]
        faces.append([3 * i + 1, 3 * i + 2, 3 * i + 3])
    v, f = np.array(v), np.array(faces)
    area = face_areas(v, f)
    np.testing.assert_allclose(area, np.arange(1, k + 1))
    n = 36000
    _, face = surface_samples(v, f, n, seed=5)
    counts = np.bincount(face, minlength=k)
    assert counts[0] > 0  # the isolated vertex 0 is never sampled from (it is in no face)
    p = stats.chisquare(counts, n * area / area.sum()).pvalue
    assert p > 1e-3, (counts, p)


def test_points_are_uniform_inside_a_triangle():
    v = np.array([[0, 0, 0], [4, 0, 0], [1, 3, 0]], float)
    pts, _ = surface_samples(v, np.array([[0, 1, 2]]), 40000, seed=2)
    # the four half-scale corner triangles each hold a quarter of the area
    bary = np.linalg.solve(np.array([[4.0, 1.0], [0.0, 3.0]]), pts[:, :2].T).T  # (u, v) with p = u b + v c
    region = np.select([bary[:, 0] > 0.5, bary[:, 1] > 0.5, bary.sum(1) < 0.5], [0, 1, 2], 3)
    p = stats.chisquare(np.bincount(region, minlength=4), np.full(4, len(pts) / 4)).pvalue
    assert p > 1e-3


def test_area_uniform_samples_have_the_surface_moments():
    s = library_shape("bumpy sphere")
    pts = to_measure(s, "surface", n=20000, seed=3).points
    centre = surface_centroid(s)
    np.testing.assert_allclose(pts.mean(0), centre, atol=4 * 1.05 / np.sqrt(20000))
    rms = np.sqrt(((pts - centre) ** 2).sum(1).mean())
    assert rms == pytest.approx(rms_radius(s), rel=0.01)


def test_seeds_reproduce_and_differ():
    s = library_shape("torus")
    a = to_measure(s, "surface", n=500, seed=11).points
    b = to_measure(s, "surface", n=500, seed=11).points
    c = to_measure(s, "surface", n=500, seed=12).points
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    np.testing.assert_array_equal(surface_samples(s.vertices, s.faces, 50, g1)[0],
                                  surface_samples(s.vertices, s.faces, 50, g2)[0])


def test_rms_radius_and_centroid_of_the_cube_exactly(cube):
    # on the face x = 1: E|x|^2 = 1 + E y^2 + E z^2 = 1 + 1/3 + 1/3
    assert rms_radius(cube) == pytest.approx(np.sqrt(5 / 3), rel=1e-12)
    np.testing.assert_allclose(surface_centroid(cube), 0, atol=1e-15)


def test_normalisations(cube):
    moved = cube.with_vertices(cube.vertices * 3.0 + [10.0, -2.0, 5.0])
    same, info = normalise(moved, "none")
    assert same is moved and info.scale == 1.0
    centred, info = normalise(moved, "centre")
    np.testing.assert_allclose(surface_centroid(centred), 0, atol=1e-12)
    np.testing.assert_allclose(info.centre, [10.0, -2.0, 5.0])
    unit, info = normalise(moved, "unit-bbox")
    assert np.linalg.norm(np.ptp(unit.vertices, axis=0)) == pytest.approx(1.0)
    assert info.scale == pytest.approx(6 * np.sqrt(3))
    unit, _ = normalise(moved, "unit-rms")
    assert rms_radius(unit) == pytest.approx(1.0)
    np.testing.assert_array_equal(unit.faces, cube.faces)  # vertex order and faces kept
    with pytest.raises(InputError, match="unknown normalisation"):
        normalise(moved, "unit")


def test_normalisation_of_a_cloud_uses_the_mean():
    pts = np.random.default_rng(0).normal(size=(200, 2)) * 5 + 3
    s, _ = normalise(Shape("c", pts), "unit-rms")
    np.testing.assert_allclose(s.vertices.mean(0), 0, atol=1e-12)
    assert np.sqrt((s.vertices**2).sum(1).mean()) == pytest.approx(1.0)


def test_modes_on_a_point_cloud():
    cloud = library_shape("helix", 300, 0)
    for mode in ("points", "surface", "vertices"):
        m = to_measure(cloud, mode)
        assert m.mode == MODES["points"] and m.weights is None
        np.testing.assert_array_equal(m.points, cloud.vertices)
    with pytest.raises(InputError, match="needs a mesh"):
        to_measure(cloud, "varifold")


def test_make_pair_checks_and_seeds():
    src, tgt = make_pair(library_shape("sphere"), library_shape("sphere"), "surface", n=100, seed=3)
    assert src.n == tgt.n == 100 and not np.allclose(src.points, tgt.points)  # target drawn with seed + 1
    with pytest.raises(InputError, match="same dimension"):
        make_pair(library_shape("sphere"), library_shape("circle", 50))
    with pytest.raises(InputError, match="needs a mesh"):
        make_pair(library_shape("sphere"), library_shape("helix", 50), "varifold")
    with pytest.raises(InputError, match="unknown measure mode"):
        to_measure(library_shape("sphere"), "area")
    with pytest.raises(InputError, match="normal_weight"):
        to_measure(library_shape("sphere"), "varifold", normal_weight=-1)


def test_measures_feed_the_estimators():
    import swviz

    a, b = make_pair(library_shape("bar"), library_shape("bar (twisted)"), "varifold", normalise_how="unit-rms")
    res = swviz.sliced_wasserstein(a.points, b.points, a.weights, b.weights, n_projections=50, seed=0)
    assert np.isfinite(res.value) and res.value > 0
