"""Spherical-harmonics control variates for sliced Wasserstein.

Leluc, Portier, Segers & Zhuman, "Sliced-Wasserstein Estimation with Spherical Harmonics as
Control Variates", ICML 2024 (SCIENCE.md section 4). The per-slice values
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
from .estimators import Estimator, Moments, register

__all__ = [
    "SHCV_DEGREES",
    "harmonics",
    "min_directions",
    "n_harmonics",
    "shcv_batch",
    "shcv_combine",
    "shcv_estimator_combine",
    "sphere_moment",
]

#: Memory one batch of :func:`shcv_batch` may use (bytes).
_BATCH_BYTES = 48 * 2**20

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
        return expo, np.zeros(0), np.zeros((0, 0))
    means = np.array([sphere_moment(e) for e in expo])
    gram = np.empty((K, K))
    for i in range(K):
        for j in range(i, K):
            gram[i, j] = gram[j, i] = sphere_moment(expo[i] + expo[j]) - means[i] * means[j]
    chol = np.linalg.cholesky(gram)
    whiten = np.linalg.inv(chol).T  # phi = (m - E m) @ whiten has identity covariance
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


def harmonics(theta: np.ndarray, degree: int) -> np.ndarray:
    """Orthonormal zero-mean even spherical harmonics of degree ``2..degree`` at ``theta``.

    Parameters
    ----------
    theta : (L, d) float
        Unit directions.
    degree : int
        Highest even degree.

    Returns
    -------
    (L, K) float, ``K = n_harmonics(d, degree)``; under the uniform measure each column has
    mean 0, variance 1, and the columns are uncorrelated.
    """
    degree = _check_degree(degree)
    theta = np.asarray(theta, dtype=float)
    expo, means, whiten = _basis(theta.shape[1], degree)
    if expo.shape[0] == 0:
        return np.zeros((theta.shape[0], 0))
    # theta^alpha for every exponent: powers of each coordinate, multiplied across coordinates
    powers = np.empty((theta.shape[0], theta.shape[1], degree + 1))  # (L, d, degree + 1)
    powers[..., 0] = 1.0
    for k in range(1, degree + 1):
        np.multiply(powers[..., k - 1], theta, out=powers[..., k])
    mono = np.ones((theta.shape[0], expo.shape[0]))
    for i in range(theta.shape[1]):
        mono *= powers[:, i, expo[:, i]]
    return (mono - means) @ whiten


def _degenerate(L: int, K: int, degree: int, rank) -> InputError:
    got = "" if rank is None else f" (rank {rank})"
    return InputError(
        f"these {L} directions do not determine the {K} harmonics of degree <= {degree} and the intercept{got}: "
        f"a symmetric set (e.g. a spiral with L close to {K + 1}) can be degenerate; use more directions"
    )


def shcv_combine(w: np.ndarray, theta: np.ndarray, degree: int) -> tuple[float, float]:
    """SHCV estimate: intercept of the least-squares fit of ``w`` on the harmonics.

    Parameters
    ----------
    w : (L,) float
        Per-slice ``W_p^p``.
    theta : (L, d) float
        The directions, uniform on the sphere (or a randomised QMC set).
    degree : int
        Highest even degree of the harmonics.

    Returns
    -------
    (value, stderr): the intercept and its ordinary least-squares standard error.
    """
    degree = _check_degree(degree)
    L, d = theta.shape
    K = n_harmonics(d, degree)
    need = K + 2
    if L < need:
        raise InputError(
            f"SHCV of degree <= {degree} in d = {d} regresses on {K} spherical harmonics; it needs "
            f"L >= {need} directions (more than harmonics + intercept); got L = {L}"
        )
    X = np.empty((L, K + 1))
    X[:, 0] = 1.0
    X[:, 1:] = harmonics(theta, degree)
    coef, _, rank, _ = np.linalg.lstsq(X, w, rcond=None)
    if rank < K + 1:
        raise _degenerate(L, K, degree, rank)
    resid = w - X @ coef
    dof = L - rank
    sigma2 = float(resid @ resid) / dof if dof > 0 else math.nan
    # variance of the intercept: sigma^2 [(X'X)^-1]_00, via the pseudo-inverse for safety
    xtx_inv00 = float(np.linalg.pinv(X.T @ X)[0, 0])
    return float(coef[0]), math.sqrt(max(sigma2 * xtx_inv00, 0.0))


def shcv_batch(w: np.ndarray, theta: np.ndarray, degree: int) -> np.ndarray:
    """SHCV estimates for a batch of independent draws at once (no standard errors).

    w : (R, L) float per-slice values; theta : (R, L, d) float directions. Returns (R,) float,
    the same intercepts as :func:`shcv_combine` row by row, from the normal equations (well
    conditioned here: the harmonics are orthonormal, so ``X'X / L`` is close to the identity).
    """
    degree = _check_degree(degree)
    R, L, d = theta.shape
    K = n_harmonics(d, degree)
    if L < K + 2:
        shcv_combine(w[0], theta[0], degree)  # raises the clear message
    out = np.empty(R)
    step = max(1, _BATCH_BYTES // (8 * L * (K + 1) * 3))  # design matrices and temporaries of one batch
    for s in range(0, R, step):
        th, ww = theta[s:s + step], w[s:s + step]
        r = th.shape[0]
        X = np.empty((r, L, K + 1))
        X[..., 0] = 1.0
        X[..., 1:] = harmonics(th.reshape(-1, d), degree).reshape(r, L, K)
        Xt = X.transpose(0, 2, 1)  # (r, K+1, L)
        gram = Xt @ X
        eig = np.linalg.eigvalsh(gram)  # ascending, (r, K+1)
        if np.any(eig[:, 0] <= 1e-12 * eig[:, -1]):
            raise _degenerate(L, K, degree, None)
        out[s:s + r] = np.linalg.solve(gram, (Xt @ ww[..., None]))[..., 0][:, 0]
    return out


def shcv_estimator_combine(degree: int, stderr: bool = True):
    """A registry ``combine(per_slice, directions, moments)`` for SHCV of ``degree``.

    ``stderr=False`` reports NaN (for randomised QMC directions, which are not i.i.d.).
    """

    def combine(w: np.ndarray, theta: np.ndarray, moments: Moments) -> tuple[float, float]:
        value, se = shcv_combine(w, theta, degree)
        return value, se if stderr else math.nan

    combine.__name__ = f"shcv{degree}_combine"
    combine.batch = lambda w, theta, moments: shcv_batch(w, theta, degree)
    return combine


for _deg in SHCV_DEGREES:
    register(Estimator(
        f"shcv-{_deg}",
        f"Spherical-harmonics control variates (Leluc et al. 2024): even degrees 2..{_deg}, "
        f"least-squares intercept; uniform directions",
        _dirs.uniform, shcv_estimator_combine(_deg), label=f"SHCV deg ≤ {_deg}", family="control variates",
        extra={"degree": _deg}))
