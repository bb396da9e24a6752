"""QMC point sets on S^2: the formulas, nesting, randomisation, and their registry entries."""

import numpy as np
import pytest

import swviz
from swviz import qmc
from swviz.shapes import sample_shape

QMC_NAMES = [f"{kind}-{key}" for key in qmc.QMC_SETS for kind in ("qmc", "rqmc")]


def _unit(theta):
    return np.allclose(np.linalg.norm(theta, axis=1), 1.0, atol=1e-12)


def test_spiral_follows_its_formula():
    L = 50
    s = qmc.spiral(L)
    i = np.arange(1, L + 1)
    z = 1 - (2 * i - 1) / L
    phi = np.arccos(z)
    psi = np.mod(1.8 * np.sqrt(L) * phi, 2 * np.pi)
    expected = np.stack([np.sin(phi) * np.cos(psi), np.sin(phi) * np.sin(psi), z], axis=1)
    np.testing.assert_allclose(s, expected, atol=1e-14)
    assert _unit(s) and not s.flags.writeable


def test_equal_area_map_is_the_documented_one_and_sobol_sets_are_nested():
    u = np.array([[0.25, 0.5], [0.0, 0.0], [0.5, 0.75]])
    t = qmc._equal_area_map(u)
    np.testing.assert_allclose(t[0], [0.0, 1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(t[1], [0.0, 0.0, 1.0], atol=1e-15)
    assert t[2, 2] == pytest.approx(-0.5)
    assert _unit(t)
    np.testing.assert_array_equal(qmc.equal_area_sobol(64)[:32], qmc.equal_area_sobol(32))
    a = qmc.equal_area_sobol(64, np.random.default_rng(5))
    b = qmc.equal_area_sobol(32, np.random.default_rng(5))
    np.testing.assert_array_equal(a[:32], b)  # scrambled Sobol is extensible too
    for d in (2, 3, 5):
        g = qmc.gaussian_sobol(64, d)
        assert g.shape == (64, d) and _unit(g)
        np.testing.assert_array_equal(g[:16], qmc.gaussian_sobol(16, d))


def test_equal_area_sobol_integrates_a_low_degree_polynomial_well():
    th = qmc.equal_area_sobol(1024)
    # E[z^2] = 1/3 on S^2; Sobol equal-area at L = 2^10 is accurate to ~1e-6
    assert np.mean(th[:, 2] ** 2) == pytest.approx(1 / 3, abs=1e-5)


def test_optimised_sets_improve_their_objective():
    L = 60
    s = qmc.spiral(L)
    md, cb = qmc.max_distance(L), qmc.coulomb(L)
    assert _unit(md) and _unit(cb)
    assert qmc.pairwise_distance_sum(md) > qmc.pairwise_distance_sum(s)
    assert qmc.coulomb_energy(cb) < qmc.coulomb_energy(s)
    # pairwise sums match a direct O(L^2) loop
    diff = np.linalg.norm(s[:, None] - s[None], axis=2)
    assert qmc.pairwise_distance_sum(s) == pytest.approx(diff[np.triu_indices(L, 1)].sum(), rel=1e-12)
    assert qmc.coulomb_energy(s) == pytest.approx((1 / diff[np.triu_indices(L, 1)]).sum(), rel=1e-12)


def test_random_rotation_keeps_the_geometry_and_makes_every_point_uniform():
    rng = np.random.default_rng(0)
    s = qmc.spiral(20)
    r = qmc.random_rotation(s, rng)
    np.testing.assert_allclose(r @ r.T, s @ s.T, atol=1e-12)
    # one fixed point of the set under 4000 random rotations: first and second moments of U(S^2)
    pts = np.array([qmc.random_rotation(s[:1], rng)[0] for _ in range(4000)])
    assert np.abs(pts.mean(0)).max() < 4 / np.sqrt(3 * 4000)
    np.testing.assert_allclose(pts.T @ pts / 4000, np.eye(3) / 3, atol=0.03)


def test_every_set_is_registered_with_the_right_flags():
    for name in QMC_NAMES + ["rqmc-spiral+ucv", "rqmc-spiral+lcv", "rqmc-spiral+shcv-4"]:
        assert name in swviz.ESTIMATORS
    assert not swviz.get_estimator("qmc-spiral").random
    assert swviz.get_estimator("rqmc-spiral").random
    assert not swviz.get_estimator("rqmc-spiral").nested
    assert swviz.get_estimator("rqmc-equal-area").nested
    assert swviz.get_estimator("qmc-gaussian").dims is None
    # the spiral and its CV combinations share one sampler, hence one pool in a study
    assert swviz.get_estimator("rqmc-spiral+ucv").directions is swviz.get_estimator("rqmc-spiral").directions


@pytest.mark.parametrize("name", ["qmc-spiral", "rqmc-maxdist", "qmc-equal-area", "rqmc-coulomb", "rqmc-spiral+ucv"])
def test_three_d_only_sets_refuse_other_dimensions_clearly(name):
    x = sample_shape("circle", 50, 0)
    with pytest.raises(swviz.InputError, match="only in dimension 3"):
        swviz.sliced_wasserstein(x, x + 1, estimator=name, n_projections=8)
    with pytest.raises(swviz.InputError, match="S\\^2"):
        swviz.get_estimator(name).directions(8, 2, np.random.default_rng(0))


def test_gaussian_sobol_works_in_any_dimension():
    x = np.random.default_rng(1).normal(size=(40, 5))
    r = swviz.sliced_wasserstein(x, x + 0.5, estimator="rqmc-gaussian", n_projections=16, seed=3)
    assert r.directions.shape == (16, 5) and np.isnan(r.stderr)
    assert r.value == pytest.approx(np.mean((r.directions @ np.full(5, 0.5)) ** 2), rel=1e-12)


def test_deterministic_sets_ignore_the_seed_and_random_ones_do_not():
    x, y = sample_shape("torus", 64, 0), sample_shape("cube", 64, 1)
    a = swviz.sliced_wasserstein(x, y, estimator="qmc-spiral", n_projections=32, seed=1).value
    b = swviz.sliced_wasserstein(x, y, estimator="qmc-spiral", n_projections=32, seed=2).value
    c = swviz.sliced_wasserstein(x, y, estimator="rqmc-spiral", n_projections=32, seed=1).value
    d = swviz.sliced_wasserstein(x, y, estimator="rqmc-spiral", n_projections=32, seed=2).value
    assert a == b and c != d


def test_optimised_sets_have_a_size_limit_with_a_clear_message():
    with pytest.raises(swviz.InputError, match="L <= 4096"):
        qmc.max_distance(qmc.MAX_OPTIMISED_L + 1)
    assert qmc.is_power_of_two(1024) and not qmc.is_power_of_two(1000)


@pytest.mark.parametrize("key", list(qmc.QMC_SETS))
def test_every_randomised_set_differs_from_its_deterministic_one_and_is_unbiased(key):
    """rqmc-* is never its qmc-* counterpart (qmc-gaussian once equalled rqmc-gaussian at seed 0),
    and its mean over seeds is the reference value within its Monte Carlo error."""
    from swviz.shapes import library_pair

    s, t = library_pair("sphere", "torus", 256, 0)
    L = 32
    det = swviz.sliced_wasserstein(s.points, t.points, estimator=f"qmc-{key}", n_projections=L).value
    vals = np.array([swviz.sliced_wasserstein(s.points, t.points, estimator=f"rqmc-{key}", n_projections=L,
                                              seed=seed).value for seed in range(120)])
    assert np.all(vals != det)
    ref = swviz.reference_sw(s.points, t.points)
    se = vals.std(ddof=1) / np.sqrt(vals.size)
    assert abs(vals.mean() - ref.value) <= 4 * se + 2 * ref.stderr, (vals.mean(), ref.value, se)
