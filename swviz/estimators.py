"""The estimator registry and :func:`sliced_wasserstein`.

An estimator of ``SW_p^p`` is two small pieces and a few declared facts:

* how its ``L`` directions are drawn: ``directions(L, d, rng) -> (L, d)`` unit rows;
* how the per-slice values combine into an estimate:
  ``combine(w, theta, moments, options) -> (value, stderr)``, batched over leading axes
  (``w : (..., L)``, ``theta : (..., L, d)``, value and stderr ``(...,)``) and written once
  against the :mod:`swviz._xp` namespace, so the same lines run on numpy arrays (studies,
  pages) and on torch tensors, where autograd differentiates them (:func:`swviz.sw_loss`);
* declared facts, read by everyone who needs them and never inferred: whether the directions
  are random, nested in ``L``, which dimensions, the smallest ``L``, the pool of directions a
  study may share, whether there is a standard error, the harmonic degree.

A new estimator is one :class:`Estimator` and one :func:`register` call, and it appears in
:data:`ESTIMATORS`, the command line, the differentiable loss and every page.

The control variates are those of Nguyen & Ho, "Sliced Wasserstein Estimation with Control
Variates", ICLR 2024 (Section 3): fit a Gaussian to each projected measure and use the closed
form of ``W_2^2`` between the fits, or its lower bound, as a control variate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import numpy as np

from . import directions as _dirs
from ._validation import InputError, check_count, check_directions, check_p, check_pair, rng_from
from ._xp import constant_side, namespace
from .slices import sliced_wpp

__all__ = [
    "ESTIMATORS",
    "VALUE_ONLY",
    "CombineOptions",
    "Estimator",
    "Moments",
    "SWResult",
    "cv_combine",
    "get_estimator",
    "mc_combine",
    "quadratic_control",
    "register",
    "registered",
    "sliced_wasserstein",
]


class Moments:
    """Gaussian fit of the two measures (weighted, ``1/n`` covariances), computed on first use.

    Works on numpy arrays and on torch tensors alike (the fit of tensors is differentiable).
    Both control variates of Nguyen & Ho (ICLR 2024, Section 3) are quadratic forms in the
    direction, ``C(theta) = theta' Q theta`` with ``Q_low = dm dm'`` and
    ``Q_up = dm dm' + S_x + S_y``, whose mean under uniform directions is ``tr(Q) / d``
    (:func:`quadratic_control`).

    mean_x, mean_y : (d,) float
    cov_x, cov_y : (d, d) float
    """

    def __init__(self, x, y, a=None, b=None, *, fit_y=None):
        self._data = (x, y, a, b)
        if fit_y is not None:  # the target's (mean, covariance), when a loop holds it fixed
            self.__dict__["mean_y"], self.__dict__["cov_y"] = fit_y

    @classmethod
    def fit(cls, z, w=None):
        """``(mean (d,), covariance (d, d))`` of one measure: points ``z : (n, d)``, weights ``w`` or None."""
        mean = cls._mean(z, w)
        return mean, cls._cov(z, w, mean)

    @classmethod
    def of(cls, x, y, a=None, b=None) -> Moments:
        """The (lazy) fit of ``x : (n, d)`` with weights ``a`` and ``y : (m, d)`` with ``b``."""
        return cls(x, y, a, b)

    @staticmethod
    def _mean(z, w):
        return namespace(z).mean(z, 0) if w is None else w @ z

    @staticmethod
    def _cov(z, w, mean):
        ns = namespace(z)
        zc = z - mean
        if w is None:
            return (ns.swap_last(zc) @ zc) / z.shape[0]
        return ns.swap_last(zc * w[:, None]) @ zc

    # each on first use: the lower control variate needs the means only
    @cached_property
    def mean_x(self):
        return self._mean(self._data[0], self._data[2])

    @cached_property
    def cov_x(self):
        return self._cov(self._data[0], self._data[2], self.mean_x)

    @cached_property
    def mean_y(self):
        return self._mean(self._data[1], self._data[3])

    @cached_property
    def cov_y(self):
        return self._cov(self._data[1], self._data[3], self.mean_y)

    @property
    def dim(self) -> int:
        return self._data[0].shape[1]

    @cached_property
    def dm(self):
        return self.mean_x - self.mean_y

    def control_low(self, theta):
        """Lower control variate ``C_low = (theta' dm)^2`` at (..., L, d) directions, and ``E C_low = |dm|^2 / d``.

        Returns ``(c (..., L), mean_c ())`` (Nguyen & Ho 2024, Prop. 3).
        """
        ns = namespace(theta, self.dm)
        tns, th = constant_side(ns, theta)
        if tns is not ns:
            th = ns.asarray(th, like=self.dm)
        return (th @ self.dm) ** 2, (self.dm @ self.dm) / self.dim

    @cached_property
    def q_up(self):
        """``Q_up = dm dm' + S_x + S_y``: (d, d).

        Formed as ``E_x[(x - m_y)(x - m_y)'] + S_y`` (the second moment of ``x`` about the
        target's mean equals ``S_x + dm dm'``): one product over ``x``, and on tensors four
        autograd nodes where the sum of its three terms made eleven.
        """
        x, _, a, _ = self._data
        return self._cov(x, a, self.mean_y) + self.cov_y

    def control_up(self, theta):
        """Upper control variate ``C_up = (theta' dm)^2 + theta' (S_x + S_y) theta`` and its mean.

        ``E C_up = (|dm|^2 + tr S_x + tr S_y) / d``: one quadratic form ``theta' Q_up theta``.
        Returns ``(c (..., L), mean_c ())`` (Nguyen & Ho 2024, Prop. 4).
        """
        return quadratic_control(theta, self.q_up)

    def c_low(self, theta):
        """Lower control variate ``(theta' dm)^2``: (..., L, d) -> (..., L)."""
        return self.control_low(theta)[0]

    def c_up(self, theta):
        """Upper control variate ``(theta' dm)^2 + theta' (S_x + S_y) theta``: (..., L, d) -> (..., L)."""
        return self.control_up(theta)[0]

    def mean_c_low(self):
        """``E C_low = |dm|^2 / d`` under uniform directions (Nguyen & Ho 2024, Prop. 3)."""
        return (self.dm @ self.dm) / self.dim

    def mean_c_up(self):
        """``E C_up = (|dm|^2 + tr S_x + tr S_y) / d`` under uniform directions (Prop. 4)."""
        return self.control_up(np.eye(self.dim))[1]


def quadratic_control(theta, Q):
    """A quadratic control variate ``C(theta) = theta' Q theta`` at a batch of directions, and its mean.

    Under uniform directions ``E[theta theta'] = I / d``, so ``E C = tr(Q) / d``. The features
    ``vec(theta_l theta_l')`` and ``vec(I) / d`` depend on the directions alone: they are formed in
    numpy unless the directions carry a gradient, so on tensors autograd sees two products with
    ``vec(Q)``.

    theta : (..., L, d) float; Q : (d, d) float, symmetric. Returns ``(c (..., L), mean_c ())``.
    """
    ns = namespace(theta, Q)
    d = Q.shape[-1]
    tns, th = constant_side(ns, theta)
    feats = (th[..., :, None] * th[..., None, :]).reshape(*th.shape[:-1], d * d)  # (..., L, d^2)
    mean_feats = tns.eye(d, like=th).reshape(d * d) / d  # E vec(theta theta')
    if tns is not ns:
        feats, mean_feats = ns.asarray(feats, like=Q), ns.asarray(mean_feats, like=Q)
    q = Q.reshape(d * d)
    return feats @ q, mean_feats @ q


@dataclass(frozen=True)
class CombineOptions:
    """Options of the combine step that some estimators read.

    cv_ridge : float >= 0
        Ridge ``kappa^2`` of the control-variate coefficient,
        ``gamma = cov(W, C) / (var(C) + kappa^2 var(W))``. 0 (the default) is the estimator of
        Nguyen & Ho; a small ridge (e.g. 0.01) turns the estimate smoothly into plain Monte
        Carlo as the control variate loses its spread (the means meet in a flow), where the
        raw coefficient's gradient grows like ``1/|dm|``. Read only by estimators declared
        ``control_variate=True``.
    stderr : bool
        Whether ``combine`` computes the standard error. A loss or a study that reads only the
        value passes False: the combine then returns ``(value, None)`` and spares the
        operations (on tensors, a dozen small ones per step).
    """

    cv_ridge: float = 0.0
    stderr: bool = True

    def __post_init__(self):
        r = self.cv_ridge
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not (math.isfinite(r) and r >= 0):
            raise InputError(f"cv_ridge must be a finite number >= 0; got {r!r}")
        if not isinstance(self.stderr, bool):
            raise InputError(f"stderr must be True or False; got {self.stderr!r}")


DEFAULT_OPTIONS = CombineOptions()
#: The options of a loss or a study that reads only the value (no standard error).
VALUE_ONLY = CombineOptions(stderr=False)

Combine = Callable[..., tuple]
Sampler = Callable[[int, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Estimator:
    """One entry of the registry.

    name : str
        Registry key (``"mc"``, ``"ucv"``...).
    description : str
        One line for menus and :data:`ESTIMATORS`.
    directions : callable ``(L, d, rng) -> (L, d)``
        How directions are drawn.
    combine : callable ``(w (..., L), theta (..., L, d), Moments, CombineOptions) -> (value, stderr)``
        How slices combine, batched over leading axes, on numpy arrays or torch tensors.
    pool : str
        Name of the direction stream: estimators with the same pool draw the same directions
        from the same generator, so a study slices them once and seeds them from this name.
    random : bool
        The directions are random (and the estimate unbiased or consistent).
    nested : bool
        The first ``L'`` of ``L`` directions are themselves a valid draw of size ``L'``.
    dims : tuple of int or None
        Dimensions where the estimator exists (``None``: any).
    min_projections : callable ``d -> int``
        Smallest ``L`` in dimension ``d``.
    stderr : bool
        Whether ``combine``'s standard error means something (i.i.d. slices).
    control_variate : bool
        The estimator reads :attr:`CombineOptions.cv_ridge`.
    uses_moments : bool
        ``combine`` reads the Gaussian fit (so it depends on the clouds beyond the slices).
    degree : int or None
        Highest spherical-harmonic degree, for SHCV estimators (``None`` when adaptive or absent).
    sobol : bool
        Built on a Sobol sequence (balanced only when ``L`` is a power of two).
    family, label : str
        Menu grouping and display name.
    """

    name: str
    description: str
    directions: Sampler
    combine: Combine
    pool: str
    random: bool = True
    nested: bool = True
    dims: tuple | None = None
    min_projections: Callable[[int], int] = field(default=lambda d: 1)
    stderr: bool = True
    control_variate: bool = False
    uses_moments: bool = False
    degree: int | None = None
    sobol: bool = False
    family: str = "SW estimator"
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name

    def check(self, L: int, d: int) -> None:
        """Raise a clear :class:`InputError` if the estimator cannot run with ``L`` directions in ``d``."""
        if self.dims is not None and d not in self.dims:
            dims = ", ".join(map(str, self.dims))
            raise InputError(f"estimator {self.name!r} exists only in dimension {dims}; these points have d = {d}")
        need = self.min_projections(d)
        if L < need:
            raise InputError(f"estimator {self.name!r} needs n_projections >= {need} in dimension {d}; got {L}")


_REGISTRY: dict[str, Estimator] = {}
_DESCRIPTIONS: dict[str, str] = {}
#: Estimator name -> short description (read-only view of the registry).
ESTIMATORS = MappingProxyType(_DESCRIPTIONS)


def register(est: Estimator) -> Estimator:
    """Add an estimator to the registry (replacing one of the same name)."""
    _REGISTRY[est.name] = est
    _DESCRIPTIONS[est.name] = est.description
    return est


def registered() -> tuple[Estimator, ...]:
    """Every registered estimator, in registration order."""
    return tuple(_REGISTRY.values())


def get_estimator(name: str) -> Estimator:
    """The registered estimator called ``name``; a ``ValueError`` lists the valid names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(_REGISTRY))
        raise InputError(f"unknown estimator {name!r}; valid estimators are: {valid}") from None


# --------------------------------------------------------------------------- combiners


def mc_combine(w, theta=None, moments=None, options=DEFAULT_OPTIONS):
    """Plain mean of the per-slice values; stderr ``std(W) / sqrt(L)``: (..., L) -> (...,)."""
    ns = namespace(w)
    L = w.shape[-1]
    value = ns.mean(w, -1)
    if not options.stderr:
        return value, None
    if L < 2:
        return value, value * math.nan
    wc = w - value[..., None]
    return value, ns.sqrt(ns.sum(wc * wc, -1) / ((L - 1) * L))


def cv_combine(w, c, mean_c, ridge: float = 0.0, stderr: bool = True):
    """Control-variate estimate from per-slice values ``w`` and control values ``c``, batched.

    Nguyen & Ho, ICLR 2024, eq. (9)-(10): ``D_l = C_l - E C``, estimate ``mean W - gamma mean D``.
    The paper's coefficient divides by the uncentred ``mean[D^2]``; we use the centred variance,
    ``gamma = cov(W, C) / (var(C) + ridge var(W))`` (with ``ridge = 0``: the least-squares slope
    of W on D, whose intercept is the estimate). The two differ by O(1/L); the least-squares
    form is exact when W is affine in C (a translated pair with the lower CV) and coincides with
    the spherical-harmonics CV intercept for that one harmonic. Where the control variate's
    spread is negligible (``L < 2``, ``var(C) <= (1e-9 (|mean W| + |E C|))^2``: the means meet,
    or both clouds are centred for the lower CV) the estimate is plain Monte Carlo: never NaN,
    and on tensors the gradient is then Monte Carlo's, never NaN either.

    w, c : (..., L) float; mean_c : (...,) float or scalar; stderr : also compute the standard
    error (else None). Returns ``(value, stderr)``, (...,).
    """
    ns = namespace(w, c, mean_c)
    L = w.shape[-1]
    if L < 2:
        return mc_combine(w, options=DEFAULT_OPTIONS if stderr else VALUE_ONLY)
    # centring C centres D = C - E C alike; gamma is a ratio of sums (the 1/L cancels), each
    # sum one fused product: on tensors every operation is an autograd node a flow pays each step
    w_bar = ns.mean(w, -1)
    c_bar = ns.mean(c, -1)
    wc = w - w_bar[..., None]
    dc = c - c_bar[..., None]
    ssd = ns.rowdot(dc, dc)  # L var(C)
    den = ssd + ridge * ns.rowdot(wc, wc) if ridge else ssd
    if w_bar.ndim == 0 and ns.on_host(w_bar):
        # one estimate (a loss, a flow's step) on the CPU: the fallback's test on Python floats
        # (on a GPU, reading them would wait for the device; the tensor form below does not)
        v, s = float(ns.detach(ssd)), abs(float(ns.detach(w_bar))) + abs(float(ns.detach(mean_c)))
        ok = math.isfinite(v) and v > L * (1e-9 * s) ** 2
        gamma = ns.rowdot(wc, dc) / den if ok else None
        value = w_bar - gamma * (c_bar - mean_c) if ok else w_bar
        dof = float(max(L - 2, 1) if ok else L - 1)
    else:
        # the fallback's test reads values only: no autograd nodes on tensors
        v, s = ns.detach(ssd), ns.abs(ns.detach(w_bar)) + ns.abs(ns.detach(mean_c))
        ok = ns.isfinite(v) & (v > L * (1e-9 * s) ** 2)
        # a safe denominator where the fallback applies, so that neither value nor gradient is NaN
        gamma = ns.where(ok, ns.rowdot(wc, dc) / ns.where(ok, den, 1.0), 0.0)
        value = w_bar - gamma * (c_bar - mean_c)
        dof = ns.where(ok, float(max(L - 2, 1)), float(L - 1)) if stderr else None
    if not stderr:
        return value, None
    # residual spread about the fit, one more degree of freedom used by gamma
    resid = wc if gamma is None else wc - gamma[..., None] * dc
    return value, ns.sqrt(ns.sum(resid * resid, -1) / dof / L)


def _lcv(w, theta, moments, options=DEFAULT_OPTIONS):
    return cv_combine(w, *moments.control_low(theta), options.cv_ridge, options.stderr)


def _ucv(w, theta, moments, options=DEFAULT_OPTIONS):
    return cv_combine(w, *moments.control_up(theta), options.cv_ridge, options.stderr)


#: Name of the pool of i.i.d. uniform directions (MC, the control variates, SHCV).
UNIFORM_POOL = "uniform"

register(Estimator("mc", "Monte Carlo: mean over L uniform random directions", _dirs.uniform, mc_combine,
                   pool=UNIFORM_POOL, label="MC"))
register(Estimator(
    "lcv",
    "Lower-bound control variate (Nguyen & Ho 2024): (theta'dm)^2 with uniform directions",
    _dirs.uniform, _lcv, pool=UNIFORM_POOL, control_variate=True, uses_moments=True, label="Lower CV",
    family="control variates"))
register(Estimator(
    "ucv",
    "Upper-bound control variate (Nguyen & Ho 2024): (theta'dm)^2 + theta'(S_x + S_y)theta",
    _dirs.uniform, _ucv, pool=UNIFORM_POOL, control_variate=True, uses_moments=True, label="Upper CV",
    family="control variates"))


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class SWResult:
    """An estimate of ``SW_p^p``.

    value : float
        The estimate of ``SW_p^p``.
    distance : float
        ``value ** (1/p)`` (clipped at 0 first: a CV estimate can dip below 0 by rounding).
    per_slice : (L,) float
        Per-slice ``W_p^p``.
    directions : (L, d) float
    estimator : str
    stderr : float
        Standard error of ``value`` (NaN for deterministic or non-i.i.d. direction sets, or L = 1).
    p : float
    """

    value: float
    distance: float
    per_slice: np.ndarray = field(repr=False)
    directions: np.ndarray = field(repr=False)
    estimator: str
    stderr: float
    p: float


def draw_directions(est: Estimator, n_projections, d: int, seed) -> np.ndarray:
    """The ``L`` directions ``est`` draws in dimension ``d`` from ``seed``, after its checks."""
    L = check_count(n_projections)
    est.check(L, d)
    return est.directions(L, d, rng_from(seed))


def sliced_wasserstein(
    x,
    y,
    a=None,
    b=None,
    *,
    estimator: str = "mc",
    n_projections: int = 100,
    p: float = 2,
    seed=None,
    directions=None,
    cv_ridge: float = 0.0,
) -> SWResult:
    """Estimate the sliced Wasserstein distance between two weighted point clouds.

    .. math::
        SW_p^p(\\mu, \\nu) = \\mathbb{E}_{\\theta \\sim \\mathcal{U}(S^{d-1})}
        W_p^p(\\theta_\\# \\mu, \\theta_\\# \\nu)

    (Bonneel, Rabin, Peyre & Pfister, JMIV 2015, eq. 4), estimated from ``L`` slices.

    Parameters
    ----------
    x : (n, d) float
        Source points.
    y : (m, d) float
        Target points.
    a, b : (n,) and (m,) float, optional
        Non-negative weights (normalised to sum 1); uniform if omitted.
    estimator : str
        A key of :data:`ESTIMATORS`.
    n_projections : int
        Number of directions ``L``.
    p : float
        Ground cost exponent, ``p >= 1``.
    seed : int, numpy.random.Generator or None
        Randomness for the directions.
    directions : (L, d) float, optional
        Unit directions to use instead of sampling (``n_projections`` is then ignored).
    cv_ridge : float
        :attr:`CombineOptions.cv_ridge`, read by the control-variate estimators only.

    Returns
    -------
    SWResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 3))
    >>> r = sliced_wasserstein(x, x + [1.0, 0, 0], estimator="lcv", n_projections=10, seed=0)
    >>> round(r.value, 12)  # a translate: every slice is (theta'shift)^2, and LCV is exact
    0.333333333333
    """
    est = get_estimator(estimator)
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    options = CombineOptions(cv_ridge)
    d = x.shape[1]
    if directions is None:
        theta = draw_directions(est, n_projections, d, seed)
    else:
        theta = check_directions(directions, d)
        est.check(theta.shape[0], d)
    per_slice = sliced_wpp(x, y, theta, a, b, p)
    value, stderr = est.combine(per_slice, theta, Moments(x, y, a, b), options)
    value = float(value)
    return SWResult(
        value=value,
        distance=float(max(value, 0.0) ** (1.0 / p)),
        per_slice=per_slice,
        directions=theta,
        estimator=est.name,
        stderr=float(stderr) if est.stderr else math.nan,
        p=p,
    )
