"""Point correspondences between two clouds: maps from source atoms to target atoms, and their scores.

:func:`correspond` turns a pair ``x : (n, d)``, ``y : (m, d)`` into a map ``i -> target_index[i]``
with one of the registered :data:`METHODS` (exact assignment, exact OT, entropic OT, the best
single-slice permutation, the BSP-OT bijection, or the end of a gradient flow followed by
nearest neighbours). With ground truth (shapes sharing vertex order, see
:func:`swviz.shapes.ground_truth`), :func:`score` gives the matching errors and :func:`pck`
the fraction of matches within each threshold (the PCK curve of shape matching).

The cost of a map is ``sum_i a_i |x_i - y_{t(i)}|^2``: for a permutation between uniform
clouds of equal size it is ``(1/n) sum_i |x_i - y_{sigma(i)}|^2``, comparable to ``W_2^2``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from ._validation import InputError, check_count, check_pair, rng_from

__all__ = ["METHODS", "Correspondence", "CorrespondenceMethod", "correspond", "map_cost", "pck", "score"]


@dataclass(frozen=True)
class Correspondence:
    """A map from source atoms to target atoms.

    target_index : (n,) int
        ``target_index[i]`` is the target atom that source atom ``i`` is sent to.
    cost : float
        ``sum_i a_i |x_i - y_{target_index[i]}|^2`` (uniform ``a = 1/n`` when not given).
    seconds : float
        Wall time of the method (solving only, not validation).
    method : str
        The key of :data:`METHODS` that built it.
    bijective : bool
        True when ``target_index`` is a permutation (every target atom used once).
    plan : (n, m) float or None
        The soft plan of ``emd`` / ``sinkhorn`` when asked for with ``return_plan=True``.
    """

    target_index: np.ndarray
    cost: float
    seconds: float
    method: str
    bijective: bool
    plan: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CorrespondenceMethod:
    """One entry of :data:`METHODS`: ``fn(x, y, a, b, rng, **options) -> (target_index, plan)``."""

    name: str
    title: str
    description: str
    fn: Callable
    equal_uniform: bool  # needs n == m and uniform weights
    options: tuple[str, ...] = ()


def map_cost(x, y, target_index, a=None) -> float:
    """``sum_i a_i |x_i - y_{target_index[i]}|^2`` with ``x : (n, d)``, ``y : (m, d)``, ``a : (n,)`` or uniform."""
    d2 = ((np.asarray(x) - np.asarray(y)[np.asarray(target_index)]) ** 2).sum(1)  # (n,)
    return float(d2.mean() if a is None else d2 @ np.asarray(a))


def _uniform(w, n):
    return np.full(n, 1.0 / n) if w is None else w


def _assignment(x, y, a, b, rng):
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cdist(x, y, "sqeuclidean"))  # (n, n) cost; rows = 0..n-1
    return cols[np.argsort(rows)], None


def _emd(x, y, a, b, rng, return_plan=False):
    import ot

    plan = ot.emd(_uniform(a, len(x)), _uniform(b, len(y)), cdist(x, y, "sqeuclidean"))  # (n, m)
    return plan.argmax(1), (plan if return_plan else None)


def _sinkhorn(x, y, a, b, rng, epsilon=0.02, max_iter=1000, return_plan=False):
    import warnings

    import ot

    epsilon = float(epsilon)
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise InputError(f"epsilon must be a finite number > 0; got {epsilon}")
    C = cdist(x, y, "sqeuclidean")  # (n, m)
    scale = float(np.median(C)) or 1.0  # epsilon is relative to the median cost
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge": the argmax is still usable
        plan = ot.sinkhorn(_uniform(a, len(x)), _uniform(b, len(y)), C / scale, epsilon,
                           numItermax=check_count(max_iter, "max_iter"), stopThr=1e-5)
    if not np.all(np.isfinite(plan)) or not np.any(plan > 0):
        raise InputError(f"Sinkhorn underflowed with epsilon = {epsilon:g} (relative to the median cost); "
                         "use a larger epsilon (>= 0.005 is safe on normalised shapes)")
    return plan.argmax(1), (plan if return_plan else None)


def _min_swgg(x, y, a, b, rng, n_projections=200):
    """The best of ``L`` single-slice permutations (sort both clouds along a direction)."""
    L = check_count(n_projections, "n_projections")
    theta = rng.standard_normal((L, x.shape[1]))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)  # (L, d)
    sx, sy = np.argsort(x @ theta.T, axis=0).T, np.argsort(y @ theta.T, axis=0).T  # (L, n) each
    # |x_i - y_sigma(i)|^2 summed = |x|^2 + |y|^2 - 2 sum_k <x_sx[k], y_sy[k]>: only the cross term varies
    cross = np.einsum("lkd,lkd->l", x[sx], y[sy])  # (L,)
    best = int(np.argmax(cross))
    index = np.empty(len(x), dtype=np.int64)
    index[sx[best]] = sy[best]
    return index, None


def _bspot(x, y, a, b, rng, n_plans=64):
    import ot

    if not hasattr(ot, "compute_bspot_bijection"):  # pragma: no cover - registered only for POT >= 0.9.7
        raise InputError(f"'bspot' needs POT >= 0.9.7 with ot.compute_bspot_bijection; POT {ot.__version__} lacks it")
    _, perm, _ = ot.compute_bspot_bijection(x, y, n_plans=check_count(n_plans, "n_plans"), p=2,
                                           seed=int(rng.integers(2**31 - 1)))
    return np.asarray(perm, dtype=np.int64), None


def _flow_nn(x, y, a, b, rng, n_steps=150, n_projections=32, step_size=0.5):
    from .flows import gradient_flow

    n_steps = check_count(n_steps, "n_steps")
    flow = gradient_flow(x, y, a, b, estimator="ucv", n_projections=n_projections, step_size=step_size,
                         n_steps=n_steps, seed=rng, record_every=n_steps, w2_steps=[n_steps])
    # gradient_flow always computes W_2^2 somewhere (one exact OT, counted in the seconds)
    return cKDTree(y).query(flow.final)[1].astype(np.int64), None


_ALL = [
    CorrespondenceMethod("assignment", "Exact assignment",
                         "optimal permutation (scipy linear_sum_assignment on squared distances); "
                         "equal sizes, uniform weights", _assignment, True),
    CorrespondenceMethod("emd", "Exact OT (argmax)",
                         "POT network simplex (ot.emd), each source atom sent to its largest plan entry",
                         _emd, False, ("return_plan",)),
    CorrespondenceMethod("sinkhorn", "Sinkhorn (argmax)",
                         "entropic OT (ot.sinkhorn) with epsilon relative to the median cost, argmax row-wise; "
                         "blurrier as epsilon grows", _sinkhorn, False, ("epsilon", "max_iter", "return_plan")),
    CorrespondenceMethod("min-swgg", "min-SWGG (best slice)",
                         "the permutation of the single direction (of L random ones) that transports cheapest; "
                         "fast, far from optimal in 3D", _min_swgg, True, ("n_projections",)),
    CorrespondenceMethod("flow-nn", "Flow + nearest neighbour",
                         "a UCV gradient flow of the source onto the target, then each flowed point's nearest "
                         "target atom; not a bijection", _flow_nn, False, ("n_steps", "n_projections", "step_size")),
]


def _pot_has_bspot() -> bool:
    """POT >= 0.9.7 ships ``ot.compute_bspot_bijection``; read from its metadata, since importing POT loads torch."""
    import re
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts = re.findall(r"\d+", version("POT"))[:3]
    except PackageNotFoundError:  # pragma: no cover - POT is a dependency
        return False
    return tuple(int(p) for p in parts) >= (0, 9, 7)


if _pot_has_bspot():
    _ALL.insert(4, CorrespondenceMethod(
        "bspot", "BSP-OT bijection",
        "POT's ot.compute_bspot_bijection: sliced partitions merged into one bijection; near-optimal and fast",
        _bspot, True, ("n_plans",)))

METHODS: Mapping[str, CorrespondenceMethod] = MappingProxyType({m.name: m for m in _ALL})


def correspond(x, y, a=None, b=None, *, method: str = "assignment", seed=0, **options) -> Correspondence:
    """A map from each source point to a target point.

    .. math::
        \\min_{\\sigma \\in S_n} \\frac{1}{n} \\sum_{i=1}^n |x_i - y_{\\sigma(i)}|^2

    is what ``"assignment"`` solves exactly; the other methods approximate it (see :data:`METHODS`).

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,) and (m,) float, optional
        Weights (normalised); uniform if omitted. Methods marked "equal sizes, uniform weights"
        (assignment, min-swgg, bspot) need ``n == m`` and uniform weights.
    method : str
        A key of :data:`METHODS`.
    seed : int, numpy.random.Generator or None
        Randomness of the sliced and flow methods.
    **options
        Method options: ``epsilon`` (sinkhorn, relative to the median squared distance),
        ``n_projections`` (min-swgg, flow-nn), ``n_plans`` (bspot), ``n_steps`` and
        ``step_size`` (flow-nn), ``return_plan`` (emd, sinkhorn).

    Returns
    -------
    Correspondence

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> perm = np.random.default_rng(1).permutation(50)
    >>> c = correspond(x, x[perm])
    >>> bool(np.array_equal(perm[c.target_index], np.arange(50)))
    True
    """
    if method not in METHODS:
        raise InputError(f"unknown correspondence method {method!r}; choose one of: {', '.join(METHODS)}")
    m = METHODS[method]
    unknown = sorted(set(options) - set(m.options))
    if unknown:
        raise InputError(f"method {method!r} takes no option(s) {', '.join(unknown)}; its options are: "
                         f"{', '.join(m.options) or 'none'}")
    x, y, a, b = check_pair(x, y, a, b)
    if m.equal_uniform:
        if x.shape[0] != y.shape[0]:
            raise InputError(f"{method!r} needs as many source as target points; got {x.shape[0]} and {y.shape[0]} "
                             "(use 'emd' or 'sinkhorn' for different sizes)")
        for w, name in ((a, "a"), (b, "b")):
            if w is not None and np.ptp(w) > 1e-9 * w.max():
                raise InputError(f"{method!r} needs uniform weights; {name} is not uniform "
                                 "(use 'emd' or 'sinkhorn' for weighted measures)")
        a = b = None
    rng = rng_from(seed)
    if method not in ("assignment", "min-swgg"):
        import ot  # noqa: F401 - POT's first import (it loads torch) is not the method's time
    t0 = time.perf_counter()
    index, plan = m.fn(x, y, a, b, rng, **options)
    seconds = time.perf_counter() - t0
    index = np.asarray(index, dtype=np.int64)
    bijective = x.shape[0] == y.shape[0] and np.unique(index).size == index.size
    return Correspondence(index, map_cost(x, y, index, a), seconds, method, bool(bijective), plan)


def score(source_points, target_points, target_index, true_index, area=None) -> dict:
    """Errors of a map against the true one, measured on the target.

    source_points : (n, d) float
    target_points : (m, d) float
    target_index, true_index : (n,) int
        The predicted and true target atom of each source atom.
    area : float, optional
        Surface area of the target; errors are divided by ``sqrt(area)`` (the shape-matching
        convention), or by the target's bounding-box diagonal when omitted.

    Returns a dict: ``errors`` (n,) normalised Euclidean distances ``|y_pred - y_true| / scale``,
    ``mean_error``, ``median_error``, ``exact`` (fraction of exact hits), ``scale`` and
    ``normalised_by`` ("sqrt(area)" or "bbox diagonal").
    """
    x, y, _, _ = check_pair(source_points, target_points)
    idx = []
    for arr, name in ((target_index, "target_index"), (true_index, "true_index")):
        v = np.asarray(arr)
        if v.shape != (x.shape[0],) or not np.issubdtype(v.dtype, np.integer):
            raise InputError(f"{name} must be (n,) int with n = {x.shape[0]} source points; got {v.dtype} {v.shape}")
        if v.size and (v.min() < 0 or v.max() >= y.shape[0]):
            raise InputError(f"{name} must index the {y.shape[0]} target points; got values in [{v.min()}, {v.max()}]")
        idx.append(v)
    if area is not None:
        area = float(area)
        if not (np.isfinite(area) and area > 0):
            raise InputError(f"area must be a finite number > 0; got {area}")
        scale, how = float(np.sqrt(area)), "sqrt(area)"
    else:
        scale, how = float(np.linalg.norm(np.ptp(y, axis=0))) or 1.0, "bbox diagonal"
    errors = np.linalg.norm(y[idx[0]] - y[idx[1]], axis=1) / scale  # (n,)
    return {"errors": errors, "mean_error": float(errors.mean()), "median_error": float(np.median(errors)),
            "exact": float(np.mean(idx[0] == idx[1])), "scale": scale, "normalised_by": how}


def pck(errors, thresholds) -> np.ndarray:
    """Fraction of ``errors`` (n,) at most each threshold: (k,) float, non-decreasing in the threshold."""
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if e.size == 0 or not np.all(np.isfinite(e)) or not np.all(np.isfinite(t)):
        raise InputError("pck needs a non-empty, finite array of errors and finite thresholds")
    return (e[:, None] <= t[None, :]).mean(0)
