"""Spherical-harmonics control variates for sliced Wasserstein.

Leluc, Portier, Segers & Zhuman, "Sliced-Wasserstein Estimation with Spherical Harmonics as
Control Variates", ICML 2024 (Section 3, the SHCV estimator as a least-squares intercept). The per-slice values
``W(theta_l) = W_p^p(theta_l # mu, theta_l # nu)`` are regressed on zero-mean spherical
harmonics; the intercept of the least-squares fit is the estimate:

.. math::
    \\widehat{SW}_p^p = \\arg\\min_{\\beta_0} \\min_{\\beta}
    \\sum_{l=1}^L \\bigl(W(\\theta_l) - \\beta_0 - \\textstyle\\sum_k \\beta_k \\varphi_k(\\theta_l)\\bigr)^2
    = \\frac{\\mathbf 1^\\top (I - P) W}{\\mathbf 1^\\top (I - P) \\mathbf 1},

with ``P`` the projector on the span of the harmonics' values. Since ``W(theta) = W(-theta)``
only even degrees matter. The harmonics of even degree ``2, 4, ..., k`` span the same space
as the degree-``k`` monomials ``theta^alpha`` (``|alpha| = k``) restricted to the sphere, minus
the constants (``|theta|^2 = 1`` lifts every lower even degree to degree ``k``). We build an
orthonormal basis of that span exactly: centre the monomials by their exact uniform-sphere
means, drop one to remove the single linear relation, and whiten with the exact Gram matrix
(moments of the uniform measure on ``S^{d-1}`` are closed forms). In 3D these are the
spherical harmonics of degrees 2..k up to an orthogonal change of basis, in 2D the Fourier
modes ``cos 2jt, sin 2jt`` (``j <= k/2``); the intercept does not depend on the basis.

Both control variates of Nguyen & Ho are degree-2 polynomials, so degree 2 already contains
them; a translated pair (every slice ``(theta' shift)^2``) is fitted exactly.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations_with_replacement

import numpy as np

from . import directions as _dirs
from ._validation import InputError
from ._xp import constant_side, namespace
from .estimators import UNIFORM_POOL, Estimator, register

__all__ = [
    "AUTO_MAX_DEGREE",
    "SHCV_DEGREES",
    "auto_degrees",
    "harmonics",
    "min_directions",
    "n_harmonics",
    "shcv_combine",
    "shcv_estimator_combine",
    "sphere_moment",
]

#: Degrees registered as estimators (``shcv-2``, ``shcv-4``, ``shcv-6``).
SHCV_DEGREES = (2, 4, 6)


def _check_degree(degree) -> int:
    if isinstance(degree, bool) or int(degree) != degree or degree < 2 or int(degree) % 2:
        raise InputError(f"the spherical-harmonics degree must be an even whole number >= 2; got {degree!r}")
    return int(degree)


def sphere_moment(alpha) -> float:
    """``E[prod_i theta_i^alpha_i]`` for ``theta`` uniform on ``S^{d-1}``, ``d = len(alpha)``.

    Zero unless every ``alpha_i`` is even; else ``prod_i (alpha_i - 1)!! / (d (d+2) ... (d + |alpha| - 2))``.
    """
    alpha = [int(a) for a in alpha]
    if any(a % 2 for a in alpha):
        return 0.0
    d, total = len(alpha), sum(alpha)
    num = math.prod(math.prod(range(a - 1, 0, -2)) for a in alpha)
    den = math.prod(d + 2 * k for k in range(total // 2))
    return num / den


@lru_cache(maxsize=64)
def _basis(d: int, degree: int):
    """Exponents (K, d), their means (K,) and the whitening matrix (K, K) of the basis."""
    combos = list(combinations_with_replacement(range(d), degree))
    expo = np.zeros((len(combos), d), dtype=np.int64)
    for row, c in enumerate(combos):
        for i in c:
            expo[row, i] += 1
    # drop theta_d^degree: it carries the one relation sum_alpha c_alpha theta^alpha = |theta|^degree = 1
    expo = expo[[not (e[-1] == degree) for e in expo]]
    K = expo.shape[0]
    if K == 0:
        out = (expo, np.zeros(0), np.zeros((0, 0)))
        for arr in out:
            arr.setflags(write=False)
        return out
    means = np.array([sphere_moment(e) for e in expo])
    gram = np.empty((K, K))
    for i in range(K):
        for j in range(i, K):
            gram[i, j] = gram[j, i] = sphere_moment(expo[i] + expo[j]) - means[i] * means[j]
    chol = np.linalg.cholesky(gram)
    whiten = np.linalg.inv(chol).T  # phi = (m - E m) @ whiten has identity covariance
    for arr in (expo, means, whiten):  # shared by every caller through the cache: read-only
        arr.setflags(write=False)
    return expo, means, whiten


def n_harmonics(d: int, degree: int) -> int:
    """Number of zero-mean even harmonics of degree ``2..degree`` on ``S^{d-1}``.

    ``C(degree + d - 1, d - 1) - 1``: 5 / 14 / 27 in 3D for degree 2 / 4 / 6; ``degree`` in 2D.
    """
    degree = _check_degree(degree)
    return math.comb(degree + d - 1, d - 1) - 1


def min_directions(d: int, degree: int) -> int:
    """Smallest ``L`` for SHCV: one more direction than parameters (harmonics + intercept)."""
    return n_harmonics(d, degree) + 2


def harmonics(theta, degree: int):
    """Orthonormal zero-mean even spherical harmonics of degree ``2..degree`` at ``theta``.

    Parameters
    ----------
    theta : (..., L, d) float array or tensor
        Unit directions.
    degree : int
        Highest even degree.

    Returns
    -------
    (..., L, K) float, ``K = n_harmonics(d, degree)``; under the uniform measure each column has
    mean 0, variance 1, and the columns are uncorrelated.
    """
    degree = _check_degree(degree)
    ns = namespace(theta)
    theta = ns.asarray(theta)
    expo, means, whiten = _basis(theta.shape[-1], degree)
    K = expo.shape[0]
    if K == 0:
        return ns.zeros((*theta.shape[:-1], 0), like=theta)
    # theta^alpha for every exponent: powers of each coordinate, multiplied across coordinates
    powers = [ns.ones(theta.shape, like=theta), theta]
    for _ in range(2, degree + 1):
        powers.append(powers[-1] * theta)
    powers = ns.stack(powers, -1)  # (..., L, d, degree + 1)
    expo = ns.asindex(expo, like=theta)
    mono = powers[..., 0, :][..., expo[:, 0]]
    for i in range(1, theta.shape[-1]):
        mono = mono * powers[..., i, :][..., expo[:, i]]
    return (mono - ns.asarray(means, like=theta)) @ ns.asarray(whiten, like=theta)


def _degenerate(L: int, K: int, degree: int) -> InputError:
    return InputError(
        f"these {L} directions do not determine the {K} harmonics of degree <= {degree} and the intercept: "
        f"a symmetric set (e.g. a spiral with L close to {K + 1}) can be degenerate; use more directions"
    )


def shcv_combine(w, theta, degree: int, stderr: bool = True):
    """SHCV estimate: intercept of the least-squares fit of ``w`` on the harmonics, batched.

    .. math::
        \\hat\\beta = (X^\\top X)^{-1} X^\\top W, \\qquad X = [\\mathbf 1, \\varphi_1(\\theta_l), \\dots,
        \\varphi_K(\\theta_l)], \\qquad \\widehat{SW}_p^p = \\hat\\beta_0 = \\sum_l a_l W(\\theta_l),
        \\quad a = X (X^\\top X)^{-1} e_0

    (Leluc et al., ICML 2024, eq. 8). The intercept is a weighted sum of the slices with weights
    ``a`` that depend on the directions only; they are computed in numpy unless the directions
    carry a gradient, so on tensors autograd sees one weighted sum (and, when the directions
    require grad, differentiates through the regression as well).

    Parameters
    ----------
    w : (..., L) float
        Per-slice ``W_p^p``.
    theta : (..., L, d) float
        The directions, uniform on the sphere (or a randomised QMC set).
    degree : int
        Highest even degree of the harmonics.
    stderr : bool
        Also compute the ordinary least-squares standard error of the intercept (else None).

    Returns
    -------
    (value, stderr), (...,) each: the intercept and its standard error.
    """
    degree = _check_degree(degree)
    ns = namespace(w, theta)
    L, d = theta.shape[-2], theta.shape[-1]
    K = n_harmonics(d, degree)
    need = K + 2
    if L < need:
        raise InputError(
            f"SHCV of degree <= {degree} in d = {d} regresses on {K} spherical harmonics; it needs "
            f"L >= {need} directions (more than harmonics + intercept); got L = {L}"
        )
    # the regression's algebra depends on the directions alone: numpy, unless they carry a gradient
    tns, th = constant_side(ns, theta)
    H = harmonics(th, degree)  # (..., L, K)
    X = tns.concat([tns.ones((*H.shape[:-1], 1), like=H), H], -1)  # (..., L, K + 1)
    gram = tns.swap_last(X) @ X  # (..., K + 1, K + 1), close to L I for orthonormal harmonics and large L
    eig = np.atleast_2d(np.linalg.eigvalsh(np.asarray(tns.to_numpy(gram))))
    if np.any(eig[:, 0] <= 1e-12 * eig[:, -1]):
        raise _degenerate(L, K, degree)
    ginv = tns.inv(gram)
    a = (X @ ginv[..., :, :1])[..., 0]  # (..., L): the intercept's weights on the slices
    if tns is not ns:
        a, X, ginv = (ns.asarray(v, like=w) for v in (a, X, ginv))
    value = ns.sum(a * w, -1)
    if not stderr:
        return value, None
    coef = ginv @ (ns.swap_last(X) @ w[..., None])  # (..., K + 1, 1)
    resid = w - (X @ coef)[..., 0]
    sigma2 = ns.sum(resid * resid, -1) / (L - K - 1)
    return value, ns.sqrt(ns.maximum(sigma2 * ginv[..., 0, 0], 0.0 * sigma2))


def shcv_estimator_combine(degree: int):
    """A registry ``combine(w, theta, moments, options)`` for SHCV of ``degree``."""
    degree = _check_degree(degree)

    def combine(w, theta, moments=None, options=None):
        return shcv_combine(w, theta, degree, stderr=True if options is None else options.stderr)

    return combine


#: Highest degree ``shcv-auto`` considers (91 functions in 3D, with the constant).
AUTO_MAX_DEGREE = 12
#: ``shcv-auto`` considers degrees whose basis (harmonics and intercept) has at most ``L / AUTO_RATIO``
#: functions.
AUTO_RATIO = 2


def auto_degrees(L: int, d: int) -> tuple[int, ...]:
    """The degrees ``shcv-auto`` chooses among with ``L`` directions in dimension ``d``.

    Degree 2, and every even degree up to :data:`AUTO_MAX_DEGREE` whose basis, harmonics and
    intercept, has at most ``L / 2`` functions. Leluc et al. (ICML 2024, Section 4) let the
    degree grow with the number of directions: the intercept's variance blows up as the basis
    size approaches ``L`` and falls steeply once ``L`` is a few times the basis size.
    """
    return (2,) + tuple(deg for deg in range(4, AUTO_MAX_DEGREE + 1, 2)
                        if AUTO_RATIO * (n_harmonics(d, deg) + 1) <= L)


def _auto_combine(w, theta, moments=None, options=None):
    """SHCV with the candidate degree whose intercept has the smallest estimated standard error.

    The choice is made per estimate from its own slices (the residual variance of each fit times
    ``[(X'X)^-1]_00``), so smooth integrands get high degrees and rough ones stay low; on tensors the
    gradient is that of the chosen fit.
    """
    ns = namespace(w, theta)
    fits = [shcv_combine(w, theta, deg) for deg in auto_degrees(theta.shape[-2], theta.shape[-1])]
    if len(fits) == 1:
        return fits[0]
    values = ns.stack([f[0] for f in fits], 0)  # (K, ...)
    errors = ns.stack([f[1] for f in fits], 0)
    pick = np.argmin(np.asarray(ns.to_numpy(errors)), axis=0)  # (...,) the chosen candidate
    if np.ndim(pick) == 0:
        return values[int(pick)], errors[int(pick)]
    cols = np.arange(pick.size)
    flat_v, flat_e = values.reshape(len(fits), -1), errors.reshape(len(fits), -1)
    return flat_v[pick, cols].reshape(values.shape[1:]), flat_e[pick, cols].reshape(errors.shape[1:])


for _deg in SHCV_DEGREES:
    register(Estimator(
        f"shcv-{_deg}",
        f"Spherical-harmonics control variates (Leluc et al. 2024): even degrees 2..{_deg}, "
        f"least-squares intercept; uniform directions",
        _dirs.uniform, shcv_estimator_combine(_deg), pool=UNIFORM_POOL,
        min_projections=lambda d, deg=_deg: min_directions(d, deg), degree=_deg,
        label=f"SHCV deg ≤ {_deg}", family="control variates"))

register(Estimator(
    "shcv-auto",
    "Spherical-harmonics control variates with an adaptive degree: among the degrees whose basis is at most "
    "L/2 (up to 12), the fit with the smallest estimated standard error; uniform directions",
    _dirs.uniform, _auto_combine, pool=UNIFORM_POOL, min_projections=lambda d: min_directions(d, 2),
    label="SHCV adaptive degree", family="control variates"))
