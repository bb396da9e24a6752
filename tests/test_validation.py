"""Every bad input to the public API is a ValueError whose message names the problem."""

import numpy as np
import pytest

import swviz

X = np.random.default_rng(0).normal(size=(20, 3))
Y = np.random.default_rng(1).normal(size=(25, 3))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(x=X, y=Y[:, :2]), "same dimension"),
        (dict(x=np.empty((0, 3)), y=Y), "empty"),
        (dict(x=X, y=np.empty((0, 3))), "empty"),
        (dict(x=np.where(np.arange(60).reshape(20, 3) == 7, np.nan, X), y=Y), "NaN or infinite"),
        (dict(x=X, y=np.where(np.arange(75).reshape(25, 3) == 0, np.inf, Y)), "NaN or infinite"),
        (dict(x=X, y=Y, a=-np.ones(20)), "negative"),
        (dict(x=X, y=Y, b=np.zeros(25)), "sums to zero"),
        (dict(x=X, y=Y, a=np.ones(19)), "19 weights but there are 20 points"),
        (dict(x=X, y=Y, a=np.full(20, np.nan)), "NaN or infinite weights"),
        (dict(x=X, y=Y, n_projections=0), "n_projections must be >= 1"),
        (dict(x=X, y=Y, n_projections=-5), "n_projections must be >= 1"),
        (dict(x=X, y=Y, n_projections=2.5), "whole number"),
        (dict(x=X, y=Y, n_projections="ten"), "whole number"),
        (dict(x=X, y=Y, p=0.5), "p must be"),
        (dict(x=X, y=Y, p=np.nan), "p must be"),
        (dict(x=X, y=Y, p="two"), "p must be"),
        (dict(x=X, y=Y, estimator="nope"), "unknown estimator 'nope'; valid estimators are: .*mc"),
        (dict(x=X, y=Y, directions=np.ones((4, 3))), "unit vectors"),
        (dict(x=X, y=Y, directions=np.eye(2)), r"shape \(L, 3\)"),
        (dict(x=np.zeros((2, 3, 4)), y=Y), r"shape \(n, d\)"),
        (dict(x=[["a", "b", "c"]], y=Y), "numeric"),
        (dict(x=X, y=Y, seed="abc"), "seed must be"),
        (dict(x=X, y=Y, seed=-1), "seed must be"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        swviz.sliced_wasserstein(**kwargs)


def test_reference_validates_too():
    with pytest.raises(ValueError, match="same dimension"):
        swviz.reference_sw(X, Y[:, :2])
    with pytest.raises(ValueError, match="p must be"):
        swviz.reference_sw(X, Y, p=0)


def test_positive_weights_are_normalised():
    a = np.arange(1, 21, dtype=float)
    theta = np.eye(3)
    r1 = swviz.sliced_wasserstein(X, Y, a, directions=theta)
    r2 = swviz.sliced_wasserstein(X, Y, a * 1000, directions=theta)
    assert r1.value == pytest.approx(r2.value, rel=1e-13)


def test_unknown_estimator_lists_every_valid_name():
    with pytest.raises(ValueError) as info:
        swviz.sliced_wasserstein(X, Y, estimator="bogus")
    for name in swviz.ESTIMATORS:
        assert name in str(info.value)
