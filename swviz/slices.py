"""Per-slice ``W_p^p`` for a batch of directions, and its derivatives: the hot path of everything.

For a direction theta the slice value is the one-dimensional optimal transport cost between
the projected measures ``theta#mu`` and ``theta#nu`` (Rabin, Peyre, Delon & Bernot, "Wasserstein
barycenter and its application to texture mixing", SSVM 2011; Bonneel et al., "Sliced and Radon
Wasserstein barycenters of measures", JMIV 2015, eq. 2):

.. math::
    W_p^p(\\theta) = \\int_0^1 |F_\\theta^{-1}(q) - G_\\theta^{-1}(q)|^p \\, dq
                   = \\sum_k w_k \\, |x_{(i_k)} - y_{(j_k)}|^p ,

a sum over the cells ``k`` of the merged quantile grid, where the sorted atoms ``x_(i_k)`` and
``y_(j_k)`` face each other with mass ``w_k``. Three cases, one matching:

* equal sizes and uniform weights: the cells are the ranks, ``w_k = 1/n``, ``i_k = j_k = k``;
* uniform weights, unequal sizes: the merged grid of ``{i/n}`` and ``{j/m}`` does not depend on
  the direction and is built once;
* arbitrary weights: each slice merges the cumulative weights of its own sorted atoms.

:func:`merged_cells` builds the grid (the one place it is written); :func:`slice_costs` gives
the values and, on request, their derivatives in the projections,

.. math::
    \\frac{\\partial W_p^p(\\theta)}{\\partial \\langle\\theta, x_i\\rangle}
    = \\sum_{k: i_k = i} p \\, w_k \\, |r_k|^{p-1} \\operatorname{sign}(r_k),
    \\qquad r_k = x_{(i_k)} - y_{(j_k)},

the derivative at a fixed optimal matching, which is the derivative of the minimum (the
one-dimensional plan is optimal, Danskin's theorem); for ``p = 2`` and equal sizes it is
``(2/n)(theta'x_i - theta'y_(rank of i))``. :mod:`swviz.autodiff` turns these into torch
gradients in ``x``, ``y`` and ``theta``.

The code is written once against a small namespace (:mod:`swviz._xp`): numpy arrays run on the
CPU with numpy's sort (several times faster than ``torch.sort`` there), torch tensors on
their device (CUDA). Work is chunked over directions so memory stays bounded, and numpy chunks
run on a small thread pool (numpy's sort releases the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import lru_cache

import numpy as np

from ._malloc import tune as _tune_malloc
from ._threads import blas_threads
from ._xp import NUMPY, namespace

__all__ = ["merged_cells", "project", "slice_costs", "sliced_wpp"]

#: Bytes of projected values one chunk may hold (both clouds together).
CHUNK_BYTES = 4 * 2**20
#: Threads of the engine's pool (numpy's sort releases the GIL, so chunks sort in parallel).
POOL_WORKERS = max(1, min(4, os.cpu_count() or 1))
_POOL: ThreadPoolExecutor | None = None
#: Fewest projected values (L x (n + m)) for which the pool runs beside a one-thread BLAS: from
#: about there OpenBLAS threads the projections (measured on 2 cores: no effect at n = m = 1,024
#: or 4,096 with L = 100; at 8,192 the pooled forward took 43 ms with BLAS threads spinning,
#: 22 ms with one BLAS thread).
BLAS_SPIN_VALUES = 2**20


def pool_blas(values: int):
    """The BLAS setting for pool work on ``values`` projected values: one thread from
    :data:`BLAS_SPIN_VALUES` on (its spinning threads would take the cores the pool sorts on,
    :func:`swviz._threads.blas_threads`), BLAS's own below."""
    return blas_threads(1) if values >= BLAS_SPIN_VALUES else nullcontext()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=POOL_WORKERS)
    return _POOL


def project(x: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Project points on directions.

    Parameters
    ----------
    x : (n, d) float
    directions : (L, d) float

    Returns
    -------
    (L, n) float, row ``l`` holding ``<theta_l, x_i>``.
    """
    return directions @ np.ascontiguousarray(x.T)


def merged_cells(cx, cy, ns=NUMPY):
    """Cells of the merged quantile grid of two cumulative-weight sequences.

    Parameters
    ----------
    cx : (L, n) float
        Nondecreasing rows of cumulative weights of the sorted x atoms, ending at exactly 1.
    cy : (L, m) float
        The same for y.
    ns : namespace
        :data:`swviz._xp.NUMPY` or the torch namespace.

    Returns
    -------
    widths : (L, n + m) float
        Cell lengths ``q_k - q_{k-1}`` (zero for ties).
    ix, iy : (L, n + m) int
        On the cell ``(q_{k-1}, q_k]`` the x quantile is ``xs[ix_k]`` and the y quantile
        ``ys[iy_k]``, so ``W_p^p = sum_k widths_k |xs[ix_k] - ys[iy_k]|^p``.
    """
    n, m = cx.shape[-1], cy.shape[-1]
    merged = ns.concat([cx, cy], -1)  # (L, n + m)
    order = ns.argsort_stable(merged)
    widths = ns.diff0(ns.take(merged, order))
    is_x = (order < n) * 1
    is_y = 1 - is_x
    # index of the x quantile on (q_{k-1}, q_k]: how many x levels lie strictly before k
    ix = ns.cumsum(is_x) - is_x
    iy = ns.cumsum(is_y) - is_y
    ix[ix > n - 1] = n - 1
    iy[iy > m - 1] = m - 1
    return widths, ix, iy


@lru_cache(maxsize=32)
def _uniform_cells(n: int, m: int):
    """The merged grid of uniform weights (independent of the direction), numpy, 1-D."""
    cx = np.arange(1, n + 1) / n
    cy = np.arange(1, m + 1) / m
    cx[-1] = cy[-1] = 1.0
    widths, ix, iy = merged_cells(cx[None], cy[None])
    keep = widths[0] > 0
    out = widths[0][keep], ix[0][keep], iy[0][keep]
    for v in out:
        v.setflags(write=False)
    return out


def _cost_and_slope(r, p: float, ns):
    """``|r|^p`` and its derivative ``p |r|^(p-1) sign(r)`` (the slope is None when not asked)."""
    if p == 2.0:
        return r * r, 2.0 * r
    if p == 1.0:
        return ns.abs(r), ns.sign(r)
    ar = ns.abs(r)
    arp1 = ar ** (p - 1.0)
    return arp1 * ar, p * arp1 * ns.sign(r)


def _chunk(ns, xp, yp, a, b, p, cells, want_x, want_y):
    """Slice values and slopes for one chunk of projections.

    xp : (l, n), yp : (l, m) projections (consumed); a, b : (n,), (m,) weights or None;
    cells : the uniform merged grid (widths, ix, iy) as ``ns`` arrays, or None for equal sizes.
    Returns ``values (l,)``, ``gx (l, n)`` and ``gy (l, m)`` (None unless wanted):
    ``gx[l, i] = dW_l / d xp[l, i]`` in the atoms' own order.
    """
    n, m = xp.shape[-1], yp.shape[-1]
    weighted = a is not None or b is not None
    ox = oy = None
    if weighted or want_x:
        ox = ns.argsort(xp)
        # equal sizes work in the particles' order: no sorted copy of x needed
        xs = ns.take(xp, ox) if (weighted or cells is not None) else None
    else:
        xs = ns.sort(xp)
    if weighted or want_y:
        oy = ns.argsort(yp)
        ys = ns.take(yp, oy)
    else:
        ys = ns.sort(yp)
    if weighted:
        aa = ns.ones((n,), like=xp) / n if a is None else a
        bb = ns.ones((m,), like=yp) / m if b is None else b
        cx = ns.cumsum(aa[ox])
        cy = ns.cumsum(bb[oy])
        cx[..., -1] = 1.0
        cy[..., -1] = 1.0
        widths, ix, iy = merged_cells(cx, cy, ns)
    elif cells is not None:
        widths, ix, iy = cells
    else:
        widths = ix = iy = None
    if ix is None:  # equal sizes, uniform: rank-by-rank matching
        # r, computed in place in buffers this chunk owns, is sign * (x atom - the y atom it faces)
        if want_x:  # in the particles' order: the sorted y value facing each particle, minus it
            r, sign = ns.unsort(ys, ox), -1.0
            r -= xp
        else:
            r, sign = xs, 1.0
            r -= ys
        if p == 2.0:
            values = ns.rowdot(r, r) / n
            slope = None
            if want_x or want_y:
                r *= sign * 2.0 / n
                slope = r
        else:
            cost, slope = _cost_and_slope(r, p, ns)
            values = ns.mean(cost, -1)
            slope *= sign / n
        gx = slope if want_x else None
        if want_y:
            gy = -ns.unsort(ns.take(slope, ox) if want_x else slope, oy)
        else:
            gy = None
        return values, gx, gy
    else:
        r = ns.take(xs, ix) - ns.take(ys, iy)  # (l, K)
        cost, slope = _cost_and_slope(r, p, ns)
        values = ns.sum(cost * widths, -1)
        if want_x or want_y:
            slope = slope * widths
            sx = ns.segment_sum(slope, ix, n) if want_x else None
            sy = ns.segment_sum(slope, iy, m) if want_y else None
    gx = ns.unsort(sx, ox) if want_x else None
    gy = -ns.unsort(sy, oy) if want_y else None
    return values, gx, gy


def slice_costs(
    x,
    y,
    directions,
    a=None,
    b=None,
    p: float = 2.0,
    *,
    grad_x: bool = False,
    grad_y: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
    threads: bool = True,
    parts: int = 1,
):
    """Per-slice ``W_p^p`` and, on request, its derivatives in the projected atoms.

    Parameters
    ----------
    x : (n, d) float array or tensor
        Source points (validated; float64).
    y : (m, d) float
        Target points, of the same kind and device as ``x``.
    directions : (L, d) float
        Unit directions.
    a, b : (n,) and (m,) float or None
        Weights summing to one; ``None`` means uniform.
    p : float
        Ground cost exponent, ``p >= 1``.
    grad_x, grad_y : bool
        Also return ``gx : (L, n)`` with ``gx[l, i] = dW_p^p(theta_l) / d<theta_l, x_i>``, and
        ``gy : (L, m)`` likewise (None when not asked).
    chunk_bytes : int
        Memory budget of one chunk of projections; ``L x n`` beyond memory still runs.
    threads : bool
        Spread numpy chunks over a small thread pool.
    parts : int
        Split the directions into at least this many chunks (e.g. :data:`POOL_WORKERS`, so that
        a call within ``chunk_bytes`` still keeps the pool busy).

    Returns
    -------
    values : (L,) float
        ``W_p^p(theta_l # mu, theta_l # nu)`` for each direction.
    gx : (L, n) float or None
    gy : (L, m) float or None
    """
    ns = namespace(x, y, directions)
    if not ns.torch:
        _tune_malloc()  # reuse freed projection buffers instead of page-faulting new ones (swviz._malloc)
    n, m = x.shape[0], y.shape[0]
    L = directions.shape[0]
    weighted = a is not None or b is not None
    cells = None
    if not weighted and n != m:
        cells = tuple(ns.asindex(v, like=x) if v.dtype.kind == "i" else ns.asarray(v, like=x)
                      for v in _uniform_cells(n, m))
    factor = 1 if (not weighted and n == m) else (3 if not weighted else 12)
    factor += 2 * (grad_x + grad_y)
    rows = int(max(1, min(L, chunk_bytes // (8 * (n + m) * factor), -(-L // max(1, int(parts))))))
    xt, yt = ns.swap_last(x), ns.swap_last(y)
    if not ns.torch:
        # C-contiguous transposes once per call: with a strided x.T, OpenBLAS takes a slow
        # threaded path (measured 30x slower) that also fights our pool
        xt, yt = np.ascontiguousarray(xt), np.ascontiguousarray(yt)

    def work(start):
        theta = directions[start:start + rows]
        return _chunk(ns, theta @ xt, theta @ yt, a, b, p, cells, grad_x, grad_y)

    starts = range(0, L, rows)
    if len(starts) == 1:
        return work(0)
    if threads and not ns.torch:
        with pool_blas(L * (n + m)):
            parts = list(_pool().map(work, starts))
    else:
        parts = [work(s) for s in starts]
    values = ns.concat([q[0] for q in parts], 0)
    gx = ns.concat([q[1] for q in parts], 0) if grad_x else None
    gy = ns.concat([q[2] for q in parts], 0) if grad_y else None
    return values, gx, gy


def sliced_wpp(
    x: np.ndarray,
    y: np.ndarray,
    directions: np.ndarray,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    p: float = 2.0,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    threads: bool = True,
) -> np.ndarray:
    """Per-slice ``W_p^p`` between two weighted point clouds: (L,) float.

    The values of :func:`slice_costs` (see there for the parameters).

    >>> x = np.array([[0.0], [1.0]]); y = np.array([[2.0], [4.0]])
    >>> sliced_wpp(x, y, np.ones((1, 1))).tolist()  # sorted matching: (4 + 9) / 2
    [6.5]
    """
    return slice_costs(x, y, directions, a, b, p, chunk_bytes=chunk_bytes, threads=threads)[0]
