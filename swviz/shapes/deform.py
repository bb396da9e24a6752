"""Deformed copies of a shape that keep its vertex order, so the ground truth is known.

Each deformation moves vertices only (faces and vertex order stay), so vertex ``i`` of the
copy corresponds to vertex ``i`` of the original: :func:`ground_truth` is the identity.
Deformations act along the shape's longest bounding-box axis, with ``t`` in [0, 1] the
position along it:

* ``bend``: the axis becomes a circular arc through ``amount * 90`` degrees, lengths along
  the centre line kept;
* ``twist``: rotation about the axis by an angle growing linearly to ``amount * 180`` degrees;
* ``taper``: cross-sections scaled by ``1 - 0.6 * amount * t``;
* ``perturb``: a smooth random displacement (a sum of Gaussian bumps), seeded.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .._validation import InputError, rng_from
from .shape import Shape

__all__ = ["DEFORMATIONS", "deform", "deformed_shape", "ground_truth", "same_connectivity"]

DEFORMATIONS = MappingProxyType({
    "bend": "bent along its long axis",
    "twist": "twisted about its long axis",
    "taper": "tapered along its long axis",
    "perturb": "smoothly, non-rigidly perturbed",
})


def _frame(v):
    """Long axis, two cross axes, the bbox centre and the length along the long axis."""
    lo, hi = v.min(0), v.max(0)
    order = np.argsort(hi - lo)[::-1]
    return order[0], order[1], order[2], (lo + hi) / 2, float((hi - lo)[order[0]])


def deform(vertices: np.ndarray, kind: str, amount: float = 1.0, seed=0) -> np.ndarray:
    """Moved vertices of a deformed copy: ``(n, 3) float``, in the same order as ``vertices``.

    vertices : (n, 3) float
    kind : a key of :data:`DEFORMATIONS`
    amount : float in [0, 1.5], 0 leaves the shape unchanged
    seed : int, None or numpy Generator (used by ``perturb`` only)
    """
    if kind not in DEFORMATIONS:
        raise InputError(f"unknown deformation {kind!r}; choose one of: {', '.join(DEFORMATIONS)}")
    amount = float(amount)
    if not (0.0 <= amount <= 1.5):
        raise InputError(f"amount must be between 0 and 1.5; got {amount}")
    v = np.array(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise InputError(f"deformations need 3D vertices; got shape {v.shape}")
    ax, u, w, c, length = _frame(v)
    s = v[:, ax] - c[ax]  # position along the long axis, centred
    t = s / length + 0.5  # in [0, 1]
    out = v.copy()
    if kind == "bend" and amount > 0:
        radius = length / (amount * np.pi / 2)
        phi = s / radius
        x = v[:, u] - c[u]
        out[:, u] = c[u] + radius - (radius - x) * np.cos(phi)
        out[:, ax] = c[ax] + (radius - x) * np.sin(phi)
    elif kind == "twist":
        ang = amount * np.pi * (t - 0.5)
        x, y = v[:, u] - c[u], v[:, w] - c[w]
        out[:, u] = c[u] + np.cos(ang) * x - np.sin(ang) * y
        out[:, w] = c[w] + np.sin(ang) * x + np.cos(ang) * y
    elif kind == "taper":
        k = 1.0 - 0.6 * amount * t
        out[:, u] = c[u] + k * (v[:, u] - c[u])
        out[:, w] = c[w] + k * (v[:, w] - c[w])
    elif kind == "perturb":
        rng = rng_from(seed)
        diag = float(np.linalg.norm(v.max(0) - v.min(0)))
        centres = v[rng.integers(0, len(v), 8)]  # (8, 3)
        push = rng.standard_normal((8, 3))
        push /= np.linalg.norm(push, axis=1, keepdims=True)
        sigma = 0.2 * diag
        d2 = ((v[:, None, :] - centres[None]) ** 2).sum(-1)  # (n, 8)
        out = v + amount * 0.06 * diag * np.exp(-d2 / (2 * sigma**2)) @ push
    return out


def deformed_shape(shape: Shape, kind: str, amount: float = 1.0, seed=0, name: str | None = None) -> Shape:
    """A deformed copy of the mesh ``shape`` with the same faces and vertex order."""
    if not shape.is_mesh or shape.dim != 3:
        raise InputError(f"deformed copies need a 3D mesh; {shape.name!r} is a {shape.dim}D point cloud")
    name = name or f"{shape.name} ({kind})"
    moved = deform(shape.vertices, kind, amount, seed)
    return shape.with_vertices(moved, name=name, key=f"{shape.key}|{kind}:{amount}:{seed}")


def same_connectivity(a: Shape, b: Shape) -> bool:
    """True when ``a`` and ``b`` are meshes with the same number of vertices and the same faces."""
    return (a.is_mesh and b.is_mesh and a.n_vertices == b.n_vertices and a.faces.shape == b.faces.shape
            and bool(np.array_equal(a.faces, b.faces)))


def ground_truth(source: Shape, target: Shape) -> np.ndarray:
    """The true vertex correspondence between two meshes sharing connectivity: ``(n,) int``.

    ``gt[i]`` is the target vertex that source vertex ``i`` corresponds to. Deformed copies
    and uploads that share their faces keep vertex order, so this is the identity.
    """
    if not same_connectivity(source, target):
        raise InputError(
            f"no known correspondence between {source.name!r} and {target.name!r}: they must be meshes with the "
            f"same faces and vertex count ({source.n_vertices:,} vs {target.n_vertices:,} vertices)"
        )
    return np.arange(source.n_vertices)
