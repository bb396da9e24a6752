r"""Where two measures differ: each atom's mean squared sliced displacement.

For a direction :math:`\theta`, the one-dimensional optimal plan between
:math:`\theta_\#\mu` and :math:`\theta_\#\nu` is the monotone (quantile) coupling
:math:`\pi_\theta`. Its barycentric image of the source atom :math:`x_i` is

.. math::
    T_\theta(\theta^\top x_i) = \frac{1}{a_i} \sum_j \pi_\theta(i, j)\, \theta^\top y_j ,

the mean position, along :math:`\theta`, of the target mass that :math:`x_i` is sent to. The
**discrepancy** of :math:`x_i` is the average over directions of its squared displacement,

.. math::
    D_\mu(x_i) = \frac1L \sum_{l=1}^L \bigl|\theta_l^\top x_i - T_{\theta_l}(\theta_l^\top x_i)\bigr|^2 ,

and :math:`D_\nu(y_j)` likewise with the plan read the other way. Weighted atoms and unequal
sizes are handled by the merged quantile grid (an atom may be split between several
partners; its image is then their mass-weighted mean). Since the squared barycentre is at
most the mean square (Jensen), :math:`\sum_i a_i D_\mu(x_i) \le SW_2^2` on the same
directions, with equality when every atom is matched to one partner per slice (equal sizes,
uniform weights). A large :math:`D` marks atoms that must travel far, in most directions,
to turn one shape into the other: on a deformed copy, the deformed part. It is a reading of
the sliced plans, not of a true correspondence: when a few atoms jump far, the source atoms
that light up are those whose quantiles must travel to them, which are the moved ones only
when the change is local (a part pulled out, bent or tapered).

This is the per-atom reading of the sliced plans of Rabin, Peyré, Delon & Bernot,
"Wasserstein barycenter and its application to texture mixing", SSVM 2011 (Section 3, the
sliced displacement field), and of the sliced transport plans of Mahey, Chapel, Gasso,
Bonet & Courty, "Fast optimal transport through sliced generalized Wasserstein geodesics",
NeurIPS 2023.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import InputError, check_count, check_directions, check_pair, rng_from
from .directions import fibonacci_sphere, half_circle, uniform

__all__ = ["DiscrepancyMap", "discrepancy_map", "monotone_couplings", "shape_discrepancy"]

#: Projected values one chunk of directions may hold (both sides together).
CHUNK_VALUES = 2_000_000


def monotone_couplings(px: np.ndarray, py: np.ndarray, a=None, b=None, order_x: np.ndarray | None = None):
    """The monotone (optimal) couplings of projected measures, one per direction.

    px : (L, n) float, py : (L, m) float
        Projections of the source and target atoms on each direction.
    a, b : (n,), (m,) float summing to 1, or None for uniform
    order_x : (L, n) int, optional
        ``argsort(px, axis=1)`` when already known.

    Returns ``I, J, W`` of shape (L, K): on slice ``l`` the source atom ``I[l, k]`` sends
    mass ``W[l, k]`` to the target atom ``J[l, k]`` (K = n for equal sizes and uniform
    weights, else n + m, some cells of mass 0), so ``W_p^p(theta_l) = sum_k W[l, k]
    |px[l, I[l, k]] - py[l, J[l, k]]|^p``.
    """
    L, n = px.shape
    m = py.shape[1]
    ox = np.argsort(px, axis=1) if order_x is None else order_x
    oy = np.argsort(py, axis=1)
    if a is None and b is None and n == m:
        return ox, oy, np.full(ox.shape, 1.0 / n)
    a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
    b = np.full(m, 1.0 / m) if b is None else np.asarray(b, dtype=np.float64)
    cx = np.cumsum(a[ox], axis=1)  # (L, n) cumulative mass of the sorted source atoms
    cy = np.cumsum(b[oy], axis=1)
    cx[:, -1] = 1.0
    cy[:, -1] = 1.0
    merged = np.concatenate([cx, cy], axis=1)  # (L, n + m) cell ends of the merged grid
    order = np.argsort(merged, axis=1, kind="stable")
    widths = np.diff(np.take_along_axis(merged, order, axis=1), axis=1, prepend=0.0)
    is_x = order < n
    ix = np.minimum(np.cumsum(is_x, axis=1) - is_x, n - 1)  # the sorted source atom covering each cell
    iy = np.minimum(np.cumsum(~is_x, axis=1) - ~is_x, m - 1)
    return np.take_along_axis(ox, ix, axis=1), np.take_along_axis(oy, iy, axis=1), widths


@dataclass(frozen=True)
class DiscrepancyMap:
    """Each atom's mean squared sliced displacement.

    source : (n,) float
        :math:`D_\\mu(x_i)`, in squared units of the coordinates.
    target : (m,) float
        :math:`D_\\nu(y_j)`.
    sw : float
        ``SW_2^2`` on the same directions (``sum_i a_i source_i <= sw``).
    directions : (L, d) float
    """

    source: np.ndarray
    target: np.ndarray
    sw: float
    directions: np.ndarray

    @property
    def n_projections(self) -> int:
        return int(self.directions.shape[0])


def _default_directions(L: int, d: int, seed) -> np.ndarray:
    if d == 3:
        return fibonacci_sphere(L)
    if d == 2:
        return half_circle(L)
    if d == 1:
        return np.ones((1, 1))
    return uniform(L, d, rng_from(seed))


def _barycentric_gap(p_from, p_to, I, J, W, n):
    """Per slice, each 'from' atom's squared gap to its barycentric image: (L, n) float."""
    L = p_from.shape[0]
    rows = np.arange(L)[:, None] * n
    mass = np.bincount((rows + I).ravel(), weights=W.ravel(), minlength=L * n).reshape(L, n)
    image = np.bincount((rows + I).ravel(), weights=(W * np.take_along_axis(p_to, J, 1)).ravel(),
                        minlength=L * n).reshape(L, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        image = np.where(mass > 0, image / mass, p_from)  # an atom of no mass has no image: gap 0
    return (p_from - image) ** 2


def discrepancy_map(x, y, a=None, b=None, *, n_projections: int = 256, seed=0, directions=None) -> DiscrepancyMap:
    """The mean squared sliced displacement of every atom of both measures.

    Parameters
    ----------
    x : (n, d) float
        Source atoms.
    y : (m, d) float
        Target atoms.
    a, b : (n,), (m,) float, optional
        Weights (normalised); uniform if omitted.
    n_projections : int
        Number of directions ``L`` when ``directions`` is not given.
    seed : int, None or numpy Generator
        Used only in dimensions other than 2 and 3 (seeded uniform directions); in 3D the
        directions are a Fibonacci lattice, in 2D the midpoint rule on the half circle, so
        the map is deterministic.
    directions : (L, d) float, optional
        Unit directions to use instead.

    Returns
    -------
    DiscrepancyMap

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((200, 3))
    >>> top = x[:, 2] > np.quantile(x[:, 2], 0.9)
    >>> y = x.copy(); y[top] += [0.0, 0.0, 2.0]          # pull the top tenth of the cloud up
    >>> D = discrepancy_map(x, y)
    >>> bool(D.source[top].mean() > 5 * D.source[~top].mean())
    True
    """
    x, y, a, b = check_pair(x, y, a, b)
    n, d = x.shape
    m = y.shape[0]
    if directions is None:
        theta = _default_directions(check_count(n_projections, "n_projections"), d, seed)
    else:
        theta = check_directions(directions, d)
    L = theta.shape[0]
    if L == 0:
        raise InputError("discrepancy_map needs at least one direction")
    ds, dt, sw = np.zeros(n), np.zeros(m), 0.0
    step = max(1, CHUNK_VALUES // (n + m))
    xt, yt = np.ascontiguousarray(x.T), np.ascontiguousarray(y.T)  # a transposed view is a slow matmul path
    for s in range(0, L, step):
        t = theta[s:s + step]
        px, py = t @ xt, t @ yt  # (l, n), (l, m)
        I, J, W = monotone_couplings(px, py, a, b)
        sw += float(np.sum(W * (np.take_along_axis(px, I, 1) - np.take_along_axis(py, J, 1)) ** 2))
        ds += _barycentric_gap(px, py, I, J, W, n).sum(0)
        dt += _barycentric_gap(py, px, J, I, W, m).sum(0)
    return DiscrepancyMap(ds / L, dt / L, sw / L, theta)


def shape_discrepancy(source, target, *, n_projections: int = 256, seed=0) -> DiscrepancyMap:
    """:func:`discrepancy_map` on what a page draws: the vertices of each mesh, the points of each cloud.

    source, target : :class:`swviz.shapes.Shape`
        A mesh contributes its vertices weighted by a third of their adjacent faces' area
        (the ``"vertices"`` measure), so the map has one value per vertex to colour the
        surface with; a cloud contributes its points with uniform weights.
    """
    from .shapes.measures import vertex_weights

    def atoms(s):
        if s.is_mesh:
            return s.vertices, vertex_weights(s.vertices, s.faces)
        return s.vertices, None

    (x, a), (y, b) = atoms(source), atoms(target)
    if x.shape[1] != y.shape[1]:
        raise InputError(f"the source {source.name!r} is {x.shape[1]}D but the target {target.name!r} is "
                         f"{y.shape[1]}D; a discrepancy map needs one dimension")
    return discrepancy_map(x, y, a, b, n_projections=n_projections, seed=seed)
