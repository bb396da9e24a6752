"""Direction samplers and deterministic direction sets on the sphere ``S^{d-1}``.

Every sampler has the signature ``(L, d, rng) -> (L, d)`` unit vectors so the estimator
registry can use any of them; deterministic sets ignore ``rng``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["uniform", "half_circle", "fibonacci_sphere", "normalize"]


def normalize(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` scaled to unit length: (L, d) -> (L, d)."""
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def uniform(L: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``L`` i.i.d. uniform directions ``theta = g / |g|``, ``g ~ N(0, I_d)``: (L, d)."""
    g = rng.standard_normal((L, d))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    # a zero Gaussian vector has probability 0; redraw defensively anyway
    while np.any(norms == 0):
        bad = norms[:, 0] == 0
        g[bad] = rng.standard_normal((int(bad.sum()), d))
        norms = np.linalg.norm(g, axis=1, keepdims=True)
    return g / norms


def half_circle(N: int) -> np.ndarray:
    """``N`` equispaced directions on the half circle (midpoint rule): (N, 2).

    Since ``W(theta) = W(-theta)``, the half circle covers the whole circle, and the mean
    over these directions is the midpoint-rule quadrature of ``SW_p^p`` in d = 2.
    """
    t = np.pi * (np.arange(N) + 0.5) / N
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def fibonacci_sphere(N: int) -> np.ndarray:
    """Fibonacci lattice of ``N`` nearly equal-area points on ``S^2``: (N, 3).

    ``z_i = 1 - (2i + 1)/N`` and longitude ``2 pi i / phi`` (phi the golden ratio); the
    plain mean over the lattice is a quadrature rule for the uniform measure.
    """
    i = np.arange(N)
    z = 1.0 - (2.0 * i + 1.0) / N
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    golden = (1.0 + np.sqrt(5.0)) / 2.0
    lon = 2.0 * np.pi * ((i / golden) % 1.0)
    return np.stack([r * np.cos(lon), r * np.sin(lon), z], axis=1)
