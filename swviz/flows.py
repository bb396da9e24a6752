"""Gradient flows: particles carried onto a target by Euler steps on an estimated SW loss.

SCIENCE.md section 6. The particles ``z : (n, d)`` of ``mu = sum_i a_i delta_{z_i}`` move
towards a fixed target ``nu`` by explicit Euler steps of the Wasserstein gradient flow of an
estimated loss ``F`` (``"sw2"``: ``SW_2^2``; ``"sw"``: ``SW_2``, as in the CV paper),

.. math::
    z_i \\leftarrow z_i - h \\, v_i, \\qquad v_i = \\frac{1}{a_i} \\frac{\\partial \\hat F}{\\partial z_i}
    \\quad (= n \\, \\partial \\hat F / \\partial z_i \\text{ for uniform weights}),

so a step ``h`` means the same whatever ``n`` is. Every step draws fresh directions from the
chosen estimator (``est.directions(L, d, rng)``): one loop serves every registered estimator.

Gradients, in closed form (numpy on the CPU; torch on a CUDA device):

* one slice: ``dW_2^2(theta)/dz_i = 2 a_i (theta'z_i - T_theta(theta'z_i)) theta`` with
  ``T_theta`` the barycentric image of the monotone one-dimensional plan (quantile
  matching); equal sizes, uniform weights: ``(2/n)(theta'z_i - theta'y_(rank of i)) theta``;
* an estimate that is a weighted mean of slices, ``sum_l w_l W_l``: the same weighted mean of
  slice gradients (Monte Carlo and QMC sets: ``w_l = 1/L``; the spherical-harmonics CV: the
  least-squares intercept's weights);
* the control-variate estimators (``"lcv"``, ``"ucv"`` and any estimator that combines
  like them): the exact derivative of :func:`~swviz.estimators.cv_combine`, through the
  fitted coefficient and through the control term, which depends on the source's mean and
  covariance. The coefficient carries a 1 % ridge (:data:`CV_RIDGE`) so that the gradient
  stays bounded as the means meet (the raw one grows like ``1/|dm|``); where
  ``cv_combine`` falls back to Monte Carlo, so does the gradient: never NaN.

Which rule fits an estimator is read from how its ``combine`` behaves on test values
(:func:`_gradient_rule`), so a newly registered estimator needs no flow code: an
``extra["slice_weights"]`` hook ``(per_slice, directions, moments) -> (L,)`` is used when
present; an estimate linear in the slices gets its weights probed from ``combine``; anything
else gets central differences in the slice values and the source's moments.

:func:`gradient_flow` moves a point cloud; :func:`mesh_flow` moves a mesh's vertices (a
measure on the vertices, or on surface samples carried by barycentric coordinates) with
its faces kept and an optional implicit Laplacian smoothing of the velocity. ``W_2^2`` to
the target is tracked by exact optimal transport (:func:`w2_squared`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from ._validation import InputError, as_points, check_count, check_pair, rng_from
from .estimators import Estimator, Moments, cv_fit, get_estimator
from .slices import _Grid, _pool, merged_matching

__all__ = [
    "EXACT_OT_MAX",
    "LOSSES",
    "MESH_MEASURES",
    "PRESETS",
    "FlowPreset",
    "FlowResult",
    "flow_velocity",
    "gradient_flow",
    "mesh_flow",
    "w2_squared",
]

#: Largest point count for which ``W_2^2`` is computed by exact optimal transport.
EXACT_OT_MAX = 3000
#: Largest uniform equal-size pair whose W_2^2 is an assignment (scipy) rather than POT's emd2.
ASSIGNMENT_MAX = 512
#: Quadrature size of the sliced reference used above :data:`EXACT_OT_MAX` points.
SLICED_REFERENCE_DIRECTIONS = 2000

#: Loss name -> description.
LOSSES = MappingProxyType({
    "sw2": "SW_2^2, the sliced Wasserstein loss (an expectation over directions)",
    "sw": "SW_2 = (SW_2^2)^(1/2), the loss of the CV paper's flows",
})

Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FlowResult:
    """The trajectory of a gradient flow.

    frames : (T, n, d) float
        Positions at the recorded steps (the mesh's vertices in mesh mode).
    steps : (T,) int
        Step number of each frame (0 is the initial state).
    loss : (n_steps,) float
        The estimated loss (``SW_2^2`` or ``SW_2``) at each step, before its update.
    w2 : (K,) float
        ``W_2^2`` from the flowing measure to the target at ``w2_steps``.
    w2_steps : (K,) int
        Steps where ``w2`` was computed (by default every recorded step).
    w2_method : str
        How ``w2`` was computed: exact OT, or (above :data:`EXACT_OT_MAX` points) a labelled
        sliced reference.
    estimator, loss_name : str
    n_projections : int
    step_size : float
    seed : int or None
    gradient : str
        How the estimator's gradient was obtained (closed form, hook, or numerical).
    faces : (F, 3) int or None
        The mesh's faces in mesh mode (unchanged by the flow).
    flow_seconds, w2_seconds : float
        Time spent moving particles, and computing ``w2``.
    """

    frames: np.ndarray = field(repr=False)
    steps: np.ndarray
    loss: np.ndarray = field(repr=False)
    w2: np.ndarray
    w2_steps: np.ndarray
    w2_method: str
    estimator: str
    loss_name: str
    n_projections: int
    step_size: float
    seed: int | None
    gradient: str
    faces: np.ndarray | None = field(default=None, repr=False)
    flow_seconds: float = 0.0
    w2_seconds: float = 0.0

    @property
    def final(self) -> np.ndarray:
        """Positions after the last step: (n, d)."""
        return self.frames[-1]

    def w2_at(self, step: int) -> float:
        """``W_2^2`` at ``step`` (one of :attr:`w2_steps`)."""
        hit = np.flatnonzero(self.w2_steps == step)
        if hit.size == 0:
            raise InputError(f"W_2^2 was not computed at step {step}; it was at steps {self.w2_steps.tolist()}")
        return float(self.w2[hit[0]])


@dataclass(frozen=True)
class FlowPreset:
    """A named set of flow parameters.

    The source is scaled by ``scale`` and shifted by ``-shift`` on every coordinate, the
    target scaled and shifted by ``+shift``; ``n_points`` particles per shape is the CPU
    scale; ``table_steps`` are the steps a page tabulates ``W_2^2`` at.
    """

    name: str
    description: str
    n_projections: int
    step_size: float
    n_steps: int
    loss: str
    n_points: int
    table_steps: tuple[int, ...]
    scale: float = 1.0
    shift: float = 0.0
    estimators: tuple[str, ...] = ("mc", "lcv", "ucv")

    def prepare(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Scale and shift a pair: ``(scale x - shift, scale y + shift)``."""
        x = as_points(x, "x")
        y = as_points(y, "y")
        return self.scale * x - self.shift, self.scale * y + self.shift


#: Preset name -> :class:`FlowPreset`.
PRESETS = MappingProxyType({
    "fast": FlowPreset(
        "fast", "A pleasing flow in a few seconds: SW_2^2 with L = 32, 200 steps of 0.3, 512 particles",
        n_projections=32, step_size=0.3, n_steps=200, loss="sw2", n_points=512,
        table_steps=(0, 10, 50, 100, 200)),
    "paper": FlowPreset(
        "paper",
        "The CV paper's set-up at CPU scale: shapes scaled x2 and shifted by -10 and +10, loss SW_2 "
        "with step 0.01 (the paper's update on n SW_2), L = 10, 8000 steps",
        n_projections=10, step_size=0.01, n_steps=8000, loss="sw", n_points=512,
        table_steps=(1, 3000, 4000, 5000, 6000, 8000), scale=2.0, shift=10.0),
})


# --------------------------------------------------------------------------- W_2^2


def w2_squared(x, y, a=None, b=None, *, exact_max: int = EXACT_OT_MAX) -> tuple[float, str]:
    """``W_2^2`` between two weighted clouds, and how it was computed.

    Exact optimal transport on squared Euclidean costs when both clouds have at most
    ``exact_max`` points (an optimal assignment for uniform equal-size clouds of at most
    :data:`ASSIGNMENT_MAX` points, POT's ``emd2`` otherwise); above that a near-exact *sliced* reference,
    ``SW_2^2`` by quadrature (:func:`swviz.reference_sw`), which is a lower bound on
    ``W_2^2`` and says so in the returned label.

    x : (n, d) float; y : (m, d) float; a, b : (n,), (m,) float or None
    """
    x, y, a, b = check_pair(x, y, a, b)
    return _w2(x, y, a, b, exact_max)


def _w2(x, y, a, b, exact_max=EXACT_OT_MAX) -> tuple[float, str]:
    n, m = x.shape[0], y.shape[0]
    if max(n, m) <= exact_max:
        cost = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T  # (n, m) squared distances
        np.maximum(cost, 0.0, out=cost)
        if a is None and b is None and n == m and n <= ASSIGNMENT_MAX:
            # uniform weights, equal sizes: an optimal plan is a permutation (Birkhoff), so the
            # assignment problem is exact OT; as fast as emd2 up to ~512 points, and it spares
            # the page POT's heavy import (2 s: POT loads torch)
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(cost)
            return float(cost[rows, cols].mean()), "exact OT (optimal assignment, scipy)"
        import ot  # heavy import (it loads torch), only for weighted or unequal pairs

        a_ = np.full(n, 1.0 / n) if a is None else a
        b_ = np.full(m, 1.0 / m) if b is None else b
        value = float(ot.emd2(a_, b_, cost, numItermax=max(100_000, 50 * n * m)))
        return max(value, 0.0), "exact OT (POT emd2)"
    from .reference import reference_sw

    ref = reference_sw(x, y, a, b, p=2, n_directions=SLICED_REFERENCE_DIRECTIONS)
    return ref.value, (f"near-exact sliced reference: SW_2^2 by {ref.method} (a lower bound on W_2^2, "
                       f"not W_2^2: exact OT is limited to {exact_max:,} points)")


# --------------------------------------------------------------------------- estimator gradients


@dataclass(frozen=True)
class _Grad:
    """An estimate and its derivatives: ``d value / d W_l`` and through the source's moments."""

    value: float
    weights: np.ndarray  # (L,)
    g_mean: np.ndarray | None = None  # (d,)  d value / d mean_x
    g_cov: np.ndarray | None = None  # (d, d) d value / d cov_x


def _mean_rule(w, theta, moments) -> _Grad:
    L = w.shape[0]
    return _Grad(float(w.mean()), np.full(L, 1.0 / L))


#: Ridge of the flow's control-variate coefficient, relative to the slices' variance (see _cv_rule).
CV_RIDGE = 0.01


def _cv_rule(upper: bool, ridge: float | None = None):
    """The control-variate estimate of ``cv_combine`` (lower or upper) and its exact derivative.

    One stabilisation for the flow: the coefficient is ``gamma = cov(W, C) / (var(C) +
    kappa^2 var(W))`` with ``kappa^2 =`` :data:`CV_RIDGE` (1 %). While the control variate is
    informative (``var(C)`` comparable to ``var(W)``) this is ``cv_combine``'s coefficient to
    about 1 %. As the means meet, the lower control variate shrinks like ``|dm|^2``: the raw
    coefficient then grows like ``1/|dm|^2`` and the estimate's gradient like ``1/|dm|``
    (bounded values, unbounded slopes), which kicks converged particles far off the target at
    large steps; the ridge turns the estimate smoothly into plain Monte Carlo there instead.
    ``ridge=0`` gives exactly ``cv_combine`` and its gradient.
    """

    def rule(w, theta, M: Moments) -> _Grad:
        kappa2 = CV_RIDGE if ridge is None else ridge
        if upper:
            c, mean_c = M.c_up(theta), M.mean_c_up()
        else:
            c, mean_c = M.c_low(theta), M.mean_c_low()
        L, d = theta.shape
        fit = cv_fit(w, c, mean_c, ridge=kappa2)
        if fit is None:  # the same fallback as cv_combine: negligible spread of the control -> plain MC
            return _mean_rule(w, theta, M)
        gamma, dc, wc, d_bar, den = fit.gamma, fit.dc, fit.wc, fit.d_bar, fit.den
        value = fit.value
        # E = w_bar - gamma d_bar, gamma = cov(W, C) / (var(C) + lam(W)), and
        # dE/dC_l = -d_bar dgamma/dC_l - gamma / L, dE/dE[C] = gamma
        weights = (1.0 - d_bar * (dc - 2.0 * kappa2 * gamma * wc) / den) / L
        dE_dc = (-(d_bar / den) * (wc - 2.0 * gamma * dc) - gamma) / L
        s = theta @ M.dm  # (L,)
        g_mean = 2.0 * (dE_dc * s) @ theta + gamma * 2.0 * M.dm / d  # C_l and E C through dm
        g_cov = (theta.T * dE_dc) @ theta + gamma * np.eye(d) / d if upper else None  # through S_x
        return _Grad(value, weights, g_mean, g_cov)

    return rule


def _hook_rule(fn):
    def rule(w, theta, M) -> _Grad:
        weights = np.asarray(fn(w, theta, M), dtype=np.float64).reshape(-1)
        return _Grad(float(weights @ w), weights)

    return rule


def _probe_rule(est: Estimator):
    """Central differences of ``est.combine`` in the slice values and the source's moments."""

    def f(w, theta, M):
        return float(est.combine(w, theta, M)[0])

    def rule(w, theta, M: Moments) -> _Grad:
        L, d = theta.shape
        value = f(w, theta, M)
        h = 1e-6 * (float(np.abs(w).max()) + 1e-300)
        weights = np.empty(L)
        for l in range(L):
            wp, wm = w.copy(), w.copy()
            wp[l] += h
            wm[l] -= h
            weights[l] = (f(wp, theta, M) - f(wm, theta, M)) / (2 * h)
        hm = 1e-6 * (float(np.abs(M.mean_x).max()) + math.sqrt(abs(np.trace(M.cov_x))) + 1e-12)
        g_mean = np.empty(d)
        for k in range(d):
            e = np.zeros(d)
            e[k] = hm
            g_mean[k] = (f(w, theta, replace(M, mean_x=M.mean_x + e))
                         - f(w, theta, replace(M, mean_x=M.mean_x - e))) / (2 * hm)
        hs = 1e-6 * (abs(np.trace(M.cov_x)) + 1e-12)
        g_cov = np.zeros((d, d))
        for i in range(d):
            for j in range(i, d):
                e = np.zeros((d, d))
                e[i, j] = e[j, i] = hs
                g = (f(w, theta, replace(M, cov_x=M.cov_x + e)) - f(w, theta, replace(M, cov_x=M.cov_x - e))) / (2 * hs)
                # a symmetric perturbation moves both (i, j) and (j, i): split the derivative
                g_cov[i, j] = g_cov[j, i] = g if i == j else g / 2
        return _Grad(value, weights, g_mean, g_cov)

    return rule


def _weights_rule(est: Estimator):
    """Weights of an estimate linear in the slices and blind to the moments, probed each step.

    One vectorised call when the combine has the optional ``batch(w (R, L), theta (R, L, d),
    moments)`` form (rows of the identity give the weights), else one call per slice.
    """
    batch = getattr(est.combine, "batch", None)

    def rule(w, theta, M) -> _Grad:
        L = w.shape[0]
        if batch is not None:
            weights = np.asarray(batch(np.eye(L), np.broadcast_to(theta, (L, *theta.shape)), M), dtype=np.float64)
        else:
            eye = np.eye(L)
            weights = np.array([float(est.combine(eye[l], theta, M)[0]) for l in range(L)])
        return _Grad(float(weights @ w), weights.reshape(L))

    return rule


def _harmonic_rule(degree: int):
    """Weights of a least-squares intercept on spherical harmonics: the first row of pinv([1, H])."""
    from .shcv import harmonics

    def weights(w, theta, M):
        X = np.column_stack([np.ones(theta.shape[0]), harmonics(theta, degree)])
        return np.linalg.pinv(X)[0]

    return _hook_rule(weights)


def _close(u: float, v: float) -> bool:
    return math.isfinite(u) and math.isfinite(v) and abs(u - v) <= 1e-9 * (abs(u) + abs(v)) + 1e-300


def _gradient_rule(est: Estimator, L: int, d: int, M: Moments) -> tuple[Callable[..., _Grad], str]:
    """How the estimate of ``est`` and its derivatives are computed, and a label.

    Decided once per flow from how ``est.combine`` behaves on test values (the estimator's
    own directions, random slice values, the flow's initial moments), so that any
    registered estimator gets the cheapest exact gradient that fits it:

    1. an ``extra["slice_weights"]`` hook: a weighted mean with those weights;
    2. a plain mean of the slices (MC, QMC sets): closed form;
    3. the lower or upper control variate of :func:`~swviz.estimators.cv_combine`, whatever
       the directions: its closed-form derivative (with the small ridge of :func:`_cv_rule`);
    4. linear in the slices and independent of the moments (e.g. regression on functions
       of the directions): slice gradients with its effective weights, in closed form for
       the spherical-harmonics regression (``extra["degree"]``, checked to reproduce the
       estimate), else probed each step;
    5. anything else: central differences in the slices and the moments.
    """
    hook = est.extra.get("slice_weights") if isinstance(est.extra, dict) else None
    if callable(hook):
        return _hook_rule(hook), "closed form: weighted mean of slice gradients (the estimator's slice weights)"
    probe_rng = np.random.default_rng(20240501)  # test values only; the flow's stream is untouched
    theta = est.directions(L, d, probe_rng)
    w1, w2 = probe_rng.gamma(2.0, 1.0, (2, L)) * (M.mean_c_up() + 1.0)
    shifted = replace(M, mean_x=M.mean_x + 0.1 * (1.0 + np.abs(M.mean_x)), cov_x=M.cov_x * 1.3 + 0.05 * np.eye(d))

    def f(w, m=M):
        return float(est.combine(w, theta, m)[0])

    try:
        f1, f2, f12, f1s = f(w1), f(w2), f(w1 + 2.0 * w2), f(w1, shifted)
    except InputError:
        raise  # e.g. too few directions for this estimator: say so before the flow starts
    except Exception:  # noqa: BLE001 - a combine that rejects test values gets the numerical rule
        return _probe_rule(est), "numerical: central differences of the estimator's combine"
    if all(_close(f(w, m), float(w.mean())) for w in (w1, w2) for m in (M, shifted)):
        return _mean_rule, "closed form: mean of slice gradients"
    for upper, name in ((False, "lower"), (True, "upper")):
        exact = _cv_rule(upper, ridge=0.0)
        if all(_close(f(w, m), exact(w, theta, m).value) for w in (w1, w2) for m in (M, shifted)):
            return _cv_rule(upper), (f"closed form: {name} control variate, through its coefficient and its "
                                     f"control term (coefficient ridge {CV_RIDGE:g} var W)")
    if _close(f12, f1 + 2.0 * f2) and _close(f1s, f1):
        degree = est.extra.get("degree") if isinstance(est.extra, dict) else None
        if isinstance(degree, int):  # a regression on harmonics? check it reproduces the estimate
            try:
                rule = _harmonic_rule(degree)
                ok = all(_close(rule(w, theta, M).value, f(w)) for w in (w1, w2))
            except Exception:  # noqa: BLE001 - not a harmonic regression after all
                ok = False
            if ok:
                return rule, (f"closed form: slice gradients weighted by the harmonic regression's intercept "
                              f"weights (degree {degree})")
        return _weights_rule(est), "closed form: slice gradients with the estimator's weights (probed each step)"
    return _probe_rule(est), "numerical: central differences of the estimator's combine"


# --------------------------------------------------------------------------- slices (numpy)


def _argsort_rows(v: np.ndarray) -> np.ndarray:
    """Row-wise argsort of a float64 array (L, n) by one integer sort, about twice as fast.

    Each value's order-preserving int64 image gets the column index in its lowest
    ``b = bit_length(n - 1)`` bits, so sorting the keys orders by value and the low bits
    carry the permutation. Values within ``2^b`` ulps of each other may come out in index
    order instead; their 1D matchings then differ by an equally optimal choice up to that
    rounding. Falls back to ``np.argsort`` for more than 2^20 columns.
    """
    n = v.shape[1]
    bits = max(1, (n - 1).bit_length())
    if bits > 20:
        return np.argsort(v, axis=1)
    k = np.ascontiguousarray(v, dtype=np.float64).view(np.int64)
    k = k ^ ((k >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))  # negative floats: flip the magnitude bits
    mask = np.int64((1 << bits) - 1)
    k &= ~mask
    k |= np.arange(n, dtype=np.int64)
    k.sort(axis=1)
    return k & mask


#: Below this many projected values per step, the slices run on one thread.
_PARALLEL_MIN = 40_000


class _NumpySlices:
    """Per-slice residuals ``theta'z_i - T_theta(theta'z_i)`` and values ``W_2^2(theta)``."""

    def __init__(self, y, a, b, n):
        self.y, self.a, self.b, self.n = y, a, b, n
        m = y.shape[0]
        if a is None and b is None and n == m:
            self.kind = "equal"
        elif a is None and b is None:
            # uniform weights: the merged quantile grid does not depend on the direction
            self.kind = "grid"
            g = _Grid(n, m)
            self.grid = g
            # T_sorted = ys @ tmap: the barycentric image of each sorted x atom (weight 1/n)
            self.tmap = sp.csr_matrix((g.widths * n, (g.iy, g.ix)), shape=(m, n))
        else:
            self.kind = "weighted"
            self.a_full = np.full(n, 1.0 / n) if a is None else a
            self.b_full = np.full(m, 1.0 / m) if b is None else b

    def __call__(self, z, theta):
        """z : (n, d), theta : (L, d) -> residuals R (L, n) in particle order, W (L,)."""
        L = theta.shape[0]
        if L < 2 or L * (z.shape[0] + self.y.shape[0]) < _PARALLEL_MIN:
            return self._chunk(z, theta)
        # sorting releases the GIL: halves of the directions on two threads
        parts = list(_pool().map(lambda t: self._chunk(z, t), np.array_split(theta, 2)))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _chunk(self, z, theta):
        xp = theta @ z.T  # (L, n)
        yp = theta @ self.y.T  # (L, m)
        if self.kind == "weighted":
            return self._weighted(xp, yp)
        order = _argsort_rows(xp)
        yp.sort(axis=1)
        if self.kind == "equal":
            # rank-by-rank matching: particle order[l, k] goes to the k-th smallest y projection
            ym = np.empty_like(xp)
            np.put_along_axis(ym, order, yp, axis=1)
            r = xp - ym
            return r, np.einsum("ln,ln->l", r, r) / r.shape[1]
        g = self.grid
        xs = np.take_along_axis(xp, order, axis=1)
        rs = xs - self.tmap.T.dot(yp.T).T
        diff = xs[:, g.ix] - yp[:, g.iy]
        r = np.empty_like(rs)
        np.put_along_axis(r, order, rs, axis=1)
        return r, (diff * diff) @ g.widths

    def _weighted(self, xp, yp):
        L, n = xp.shape
        ox = np.argsort(xp, axis=1)
        oy = np.argsort(yp, axis=1)
        xs = np.take_along_axis(xp, ox, axis=1)
        ys = np.take_along_axis(yp, oy, axis=1)
        a_s = self.a_full[ox]
        cx = np.cumsum(a_s, axis=1)
        cy = np.cumsum(self.b_full[oy], axis=1)
        cx[:, -1] = 1.0
        cy[:, -1] = 1.0
        widths, ix, iy = merged_matching(cx, cy)  # (L, n + m) each
        yq = np.take_along_axis(ys, iy, axis=1)
        diff = np.take_along_axis(xs, ix, axis=1) - yq
        w = np.einsum("lk,lk->l", widths, diff * diff)
        # barycentric target of each sorted x atom: sum of width * y-quantile over its cells / a
        flat = (ix + n * np.arange(L)[:, None]).ravel()
        s = np.bincount(flat, weights=(widths * yq).ravel(), minlength=L * n).reshape(L, n)
        pos = a_s > 0
        rs = np.where(pos, xs - s / np.where(pos, a_s, 1.0), 0.0)  # a massless atom does not move
        r = np.empty_like(rs)
        np.put_along_axis(r, ox, rs, axis=1)
        return r, w


# --------------------------------------------------------------------------- backends


class _NumpyBackend:
    name = "numpy"

    def __init__(self):
        self.xp = np

    def asarray(self, v):
        return None if v is None else np.ascontiguousarray(v, dtype=np.float64)

    def tonumpy(self, v):
        return np.array(v, dtype=np.float64)

    def slices(self, y, a, b, n):
        return _NumpySlices(y, a, b, n)

    def sparse(self, mat):
        return mat

    def spmm(self, mat, v):
        return mat @ v

    def spmm_t(self, mat, v):
        return mat.T @ v


class _TorchBackend:
    name = "torch"

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = device

    def asarray(self, v):
        if v is None:
            return None
        return self.torch.from_numpy(np.array(v, dtype=np.float64)).to(self.device)  # a writable copy

    def tonumpy(self, v):
        return v.detach().to("cpu").numpy().astype(np.float64, copy=True)

    def slices(self, y, a, b, n):
        return _TorchSlices(self, y, a, b, n)

    def sparse(self, mat):
        coo = mat.tocoo()
        idx = np.vstack([coo.row, coo.col]).astype(np.int64)
        vals = self.torch.as_tensor(coo.data, dtype=self.torch.float64)
        t = self.torch.sparse_coo_tensor(self.torch.as_tensor(idx), vals, size=mat.shape, device=self.device,
                                         check_invariants=True)
        t = t.coalesce()
        return t, t.t().coalesce()

    def spmm(self, mat, v):
        return self.torch.sparse.mm(mat[0], v)

    def spmm_t(self, mat, v):
        return self.torch.sparse.mm(mat[1], v)


class _TorchSlices:
    """The torch version of :class:`_NumpySlices` (for CUDA devices)."""

    def __init__(self, be, y, a, b, n):
        torch = be.torch
        self.torch = torch
        self.y = y
        m = y.shape[0]
        self.n, self.m = n, m
        self.equal = a is None and b is None and n == m
        dev = be.device
        self.a = torch.full((n,), 1.0 / n, dtype=torch.float64, device=dev) if a is None else a
        self.b = torch.full((m,), 1.0 / m, dtype=torch.float64, device=dev) if b is None else b

    def __call__(self, z, theta):
        torch = self.torch
        xp = theta @ z.T
        yp = theta @ self.y.T
        xs, ox = torch.sort(xp, dim=1)
        if self.equal:
            ys = torch.sort(yp, dim=1).values
            rs = xs - ys
            w = (rs * rs).mean(dim=1)
        else:
            n, m = self.n, self.m
            ys, oy = torch.sort(yp, dim=1)
            a_s = self.a[ox]
            cx = torch.cumsum(a_s, dim=1)
            cy = torch.cumsum(self.b[oy], dim=1)
            cx[:, -1] = 1.0
            cy[:, -1] = 1.0
            merged = torch.cat([cx, cy], dim=1)
            q, order = torch.sort(merged, dim=1, stable=True)
            widths = torch.diff(q, dim=1, prepend=torch.zeros_like(q[:, :1]))
            is_x = (order < n).to(torch.int64)
            ix = torch.clamp(torch.cumsum(is_x, dim=1) - is_x, max=n - 1)
            iy = torch.clamp(torch.cumsum(1 - is_x, dim=1) - (1 - is_x), max=m - 1)
            yq = torch.gather(ys, 1, iy)
            diff = torch.gather(xs, 1, ix) - yq
            w = (widths * diff * diff).sum(dim=1)
            s = torch.zeros_like(xs).scatter_add_(1, ix, widths * yq)
            pos = a_s > 0
            rs = torch.where(pos, xs - s / torch.where(pos, a_s, torch.ones_like(a_s)), torch.zeros_like(xs))
        r = torch.empty_like(rs).scatter_(1, ox, rs)
        return r, w.to("cpu").numpy()


def _backend(device):
    """``"cpu"`` -> numpy; ``"cuda"``, ``"cuda:k"`` or any ``torch.device`` -> torch."""
    if isinstance(device, str) and device.strip().lower() == "cpu":
        return _NumpyBackend()
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise InputError(f"device {device!r} needs torch, which is not installed") from None
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str) and device.strip().lower().startswith("cuda"):
        try:
            dev = torch.device(device.strip().lower())
        except RuntimeError as exc:
            raise InputError(f"device {device!r} is not a valid CUDA device name: {exc}") from None
    else:
        raise InputError(f"device must be 'cpu', 'cuda', 'cuda:<index>' or a torch.device; got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} was requested but CUDA is not available on this machine "
                             "(torch sees no GPU); use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    return _TorchBackend(dev)


# --------------------------------------------------------------------------- carriers (mesh mode)


class _Carrier:
    """Maps vertex positions to the flowing measure's atoms and atom velocities back.

    Clouds: the identity. Meshes: atoms ``P = B V`` (B the barycentric matrix of surface
    samples, or the identity for a measure on the vertices); a vertex moves with the
    mass-weighted mean velocity of the atoms it carries; vertices that carry none take their
    neighbours' velocity; ``smoothing`` (lambda) replaces the vertex velocities ``u`` by the
    solution of ``(I + lambda L) u' = u``, ``L`` the graph Laplacian of the mesh scaled by its
    mean degree (implicit Laplacian smoothing of the velocity, factorised once).
    """

    def __init__(self, be, n_vertices, B=None, atom_weights=None, adjacency=None, smoothing=0.0):
        from scipy.sparse.linalg import splu

        self.be = be
        self.B = None if B is None else be.sparse(B)
        self.smooth = None
        if adjacency is not None and smoothing > 0:
            W = adjacency
            deg = np.asarray(W.sum(1)).ravel()
            lap = (sp.diags(deg) - W) / max(deg.mean(), 1.0)
            self.smooth = splu((sp.identity(n_vertices) + float(smoothing) * lap).tocsc())
        self.fill = None
        if B is not None:
            k = B.shape[0]
            aw = np.full(k, 1.0 / k) if atom_weights is None else atom_weights
            mass = np.asarray(B.T @ aw).ravel()  # (n_vertices,)
            self.aw = be.asarray(aw[:, None])
            known = mass > 0
            self.inv_mass = be.asarray(np.where(known, 1.0 / np.where(known, mass, 1.0), 0.0)[:, None])
            if not known.all() and adjacency is not None:
                self.fill = self._fill_plan(adjacency, known)

    @staticmethod
    def _fill_plan(adjacency, known):
        """Rounds of (rows to fill, averaging matrix) from vertices that have velocities."""
        plan = []
        binary = adjacency.tocsr()
        known = known.copy()
        for _ in range(64):
            if known.all():
                break
            cnt = binary @ known.astype(np.float64)
            new = (~known) & (cnt > 0)
            if not new.any():
                break
            rows = np.flatnonzero(new)
            avg = sp.diags(1.0 / cnt[rows]) @ binary[rows].multiply(known[None, :].astype(np.float64))
            plan.append((rows, sp.csr_matrix(avg)))
            known |= new
        return plan

    def atoms(self, V):
        return V if self.B is None else self.be.spmm(self.B, V)

    def vertex_velocity(self, v_atoms):
        be = self.be
        if self.B is None:
            u = v_atoms
        else:
            u = be.spmm_t(self.B, self.aw * v_atoms) * self.inv_mass
            if self.fill:
                u = be.tonumpy(u) if be.name == "torch" else u
                for rows, avg in self.fill:
                    u[rows] = avg @ u
                u = be.asarray(u) if be.name == "torch" else u
        if self.smooth is not None:
            u = self.smooth.solve(be.tonumpy(u)) if be.name == "torch" else self.smooth.solve(u)
            u = be.asarray(u) if be.name == "torch" else u
        return u


# --------------------------------------------------------------------------- the loop


def _record_steps(record_every, n_steps: int) -> np.ndarray:
    if isinstance(record_every, (int, np.integer)) and not isinstance(record_every, bool):
        k = check_count(record_every, "record_every")
        steps = np.arange(0, n_steps + 1, k)
        return np.union1d(steps, [n_steps]).astype(np.int64)
    return _step_list(record_every, n_steps, "record_every")


def _step_list(values, n_steps: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(list(values), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number >= 1 or a sequence of step numbers; got {values!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InputError(f"{name} must hold whole step numbers; got {values!r}")
    if arr.min() < 0 or arr.max() > n_steps:
        raise InputError(f"{name} must lie in [0, n_steps = {n_steps}]; got {arr.min():g} .. {arr.max():g}")
    return np.unique(arr.astype(np.int64))


def _check_step_size(step_size) -> float:
    try:
        h = float(step_size)
    except (TypeError, ValueError):
        raise InputError(f"step_size must be a positive number; got {step_size!r}") from None
    if not (math.isfinite(h) and h > 0):
        raise InputError(f"step_size must be a finite number > 0; got {step_size!r}")
    return h


def _check_loss(loss) -> str:
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; valid losses are: {', '.join(LOSSES)}")
    return loss


def _check_estimator(estimator, n_projections, d) -> tuple[Estimator, int]:
    est = get_estimator(estimator)
    L = check_count(n_projections)
    if est.dims is not None and d not in est.dims:
        dims = ", ".join(map(str, est.dims))
        raise InputError(f"estimator {est.name!r} exists only in dimension {dims}; these points have d = {d}")
    if L < est.min_projections:
        raise InputError(f"estimator {est.name!r} needs n_projections >= {est.min_projections}; got {L}")
    return est, L


def _velocity(be, solver, rule, P, theta, w_atoms, mean_y, cov_y, loss):
    """Estimated loss and velocity ``(1/a_i) dF/dz_i`` of the atoms ``P`` for directions ``theta``."""
    theta_b = be.asarray(theta)
    r, w = solver(P, theta_b)  # residuals (L, n), slice values (L,)
    if w_atoms is None:
        mean_x = P.mean(0)
        pc = P - mean_x
        cov_x = pc.T @ pc / P.shape[0]
    else:
        mean_x = (w_atoms * P).sum(0)
        pc = P - mean_x
        cov_x = (pc * w_atoms).T @ pc
    g = rule(w, theta, Moments(be.tonumpy(mean_x), mean_y, be.tonumpy(cov_x), cov_y))
    value = g.value
    # (1/a_i) dE/dz_i = 2 sum_l w_l R_li theta_l, plus g_mean + (G + G')(z_i - mean_x) through the moments
    vel = 2.0 * (r.T @ be.asarray(g.weights[:, None] * theta))
    if g.g_mean is not None:
        vel = vel + be.asarray(g.g_mean)
    if g.g_cov is not None:
        vel = vel + pc @ be.asarray(g.g_cov + g.g_cov.T)
    if loss == "sw":
        # d sqrt(E) = dE / (2 sqrt(E)); a CV estimate can dip to or below 0 near the target,
        # so the root is taken of max(E, 1% of the mean slice value): a finite step always
        floor = max(value, 1e-2 * float(w.mean()))
        vel = vel * (0.5 / math.sqrt(floor) if floor > 0 else 0.0)
        value = math.sqrt(max(value, 0.0))
    return value, vel, w


def _target_moments(y, b):
    b_ = np.full(y.shape[0], 1.0 / y.shape[0]) if b is None else b
    mean_y = b_ @ y
    yc = y - mean_y
    return mean_y, (yc * b_[:, None]).T @ yc


def flow_velocity(x, y, a=None, b=None, *, directions, estimator: str = "mc", loss: str = "sw2",
                  device="cpu") -> tuple[float, np.ndarray]:
    """The estimated loss and the flow's velocity field for given directions.

    x : (n, d) float; y : (m, d) float; a, b : weights or None; directions : (L, d) unit
    vectors. Returns ``(F, v)`` with ``F`` the estimate of ``SW_2^2`` (``loss="sw2"``) or
    ``SW_2`` and ``v : (n, d)`` the velocity ``(1/a_i) dF/dx_i`` (``n dF/dx_i`` for uniform
    weights) that one step of :func:`gradient_flow` follows.
    """
    from ._validation import check_directions

    x, y, a, b = check_pair(x, y, a, b)
    est = get_estimator(estimator)
    theta = check_directions(directions, x.shape[1])
    loss = _check_loss(loss)
    be = _backend(device)
    rule, _ = _gradient_rule(est, theta.shape[0], x.shape[1], Moments.of(x, y, a, b))
    mean_y, cov_y = _target_moments(y, b)
    solver = be.slices(be.asarray(y), be.asarray(a), be.asarray(b), x.shape[0])
    value, vel, _ = _velocity(be, solver, rule, be.asarray(x), theta, None if a is None else be.asarray(a[:, None]),
                              mean_y, cov_y, loss)
    return value, be.tonumpy(vel)


def _run(V0, carrier, y, a, b, *, est, L, h, n_steps, rng, record, w2_steps, loss, be, progress, seed, faces):
    """One loop for every estimator and every carrier; returns a :class:`FlowResult`.

    ``record`` and ``w2_steps`` are sorted step numbers (``w2_steps`` within ``record``).
    """
    d = V0.shape[1]
    V = be.asarray(V0)
    P = carrier.atoms(V)  # the flowing measure's atoms (V itself for clouds)
    n_atoms, m = P.shape[0], y.shape[0]
    solver = be.slices(be.asarray(y), be.asarray(a), be.asarray(b), n_atoms)
    mean_y, cov_y = _target_moments(y, b)
    rule, how = _gradient_rule(est, L, d, Moments.of(be.tonumpy(P), y, a, b))
    w_atoms = None if a is None else be.asarray(a[:, None])
    isfinite = np.isfinite if be.name == "numpy" else be.torch.isfinite
    record_set, w2_set = set(record.tolist()), set(w2_steps.tolist())
    frames, atoms_at = [], []
    losses = np.empty(n_steps)
    every = max(1, n_steps // 200)
    # a rough share of the time spent flowing (the rest computes W_2^2), for progress
    flow_work = n_steps * L * (n_atoms + m)
    w2_work = len(w2_steps) * (12.0 * n_atoms * m if max(n_atoms, m) <= EXACT_OT_MAX
                               else 2.0 * SLICED_REFERENCE_DIRECTIONS * (n_atoms + m))
    flow_share = flow_work / (flow_work + w2_work)

    t0 = time.perf_counter()
    for step in range(n_steps + 1):
        if step in record_set:
            frames.append(be.tonumpy(V))
        if step in w2_set:
            atoms_at.append(be.tonumpy(P))
        if step == n_steps:
            break
        theta = est.directions(L, d, rng)  # fresh directions every step
        value, vel, _ = _velocity(be, solver, rule, P, theta, w_atoms, mean_y, cov_y, loss)
        losses[step] = value
        V = V - h * carrier.vertex_velocity(vel)  # Euler step
        if not bool(isfinite(V).all()):
            raise FloatingPointError(
                f"the flow diverged at step {step + 1} (non-finite positions) with step_size {h} and "
                f"estimator {est.name!r}; use a smaller step_size")
        P = carrier.atoms(V)
        if progress is not None and (step + 1) % every == 0:
            progress(flow_share * (step + 1) / n_steps, f"{est.title}: step {step + 1:,} of {n_steps:,}")
    flow_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    w2 = np.empty(len(atoms_at))
    w2_method = ""
    # exact OT releases the GIL: two at a time
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i, (value, method) in enumerate(pool.map(lambda z: _w2(z, y, a, b), atoms_at)):
            w2[i], w2_method = value, method
            if progress is not None:
                progress(flow_share + (1 - flow_share) * (i + 1) / len(atoms_at),
                         f"{est.title}: W_2^2 at {i + 1} of {len(atoms_at)} steps")
    return FlowResult(
        frames=np.stack(frames), steps=record.astype(np.int64), loss=losses, w2=w2,
        w2_steps=w2_steps.astype(np.int64), w2_method=w2_method, estimator=est.name, loss_name=loss,
        n_projections=L, step_size=h, seed=int(seed) if isinstance(seed, (int, np.integer)) else None,
        gradient=how, faces=faces, flow_seconds=flow_seconds, w2_seconds=time.perf_counter() - t1,
    )


def _common(n_steps, record_every, w2_steps, step_size, loss, device):
    n_steps = check_count(n_steps, "n_steps")
    record = _record_steps(record_every, n_steps)
    w2 = record if w2_steps is None else _step_list(w2_steps, n_steps, "w2_steps")
    return n_steps, np.union1d(record, w2), w2, _check_step_size(step_size), _check_loss(loss), _backend(device)


def gradient_flow(
    x0,
    y,
    a=None,
    b=None,
    *,
    estimator: str = "mc",
    n_projections: int = 10,
    step_size: float,
    n_steps: int,
    seed=0,
    record_every,
    loss: str = "sw2",
    device="cpu",
    progress: Progress | None = None,
    w2_steps=None,
) -> FlowResult:
    """Carry a point cloud onto a target by Euler steps on an estimated sliced loss.

    .. math::
        z_i^{k+1} = z_i^k - h \\, \\frac{1}{a_i} \\nabla_{z_i} \\hat F(z^k), \\qquad
        \\hat F = \\widehat{SW}_2^2 \\text{ or } \\widehat{SW}_2,

    with fresh directions from ``estimator`` at every step.

    Parameters
    ----------
    x0 : (n, d) float
        Initial particles.
    y : (m, d) float
        Target points (fixed).
    a, b : (n,) and (m,) float, optional
        Weights of the particles and of the target (normalised); uniform if omitted.
    estimator : str
        A key of :data:`swviz.ESTIMATORS`; its directions and its combination of slices
        define the estimated loss and its gradient.
    n_projections : int
        Directions per step ``L``.
    step_size : float
        ``h`` in units of the Wasserstein gradient flow: each particle moves by ``h`` times
        the velocity ``(1/a_i) dF/dz_i`` (``n dF/dz_i`` for uniform weights). The CV paper's
        update ``0.01 * grad(n SW_2)`` is ``loss="sw", step_size=0.01``.
    n_steps : int
    seed : int, numpy.random.Generator or None
        Randomness of the directions; the same seed gives every estimator the same stream.
    record_every : int or sequence of int
        Record positions every that many steps (and at the last), or at these step numbers.
    loss : {"sw2", "sw"}
    device : "cpu", "cuda", "cuda:<k>" or torch.device
        ``"cpu"`` runs the closed forms in numpy (the fastest on a CPU); a CUDA device runs
        them in torch (float64). Asking for CUDA where there is none raises an error.
    progress : callable ``(fraction, message)``, optional
        Called about 200 times during the flow and once per ``W_2^2``; an exception raised
        by it aborts the flow.
    w2_steps : sequence of int, optional
        Steps at which to compute ``W_2^2`` (added to the recorded frames); default: every
        recorded step. Exact OT costs about 0.05 s at 512 points and 1 s at 2048.

    Returns
    -------
    FlowResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) + 3.0
    >>> r = gradient_flow(x, y, estimator="ucv", step_size=0.2, n_steps=60, record_every=60)
    >>> bool(r.w2[-1] < 0.05 * r.w2[0])
    True
    """
    x0, y, a, b = check_pair(x0, y, a, b)
    est, L = _check_estimator(estimator, n_projections, x0.shape[1])
    n_steps, record, w2s, h, loss, be = _common(n_steps, record_every, w2_steps, step_size, loss, device)
    rng = rng_from(seed)
    return _run(x0, _Carrier(be, x0.shape[0]), y, a, b, est=est, L=L, h=h, n_steps=n_steps, rng=rng,
                record=record, w2_steps=w2s, loss=loss, be=be, progress=progress, seed=seed, faces=None)


# --------------------------------------------------------------------------- meshes


def _check_mesh(vertices, faces):
    V = as_points(vertices, "vertices")
    if V.shape[1] != 3:
        raise InputError(f"vertices must have shape (n, 3); got {V.shape}")
    try:
        F = np.asarray(faces)
    except (TypeError, ValueError):
        raise InputError("faces must be an integer array of shape (F, 3)") from None
    if F.ndim != 2 or F.shape[1] != 3 or F.shape[0] == 0:
        raise InputError(f"faces must have shape (F, 3) with F >= 1; got {F.shape}")
    if not np.issubdtype(F.dtype, np.integer):
        if not np.all(np.isfinite(F)) or np.any(F != np.round(F)):
            raise InputError("faces must hold whole vertex indices")
        F = F.astype(np.int64)
    if F.min() < 0 or F.max() >= V.shape[0]:
        raise InputError(f"faces index vertices 0..{V.shape[0] - 1}; got indices {F.min()}..{F.max()}")
    return V, np.ascontiguousarray(F, dtype=np.int64)


def _face_areas(V, F):
    return 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)


def _vertex_weights(vertices, faces) -> np.ndarray:
    """Each vertex weighs one third of its adjacent faces' area, normalised: (n,) float."""
    V, F = _check_mesh(vertices, faces)
    area = _face_areas(V, F)
    if not area.sum() > 0:
        raise InputError("the mesh has zero total area: every face is degenerate")
    w = np.bincount(F.ravel(), weights=np.repeat(area / 3.0, 3), minlength=V.shape[0])
    return w / w.sum()


def _adjacency(F, nv):
    """Vertex adjacency of a triangle mesh: symmetric (nv, nv) with ones on the edges."""
    i = np.concatenate([F[:, 0], F[:, 1], F[:, 2], F[:, 1], F[:, 2], F[:, 0]])
    j = np.concatenate([F[:, 1], F[:, 2], F[:, 0], F[:, 0], F[:, 1], F[:, 2]])
    A = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(nv, nv))
    A.data[:] = 1.0  # an edge shared by two faces counts once
    A.setdiag(0.0)  # degenerate faces repeating a vertex add no self-loops
    A.eliminate_zeros()
    return A


def _barycentric_samples(vertices, faces, n_samples: int, seed=0) -> sp.csr_matrix:
    """Barycentric matrix ``B : (n_samples, n_vertices)`` of area-uniform surface samples.

    ``B @ vertices`` are the samples; each row has the three barycentric coordinates of
    one sample in its face, so the samples follow the vertices when the mesh deforms.
    """
    V, F = _check_mesh(vertices, faces)
    k = check_count(n_samples, "n_samples")
    area = _face_areas(V, F)
    if not area.sum() > 0:
        raise InputError("the mesh has zero total area: every face is degenerate")
    rng = rng_from(seed)
    face = rng.choice(F.shape[0], size=k, p=area / area.sum())
    r1, r2 = rng.random(k), rng.random(k)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)  # uniform in the triangle
    rows = np.repeat(np.arange(k), 3)
    return sp.csr_matrix((bary.ravel(), (rows, F[face].ravel())), shape=(k, V.shape[0]))


#: Mesh measure name -> description (:func:`mesh_flow`).
MESH_MEASURES = MappingProxyType({
    "vertices": "the vertices, each weighing a third of its adjacent faces' area",
    "surface": "area-uniform surface samples carried by barycentric coordinates",
})


def mesh_flow(
    vertices,
    faces,
    y,
    b=None,
    *,
    measure: str = "vertices",
    n_samples: int = 2048,
    smoothing: float = 0.0,
    estimator: str = "mc",
    n_projections: int = 10,
    step_size: float,
    n_steps: int,
    seed=0,
    record_every,
    loss: str = "sw2",
    device="cpu",
    progress: Progress | None = None,
    w2_steps=None,
) -> FlowResult:
    """Deform a mesh onto a target by the gradient flow of its vertices; faces are kept.

    Parameters
    ----------
    vertices : (nv, 3) float
    faces : (F, 3) int
        Kept as they are; ``FlowResult.faces`` holds them and ``frames`` the vertices.
    y : (m, 3) float
        Target points; ``b`` : (m,) their weights.
    measure : {"vertices", "surface"}
        The flowing measure: the vertices with area weights, or ``n_samples`` area-uniform
        surface samples carried by barycentric coordinates (a vertex then moves with the
        mass-weighted mean velocity of the samples it carries; a vertex that carries none
        moves with its neighbours).
    smoothing : float >= 0
        Weight ``lambda`` of an implicit Laplacian smoothing of the velocity: the vertex
        velocities ``u`` become the solution of ``(I + lambda L) u' = u`` with ``L`` the mesh's
        graph Laplacian divided by its mean degree, so neighbours move alike and the surface
        stays clean (the shape does not shrink, unlike smoothing the positions). 0 turns it
        off; about 1 to 20 is useful, larger is smoother and slower to fit detail.
    estimator, n_projections, step_size, n_steps, seed, record_every, loss, device,
    progress, w2_steps
        As in :func:`gradient_flow`; ``W_2^2`` is measured on the flowing measure.

    Returns
    -------
    FlowResult with ``faces`` set.
    """
    V0, F = _check_mesh(vertices, faces)
    y = as_points(y, "y")
    if y.shape[1] != 3:
        raise InputError(f"y must have shape (m, 3) for a mesh flow; got {y.shape}")
    _, y, _, b = check_pair(V0, y, None, b)
    if measure not in MESH_MEASURES:
        raise InputError(f"unknown mesh measure {measure!r}; valid measures are: {', '.join(MESH_MEASURES)}")
    try:
        s = float(smoothing)
    except (TypeError, ValueError):
        raise InputError(f"smoothing must be a number >= 0; got {smoothing!r}") from None
    if not (math.isfinite(s) and s >= 0.0):
        raise InputError(f"smoothing must be a finite number >= 0; got {smoothing!r}")
    est, L = _check_estimator(estimator, n_projections, 3)
    n_steps, record, w2s, h, loss, be = _common(n_steps, record_every, w2_steps, step_size, loss, device)
    rng = rng_from(seed)
    A = _adjacency(F, V0.shape[0])
    if measure == "vertices":
        a = _vertex_weights(V0, F)
        carrier = _Carrier(be, V0.shape[0], adjacency=A, smoothing=s)
    else:
        B = _barycentric_samples(V0, F, n_samples, seed=rng)
        a = None
        carrier = _Carrier(be, V0.shape[0], B=B, adjacency=A, smoothing=s)
    return _run(V0, carrier, y, a, b, est=est, L=L, h=h, n_steps=n_steps, rng=rng, record=record, w2_steps=w2s,
                loss=loss, be=be, progress=progress, seed=seed, faces=F)
