"""Built-in shapes, each sampled with ``n`` points and a seed.

Each entry of :data:`SHAPES` is a :class:`ShapeSpec` whose ``sample(n, rng)`` returns
``(n, dim)`` float points. 3D surfaces are sampled uniformly by area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import InputError, check_count, rng_from

__all__ = ["SHAPES", "ShapeSpec", "sample_shape", "shape_names"]


@dataclass(frozen=True)
class ShapeSpec:
    """A built-in shape.

    name : str
    dim : int (2 or 3)
    description : str
    sample : callable ``(n, rng) -> (n, dim) float``
    """

    name: str
    dim: int
    description: str
    sample: Callable[[int, np.random.Generator], np.ndarray]


def _sphere(n, rng):
    g = rng.standard_normal((n, 3))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _torus(n, rng, R=1.0, r=0.35):
    # rejection on the tube angle gives area-uniform samples (density ~ R + r cos v)
    out = np.empty((0, 3))
    while out.shape[0] < n:
        k = 2 * (n - out.shape[0]) + 16
        u = rng.uniform(0, 2 * np.pi, k)
        v = rng.uniform(0, 2 * np.pi, k)
        keep = rng.uniform(0, R + r, k) < R + r * np.cos(v)
        u, v = u[keep], v[keep]
        pts = np.stack([(R + r * np.cos(v)) * np.cos(u), (R + r * np.cos(v)) * np.sin(u), r * np.sin(v)], 1)
        out = np.concatenate([out, pts])
    return out[:n]


def _cube(n, rng):
    face = rng.integers(0, 6, n)
    pts = rng.uniform(-1, 1, (n, 3))
    axis = face // 2
    pts[np.arange(n), axis] = np.where(face % 2 == 0, -1.0, 1.0)
    return pts


def _blobs(n, rng):
    k = rng.integers(0, 2, n)
    centres = np.array([[-1.2, 0.0, 0.0], [1.2, 0.3, 0.2]])
    return centres[k] + 0.4 * rng.standard_normal((n, 3))


def _circle(n, rng):
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(t), np.sin(t)], 1)


def _square(n, rng):
    s = rng.uniform(0, 4, n)
    side = np.floor(s).astype(int)
    f = s - side
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    return corners[side] + f[:, None] * (corners[(side + 1) % 4] - corners[side])


def _two_moons(n, rng):
    k = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    pts = np.where(k[:, None] == 0, upper, lower) + 0.05 * rng.standard_normal((n, 2))
    return pts - [0.5, 0.25]


SHAPES: dict[str, ShapeSpec] = {
    s.name: s
    for s in [
        ShapeSpec("sphere", 3, "unit sphere surface", _sphere),
        ShapeSpec("torus", 3, "torus surface (R = 1, r = 0.35)", _torus),
        ShapeSpec("cube", 3, "surface of the cube [-1, 1]^3", _cube),
        ShapeSpec("gaussian blobs", 3, "two Gaussian blobs", _blobs),
        ShapeSpec("circle", 2, "unit circle", _circle),
        ShapeSpec("square", 2, "boundary of the square [-1, 1]^2", _square),
        ShapeSpec("two moons", 2, "two interleaved half circles with noise", _two_moons),
    ]
}


def shape_names(dim: int | None = None) -> list[str]:
    """Names of the built-in shapes, optionally only those of dimension ``dim``."""
    return [k for k, s in SHAPES.items() if dim is None or s.dim == dim]


def sample_shape(name: str, n: int = 1024, seed=0) -> np.ndarray:
    """``n`` points of the built-in shape ``name``: (n, dim) float."""
    if name not in SHAPES:
        raise InputError(f"unknown shape {name!r}; built-in shapes are: {', '.join(SHAPES)}")
    n = check_count(n, "n")
    return SHAPES[name].sample(n, rng_from(seed))
