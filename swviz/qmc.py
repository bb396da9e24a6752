"""Quasi-Monte Carlo direction sets on the sphere ``S^2`` and their estimators.

Nguyen, Bariletto & Ho, "Quasi-Monte Carlo for 3D Sliced Wasserstein", ICLR 2024
(Section 3 for the point sets, Section 4 for their randomised versions).
Replacing the ``L`` i.i.d. uniform directions of Monte Carlo by a
low-discrepancy set on the sphere turns the ``L^{-1/2}`` error into something much faster
on smooth pairs. Five sets, each an ``(L, 3)`` array of unit vectors:

* generalized spiral: ``z_i = 1 - (2i - 1)/L``, ``phi_i = arccos z_i``,
  ``psi_i = 1.8 sqrt(L) phi_i mod 2 pi``, ``theta_i = (sin phi_i cos psi_i, sin phi_i sin psi_i,
  cos phi_i)``;
* equal-area Sobol: Sobol points ``(alpha, tau)`` in ``[0, 1]^2`` mapped by the area-preserving
  ``theta = (2 sqrt(tau - tau^2) cos 2 pi alpha, 2 sqrt(tau - tau^2) sin 2 pi alpha, 1 - 2 tau)``;
* Gaussian-based Sobol: Sobol points ``u`` in ``[0, 1]^d``, ``theta = Phi^{-1}(u) / |Phi^{-1}(u)|``
  (the only set here that exists in every dimension);
* maximizing distance: the spiral moved by projected gradient ascent on the sum of pairwise
  distances ``sum_{i<j} |theta_i - theta_j|``;
* Coulomb energy: the spiral moved by projected gradient descent on
  ``sum_{i<j} 1 / |theta_i - theta_j|``.

Each exists deterministic (``qmc-*``: a biased but very accurate quadrature, no standard
error) and randomised (``rqmc-*``: one uniformly random rotation of the whole set, or a
scrambled Sobol sequence for the Sobol sets). A randomised set has every point uniformly
distributed, so the plain mean is unbiased for ``SW_p^p``. Sobol sequences are extensible
(the first ``L'`` points of ``L`` are the sequence of length ``L'``), so the Sobol sets are
nested; the others are not (a spiral of ``L`` points is not a prefix of one with ``2L``).
Sobol sets lose their balance when ``L`` is not a power of two (:func:`is_power_of_two`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np
from scipy.spatial.transform import Rotation
from scipy.special import ndtri
from scipy.stats import qmc as _scipy_qmc

from ._validation import InputError, check_count
from .estimators import Estimator, cv_combine, mc_combine, register
from .shcv import min_directions, shcv_estimator_combine

__all__ = [
    "QMC_SETS",
    "coulomb",
    "coulomb_energy",
    "equal_area_sobol",
    "gaussian_sobol",
    "is_power_of_two",
    "max_distance",
    "pairwise_distance_sum",
    "random_rotation",
    "spiral",
]

#: Largest L for the optimised sets (their objective is O(L^2) per step).
MAX_OPTIMISED_L = 4096


def is_power_of_two(L: int) -> bool:
    """Whether ``L`` is a power of two (Sobol sets keep their balance only then)."""
    L = int(L)
    return L > 0 and L & (L - 1) == 0


def _need_3d(d: int, what: str) -> None:
    if d != 3:
        raise InputError(f"the {what} exists only on the sphere S^2 (d = 3); these points have d = {d}")


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------- point sets


@lru_cache(maxsize=64)
def _spiral(L: int) -> np.ndarray:
    i = np.arange(1, L + 1)
    z = 1.0 - (2.0 * i - 1.0) / L
    phi = np.arccos(np.clip(z, -1.0, 1.0))
    psi = np.mod(1.8 * math.sqrt(L) * phi, 2.0 * np.pi)
    s = np.sin(phi)
    return _frozen(np.stack([s * np.cos(psi), s * np.sin(psi), z], axis=1))


def spiral(L: int) -> np.ndarray:
    """Generalized spiral of ``L`` points on ``S^2``: (L, 3) float (read-only, cached)."""
    return _spiral(check_count(L, "L"))


def _sobol(L: int, dim: int, rng: np.random.Generator | None) -> np.ndarray:
    """First ``L`` Sobol points in ``[0, 1]^dim``; scrambled with ``rng`` unless it is None."""
    engine = _scipy_qmc.Sobol(dim, scramble=rng is not None, rng=rng)
    with warnings.catch_warnings():
        # scipy warns when L is not a power of two; the page says so itself
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(L)


def _equal_area_map(u: np.ndarray) -> np.ndarray:
    """``(alpha, tau)`` in ``[0,1]^2`` -> the sphere, area-preserving: (L, 2) -> (L, 3)."""
    alpha, tau = u[:, 0], u[:, 1]
    r = 2.0 * np.sqrt(np.clip(tau - tau * tau, 0.0, None))
    return np.stack([r * np.cos(2 * np.pi * alpha), r * np.sin(2 * np.pi * alpha), 1.0 - 2.0 * tau], axis=1)


def _gaussian_map(u: np.ndarray) -> np.ndarray:
    """``u`` in ``(0,1)^d`` -> ``Phi^{-1}(u) / |Phi^{-1}(u)|``: (L, d) -> (L, d)."""
    g = ndtri(np.clip(u, 1e-15, 1.0 - 1e-15))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # only u = (1/2, ..., 1/2) maps to 0 (probability 0 when scrambled)
    return g / norms


@lru_cache(maxsize=64)
def _equal_area(L: int) -> np.ndarray:
    return _frozen(_equal_area_map(_sobol(L, 2, None)))


def equal_area_sobol(L: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Equal-area Sobol set on ``S^2``: (L, 3) float.

    Deterministic (the unscrambled sequence) when ``rng`` is None, else a fresh scrambled
    Sobol sequence drawn with ``rng`` (each point then uniform on the sphere).
    """
    L = check_count(L, "L")
    if rng is None:
        return _equal_area(L)
    return _equal_area_map(_sobol(L, 2, rng))


#: Seed sequence of the fixed scramble that makes the deterministic Gaussian-based set. Its spawn
#: key keeps it apart from every ``numpy.random.default_rng(seed)`` a user may pass to the
#: randomised set (those have an empty spawn key), so ``rqmc-gaussian`` never repeats it.
#: (A fresh SeedSequence is built from it at each call: scipy spawns from the generator's sequence.)
GAUSSIAN_SOBOL_SEED = {"entropy": 0, "spawn_key": (0x5157,)}


@lru_cache(maxsize=64)
def _gaussian(L: int, d: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(**GAUSSIAN_SOBOL_SEED))
    return _frozen(_gaussian_map(_sobol(L, d, rng)))


def gaussian_sobol(L: int, d: int = 3, rng: np.random.Generator | None = None) -> np.ndarray:
    """Gaussian-based Sobol set on ``S^{d-1}``: (L, d) float.

    Deterministic when ``rng`` is None: the sequence scrambled once with the fixed seed sequence
    :data:`GAUSSIAN_SOBOL_SEED` (the unscrambled one starts at the corner ``0`` and the centre
    ``(1/2, ..., 1/2)``, which ``Phi^{-1}`` sends to infinity and to zero). Else scrambled with
    ``rng``.
    """
    L = check_count(L, "L")
    d = check_count(d, "d")
    if rng is None:
        return _gaussian(L, d)
    return _gaussian_map(_sobol(L, d, rng))


def _pair_distances(theta: np.ndarray) -> np.ndarray:
    """Pairwise distances ``|theta_i - theta_j|`` of unit vectors (L, d) -> (L, L), inf on the diagonal."""
    r = theta @ theta.T
    np.multiply(r, -2.0, out=r)
    r += 2.0
    np.clip(r, 1e-30, None, out=r)
    np.sqrt(r, out=r)
    np.fill_diagonal(r, np.inf)
    return r


def _objective(r: np.ndarray, kind: str) -> float:
    """Half the sum over ``i != j`` of ``r_ij`` ("distance") or ``1/r_ij`` ("coulomb")."""
    if kind == "distance":
        return float(np.sum(r, where=np.isfinite(r)) / 2.0)
    return float(np.sum(1.0 / r) / 2.0)


def pairwise_distance_sum(theta: np.ndarray) -> float:
    """``sum_{i<j} |theta_i - theta_j|`` for unit vectors ``theta`` (L, d)."""
    return _objective(_pair_distances(np.asarray(theta, dtype=float)), "distance")


def coulomb_energy(theta: np.ndarray) -> float:
    """``sum_{i<j} 1 / |theta_i - theta_j|`` for unit vectors ``theta`` (L, d)."""
    return _objective(_pair_distances(np.asarray(theta, dtype=float)), "coulomb")


def _optimise(theta: np.ndarray, kind: str, n_iter: int) -> np.ndarray:
    """Projected gradient steps on the repulsion objective ``kind`` ("distance"/"coulomb").

    Each point moves along the tangential part of its repulsive force
    ``F_i = sum_j c_ij (theta_i - theta_j)`` with ``c_ij = 1/r_ij`` (the gradient of the
    distance sum, ascended) or ``1/r_ij^3`` (minus the gradient of the Coulomb energy), then
    is renormalised. The step is a fraction of the mean spacing ``sqrt(4 pi / L)``; a step is
    kept only when it improves the objective, and shrinks otherwise.
    """
    L = theta.shape[0]
    if L < 3:
        return theta
    sign = 1.0 if kind == "distance" else -1.0  # maximise distance, minimise energy
    spacing = math.sqrt(4.0 * math.pi / L)
    eta = 0.25
    r = _pair_distances(theta)
    best = sign * _objective(r, kind)
    for _ in range(n_iter):
        c = 1.0 / r if kind == "distance" else r ** -3.0  # (L, L), zero on the diagonal
        force = theta * c.sum(axis=1, keepdims=True) - c @ theta  # (L, 3)
        force -= np.sum(force * theta, axis=1, keepdims=True) * theta  # tangential part
        size = np.linalg.norm(force, axis=1).max()
        if size == 0:
            break
        while eta > 1e-4:
            trial = theta + (eta * spacing / size) * force
            trial /= np.linalg.norm(trial, axis=1, keepdims=True)
            r_trial = _pair_distances(trial)
            value = sign * _objective(r_trial, kind)
            if value > best:
                theta, r, best = trial, r_trial, value
                eta = min(eta * 1.25, 0.5)
                break
            eta *= 0.5
        else:
            break
    return theta


@lru_cache(maxsize=32)
def _optimised(L: int, kind: str) -> np.ndarray:
    if L > MAX_OPTIMISED_L:
        name = "maximizing-distance" if kind == "distance" else "Coulomb-energy"
        raise InputError(f"the {name} set is limited to L <= {MAX_OPTIMISED_L} (its optimisation is O(L^2) "
                         f"per step); got L = {L}")
    n_iter = 60 if L <= 256 else (30 if L <= 1024 else 10)
    return _frozen(_optimise(np.array(_spiral(L)), kind, n_iter))


def max_distance(L: int) -> np.ndarray:
    """Maximizing-distance set: the spiral optimised for ``sum |theta_i - theta_j|``: (L, 3)."""
    return _optimised(check_count(L, "L"), "distance")


def coulomb(L: int) -> np.ndarray:
    """Coulomb-energy set: the spiral optimised for ``sum 1/|theta_i - theta_j|``: (L, 3)."""
    return _optimised(check_count(L, "L"), "coulomb")


def random_rotation(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The set ``theta`` (L, 3) under one uniformly random rotation (Haar measure on SO(3))."""
    R = Rotation.random(rng=rng).as_matrix()
    return theta @ R.T


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class QMCSet:
    """A QMC point set as the registry sees it.

    label : str
    deterministic : callable ``(L, d, rng) -> (L, d)`` (ignores ``rng``)
    randomised : callable ``(L, d, rng) -> (L, d)``, each point uniform on the sphere
    nested : bool (the first ``L'`` points of ``L`` are the set of ``L'``)
    dims : tuple of int or None
    sobol : bool
    """

    label: str
    deterministic: object
    randomised: object
    nested: bool
    dims: tuple | None
    sobol: bool


def _deterministic_sampler(build, what: str, any_dim: bool = False):
    def directions(L: int, d: int, rng: np.random.Generator) -> np.ndarray:
        if any_dim:
            return np.array(build(L, d))
        _need_3d(d, what)
        return np.array(build(L))

    directions.__doc__ = f"The {what} (deterministic): ``(L, d, rng) -> (L, d)``, ``rng`` unused."
    return directions


def _rotated_sampler(build, what: str):
    def directions(L: int, d: int, rng: np.random.Generator) -> np.ndarray:
        _need_3d(d, what)
        return random_rotation(build(L), rng)

    directions.__doc__ = f"One uniformly random rotation (Haar on SO(3)) of the {what}; each point is then uniform."
    return directions


def _rqmc_equal_area(L: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Scrambled Sobol ``(alpha, tau)`` through the equal-area map; each point uniform on S^2."""
    _need_3d(d, "equal-area Sobol set")
    return equal_area_sobol(L, rng)


def _rqmc_gaussian(L: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Scrambled Sobol ``u``, ``theta = Phi^{-1}(u) / |Phi^{-1}(u)|``; each point uniform on S^{d-1}."""
    return gaussian_sobol(L, d, rng)


def _qmc_cv(control: str):
    def combine(w, theta, moments, options):
        if control == "up":
            return cv_combine(w, *moments.control_up(theta), options.cv_ridge, options.stderr)
        return cv_combine(w, *moments.control_low(theta), options.cv_ridge, options.stderr)

    return combine


#: set name -> :class:`QMCSet` (read-only).
QMC_SETS = MappingProxyType({
    "spiral": QMCSet("spiral", _deterministic_sampler(spiral, "generalized spiral"),
                     _rotated_sampler(spiral, "generalized spiral"), False, (3,), False),
    "equal-area": QMCSet("equal-area Sobol", _deterministic_sampler(equal_area_sobol, "equal-area Sobol set"),
                         _rqmc_equal_area, True, (3,), True),
    "gaussian": QMCSet("Gaussian Sobol",
                       _deterministic_sampler(gaussian_sobol, "Gaussian-based Sobol set", any_dim=True),
                       _rqmc_gaussian, True, None, True),
    "maxdist": QMCSet("max-distance", _deterministic_sampler(max_distance, "maximizing-distance set"),
                      _rotated_sampler(max_distance, "maximizing-distance set"), False, (3,), False),
    "coulomb": QMCSet("Coulomb", _deterministic_sampler(coulomb, "Coulomb-energy set"),
                      _rotated_sampler(coulomb, "Coulomb-energy set"), False, (3,), False),
})

_WHAT = {"spiral": "generalized spiral", "equal-area": "equal-area Sobol set", "gaussian": "Gaussian-based Sobol set",
         "maxdist": "maximizing-distance set", "coulomb": "Coulomb-energy set"}

#: The randomised spiral sampler, shared by every estimator built on it (one pool in a study).
random_spiral = QMC_SETS["spiral"].randomised

for _key, _set in QMC_SETS.items():
    _how = ("scrambled (LMS + digital shift) so each point is uniform" if _set.sobol
            else "under one uniform random rotation")
    _where = "S^{d-1}" if _set.dims is None else "S^2"
    register(Estimator(
        f"qmc-{_key}",
        f"QMC (Nguyen et al. 2024): mean over the {_WHAT[_key]} on {_where}; deterministic",
        _set.deterministic, mc_combine, pool=f"qmc-{_key}", random=False, nested=_set.nested, dims=_set.dims,
        stderr=False, sobol=_set.sobol, label=f"QMC {_set.label}", family="QMC"))
    register(Estimator(
        f"rqmc-{_key}",
        f"Randomised QMC (Nguyen et al. 2024): the {_WHAT[_key]} {_how}; unbiased",
        _set.randomised, mc_combine, pool=f"rqmc-{_key}", random=True, nested=_set.nested, dims=_set.dims,
        stderr=False, sobol=_set.sobol, label=f"RQMC {_set.label}", family="QMC"))

register(Estimator(
    "rqmc-spiral+ucv",
    "Randomised spiral directions combined with the upper control variate (Nguyen & Ho 2024)",
    random_spiral, _qmc_cv("up"), pool="rqmc-spiral", random=True, nested=False, dims=(3,), stderr=False,
    control_variate=True, uses_moments=True, label="RQMC spiral + upper CV", family="QMC + CV"))
register(Estimator(
    "rqmc-spiral+lcv",
    "Randomised spiral directions combined with the lower control variate (Nguyen & Ho 2024)",
    random_spiral, _qmc_cv("low"), pool="rqmc-spiral", random=True, nested=False, dims=(3,), stderr=False,
    control_variate=True, uses_moments=True, label="RQMC spiral + lower CV", family="QMC + CV"))
register(Estimator(
    "rqmc-spiral+shcv-4",
    "Randomised spiral directions with spherical-harmonics control variates of degree <= 4",
    random_spiral, shcv_estimator_combine(4), pool="rqmc-spiral", random=True, nested=False, dims=(3,),
    stderr=False, min_projections=lambda d: min_directions(d, 4), degree=4,
    label="RQMC spiral + SHCV deg ≤ 4", family="QMC + CV"))
