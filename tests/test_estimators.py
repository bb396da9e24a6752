"""MC and control-variate estimators: exact facts, agreement with POT, statistics over seeds."""

import numpy as np
import ot
import pytest

import swviz
from swviz.directions import fibonacci_sphere, uniform
from swviz.estimators import Moments
from swviz.shapes import sample_shape

CORE = ["mc", "lcv", "ucv"]


@pytest.fixture(scope="module")
def shifted_pair():
    """A torus and a sphere whose means are 3 apart (further than the shapes are wide)."""
    x = sample_shape("torus", 400, 1)
    y = sample_shape("sphere", 300, 2) * 0.8 + [3.0, 0.5, -0.5]
    return x, y, swviz.reference_sw(x, y).value


@pytest.mark.parametrize("est", CORE)
def test_identical_inputs_give_zero(rng, est):
    x = rng.normal(size=(300, 3))
    r = swviz.sliced_wasserstein(x, x.copy(), estimator=est, n_projections=50, seed=1)
    assert r.value == pytest.approx(0.0, abs=1e-14) and r.distance == pytest.approx(0.0, abs=1e-7)
    assert np.all(r.per_slice == 0)


def test_one_dimension_is_the_exact_distance(rng):
    u, v = rng.normal(size=(80, 1)), rng.exponential(size=(50, 1))
    r = swviz.sliced_wasserstein(u, v, n_projections=7, seed=0)
    exact = ot.wasserstein_1d(u[:, 0], v[:, 0], p=2)
    assert r.value == pytest.approx(exact, rel=1e-12)
    assert swviz.reference_sw(u, v).value == pytest.approx(exact, rel=1e-12)
    assert swviz.reference_sw(u, v).stderr == 0


def _gaussian_sw2(m1, s1, m2, s2, N=200_000):
    """Closed form per slice (Gaussians slice to 1D Gaussians), averaged on a dense Fibonacci lattice."""
    th = fibonacci_sphere(N)
    v1 = np.einsum("li,ij,lj->l", th, s1, th)
    v2 = np.einsum("li,ij,lj->l", th, s2, th)
    return float(np.mean((th @ (m1 - m2)) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2))


def test_gaussian_samples_approach_the_closed_form():
    rng = np.random.default_rng(7)
    m1, m2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, -0.5, 0.3])
    a1 = rng.normal(size=(3, 3))
    a2 = rng.normal(size=(3, 3)) * 0.5
    s1, s2 = a1 @ a1.T + 0.2 * np.eye(3), a2 @ a2.T + 0.5 * np.eye(3)
    exact = _gaussian_sw2(m1, s1, m2, s2)
    errors = []
    for n in (500, 20_000):
        x = rng.multivariate_normal(m1, s1, size=n)
        y = rng.multivariate_normal(m2, s2, size=n)
        errors.append(abs(swviz.reference_sw(x, y, n_projections=4000).value - exact) / exact)
    assert errors[1] < 0.03
    assert errors[1] < errors[0]


def test_agrees_with_pot_given_the_same_directions(rng):
    x, y = rng.normal(size=(150, 3)), rng.normal(size=(90, 3)) + 1
    a, b = rng.uniform(0.1, 1, 150), rng.uniform(0.1, 1, 90)
    a, b = a / a.sum(), b / b.sum()
    theta = uniform(40, 3, rng)
    for p in (1, 2, 3):
        ours = swviz.sliced_wasserstein(x, y, a, b, directions=theta, p=p)
        pot = ot.sliced_wasserstein_distance(x, y, a, b, projections=theta.T, p=p)  # POT returns SW_p
        assert ours.value == pytest.approx(pot**p, rel=1e-10)
        assert ours.distance == pytest.approx(pot, rel=1e-10)


@pytest.mark.parametrize("est", CORE)
def test_rotating_clouds_and_directions_together_changes_nothing(rng, est):
    from scipy.spatial.transform import Rotation

    x, y = rng.normal(size=(120, 3)), rng.uniform(size=(100, 3)) + [2, 0, 0]
    theta = uniform(30, 3, rng)
    R = Rotation.random(random_state=3).as_matrix()
    base = swviz.sliced_wasserstein(x, y, estimator=est, directions=theta)
    rot = swviz.sliced_wasserstein(x @ R.T, y @ R.T, estimator=est, directions=theta @ R.T)
    np.testing.assert_allclose(rot.per_slice, base.per_slice, rtol=1e-10)
    assert rot.value == pytest.approx(base.value, rel=1e-9)


@pytest.mark.parametrize("est", CORE)
def test_permuting_points_changes_nothing(rng, est):
    x, y = rng.normal(size=(120, 3)), rng.normal(size=(80, 3)) + 1
    theta = uniform(25, 3, rng)
    base = swviz.sliced_wasserstein(x, y, estimator=est, directions=theta)
    perm = swviz.sliced_wasserstein(x[rng.permutation(120)], y[rng.permutation(80)], estimator=est,
                                    directions=theta)
    assert perm.value == pytest.approx(base.value, rel=1e-10)


def test_seed_reproduces_and_generator_is_accepted():
    x = sample_shape("cube", 200, 0)
    y = sample_shape("torus", 200, 1)
    r1 = swviz.sliced_wasserstein(x, y, seed=42, n_projections=20)
    r2 = swviz.sliced_wasserstein(x, y, seed=np.random.default_rng(42), n_projections=20)
    assert r1.value == r2.value
    assert swviz.sliced_wasserstein(x, y, seed=43, n_projections=20).value != r1.value


def test_control_variates_bracket_every_slice(shifted_pair):
    """C_low <= W_2^2(theta) <= C_up slice by slice (Nguyen & Ho, ICLR 2024, Props. 1-2)."""
    x, y, _ = shifted_pair
    theta = uniform(500, 3, np.random.default_rng(0))
    w = swviz.sliced_wasserstein(x, y, directions=theta).per_slice
    m = Moments.of(x, y)
    assert np.all(m.c_low(theta) <= w * (1 + 1e-12))
    assert np.all(w <= m.c_up(theta) * (1 + 1e-12))


def test_control_variate_means_are_exact():
    rng = np.random.default_rng(3)
    m = Moments.of(rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3)), rng.normal(size=(40, 3)) + 2)
    th = fibonacci_sphere(400_000)
    assert m.c_low(th).mean() == pytest.approx(m.mean_c_low(), rel=1e-6)
    assert m.c_up(th).mean() == pytest.approx(m.mean_c_up(), rel=1e-6)


@pytest.mark.parametrize("shift", [0.0, 1.0, 100.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_upper_cv_matrix_is_the_sum_of_its_three_terms(shift, weighted):
    """Q_up is formed as E_x[(x - m_y)(x - m_y)'] + S_y; it must equal dm dm' + S_x + S_y (Prop. 4),
    also far from the origin, where a difference of second moments would cancel."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(300, 3)) * [1.0, 3.0, 0.2] + shift, rng.normal(size=(200, 3)) * 2 - shift
    a = rng.random(300) / 150 if weighted else None
    if a is not None:
        a /= a.sum()
    m = Moments(x, y, a, None)
    ref = np.outer(m.dm, m.dm) + m.cov_x + m.cov_y
    np.testing.assert_allclose(m.q_up, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())
    theta = uniform(50, 3, np.random.default_rng(1))
    c_ref = (theta @ m.dm) ** 2 + np.einsum("li,ij,lj->l", theta, m.cov_x + m.cov_y, theta)
    np.testing.assert_allclose(m.c_up(theta), c_ref, rtol=1e-12, atol=1e-13 * c_ref.max())


def test_lower_cv_is_exact_for_a_translate(rng):
    x = rng.normal(size=(500, 3)) * [1.0, 2.0, 0.5]
    shift = np.array([1.5, -2.0, 0.7])
    r = swviz.sliced_wasserstein(x, x + shift, estimator="lcv", n_projections=10, seed=5)
    np.testing.assert_allclose(r.per_slice, (r.directions @ shift) ** 2, rtol=1e-9)
    assert r.value == pytest.approx(shift @ shift / 3, rel=1e-12)


def _estimates(x, y, est, L, seeds):
    return np.array([swviz.sliced_wasserstein(x, y, estimator=est, n_projections=L, seed=s).value for s in seeds])


def test_mc_is_unbiased_over_seeds(shifted_pair):
    x, y, ref = shifted_pair
    vals = _estimates(x, y, "mc", 10, range(400))
    se = vals.std(ddof=1) / np.sqrt(len(vals))
    assert abs(vals.mean() - ref) < 3 * se


@pytest.mark.parametrize("est", ["lcv", "ucv"])
def test_control_variates_are_consistent_and_cut_variance(shifted_pair, est):
    x, y, ref = shifted_pair
    seeds = range(300)
    mc = _estimates(x, y, "mc", 20, seeds)
    cv = _estimates(x, y, est, 20, seeds)
    # consistent: the mean over seeds is within 3 standard errors (+ a small O(1/L) bias allowance)
    se = cv.std(ddof=1) / np.sqrt(len(cv))
    assert abs(cv.mean() - ref) < 3 * se + 1e-3 * ref
    # strictly smaller variance than MC on a pair whose means differ (same seeds, same directions)
    assert cv.var() < 0.5 * mc.var()
    # and large L converges to the reference
    big = swviz.sliced_wasserstein(x, y, estimator=est, n_projections=20000, seed=1)
    assert big.value == pytest.approx(ref, rel=2e-3)


@pytest.mark.parametrize("est", ["lcv", "ucv"])
def test_no_nan_when_means_meet(rng, est):
    x = rng.normal(size=(200, 3))
    x -= x.mean(0)
    y = rng.uniform(-1, 1, size=(200, 3))
    y -= y.mean(0)
    for L in (1, 2, 10):
        r = swviz.sliced_wasserstein(x, y, estimator=est, n_projections=L, seed=0)
        assert np.isfinite(r.value)
    # lower CV is identically 0 for centred clouds: it falls back to plain MC
    lcv = swviz.sliced_wasserstein(x, y, estimator="lcv", n_projections=50, seed=3)
    mc = swviz.sliced_wasserstein(x, y, estimator="mc", n_projections=50, seed=3)
    assert lcv.value == mc.value


def test_result_fields_are_consistent(shifted_pair):
    x, y, _ = shifted_pair
    r = swviz.sliced_wasserstein(x, y, estimator="ucv", n_projections=33, p=2, seed=0)
    assert r.per_slice.shape == (33,) and r.directions.shape == (33, 3)
    np.testing.assert_allclose(np.linalg.norm(r.directions, axis=1), 1.0)
    assert r.distance == pytest.approx(r.value ** 0.5)
    assert r.estimator == "ucv" and r.stderr > 0


def test_registry_lists_the_core_estimators():
    for name in CORE:
        assert name in swviz.ESTIMATORS and isinstance(swviz.ESTIMATORS[name], str)


@pytest.mark.parametrize("est", [e for e in swviz.estimators.registered() if e.dims is None or 3 in e.dims],
                         ids=lambda e: e.name)
def test_value_only_options_give_the_same_value_and_no_stderr(shifted_pair, est):
    """CombineOptions(stderr=False), what losses and studies pass, changes nothing but the missing error."""
    from swviz.estimators import DEFAULT_OPTIONS, VALUE_ONLY

    x, y, _ = shifted_pair
    L = max(64, est.min_projections(3))
    theta = np.stack([est.directions(L, 3, np.random.default_rng(s)) for s in range(3)])  # (3, L, 3)
    w = np.stack([swviz.slices.sliced_wpp(x, y, t) for t in theta])
    m = Moments(x, y)
    full, se = est.combine(w, theta, m, DEFAULT_OPTIONS)
    value, none = est.combine(w, theta, m, VALUE_ONLY)
    assert none is None or est.name == "shcv-auto"  # the adaptive degree needs the errors to choose
    np.testing.assert_allclose(value, full, rtol=1e-13, atol=1e-15)
    assert se.shape == (3,)


def test_quadratic_control_variates_are_the_papers_formulas(rng):
    """C_low = (theta'dm)^2, C_up = C_low + theta'(S_x + S_y)theta and their means, written out."""
    x, y = rng.normal(size=(40, 3)) * [1.0, 2.0, 0.5], rng.normal(size=(30, 3)) + [1.0, -2.0, 0.5]
    theta = uniform(25, 3, rng)
    m = Moments(x, y)
    dm = x.mean(0) - y.mean(0)
    S = np.cov(x.T, bias=True) + np.cov(y.T, bias=True)
    c_low, mean_low = m.control_low(theta)
    c_up, mean_up = m.control_up(theta)
    np.testing.assert_allclose(c_low, (theta @ dm) ** 2, rtol=1e-13)
    np.testing.assert_allclose(c_up, (theta @ dm) ** 2 + np.einsum("li,ij,lj->l", theta, S, theta), rtol=1e-13)
    assert mean_low == pytest.approx(dm @ dm / 3, rel=1e-14)
    assert mean_up == pytest.approx((dm @ dm + np.trace(S)) / 3, rel=1e-14)
