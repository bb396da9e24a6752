"""Validation at the public boundary: points, weights and scalar options.

Every check raises :class:`InputError` (a ``ValueError``) with a message that names the
argument, its shape and the offending value, so callers and pages can show it as is.
"""

from __future__ import annotations

import numpy as np


class InputError(ValueError):
    """Bad input to a public swviz function (a ``ValueError`` subclass)."""


def as_points(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 array of shape (n, d), or raise.

    A 1D array of length n is read as n points in dimension 1.
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array of shape (n, d): {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{name} must have shape (n, d); got an array with shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{name} is empty: it needs at least one point (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise InputError(f"{name} has dimension 0 (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} NaN or infinite value(s); every coordinate must be finite")
    return np.ascontiguousarray(arr)


def as_weights(a, n: int, name: str = "a") -> np.ndarray | None:
    """Return normalised weights of length ``n`` (summing to 1), or ``None`` for uniform."""
    if a is None:
        return None
    try:
        w = np.asarray(a, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array of weights: {exc}") from None
    if w.shape[0] != n:
        raise InputError(f"{name} has {w.shape[0]} weights but there are {n} points")
    if not np.all(np.isfinite(w)):
        raise InputError(f"{name} contains NaN or infinite weights")
    if np.any(w < 0):
        raise InputError(f"{name} has negative weights (min {w.min():.3g}); weights must be >= 0")
    total = w.sum()
    if not total > 0:
        raise InputError(f"{name} sums to zero; at least one weight must be positive")
    return w / total


def check_pair(x, y, a=None, b=None):
    """Validate a pair of weighted point clouds of the same dimension."""
    x = as_points(x, "x")
    y = as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise InputError(
            f"x and y must have the same dimension: x is {x.shape} (d = {x.shape[1]}), "
            f"y is {y.shape} (d = {y.shape[1]})"
        )
    return x, y, as_weights(a, x.shape[0], "a"), as_weights(b, y.shape[0], "b")


def check_p(p) -> float:
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise InputError(f"p must be a number >= 1; got {p!r}") from None
    if not (np.isfinite(p) and p >= 1):
        raise InputError(f"p must be a finite number >= 1; got {p}")
    return p


def check_count(value, name: str = "n_projections") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a whole number >= 1; got {value!r}") from None
        if not as_float.is_integer():
            raise InputError(f"{name} must be a whole number >= 1; got {value!r}")
        value = int(as_float)
    if value < 1:
        raise InputError(f"{name} must be >= 1; got {value}")
    return int(value)


def check_directions(directions, d: int) -> np.ndarray:
    theta = as_points(directions, "directions")
    if theta.shape[1] != d:
        raise InputError(f"directions must have shape (L, {d}) to match the points; got {theta.shape}")
    norms = np.linalg.norm(theta, axis=1)
    if np.any(np.abs(norms - 1) > 1e-6):
        raise InputError(
            f"directions must be unit vectors; norms range from {norms.min():.6g} to {norms.max():.6g}"
        )
    return theta


def rng_from(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int, ``None`` or a Generator (passed through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise InputError(f"seed must be an int, None or a numpy.random.Generator; got {seed!r}")
    if seed is not None and seed < 0:
        raise InputError(f"seed must be >= 0; got {seed}")
    return np.random.default_rng(seed)
