"""Implicit surfaces to triangle meshes: signed distance functions and marching tetrahedra.

Used to build the library shapes that have no simple parametrisation (a genus-2 surface, a
smooth "jack"). Building them takes a second or so, so ``assets/make_assets.py`` stores the
result as small PLY files and the library reads those when they are present.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["marching_tetrahedra", "sdf_double_torus", "sdf_jack", "smooth_min"]

# the unit cube's corners, corner c at offset ((c >> 2) & 1, (c >> 1) & 1, c & 1)
_CORNERS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])
# Kuhn split: six tetrahedra sharing the 000-111 diagonal; every cube is cut the same way so
# the faces of neighbouring cubes are split along the same diagonals (the surface is closed)
_TETS = np.array([[0, 4, 6, 7], [0, 4, 5, 7], [0, 2, 6, 7], [0, 2, 3, 7], [0, 1, 5, 7], [0, 1, 3, 7]])


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields (blends unions over a width ``k``)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _sdf_torus(p, centre, R, r):
    q = p - centre
    return np.hypot(np.hypot(q[:, 0], q[:, 1]) - R, q[:, 2]) - r


def _sdf_segment(p, a, b, r):
    pa, ba = p - a, b - a
    h = np.clip(pa @ ba / (ba @ ba), 0.0, 1.0)
    return np.linalg.norm(pa - h[:, None] * ba, axis=1) - r


def sdf_double_torus(p: np.ndarray) -> np.ndarray:
    """Two tori (R = 0.8, r = 0.3) side by side, blended into one genus-2 surface. p : (k, 3)."""
    a = _sdf_torus(p, np.array([-1.0, 0.0, 0.0]), 0.8, 0.3)
    b = _sdf_torus(p, np.array([1.0, 0.0, 0.0]), 0.8, 0.3)
    return smooth_min(a, b, 0.25)


def sdf_jack(p: np.ndarray) -> np.ndarray:
    """Three orthogonal rods with round knobs at their ends, smoothly blended. p : (k, 3)."""
    d = None
    for axis in range(3):
        e = np.zeros(3)
        e[axis] = 1.0
        rod = _sdf_segment(p, -e, e, 0.16)
        d = rod if d is None else smooth_min(d, rod, 0.15)
        for s in (-1.0, 1.0):
            d = smooth_min(d, np.linalg.norm(p - s * e, axis=1) - 0.3, 0.15)
    return d


def marching_tetrahedra(
    sdf: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The zero level set of ``sdf`` on an ``n``-cell grid over ``[lo, hi]^3`` as a triangle mesh.

    sdf : callable, (k, 3) float -> (k,) float, negative inside
    Returns ``vertices : (v, 3) float`` and ``faces : (f, 3) int`` with outward normals (the
    face normal points the way ``sdf`` increases). Vertices on one grid edge are shared, so
    the mesh is closed where the level set does not touch the grid's boundary.
    """
    g = np.linspace(lo, hi, n + 1)
    grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    val = sdf(grid)
    val[val == 0] = 1e-12  # no grid point exactly on the surface: no zero-length edges
    m = n + 1
    base = np.stack(np.meshgrid(*(np.arange(n),) * 3, indexing="ij"), -1).reshape(-1, 3)
    corner_id = ((base[:, None, :] + _CORNERS[None]) * [m * m, m, 1]).sum(-1)  # (cubes, 8)
    cv = val[corner_id]
    active = (cv.min(1) < 0) & (cv.max(1) > 0)
    tet = corner_id[active][:, _TETS].reshape(-1, 4)  # (tets, 4) grid ids
    inside = val[tet] < 0
    k = inside.sum(1)
    keep = (k > 0) & (k < 4)
    tet, inside, k = tet[keep], inside[keep], k[keep]
    order = np.argsort(~inside, axis=1, kind="stable")  # inside corners first
    t = np.take_along_axis(tet, order, 1)

    def tris(rows, pairs):  # triangles as lists of grid edges (a, b)
        return [np.stack([t[rows, a], t[rows, b]], -1) for a, b in pairs]

    one, two, three = np.flatnonzero(k == 1), np.flatnonzero(k == 2), np.flatnonzero(k == 3)
    groups = [
        (one, [(0, 1), (0, 2), (0, 3)]),
        (three, [(3, 0), (3, 1), (3, 2)]),
        (two, [(0, 2), (0, 3), (1, 3)]),
        (two, [(0, 2), (1, 3), (1, 2)]),
    ]
    edges, owner = [], []
    for rows, pairs in groups:
        edges.append(np.stack(tris(rows, pairs), 1))  # (r, 3, 2)
        owner.append(rows)
    edges = np.concatenate(edges)  # (f, 3, 2) grid ids of each corner's edge
    owner = np.concatenate(owner)
    key = np.sort(edges, -1)
    key = key[..., 0] * m**3 + key[..., 1]
    uniq, faces = np.unique(key.ravel(), return_inverse=True)
    a, b = uniq // m**3, uniq % m**3
    w = val[a] / (val[a] - val[b])  # where the linear interpolant crosses zero
    verts = grid[a] + w[:, None] * (grid[b] - grid[a])
    faces = faces.reshape(-1, 3)
    # orient: the normal should point from the tetrahedron's inside corners to its outside ones
    p = verts[faces]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    tin = inside[owner]
    pts = grid[tet[owner]]  # (f, 4, 3)
    c_in = (pts * tin[..., None]).sum(1) / tin.sum(1, keepdims=True)
    c_out = (pts * ~tin[..., None]).sum(1) / (~tin).sum(1, keepdims=True)
    flip = (normal * (c_out - c_in)).sum(1) < 0
    faces[flip] = faces[flip][:, ::-1]
    area = np.linalg.norm(normal, axis=1)
    faces = faces[area > 1e-14 * max(1.0, float(np.abs(verts).max()) ** 2)]
    used, faces = np.unique(faces, return_inverse=True)
    return verts[used], faces.reshape(-1, 3)
