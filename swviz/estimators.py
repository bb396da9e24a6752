"""The estimator registry and :func:`sliced_wasserstein`.

An estimator is two small pieces (SCIENCE.md sections 1 and 2):

* how its ``L`` directions are drawn: ``directions(L, d, rng) -> (L, d)``;
* how the per-slice values combine into an estimate of ``SW_p^p``:
  ``combine(per_slice, directions, moments) -> (value, stderr)``.

A new estimator is one :class:`Estimator` and one :func:`register` call, and it appears in
:data:`ESTIMATORS`, the command line and every page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from . import directions as _dirs
from ._validation import InputError, check_count, check_directions, check_p, check_pair, rng_from
from .slices import sliced_wpp

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "Moments",
    "SWResult",
    "get_estimator",
    "register",
    "sliced_wasserstein",
    "mc_combine",
    "cv_combine",
    "cv_fit",
    "CVFit",
]


@dataclass(frozen=True)
class Moments:
    """Gaussian fit of the two measures (weighted, 1/n covariances).

    mean_x, mean_y : (d,) float
    cov_x, cov_y : (d, d) float
    """

    mean_x: np.ndarray
    mean_y: np.ndarray
    cov_x: np.ndarray
    cov_y: np.ndarray

    @classmethod
    def of(cls, x, y, a=None, b=None) -> Moments:
        def fit(z, w):
            w = np.full(z.shape[0], 1.0 / z.shape[0]) if w is None else w
            mean = w @ z
            zc = z - mean
            return mean, (zc * w[:, None]).T @ zc

        mx, sx = fit(x, a)
        my, sy = fit(y, b)
        return cls(mx, my, sx, sy)

    @property
    def dim(self) -> int:
        return self.mean_x.shape[0]

    @property
    def dm(self) -> np.ndarray:
        return self.mean_x - self.mean_y

    def c_low(self, theta: np.ndarray) -> np.ndarray:
        """Lower control variate ``(theta' dm)^2``: (L, d) -> (L,)."""
        return (theta @ self.dm) ** 2

    def c_up(self, theta: np.ndarray) -> np.ndarray:
        """Upper control variate ``(theta' dm)^2 + theta' S_x theta + theta' S_y theta``."""
        s = self.cov_x + self.cov_y
        return self.c_low(theta) + np.einsum("li,ij,lj->l", theta, s, theta)

    def mean_c_low(self) -> float:
        """``E C_low = |dm|^2 / d`` under uniform directions."""
        return float(self.dm @ self.dm) / self.dim

    def mean_c_up(self) -> float:
        """``E C_up = (|dm|^2 + tr S_x + tr S_y) / d`` under uniform directions."""
        return (float(self.dm @ self.dm) + np.trace(self.cov_x) + np.trace(self.cov_y)) / self.dim


Combine = Callable[[np.ndarray, np.ndarray, Moments], "tuple[float, float]"]
Sampler = Callable[[int, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Estimator:
    """One entry of the registry.

    name : str
        Registry key (``"mc"``, ``"ucv"``...).
    description : str
        One line for menus and ``ESTIMATORS``.
    directions : callable ``(L, d, rng) -> (L, d)``
        How directions are drawn.
    combine : callable ``(per_slice (L,), directions (L, d), Moments) -> (value, stderr)``
        How slices combine; ``stderr`` is NaN where the estimator has none.
    random : bool
        The directions are random (and the estimate unbiased or consistent).
    nested : bool
        The first ``L'`` of ``L`` directions are themselves a valid draw of size ``L'``, so a
        study can reuse one pool of slices across a grid of L.
    dims : tuple of int or None
        Dimensions where the estimator exists (``None``: any).
    min_projections : int
    """

    name: str
    description: str
    directions: Sampler
    combine: Combine
    random: bool = True
    nested: bool = True
    dims: tuple | None = None
    min_projections: int = 1
    family: str = "SW estimator"
    label: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.label or self.name


_REGISTRY: dict[str, Estimator] = {}
_DESCRIPTIONS: dict[str, str] = {}
#: Estimator name -> short description (read-only view of the registry).
ESTIMATORS = MappingProxyType(_DESCRIPTIONS)


def register(est: Estimator) -> Estimator:
    """Add an estimator to the registry (replacing one of the same name)."""
    _REGISTRY[est.name] = est
    _DESCRIPTIONS[est.name] = est.description
    return est


def get_estimator(name: str) -> Estimator:
    """The registered estimator called ``name``; a ``ValueError`` lists the valid names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(_REGISTRY))
        raise InputError(f"unknown estimator {name!r}; valid estimators are: {valid}") from None


# --------------------------------------------------------------------------- combiners


def mc_combine(w: np.ndarray, theta: np.ndarray, moments: Moments) -> tuple[float, float]:
    """Plain mean of the per-slice values; stderr ``std(W) / sqrt(L)``."""
    L = w.shape[0]
    value = float(w.mean())
    stderr = float(w.std(ddof=1) / math.sqrt(L)) if L > 1 else math.nan
    return value, stderr


def cv_combine(w: np.ndarray, c: np.ndarray, mean_c: float) -> tuple[float, float]:
    """Control-variate estimate from per-slice values ``w`` and control values ``c``.

    SCIENCE.md section 2 (Nguyen & Ho 2024): ``D_l = C_l - E C``, estimate
    ``mean W - gamma mean D`` with ``gamma`` the fitted coefficient. The paper divides by
    the uncentred ``mean[D^2]``; we use the centred sample variance, i.e. the least-squares
    slope of W on D, whose intercept is the estimate. The two differ by O(1/L); the
    least-squares form is exact when W is exactly affine in C (a translated pair with the
    lower CV) and coincides with the spherical-harmonics CV intercept for that one
    harmonic. Falls back to plain MC when the control variate's spread is negligible
    (the means meet, or both clouds are centred for the lower CV): never NaN.
    """
    fit = cv_fit(w, c, mean_c)
    if fit is None:
        return mc_combine(w, None, None)
    L = w.shape[0]
    resid = w - fit.gamma * fit.d
    # residual spread about the fit, with one degree of freedom more used by gamma
    dof = max(L - 2, 1)
    return fit.value, float(np.sqrt(np.sum((resid - resid.mean()) ** 2) / dof / L))


@dataclass(frozen=True)
class CVFit:
    """The pieces of a control-variate fit (see :func:`cv_fit`), shared with the flows' gradients.

    value : float (the estimate); gamma : float; d : (L,) ``C - E C``; dc : (L,) ``d`` centred;
    wc : (L,) ``W`` centred; d_bar : float; den : float (``var(C)``, plus the ridge if any).
    """

    value: float
    gamma: float
    d: np.ndarray
    dc: np.ndarray
    wc: np.ndarray
    d_bar: float
    den: float


def cv_fit(w: np.ndarray, c: np.ndarray, mean_c: float, ridge: float = 0.0) -> CVFit | None:
    """Fit ``gamma = cov(W, C) / (var(C) + ridge var(W))`` and the estimate ``mean W - gamma mean D``.

    Returns None when the control variate's spread is negligible (L < 2, ``var(C)`` zero or
    below ``(1e-9 (|mean W| + |E C|))^2``): the caller then uses plain MC.
    """
    L = w.shape[0]
    d = c - mean_c
    w_bar = float(w.mean())
    d_bar = float(d.mean())
    dc = d - d_bar
    var_d = float(np.mean(dc * dc))
    scale = abs(w_bar) + abs(mean_c)
    if L < 2 or not math.isfinite(var_d) or var_d == 0.0 or var_d <= (1e-9 * scale) ** 2:
        return None
    wc = w - w_bar
    den = var_d + ridge * float(np.mean(wc * wc))
    gamma = float(np.mean(wc * dc)) / den
    return CVFit(w_bar - gamma * d_bar, gamma, d, dc, wc, d_bar, den)


def _lcv(w, theta, moments):
    return cv_combine(w, moments.c_low(theta), moments.mean_c_low())


def _ucv(w, theta, moments):
    return cv_combine(w, moments.c_up(theta), moments.mean_c_up())


register(Estimator("mc", "Monte Carlo: mean over L uniform random directions", _dirs.uniform, mc_combine,
                   label="MC"))
register(Estimator(
    "lcv",
    "Lower-bound control variate (Nguyen & Ho 2024): (theta'dm)^2 with uniform directions",
    _dirs.uniform, _lcv, label="Lower CV"))
register(Estimator(
    "ucv",
    "Upper-bound control variate (Nguyen & Ho 2024): (theta'dm)^2 + theta'(S_x + S_y)theta",
    _dirs.uniform, _ucv, label="Upper CV"))


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
        Standard error of ``value`` (NaN for deterministic direction sets or L = 1).
    p : float
    """

    value: float
    distance: float
    per_slice: np.ndarray = field(repr=False)
    directions: np.ndarray = field(repr=False)
    estimator: str
    stderr: float
    p: float


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
) -> SWResult:
    """Estimate the sliced Wasserstein distance between two weighted point clouds.

    .. math::
        SW_p^p(\\mu, \\nu) = \\mathbb{E}_{\\theta \\sim \\mathcal{U}(S^{d-1})}
        W_p^p(\\theta_\\# \\mu, \\theta_\\# \\nu)

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
    d = x.shape[1]
    if est.dims is not None and d not in est.dims:
        dims = ", ".join(map(str, est.dims))
        raise InputError(f"estimator {est.name!r} exists only in dimension {dims}; these points have d = {d}")
    if directions is None:
        L = check_count(n_projections)
        if L < est.min_projections:
            raise InputError(f"estimator {est.name!r} needs n_projections >= {est.min_projections}; got {L}")
        theta = est.directions(L, d, rng_from(seed))
    else:
        theta = check_directions(directions, d)
    per_slice = sliced_wpp(x, y, theta, a, b, p)
    value, stderr = est.combine(per_slice, theta, Moments.of(x, y, a, b))
    return SWResult(
        value=float(value),
        distance=float(max(value, 0.0) ** (1.0 / p)),
        per_slice=per_slice,
        directions=theta,
        estimator=est.name,
        stderr=float(stderr),
        p=p,
    )
