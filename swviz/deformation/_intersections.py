r"""Self-intersecting face pairs of a triangle mesh, in vectorised numpy (no GPL code).

:func:`self_intersections` runs in three phases, each over all candidate pairs at once:

1. **Broad phase.** Each face is bounded by the ball about its centroid :math:`c_f` through its
   farthest corner (radius :math:`r_f`); two faces can meet only if
   :math:`|c_f - c_g| \le r_f + r_g` and their axis-aligned boxes overlap. The faces are
   grouped by radius into classes within a factor of two, one ``scipy.spatial.cKDTree`` of
   centroids per class, and each pair of classes searched with the sum of their largest radii,
   so a few large faces do not inflate the search radius of all the small ones.
2. **Plane-side rejection** (Möller, "A Fast Triangle-Triangle Intersection Test", Journal of
   Graphics Tools 2(2), 1997, section 2): a pair is rejected when the three corners of one
   face lie strictly on one side of the other face's plane.
3. **Exact test of the survivors.** Two triangles that are not coplanar meet only on the line
   :math:`L` where their planes meet; each triangle cuts :math:`L` in a segment whose ends are
   found from the signed distances of its corners to the other plane, projected on the
   direction :math:`D = n_1 \times n_2` of :math:`L`, and the triangles intersect iff the two
   intervals overlap (Möller 1997, section 3). Coplanar pairs are projected on the coordinate
   plane where the normal is largest and tested in 2D: an edge of one crosses an edge of the
   other, or a corner of one lies in the other (Möller 1997, section 4). Möller's epsilon
   test, in relative form, decides coplanarity: a signed distance under
   ``1e-10`` times the pair's longest edge counts as zero.

Faces that share corners, the rule (a mesh's neighbours always touch, so touching alone
cannot count):

* faces sharing **an edge** (two or three corners) never count. Two such faces that are not
  coplanar meet only along the shared edge (each cuts the line of the other's plane in that
  edge), so they could cross only when exactly coplanar, a fold of zero dihedral angle; a
  folded-over face is reported by :func:`~swviz.deformation.flipped_faces` instead;
* faces sharing **one corner** count when they meet anywhere other than that corner. With
  :math:`T_1 = (a, b, c)`, :math:`T_2 = (a, d, e)`, both cuts of :math:`L` start at
  :math:`a`, and the faces cross beyond it iff both cuts leave :math:`a` in the same
  direction along :math:`D` (coplanar: iff edge :math:`bc` meets :math:`T_2` or :math:`de`
  meets :math:`T_1`);
* faces of zero area (within rounding: twice the area under ``1e-10`` times the longest
  edge squared) have no plane and never count (see :func:`~swviz.deformation.degenerate_faces`).

The predicates are evaluated in floating point, not exact arithmetic: a pair that touches
within rounding may be decided either way (exact-arithmetic tests such as CGAL's also count,
for example, two edges that cross exactly at a point). A 50,000-face torus takes about half a
second of CPU (``benchmarks/bench_deform.py``).
"""

from __future__ import annotations

import numpy as np

from .._validation import InputError

_COPLANAR_TOL = 1e-10  # |signed distance to the other plane| / the pair's longest edge below this: on the plane
_MAX_CLASSES = 40  # radius classes (factors of 2 below the largest); faces smaller still join the last class

_EDGES = ((0, 1), (1, 2), (2, 0))


def self_intersections(vertices, faces) -> np.ndarray:
    """Pairs of faces that intersect other than at the corners and edges they share: ``(k, 2) int``.

    vertices : (n, 3) float
    faces : (m, 3) int

    Returns the pairs ``(f, g)`` with ``f < g``, sorted. Faces sharing an edge never count,
    faces sharing one corner count when they meet beyond it, faces of zero area (within
    rounding) never count: see the module's notes for the rule, the broad phase and Möller's test (Journal of
    Graphics Tools, 1997) that decide it.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise InputError(f"vertices must have shape (n, 3); got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"faces must have shape (m, 3); got {f.shape}")
    f = f.astype(np.int64)
    if len(f) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    tri = v[f]  # (m, 3, 3)
    twice_area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)  # (m,)
    longest2 = np.max([((tri[:, p] - tri[:, q]) ** 2).sum(1) for p, q in _EDGES], axis=0)  # (m,)
    pairs = _candidate_pairs(tri, twice_area > _COPLANAR_TOL * longest2)  # (c, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    same = f[i][:, :, None] == f[j][:, None, :]  # (c, 3, 3): corner k of face i is corner l of face j
    n_shared = same.any(2).sum(1)  # (c,)
    hit = np.zeros(len(pairs), dtype=bool)
    apart = n_shared == 0
    hit[apart] = _crossing(tri[i[apart]], tri[j[apart]])
    corner = np.flatnonzero(n_shared == 1)
    if len(corner):
        s = same[corner]
        # rotate both faces so that the shared corner comes first (a rotation keeps the orientation)
        ki, kj = s.any(2).argmax(1), s.any(1).argmax(1)
        roll = (np.arange(3)[None] + np.stack([ki, kj], 1)[:, :, None]) % 3  # (k, 2, 3)
        a = np.take_along_axis(tri[i[corner]], roll[:, 0, :, None], 1)
        b = np.take_along_axis(tri[j[corner]], roll[:, 1, :, None], 1)
        hit[corner] = _crossing_beyond_corner(a, b)
    out = pairs[hit]
    return out[np.lexsort((out[:, 1], out[:, 0]))]


# ------------------------------------------------------------------------------- broad phase


def _candidate_pairs(tri: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Pairs ``(f, g)``, ``f < g``, of usable faces whose bounding balls and boxes overlap: ``(c, 2) int``."""
    from scipy.spatial import cKDTree

    idx = np.flatnonzero(usable)
    if len(idx) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    centre = tri[idx].mean(1)  # (u, 3)
    radius = np.linalg.norm(tri[idx] - centre[:, None], axis=2).max(1)  # (u,)
    # class k holds the radii in (rmax 2^-(k+1), rmax 2^-k]
    level = np.floor(np.log2(radius.max() / radius)).clip(0, _MAX_CLASSES - 1).astype(np.int64)
    classes = [np.flatnonzero(level == k) for k in np.unique(level)]
    trees = [cKDTree(centre[c]) for c in classes]
    rmax = [radius[c].max() for c in classes]
    found = []
    for a, (ca, ta) in enumerate(zip(classes, trees)):
        found.append(ca[ta.query_pairs(2 * rmax[a], output_type="ndarray")])
        for b in range(a + 1, len(classes)):
            m = ta.sparse_distance_matrix(trees[b], rmax[a] + rmax[b], output_type="ndarray")
            found.append(np.stack([ca[m["i"]], classes[b][m["j"]]], 1))
    p = np.sort(np.concatenate(found).reshape(-1, 2), axis=1)
    # the exact ball bound, then the boxes
    gap = centre[p[:, 0]] - centre[p[:, 1]]
    p = p[np.einsum("ij,ij->i", gap, gap) <= (radius[p[:, 0]] + radius[p[:, 1]]) ** 2]
    lo, hi = tri[idx].min(1), tri[idx].max(1)  # (u, 3) each
    p = p[np.all((lo[p[:, 0]] <= hi[p[:, 1]]) & (lo[p[:, 1]] <= hi[p[:, 0]]), axis=1)]
    return idx[p]


# ------------------------------------------------------------------------------- Möller's test


def _plane_distances(a: np.ndarray, b: np.ndarray):
    """Signed distances (times twice b's area) of a's corners to b's plane, and b's normal: ``(k, 3)``, ``(k, 3)``.

    Distances within the coplanarity tolerance of the pair's longest edge are set to 0.
    """
    n = np.cross(b[:, 1] - b[:, 0], b[:, 2] - b[:, 0])  # (k, 3), length twice b's area
    d = np.einsum("kij,kj->ki", a - b[:, :1], n)  # (k, 3)
    edge = np.sqrt(np.max([((t[:, p] - t[:, q]) ** 2).sum(1) for t in (a, b) for p, q in _EDGES], axis=0))
    d[np.abs(d) <= _COPLANAR_TOL * edge[:, None] * np.linalg.norm(n, axis=1)[:, None]] = 0.0
    return d, n


def _one_side(d: np.ndarray) -> np.ndarray:
    return np.all(d > 0, axis=1) | np.all(d < 0, axis=1)


def _coplanar(da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """All corners of one face on the other's plane (either way round: within rounding, one implies the other)."""
    return np.all(da == 0, axis=1) | np.all(db == 0, axis=1)


def _larger(na: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """The normal of the larger face of each pair (the better-conditioned plane to project on)."""
    bigger = (na**2).sum(1) >= (nb**2).sum(1)
    return np.where(bigger[:, None], na, nb)


def _interval(p: np.ndarray, d: np.ndarray):
    """Where a triangle cuts the line L, as an interval of the projections on D: ``lo, hi (k,)``.

    p : (k, 3) the corners' projections on D; d : (k, 3) their signed distances to the other
    plane (not all of one sign). The cut's ends are the corners on the plane and the points
    where the edges cross it, ``p_a + (p_b - p_a) d_a / (d_a - d_b)``.
    """
    lo = np.where(d == 0, p, np.inf).min(1)
    hi = np.where(d == 0, p, -np.inf).max(1)
    for s, t in _EDGES:
        cross = d[:, s] * d[:, t] < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            x = p[:, s] + (p[:, t] - p[:, s]) * d[:, s] / (d[:, s] - d[:, t])
        lo = np.where(cross, np.minimum(lo, x), lo)
        hi = np.where(cross, np.maximum(hi, x), hi)
    return lo, hi


def _crossing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether triangles ``a[k]`` and ``b[k]`` (``(k, 3, 3)``, no shared corner) intersect: ``(k,) bool``."""
    out = np.zeros(len(a), dtype=bool)
    da, nb = _plane_distances(a, b)
    db, na = _plane_distances(b, a)
    live = ~(_one_side(da) | _one_side(db))
    flat = live & _coplanar(da, db)
    out[flat] = _coplanar_overlap(a[flat], b[flat], _larger(na[flat], nb[flat]))
    live &= ~flat
    k = np.flatnonzero(live)
    if len(k):
        direction = np.cross(na[k], nb[k])  # (k, 3), along L
        lo_a, hi_a = _interval(np.einsum("kij,kj->ki", a[k], direction), da[k])
        lo_b, hi_b = _interval(np.einsum("kij,kj->ki", b[k], direction), db[k])
        out[k] = np.maximum(lo_a, lo_b) <= np.minimum(hi_a, hi_b)
    return out


def _crossing_beyond_corner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether triangles ``a[k] = (o, p, q)`` and ``b[k] = (o, r, s)`` sharing corner o meet elsewhere: ``(k,) bool``.

    ``a, b : (k, 3, 3)``, the shared corner first in both.
    """
    out = np.zeros(len(a), dtype=bool)
    da, nb = _plane_distances(a, b)  # da[:, 0] = 0: o is on b's plane
    db, na = _plane_distances(b, a)
    da[:, 0] = db[:, 0] = 0.0
    live = ~(_one_side(da[:, 1:]) | _one_side(db[:, 1:]))
    flat = live & _coplanar(da, db)
    out[flat] = _coplanar_beyond_corner(a[flat], b[flat], _larger(na[flat], nb[flat]))
    live &= ~flat
    k = np.flatnonzero(live)
    if len(k):
        # each face cuts L in a segment [o, x]; they overlap beyond o iff both x lie on the same side of o
        direction = np.cross(na[k], nb[k])
        ends = []
        for t, d in ((a[k], da[k]), (b[k], db[k])):
            p = np.einsum("kij,kj->ki", t - t[:, :1], direction)  # (k, 3), p[:, 0] = 0
            d1, d2 = d[:, 1], d[:, 2]
            ends.append((p[:, 1] * d2 - p[:, 2] * d1) / (d2 - d1))  # where edge (1, 2) meets the plane
        out[k] = ends[0] * ends[1] > 0
    return out


# ------------------------------------------------------------------------------- coplanar pairs (2D)


def _to_2d(a: np.ndarray, b: np.ndarray, n: np.ndarray):
    """Both triangles projected on the coordinate plane where the normal ``n`` is largest: ``(k, 3, 2)`` each."""
    drop = np.abs(n).argmax(1)  # (k,)
    keep = np.array([[1, 2], [0, 2], [0, 1]])[drop]  # (k, 2)
    return (np.take_along_axis(a, keep[:, None, :], 2), np.take_along_axis(b, keep[:, None, :], 2))


def _orient(p, q, r):
    """Twice the signed area of (p, q, r): ``(k,)``, for ``(k, 2)`` points."""
    return (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])


def _on_box(p, q, r):
    """Whether r lies in the bounding box of segment pq (meaningful when the three are collinear)."""
    return np.all((np.minimum(p, q) <= r) & (r <= np.maximum(p, q)), axis=1)


def _segments_meet(p, q, r, s):
    """Whether the closed segments pq and rs of the plane meet: ``(k,) bool``."""
    o1, o2, o3, o4 = _orient(p, q, r), _orient(p, q, s), _orient(r, s, p), _orient(r, s, q)
    proper = (o1 * o2 < 0) & (o3 * o4 < 0)
    return (proper | (o1 == 0) & _on_box(p, q, r) | (o2 == 0) & _on_box(p, q, s)
            | (o3 == 0) & _on_box(r, s, p) | (o4 == 0) & _on_box(r, s, q))


def _inside(p, t):
    """Whether point p lies in the closed triangle t (``(k, 2)``, ``(k, 3, 2)``): ``(k,) bool``."""
    o = np.stack([_orient(t[:, s], t[:, e], p) for s, e in _EDGES], 1)
    return np.all(o >= 0, axis=1) | np.all(o <= 0, axis=1)


def _segment_meets_triangle(p, q, t):
    hit = _inside(p, t) | _inside(q, t)
    for s, e in _EDGES:
        hit |= _segments_meet(p, q, t[:, s], t[:, e])
    return hit


def _coplanar_overlap(a, b, n):
    """Coplanar triangles with no shared corner: an edge of a meets b (ends inside included), or b lies in a."""
    a2, b2 = _to_2d(a, b, n)
    hit = _inside(b2[:, 0], a2)
    for s, e in _EDGES:
        hit |= _segment_meets_triangle(a2[:, s], a2[:, e], b2)
    return hit


def _coplanar_beyond_corner(a, b, n):
    """Coplanar triangles sharing corner 0: they overlap beyond it iff an opposite edge meets the other face."""
    a2, b2 = _to_2d(a, b, n)
    return _segment_meets_triangle(a2[:, 1], a2[:, 2], b2) | _segment_meets_triangle(b2[:, 1], b2[:, 2], a2)
