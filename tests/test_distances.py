"""Max-SW, v-DSW, energy-SW and the vMF sampler: closed forms, gradients, the ordering of distances."""

import numpy as np
import pytest
from scipy.special import ive

import swviz
from swviz.distances import slice_gradient
from swviz.shapes import sample_shape
from swviz.slices import sliced_wpp


@pytest.fixture(scope="module")
def pair():
    x = sample_shape("torus", 200, 0)
    y = sample_shape("cube", 160, 1) * [0.9, 0.5, 0.7] + [0.3, 0.0, 0.2]
    return x, y


def _a_d(kappa, d):
    """Mean cosine of vMF on S^{d-1}: I_{d/2}(k) / I_{d/2-1}(k)."""
    return ive(d / 2, kappa) / ive(d / 2 - 1, kappa)


@pytest.mark.parametrize("d,kappa,method", [(3, 0.7, "exact"), (3, 25.0, "exact"), (3, 4.0, "wood"),
                                            (5, 3.0, "auto"), (2, 2.0, "auto"), (10, 40.0, "auto")])
def test_vmf_mean_cosine_matches_the_bessel_ratio(d, kappa, method):
    mu = np.arange(1.0, d + 1.0)
    mu /= np.linalg.norm(mu)
    s = swviz.sample_vmf(mu, kappa, 100_000, seed=11, method=method)
    assert s.shape == (100_000, d)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0, atol=1e-12)
    w = s @ mu
    assert w.mean() == pytest.approx(_a_d(kappa, d), abs=4 * w.std() / np.sqrt(w.size))
    # symmetric around the axis: the mean direction is along mu
    m = s.mean(0)
    assert np.linalg.norm(m - (m @ mu) * mu) < 4 / np.sqrt(w.size)


def test_vmf_exact_on_s2_has_the_exact_cdf_and_kappa_zero_is_uniform():
    mu = np.array([0.0, 0.0, 1.0])
    kappa = 3.0
    w = swviz.sample_vmf(mu, kappa, 50_000, seed=0) @ mu
    t = 0.5  # P(w <= t) = (e^{kappa t} - e^{-kappa}) / (e^{kappa} - e^{-kappa})
    cdf = (np.exp(kappa * t) - np.exp(-kappa)) / (np.exp(kappa) - np.exp(-kappa))
    assert np.mean(w <= t) == pytest.approx(cdf, abs=4 * np.sqrt(cdf * (1 - cdf) / w.size))
    u = swviz.sample_vmf(mu, 0.0, 50_000, seed=1)
    assert np.abs(u.mean(0)).max() < 4 / np.sqrt(3 * 50_000)
    with pytest.raises(swviz.InputError, match="S\\^2"):
        swviz.sample_vmf(np.ones(4), 1.0, 10, method="exact")
    with pytest.raises(swviz.InputError, match="kappa"):
        swviz.sample_vmf(np.ones(3), -1.0, 10)


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("case", ["equal sizes", "unequal sizes", "weighted"])
def test_slice_gradient_values_and_finite_differences(pair, p, case):
    x, y = pair
    rng = np.random.default_rng(3)
    a = b = None
    if case == "equal sizes":
        y = y[: x.shape[0]] if y.shape[0] >= x.shape[0] else x[: y.shape[0]] * 0.5
        x = x[: y.shape[0]]
    elif case == "weighted":
        a, b = rng.random(x.shape[0]), rng.random(y.shape[0])
        a, b = a / a.sum(), b / b.sum()
    th = rng.normal(size=(4, 3))
    th /= np.linalg.norm(th, axis=1, keepdims=True)
    v, g = slice_gradient(x, y, a, b, th, p)
    np.testing.assert_allclose(v, sliced_wpp(x, y, th, a, b, p), rtol=1e-12)
    e = rng.normal(size=3)
    h = 1e-9  # small: the matching must not change between the two points (W has kinks where it does)
    up, _ = slice_gradient(x, y, a, b, th + h * e, p)
    down, _ = slice_gradient(x, y, a, b, th - h * e, p)
    np.testing.assert_allclose((up - down) / (2 * h), g @ e, rtol=1e-5, atol=1e-6)


def test_max_sw_of_a_translate_is_the_squared_shift_along_it():
    x = np.random.default_rng(0).normal(size=(150, 3))
    s = np.array([1.0, -2.0, 0.5])
    r = swviz.max_sw(x, x + s, seed=0)
    assert r.value == pytest.approx(s @ s, rel=1e-9)
    assert abs(r.direction @ s) / np.linalg.norm(s) == pytest.approx(1.0, abs=1e-6)
    assert r.distance == pytest.approx(np.linalg.norm(s), rel=1e-9)


@pytest.mark.parametrize("p", [1, 2])
def test_sw_below_vdsw_and_energy_below_max_sw(pair, p):
    x, y = pair
    sw = swviz.reference_sw(x, y, p=p).value
    msw = swviz.max_sw(x, y, p=p, seed=0)
    # Max-SW beats every one of many random directions
    many = sliced_wpp(x, y, swviz.directions.uniform(4000, 3, np.random.default_rng(1)), p=p)
    assert msw.value >= many.max() - 1e-12
    for kappa in (1.0, 10.0, 100.0):
        v = swviz.vmf_dsw(x, y, p=p, kappa=kappa, n_projections=256, seed=2)
        assert sw <= v.value <= msw.value * (1 + 1e-6), (kappa, sw, v.value, msw.value)
        assert np.linalg.norm(v.direction) == pytest.approx(1.0)
    for energy in ("exp", "identity"):
        e = swviz.energy_sw(x, y, p=p, n_projections=512, seed=3, energy=energy)
        assert e.per_slice.mean() <= e.value <= msw.value  # same slices: the mean, then the weighted mean
        assert e.weights.sum() == pytest.approx(1.0)


def test_vdsw_moves_from_sw_to_max_sw_with_kappa(pair):
    x, y = pair
    sw = swviz.reference_sw(x, y).value
    msw = swviz.max_sw(x, y, seed=0).value
    values = [swviz.vmf_dsw(x, y, kappa=k, n_projections=256, seed=4).value for k in (0.0, 5.0, 50.0, 5000.0)]
    assert values[0] == pytest.approx(sw, rel=0.15)  # kappa = 0: SW (up to the ascent on 256 samples)
    assert values[0] < values[1] < values[2] < values[3]
    assert values[3] == pytest.approx(msw, rel=0.01)


def test_energy_sw_on_given_directions_matches_its_formula():
    x = np.random.default_rng(5).normal(size=(60, 2))
    y = x * 1.5 + [1.0, 0.0]
    th = swviz.directions.half_circle(16)
    e = swviz.energy_sw(x, y, directions=th)
    w = sliced_wpp(x, y, th)
    soft = np.exp(w - w.max()) / np.exp(w - w.max()).sum()
    assert e.value == pytest.approx(soft @ w, rel=1e-12)
    np.testing.assert_allclose(e.direction, th[np.argmax(w)])
    with pytest.raises(swviz.InputError, match="energy"):
        swviz.energy_sw(x, y, energy="cubic")
