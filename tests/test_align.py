"""Rigid alignment under SW: rotations recovered, SW never increased, the pair normalisation."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import swviz
from swviz import InputError
from swviz.align import AlignResult, align_rigid, axis_angle, rotation_candidates
from swviz.directions import fibonacci_sphere
from swviz.shapes import NORMALISATIONS, deform, library_shape, make_pair, normalise, to_measure


def _angle_between(r1, r2) -> float:
    """Geodesic distance between two rotations, in degrees."""
    return float(np.degrees(Rotation.from_matrix(r1 @ r2.T).magnitude()))


@pytest.fixture(scope="module")
def mixture():
    """An asymmetric library cloud: four Gaussians of different spreads at non-symmetric centres."""
    return library_shape("gaussian mixture", 700, 0).vertices


@pytest.mark.parametrize("k", [0, 1])
def test_a_rotated_copy_is_recovered(mixture, k):
    turn = Rotation.random(random_state=k).as_matrix()
    shift = np.array([1.0, -2.0, 0.5])
    res = align_rigid(mixture, mixture @ turn.T + shift)
    assert isinstance(res, AlignResult) and res.candidates == 25
    assert _angle_between(res.rotation, turn.T) < 1e-3  # R undoes the turn
    np.testing.assert_allclose(res.apply(mixture @ turn.T + shift), mixture, atol=1e-4)
    assert res.sw_after < 1e-8 * res.sw_before
    assert np.linalg.det(res.rotation) == pytest.approx(1.0)


def test_a_rotated_resample_is_recovered_up_to_sampling_noise():
    # different atoms on each side (two seeds): no exact solution, but the pose is found
    x = library_shape("gaussian mixture", 1500, 0).vertices
    y0 = library_shape("gaussian mixture", 1500, 1).vertices
    turn = Rotation.from_euler("xyz", [70, -35, 120], degrees=True).as_matrix()
    res = align_rigid(x, y0 @ turn.T - 3.0)
    assert _angle_between(res.rotation, turn.T) < 5.0
    assert res.sw_after < 0.05 * res.sw_centred < res.sw_before


def test_the_principal_axis_candidates_are_the_24_proper_rotations():
    ux = Rotation.random(random_state=1).as_matrix() @ np.diag([1, 1, -1])  # an improper frame too
    uy = Rotation.random(random_state=2).as_matrix()
    cands = rotation_candidates(ux, uy)
    assert cands.shape == (24, 3, 3)
    for r in cands:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        q = ux.T @ r @ uy  # a signed permutation
        assert np.allclose(np.abs(q).sum(0), 1) and np.allclose(np.abs(q).sum(1), 1)
    assert len({tuple(np.round(r, 8).ravel()) for r in cands}) == 24
    assert rotation_candidates(np.eye(2), np.eye(2)).shape == (4, 2, 2)


@pytest.mark.parametrize("seed", range(3))
def test_alignment_never_increases_sw(seed):
    # unrelated clouds, weights and sizes differ: whatever is found, SW does not grow
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((150, 3)) * [2.0, 1.0, 0.3]
    y = rng.standard_normal((90, 3)) + 0.2
    b = rng.random(90)
    for p in (1.0, 2.0):
        res = align_rigid(x, y, None, b, p=p, seed=seed, n_projections=64, n_refine=1)
        assert res.sw_after <= res.sw_centred + 1e-15 and res.sw_after <= res.sw_before + 1e-15
        # the reported value is the SW of the moved pair on the same fixed directions
        moved = res.apply(y)
        value = swviz.sliced_wasserstein(x, moved, None, b / b.sum(), p=p,
                                         directions=fibonacci_sphere(res.n_projections)).value
        assert value == pytest.approx(res.sw_after, rel=1e-9)


def test_alignment_is_deterministic_and_2d_works():
    x = library_shape("star", 400, 0).vertices * [1.0, 0.6] + [0.3, 0.0]  # no rotational symmetry left
    c, s = np.cos(1.1), np.sin(1.1)
    turn = np.array([[c, -s], [s, c]])
    res = align_rigid(x, x @ turn.T + 4.0)
    assert res.candidates == 5 and res.rotation.shape == (2, 2)
    np.testing.assert_allclose(res.rotation @ turn, np.eye(2), atol=1e-5)
    again = align_rigid(x, x @ turn.T + 4.0)
    np.testing.assert_array_equal(res.rotation, again.rotation)
    assert axis_angle(res.rotation)[1] == pytest.approx(np.degrees(1.1), abs=1e-3)


def test_axis_angle_and_the_sentence():
    r = Rotation.from_rotvec(np.radians(40.0) * np.array([0.0, 0.6, 0.8])).as_matrix()
    axis, angle = axis_angle(r)
    assert angle == pytest.approx(40.0) and np.allclose(axis, [0, 0.6, 0.8])
    x = np.random.default_rng(0).standard_normal((200, 3)) * [3, 1, 0.5]
    res = align_rigid(x, x @ r.T)
    text = res.describe()
    assert "40.0°" in text and "after centring" in text and "after the rotation" in text


def test_bad_input_is_a_clear_error():
    with pytest.raises(InputError, match="2D or 3D"):
        align_rigid(np.zeros((5, 4)), np.zeros((5, 4)))
    with pytest.raises(InputError, match="same dimension"):
        align_rigid(np.zeros((5, 3)), np.zeros((5, 2)))


@pytest.fixture(scope="module")
def crooked_bar():
    """The library's bent bar, tapered too: a mesh with no rotational symmetry (the bent bar alone has one)."""
    bent = library_shape("bar (bent)")
    return bent.with_vertices(deform(bent.vertices, "taper", 1.0), name="crooked bar")


def test_align_is_a_pair_normalisation(crooked_bar):
    assert "align" in NORMALISATIONS
    src = crooked_bar
    turn = Rotation.from_euler("xyz", [40, 10, -70], degrees=True).as_matrix()
    tgt = src.with_vertices(src.vertices @ turn.T + 2.0, name="turned bar")
    a, b = make_pair(src, tgt, "vertices", 512, 0, "align")
    res = b.alignment
    assert a.alignment is None and isinstance(res, AlignResult)
    assert _angle_between(res.rotation, turn.T) < 1.0
    assert res.sw_after < 1e-3 * res.sw_before
    # the pair returned is the aligned pair, source centred, mesh moved with its measure
    np.testing.assert_allclose(a.shape.vertices, normalise(src, "centre")[0].vertices)
    # the turned copy shares the bar's vertex order, so aligned it lies on the centred bar, vertex by vertex
    np.testing.assert_allclose(b.shape.vertices, a.shape.vertices, atol=0.01 * np.ptp(src.vertices))
    np.testing.assert_allclose(np.asarray(b.mesh.vertices), b.shape.vertices)
    theta = fibonacci_sphere(res.n_projections)
    value = swviz.sliced_wasserstein(a.points, b.points, a.weights, b.weights, directions=theta).value
    assert value == pytest.approx(res.sw_after, rel=1e-6)  # the SW stated is the SW of the pair returned
    with pytest.raises(InputError, match="needs the pair"):
        to_measure(src, "surface", 64, 0, "align")


def test_varifold_atoms_rotate_position_and_normal_together(crooked_bar):
    from swviz.shapes import varifold_atoms

    turn = Rotation.from_euler("zyx", [-60, 25, 15], degrees=True).as_matrix()
    idx = np.random.default_rng(0).choice(crooked_bar.n_faces, 600, replace=False)
    atoms, w, _ = varifold_atoms(crooked_bar.vertices, crooked_bar.faces[idx], 0.5)
    turned, _, _ = varifold_atoms(crooked_bar.vertices @ turn.T, crooked_bar.faces[idx], 0.5)
    res = align_rigid(atoms, turned, w, w)
    assert _angle_between(res.rotation, turn.T) < 1e-3
    np.testing.assert_allclose(res.apply(turned), atoms, atol=1e-6)  # normals turned back as well


def test_a_symmetric_pair_is_not_turned_for_nothing():
    # a resampled sphere: any rotation gains at most sampling noise, so only the translation is applied
    x = library_shape("sphere").vertices
    y = x[np.random.default_rng(0).permutation(len(x))] + [0.5, 0.0, 0.0]
    res = align_rigid(x, y)
    np.testing.assert_array_equal(res.rotation, np.eye(3))
    assert res.sw_after == res.sw_centred < res.sw_before
    assert "only translated" in res.describe()
    with pytest.raises(InputError, match="min_gain"):
        align_rigid(x, y, min_gain=1.5)


def test_the_rotation_gradient_matches_finite_differences():
    from swviz.align import _exp_rotation, _Objective

    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((80, 3)) * [2.0, 1.0, 0.5], rng.standard_normal((60, 3))
    b = rng.random(60)
    obj = _Objective(x, y, None, b / b.sum(), fibonacci_sphere(40), 2.0, 3)
    base = Rotation.random(random_state=6).as_matrix()
    omega = np.array([0.1, -0.2, 0.05])
    f, g = obj.value_and_grad(omega, base)
    assert f == pytest.approx(obj.value(_exp_rotation(omega, 3) @ base), rel=1e-10)
    h = 1e-6
    fd = [(obj.value(_exp_rotation(omega + h * e, 3) @ base) - obj.value(_exp_rotation(omega - h * e, 3) @ base))
          / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-8)  # piecewise smooth: no sort change within h
