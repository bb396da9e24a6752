"""Other slicing distributions: Max-SW, von Mises-Fisher DSW, energy-based SW.

These are different distances, not estimators of ``SW_p^p`` (Deshpande et al., "Max-Sliced
Wasserstein Distance and its use for GANs", CVPR 2019; Nguyen et al., "Distributional
Sliced-Wasserstein and Applications to Generative Modeling", ICLR 2021): each
replaces the uniform law on directions by one that favours informative slices. Each
function returns a :class:`SlicedDistance` with the value (a ``p``-th power, like the SW
estimators) and the direction(s) it found.

* :func:`max_sw`: ``max_theta W_p^p(theta)``, by projected gradient ascent on the sphere. With
  the sorting permutations held fixed, ``W_p^p(theta) = sum_k w_k |theta'(x_{i_k} - y_{j_k})|^p``
  is explicit and so is its gradient; each step moves along the geodesic in the direction of
  the tangential gradient, with a step that grows after a success and halves after a failure.
* :func:`vmf_dsw`: ``max_eps E_{theta ~ vMF(eps, kappa)} W_p^p(theta)`` (Nguyen et al.,
  "Distributional Sliced-Wasserstein"; kappa = 0 gives SW, kappa -> inf Max-SW), by ascent over
  the location ``eps`` with common random numbers: the samples are drawn once around ``e_1``
  and the whole set is rotated with ``eps``.
* :func:`energy_sw`: importance weights ``softmax(W_l)`` over uniform slices
  (Nguyen & Ho, "Energy-Based Sliced Wasserstein Distance", NeurIPS 2023).
* :func:`sample_vmf`: the von Mises-Fisher law on ``S^{d-1}``: exact inversion on ``S^2``,
  Wood's (1994) rejection sampler in general ``d``.

Ordering (``p``-th powers): ``SW <= v-DSW <= Max-SW`` and ``SW <= energy-SW <= Max-SW``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import directions as _dirs
from ._validation import InputError, check_count, check_p, check_pair, rng_from
from .slices import merged_cells, slice_costs, sliced_wpp

__all__ = ["SlicedDistance", "energy_sw", "max_sw", "sample_vmf", "slice_gradient", "vmf_dsw"]


@dataclass(frozen=True)
class SlicedDistance:
    """A sliced distance other than SW.

    name : str
        ``"max-sw"``, ``"v-dsw"`` or ``"energy-sw"``.
    value : float
        The ``p``-th power (comparable with ``SW_p^p``).
    distance : float
        ``value ** (1/p)``.
    direction : (d,) float
        Max-SW: the best direction; v-DSW: the vMF location; energy-SW: the heaviest slice.
    directions : (L, d) float
        The slices behind the value (one row for Max-SW).
    weights : (L,) float
        Their weights in the value (summing to 1).
    per_slice : (L,) float
        ``W_p^p`` on each of them.
    p : float
    history : (k,) float
        The objective along the ascent (empty for energy-SW).
    params : dict
    """

    name: str
    value: float
    distance: float
    direction: np.ndarray = field(repr=False)
    directions: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    per_slice: np.ndarray = field(repr=False)
    p: float
    history: np.ndarray = field(repr=False)
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- vMF sampler


def _householder_to(mu: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Apply the reflection that swaps ``e_1`` and ``mu`` to the rows of ``z`` (L, d)."""
    u = -mu.copy()
    u[0] += 1.0
    norm2 = float(u @ u)
    if norm2 < 1e-24:  # mu is e_1 already
        return z
    return z - np.outer(z @ u, u * (2.0 / norm2))


def _vmf_w_exact_s2(kappa: float, n: int, rng) -> np.ndarray:
    """Cosine ``w = theta' mu`` on ``S^2``: inverse CDF ``1 + log(u + (1 - u) e^{-2 kappa}) / kappa``."""
    u = 1.0 - rng.random(n)  # in (0, 1]
    return np.clip(1.0 + np.log(u + (1.0 - u) * math.exp(-2.0 * kappa)) / kappa, -1.0, 1.0)


def _vmf_w_wood(kappa: float, d: int, n: int, rng) -> np.ndarray:
    """Cosine ``w`` in general ``d`` by Wood's (1994) rejection sampler (vectorised)."""
    m = d - 1
    b = m / (2.0 * kappa + math.sqrt(4.0 * kappa * kappa + m * m))  # stable form of the usual b
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + m * math.log(1.0 - x0 * x0)
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        k = todo.size
        z = rng.beta(m / 2.0, m / 2.0, size=k)
        w = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        u = rng.random(k)
        ok = kappa * w + m * np.log(1.0 - x0 * w) - c >= np.log(u)
        out[todo[ok]] = w[ok]
        todo = todo[~ok]
    return out


def sample_vmf(mu, kappa: float, n: int, seed=None, *, method: str = "auto") -> np.ndarray:
    """Draw from the von Mises-Fisher law ``vMF(mu, kappa)`` on ``S^{d-1}``.

    Density ``proportional to exp(kappa mu' theta)``. The cosine ``w = mu' theta`` is drawn first
    (exactly on ``S^2``; by Wood's rejection sampler otherwise), then a uniform direction
    ``v`` orthogonal to the axis, ``theta = (w, sqrt(1 - w^2) v)`` around ``e_1``, and a
    Householder reflection takes ``e_1`` to ``mu``.

    Parameters
    ----------
    mu : (d,) float
        Location (normalised here), ``d >= 2``.
    kappa : float
        Concentration, ``kappa >= 0`` (0 is the uniform law).
    n : int
        Number of samples.
    seed : int, Generator or None
    method : {"auto", "exact", "wood"}
        ``"exact"`` needs ``d = 3``; ``"auto"`` uses it there and Wood's sampler elsewhere.

    Returns
    -------
    (n, d) float unit vectors.
    """
    mu = np.asarray(mu, dtype=float).reshape(-1)
    d = mu.shape[0]
    norm = np.linalg.norm(mu)
    if d < 2 or not np.isfinite(norm) or norm == 0:
        raise InputError(f"mu must be a nonzero finite vector of dimension >= 2; got shape {mu.shape}")
    mu = mu / norm
    kappa = float(kappa)
    if not (math.isfinite(kappa) and kappa >= 0):
        raise InputError(f"kappa must be a finite number >= 0; got {kappa}")
    n = check_count(n, "n")
    rng = rng_from(seed)
    if method not in ("auto", "exact", "wood"):
        raise InputError(f"method must be 'auto', 'exact' or 'wood'; got {method!r}")
    if method == "exact" and d != 3:
        raise InputError(f"the exact vMF sampler exists on S^2 (d = 3) only; got d = {d} (use method='wood')")
    if kappa == 0:
        return _dirs.uniform(n, d, rng)
    if d == 3 and method != "wood":
        w = _vmf_w_exact_s2(kappa, n, rng)
    else:
        w = _vmf_w_wood(kappa, d, n, rng)
    v = _dirs.uniform(n, d - 1, rng) if d > 2 else rng.choice([-1.0, 1.0], size=(n, 1))
    z = np.concatenate([w[:, None], np.sqrt(np.clip(1.0 - w * w, 0.0, None))[:, None] * v], axis=1)
    return _householder_to(mu, z)


# --------------------------------------------------------------------------- one-slice gradients


def _couplings(x, y, a, b, theta):
    """Monotone couplings of the projected measures for each direction.

    Returns ``I, J, W`` of shape (L, K): slice ``l`` matches ``x[I[l, k]]`` with ``y[J[l, k]]``
    carrying mass ``W[l, k]``, so ``W_p^p(theta_l) = sum_k W[l,k] |theta_l'(x_I - y_J)|^p``. The
    cells are those of :func:`swviz.slices.merged_cells`.
    """
    n, m = x.shape[0], y.shape[0]
    ox = np.argsort(theta @ x.T, axis=1)  # (L, n)
    oy = np.argsort(theta @ y.T, axis=1)  # (L, m)
    if a is None and b is None and n == m:
        return ox, oy, np.full(ox.shape, 1.0 / n)
    a = np.full(n, 1.0 / n) if a is None else a
    b = np.full(m, 1.0 / m) if b is None else b
    cx = np.cumsum(a[ox], axis=1)
    cy = np.cumsum(b[oy], axis=1)
    cx[:, -1] = 1.0
    cy[:, -1] = 1.0
    widths, ix, iy = merged_cells(cx, cy)
    return np.take_along_axis(ox, ix, axis=1), np.take_along_axis(oy, iy, axis=1), widths


def slice_gradient(x, y, a, b, theta, p: float = 2.0):
    """``W_p^p(theta_l)`` and its Euclidean gradient in ``theta`` with the matchings held fixed.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float or None
        Weights (uniform if None).
    theta : (L, d) float
    p : float

    Returns
    -------
    values : (L,) float
    grads : (L, d) float
        ``dW_l / dtheta_l = sum_i g_li x_i + sum_j h_lj y_j`` with ``g, h`` the slopes of
        :func:`swviz.slices.slice_costs` (the same closed form as the autograd op's backward).
    """
    values, gx, gy = slice_costs(x, y, theta, a, b, p, grad_x=True, grad_y=True)
    return values, gx @ x + gy @ y


# --------------------------------------------------------------------------- Max-SW


def _ascend(value_grad, theta0: np.ndarray, max_iter: int, tol: float, step0: float = 0.2):
    """Projected gradient ascent on the sphere with an adaptive geodesic step.

    ``value_grad(theta) -> (f, g)``. A step goes along ``cos(s) theta + sin(s) u``, ``u`` the
    unit tangential gradient; it is kept only when ``f`` grows (then ``s`` grows by 1.5),
    else ``s`` halves. Stops when ``s`` falls under ``tol`` or after ``max_iter`` evaluations.
    """
    theta = theta0 / np.linalg.norm(theta0)
    f, g = value_grad(theta)
    history = [f]
    s = step0
    for _ in range(max_iter):
        gt = g - (g @ theta) * theta
        norm = np.linalg.norm(gt)
        if norm == 0 or s < tol:
            break
        trial = math.cos(s) * theta + math.sin(s) * gt / norm
        trial /= np.linalg.norm(trial)
        f_new, g_new = value_grad(trial)
        if f_new > f:
            theta, f, g = trial, f_new, g_new
            history.append(f)
            s = min(1.5 * s, 1.0)
        else:
            s *= 0.5
    return theta, f, np.asarray(history)


def max_sw(x, y, a=None, b=None, *, p: float = 2, n_candidates: int = 256, n_starts: int = 4,
           max_iter: int = 200, tol: float = 1e-7, seed=0) -> SlicedDistance:
    """Max-sliced Wasserstein: ``max_theta W_p^p(theta # mu, theta # nu)``.

    .. math::
        \\text{Max-SW}_p^p(\\mu, \\nu) = \\max_{\\theta \\in S^{d-1}} W_p^p(\\theta_\\#\\mu, \\theta_\\#\\nu)

    The ``n_starts`` best of ``n_candidates`` uniform directions each start a projected
    gradient ascent; the best end point wins. The objective is not concave, so this is a
    local maximum at least as good as every candidate.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    p : float
    n_candidates, n_starts, max_iter : int
    tol : float
        Smallest geodesic step (radians) before stopping.
    seed : int, Generator or None

    Returns
    -------
    SlicedDistance with ``direction`` the best direction found.
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    rng = rng_from(seed)
    d = x.shape[1]
    cand = _dirs.uniform(check_count(n_candidates, "n_candidates"), d, rng)
    w = sliced_wpp(x, y, cand, a, b, p)
    starts = cand[np.argsort(w)[::-1][: min(check_count(n_starts, "n_starts"), len(cand))]]

    def value_grad(t):
        v, g = slice_gradient(x, y, a, b, t[None, :], p)
        return float(v[0]), g[0]

    best = None
    for t0 in starts:
        theta, f, hist = _ascend(value_grad, t0, check_count(max_iter, "max_iter"), tol)
        if best is None or f > best[1]:
            best = (theta, f, hist)
    theta, f, hist = best
    return SlicedDistance("max-sw", f, max(f, 0.0) ** (1.0 / p), theta, theta[None, :], np.ones(1),
                          np.array([f]), p, hist,
                          {"n_candidates": n_candidates, "n_starts": n_starts, "best_candidate": float(w.max())})


# --------------------------------------------------------------------------- v-DSW


def _rotate_plane(z: np.ndarray, e: np.ndarray, v: np.ndarray, s: float) -> np.ndarray:
    """Rotate rows of ``z`` by angle ``s`` in the plane of orthonormal ``e``, ``v`` (e -> cos s e + sin s v)."""
    ze, zv = z @ e, z @ v
    return (z + np.outer(ze * (math.cos(s) - 1.0) - zv * math.sin(s), e)
            + np.outer(ze * math.sin(s) + zv * (math.cos(s) - 1.0), v))


def vmf_dsw(x, y, a=None, b=None, *, kappa: float = 10.0, p: float = 2, n_projections: int = 256,
            max_iter: int = 40, tol: float = 1e-3, seed=0, init=None) -> SlicedDistance:
    """von Mises-Fisher distributional sliced Wasserstein (v-DSW), ``p``-th power.

    .. math::
        \\text{v-DSW}_p^p(\\mu, \\nu) = \\max_{\\epsilon \\in S^{d-1}}
        \\mathbb{E}_{\\theta \\sim \\text{vMF}(\\epsilon, \\kappa)} W_p^p(\\theta_\\#\\mu, \\theta_\\#\\nu)

    The expectation is a mean over ``n_projections`` vMF samples drawn once (common random
    numbers), so the objective is a deterministic function of ``eps``. Rotating the whole
    sample by angle ``s`` in the plane of ``eps`` and a tangent ``v`` moves each ``theta_l`` at
    speed ``(theta_l' eps) v - (theta_l' v) eps``; the derivative of the mean is then
    ``v' G`` with ``G = mean_l[(theta_l' eps) g_l - (g_l' eps) theta_l]`` (``g_l`` the slice
    gradients), and ascent follows ``G`` with the adaptive step of :func:`max_sw`. The start is
    the Max-SW direction (or ``init``). Maximising over fixed samples also exploits their noise,
    so the value is biased up by a little (a few percent of SW at kappa = 0 with a few hundred
    samples); more samples tighten it.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    kappa : float
        Concentration, ``kappa >= 0``: 0 gives SW (any location), large gives Max-SW.
    p : float
    n_projections : int
        vMF samples in the expectation.
    max_iter : int
        Objective evaluations in the ascent (each slices all ``n_projections`` samples).
    tol : float
        Smallest rotation step (radians) before stopping; the objective is flat at the top, so
        ``1e-3`` already pins the value to about ``1e-6`` relative.
    seed : int, Generator or None
    init : (d,) float, optional
        Starting location.

    Returns
    -------
    SlicedDistance with ``direction`` the location ``eps`` and ``directions`` the samples.
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    rng = rng_from(seed)
    d = x.shape[1]
    if d < 2:
        raise InputError(f"v-DSW needs d >= 2 (the sphere S^0 has two points); got d = {d}")
    L = check_count(n_projections, "n_projections")
    if init is None:
        eps = max_sw(x, y, a, b, p=p, n_candidates=64, n_starts=1, max_iter=40, seed=rng).direction
    else:
        eps = np.asarray(init, dtype=float).reshape(-1)
        if eps.shape != (d,) or not np.all(np.isfinite(eps)) or np.linalg.norm(eps) == 0:
            raise InputError(f"init must be a nonzero vector of shape ({d},); got shape {eps.shape}")
        eps = eps / np.linalg.norm(eps)
    samples = sample_vmf(eps, kappa, L, rng)  # (L, d) around eps; rotated along with eps

    def objective(th):
        v, g = slice_gradient(x, y, a, b, th, p)
        return float(v.mean()), v, g

    f, vals, grads = objective(samples)
    history = [f]
    s = 0.2
    for _ in range(check_count(max_iter, "max_iter")):
        G = np.mean((samples @ eps)[:, None] * grads - (grads @ eps)[:, None] * samples, axis=0)
        G -= (G @ eps) * eps
        norm = np.linalg.norm(G)
        if norm == 0 or s < tol:
            break
        v = G / norm
        trial = _rotate_plane(samples, eps, v, s)
        f_new, vals_new, grads_new = objective(trial)
        if f_new > f:
            eps = math.cos(s) * eps + math.sin(s) * v
            eps /= np.linalg.norm(eps)
            samples, f, vals, grads = trial, f_new, vals_new, grads_new
            history.append(f)
            s = min(1.5 * s, 1.0)
        else:
            s *= 0.5
    stderr = float(vals.std(ddof=1) / math.sqrt(L)) if L > 1 else math.nan
    return SlicedDistance("v-dsw", f, max(f, 0.0) ** (1.0 / p), eps, samples, np.full(L, 1.0 / L), vals, p,
                          np.asarray(history), {"kappa": float(kappa), "n_projections": L, "stderr": stderr})


# --------------------------------------------------------------------------- energy-based SW


def energy_sw(x, y, a=None, b=None, *, p: float = 2, n_projections: int = 256, seed=None,
              energy: str = "exp", directions=None) -> SlicedDistance:
    """Energy-based sliced Wasserstein (EBSW), ``p``-th power, by importance sampling.

    .. math::
        \\text{EBSW}_p^p \\approx \\sum_{l=1}^L \\frac{f(W_l)}{\\sum_j f(W_j)} W_l,
        \\qquad \\theta_l \\sim \\mathcal U(S^{d-1}),\\ W_l = W_p^p(\\theta_{l\\#}\\mu, \\theta_{l\\#}\\nu)

    with ``f = exp`` (weights ``softmax(W)``) or ``f = identity``. The weights grow with ``W``,
    so the value lies between the mean (SW) and the max (at most Max-SW) of the same slices.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    p : float
    n_projections : int
    seed : int, Generator or None
    energy : {"exp", "identity"}
    directions : (L, d) float, optional
        Uniform directions to use instead of sampling.

    Returns
    -------
    SlicedDistance with ``weights`` the importance weights and ``direction`` the heaviest slice.
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    d = x.shape[1]
    if energy not in ("exp", "identity"):
        raise InputError(f"energy must be 'exp' or 'identity'; got {energy!r}")
    if directions is None:
        theta = _dirs.uniform(check_count(n_projections, "n_projections"), d, rng_from(seed))
    else:
        from ._validation import check_directions

        theta = check_directions(directions, d)
    w = sliced_wpp(x, y, theta, a, b, p)
    if energy == "exp":
        e = np.exp(w - w.max())  # softmax, shifted for overflow
    else:
        e = w.copy() if w.sum() > 0 else np.ones_like(w)
    weights = e / e.sum()
    value = float(weights @ w)
    return SlicedDistance("energy-sw", value, max(value, 0.0) ** (1.0 / p), theta[int(np.argmax(weights))], theta,
                          weights, w, p, np.zeros(0), {"energy": energy, "n_projections": theta.shape[0]})
