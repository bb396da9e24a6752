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

__all__ = ["GROUND_TRUTH_DEFORMATIONS", "MESH_METHODS", "METHODS", "Correspondence", "CorrespondenceMethod",
           "MeshMethod", "bijectivity", "correspond", "correspond_meshes", "deformed_copy", "dirichlet_smoothness",
           "geodesic_error", "map_cost", "pck", "prepare_mesh", "read_labels_csv", "score", "spectral_segments",
           "transfer_labels"]


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
    plan : (n, m) float array, (n, m) scipy.sparse CSR matrix, or None
        The soft plan of ``emd`` / ``sinkhorn`` (with ``return_plan=True``, dense) or of
        ``fmap-sw``'s entropic refinement (sparse: its support is the kNN graph of the aligned
        embeddings, see :func:`swviz.fmaps.sinkhorn_refine`).
    stages : dict
        Seconds per stage (``laplacian``, ``eigenpairs``, ``descriptors``, ``fmap``, ``zoomout``,
        ``sw_align``, ``sinkhorn`` for the spectral methods of :func:`correspond_meshes`;
        ``solve`` for the others).
    """

    target_index: np.ndarray
    cost: float
    seconds: float
    method: str
    bijective: bool
    plan: np.ndarray | None = field(default=None, repr=False)
    stages: Mapping[str, float] = field(default_factory=dict)


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
    return Correspondence(index, map_cost(x, y, index, a), seconds, method, bool(bijective), plan, {"solve": seconds})


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


# --------------------------------------------------------------------------- meshes: intrinsic maps and scores
#
# The spectral methods follow Le et al., "Integrating Efficient Optimal Transport and Functional
# Maps For Unsupervised Shape Correspondence Learning" (CVPR 2024) per pair, with descriptor
# features (WKS, HKS) in place of the paper's learned ones; the pieces are in swviz.spectral and
# swviz.fmaps.


@dataclass(frozen=True)
class MeshMethod:
    """One entry of :data:`MESH_METHODS`.

    intrinsic : bool
        Needs a connected triangle mesh (the Laplace-Beltrami eigenbasis); extrinsic methods
        match vertex positions and run on point clouds too.
    """

    name: str
    title: str
    description: str
    intrinsic: bool
    options: tuple[str, ...] = ()


_FMAP_OPTIONS = ("k", "k0", "n_wks", "n_hks", "alpha", "rho", "starts", "zoomout", "zoomout_step",
                 "zoomout_points")
_SW_OPTIONS = ("gamma", "beta", "n_projections", "n_steps", "lr", "sw_tol", "epsilons", "tau", "n_neighbors",
               "sinkhorn_iter")

MESH_METHODS: Mapping[str, MeshMethod] = MappingProxyType({m.name: m for m in [
    MeshMethod("fmap", "Functional map (+ ZoomOut)",
               "least squares on WKS/HKS descriptors with Laplacian commutativity at size k0, grown to k by "
               "ZoomOut (zoomout=False keeps the least-squares map); point map by nearest neighbours in the "
               "spectral embedding", True, _FMAP_OPTIONS),
    MeshMethod("fmap-sw", "Functional map + SW alignment + Sinkhorn",
               "the functional map, then the functional-map energies plus a sliced Wasserstein alignment of the "
               "area-weighted spectral embeddings minimised with torch, then entropic OT (Sinkhorn, decreasing "
               "epsilon) into a point map (Le et al., CVPR 2024)", True, _FMAP_OPTIONS + _SW_OPTIONS),
    *[MeshMethod(m.name, m.title, m.description + " (on the vertex positions)", False, m.options)
      for m in _ALL],
]})


def _spectral(obj, name):
    from .spectral import SpectralMesh, spectral_mesh

    if isinstance(obj, SpectralMesh):
        return obj
    v, f = _mesh_arrays(obj, name)
    if f is None:
        raise InputError(f"{name} is a point cloud: the spectral methods ({', '.join(_intrinsic_names())}) need a "
                         "triangle mesh; the extrinsic methods run on point clouds")
    return spectral_mesh(v, f, name)


def _intrinsic_names():
    return [m for m, spec in MESH_METHODS.items() if spec.intrinsic]


def _mesh_arrays(obj, name):
    """``(vertices (n, 3), faces (m, 3) or None)`` from a Shape, a SpectralMesh or a ``(vertices, faces)`` pair."""
    from .shapes.shape import Shape
    from .spectral import SpectralMesh

    if isinstance(obj, SpectralMesh):
        return obj.vertices, obj.faces
    if isinstance(obj, Shape):
        return obj.vertices, obj.faces
    if isinstance(obj, tuple) and len(obj) == 2:
        return np.asarray(obj[0], dtype=np.float64), (None if obj[1] is None else np.asarray(obj[1]))
    raise InputError(f"{name} must be a swviz Shape or a (vertices, faces) pair; got {type(obj).__name__}")


def prepare_mesh(obj, name: str = "mesh"):
    """The :class:`swviz.spectral.SpectralMesh` of a Shape or ``(vertices, faces)`` pair (checked; see
    :func:`swviz.spectral.spectral_mesh`). Pass it to :func:`correspond_meshes` and the scores to
    share its Laplacian, eigenbasis and heat-method factorisations between calls."""
    return _spectral(obj, name)


def _extrinsic_start(sx, sy):
    """Nearest-neighbour map between the vertex sets, each centred at its area centroid."""
    cx = sx.mass @ sx.vertices
    cy = sy.mass @ sy.vertices
    return cKDTree(sy.vertices - cy).query(sx.vertices - cx)[1].astype(np.int64)


def _fmap_method(sx, sy, rng, stages, *, sw, k=50, k0=10, n_wks=32, n_hks=16, alpha=1e-3, rho=1e-2,
                 starts=("descriptors", "extrinsic"), zoomout=True, zoomout_step=1, zoomout_points=1500,
                 gamma=10.0, beta=1.0, n_projections=64, n_steps=100, lr=0.01, sw_tol=1e-2,
                 epsilons=(0.01, 0.003, 0.001), tau=1.0, n_neighbors=16, sinkhorn_iter=1000):
    from . import fmaps

    k = check_count(k, "k")
    k0 = check_count(k0, "k0")
    if not 2 <= k0 <= k:
        raise InputError(f"k0 must be between 2 and k = {k}; got {k0}")
    for m in (sx, sy):
        if k >= m.n:
            raise InputError(f"k = {k} eigenfunctions need more than {k} vertices; {m.n} given")
    unknown = sorted(set(starts) - {"descriptors", "extrinsic"})
    if not starts or unknown:
        raise InputError(f"starts must be a non-empty subset of ('descriptors', 'extrinsic'); got {starts!r}")
    ex, px = sx.eigenbasis(k)
    ey, py = sy.eigenbasis(k)
    stages["laplacian"] = sx.seconds["laplacian"] + sy.seconds["laplacian"]
    stages["eigenpairs"] = sx.seconds["eigenpairs"] + sy.seconds["eigenpairs"]
    t0 = time.perf_counter()
    Ax = (px * sx.mass[:, None]).T @ sx.descriptors(k, n_wks, n_hks)  # (k, q) descriptor coefficients
    Ay = (py * sy.mass[:, None]).T @ sy.descriptors(k, n_wks, n_hks)
    stages["descriptors"] = time.perf_counter() - t0
    rows = None if sx.n <= zoomout_points else np.sort(rng.choice(sx.n, int(zoomout_points), replace=False))
    # every start: least squares at k0, ZoomOut to k, scored by the energy of its point map's functional map
    best, t_fmap, t_zoom = None, 0.0, 0.0
    for start in starts:
        t0 = time.perf_counter()
        prior = None
        if start == "extrinsic":
            prior = fmaps.fmap_from_pointmap(_extrinsic_start(sx, sy), px, py, sx.mass, k0, k0)
        C = fmaps.fmap_least_squares(Ax[:k0], Ay[:k0], ex[:k0], ey[:k0], alpha, prior, rho)
        t1 = time.perf_counter()
        Cz = fmaps.zoomout(C, px, py, sx.mass, k, zoomout_step, rows)
        idx = fmaps.pointmap_from_fmap(Cz, px, py, rows)
        energy = fmaps.fmap_energy(fmaps.fmap_from_pointmap(idx, px, py, sx.mass, k, k, rows), Ax, Ay, ex, ey,
                                   alpha, beta=1.0)
        t_fmap, t_zoom = t_fmap + t1 - t0, t_zoom + time.perf_counter() - t1
        if best is None or energy < best[0]:
            best = (energy, C, Cz, start)
    stages["fmap"] = t_fmap
    stages["zoomout"] = t_zoom
    _, C, Cz, start = best
    plan = None
    if not sw:
        t0 = time.perf_counter()
        index = fmaps.pointmap_from_fmap(Cz if zoomout else C, px, py)
        stages["pointmap"] = time.perf_counter() - t0
        return index, plan, {"start": start}
    t0 = time.perf_counter()
    C, info = fmaps.sw_align(Cz, Ax, Ay, ex, ey, px, py, sx.mass, sy.mass, alpha=alpha, beta=beta, gamma=gamma,
                             n_projections=n_projections, n_steps=n_steps, lr=lr, seed=rng, tol=sw_tol)
    stages["sw_align"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    index, plan, C, sk = fmaps.sinkhorn_refine(C, px, py, sx.mass, sy.mass, epsilons=tuple(epsilons), tau=tau,
                                               n_neighbors=n_neighbors, max_iter=sinkhorn_iter)
    stages["sinkhorn"] = time.perf_counter() - t0
    return index, plan, {"start": start, "sw_steps": info["steps"], "sinkhorn_iterations": sk["iterations"]}


def correspond_meshes(source, target, *, method: str = "fmap-sw", seed=0, **options) -> Correspondence:
    """A map from each source vertex to a target vertex, by an intrinsic (spectral) or extrinsic method.

    Parameters
    ----------
    source, target : Shape, (vertices (n, 3), faces (m, 3)) or SpectralMesh
        Meshes (point clouds only for the extrinsic methods). A :class:`~swviz.spectral.SpectralMesh`
        from :func:`prepare_mesh` keeps its Laplacian and eigenbasis between calls.
    method : str
        A key of :data:`MESH_METHODS`: ``"fmap"``, ``"fmap-sw"``, or any extrinsic method of
        :data:`METHODS` applied to the vertex positions with uniform weights.
    seed : int, numpy.random.Generator or None
    **options
        Spectral methods: ``k`` (basis size, 50), ``k0`` (size of the least-squares map, 10),
        ``n_wks`` (32), ``n_hks`` (16), ``alpha`` (commutativity, 1e-3), ``starts`` and ``rho``
        (see below), ``zoomout`` (True), ``zoomout_step`` (1), ``zoomout_points`` (vertices used
        by ZoomOut's point maps, 1500). ``fmap-sw`` also: ``gamma`` (weight of SW, 10), ``beta``
        (orthogonality, 1), ``n_projections`` (64), ``n_steps`` (at most, 100), ``lr`` (0.01),
        ``sw_tol`` (stop the alignment once 10 steps lower the energy by less than this fraction,
        1e-2; 0 runs every step), ``epsilons`` (the Sinkhorn schedule relative to the mean cost,
        (0.01, 0.003, 0.001)), ``tau`` (the KL relaxation of the target's marginal, relative like
        epsilon, 1.0), ``n_neighbors`` (of the plan's kNN support, 16), ``sinkhorn_iter`` (at most
        per epsilon, 1000); see :func:`swviz.fmaps.sw_align` and
        :func:`swviz.fmaps.sinkhorn_refine`. Extrinsic methods: their own options.

    Returns
    -------
    Correspondence
        ``target_index`` (n,) int, ``cost`` (of the vertex positions, as :func:`correspond`),
        ``stages`` (seconds per stage; the Laplacian and eigenpairs are timed once per mesh,
        when computed), ``plan`` for ``fmap-sw`` (a sparse ``(n, m)`` matrix whose rows sum to the
        source's vertex areas).

    Notes
    -----
    Symmetric shapes: intrinsic descriptors cannot tell a shape from its mirror or end-to-end
    flip (every symmetric descriptor projects to zero on the eigenfunctions the symmetry flips).
    The spectral methods therefore try every start in ``starts``: ``"descriptors"`` (the plain
    least-squares map) and ``"extrinsic"`` (the same problem pulled, with weight ``rho``,
    towards the functional map of the nearest-neighbour map between the centred vertex sets,
    which decides only the directions the descriptors leave free), grow each by ZoomOut and
    keep the one whose point map has the lower functional-map energy (descriptors,
    commutativity and orthogonality). For shapes given in unrelated poses use
    ``starts=("descriptors",)``.
    """
    if method not in MESH_METHODS:
        raise InputError(f"unknown mesh correspondence method {method!r}; choose one of: {', '.join(MESH_METHODS)}")
    spec = MESH_METHODS[method]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise InputError(f"method {method!r} takes no option(s) {', '.join(unknown)}; its options are: "
                         f"{', '.join(spec.options) or 'none'}")
    if not spec.intrinsic:
        vx, _ = _mesh_arrays(source, "source")
        vy, _ = _mesh_arrays(target, "target")
        return correspond(vx, vy, method=method, seed=seed, **options)
    sx, sy = _spectral(source, "source"), _spectral(target, "target")
    rng = rng_from(seed)
    if method == "fmap-sw":
        import ot  # noqa: F401 - POT's first import (it loads torch) is not the method's time
    stages: dict[str, float] = {}
    index, plan, _ = _fmap_method(sx, sy, rng, stages, sw=method == "fmap-sw", **options)
    index = np.asarray(index, dtype=np.int64)
    bijective = sx.n == sy.n and np.unique(index).size == index.size
    return Correspondence(index, map_cost(sx.vertices, sy.vertices, index), float(sum(stages.values())), method,
                          bool(bijective), plan, stages)


# --------------------------------------------------------------------------- mesh scores


def geodesic_error(target, predicted_index, true_index, *, chunk: int = 256) -> np.ndarray:
    """Per-source-vertex geodesic error of a map, normalised by ``sqrt(area)`` of the target: ``(n,) float``.

    ``errors[i] = d_geo(y_pred(i), y_true(i)) / sqrt(area(target))``, the shape-matching convention
    (Kim, Lipman & Funkhouser, "Blended Intrinsic Maps", SIGGRAPH 2011). Distances by the heat
    method (:func:`swviz.spectral.heat_geodesics_batch`), from each distinct true vertex of a
    mismatched source vertex (exact hits cost nothing).

    target : Shape, (vertices, faces) or SpectralMesh
    predicted_index, true_index : (n,) int
    """
    from .spectral import heat_geodesics_batch

    ty = _spectral(target, "target")
    idx = []
    for arr, name in ((predicted_index, "predicted_index"), (true_index, "true_index")):
        v = np.asarray(arr)
        if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer):
            raise InputError(f"{name} must be a (n,) int array; got {v.dtype} {v.shape}")
        if v.size and (v.min() < 0 or v.max() >= ty.n):
            raise InputError(f"{name} must index the {ty.n} target vertices; got values in [{v.min()}, {v.max()}]")
        idx.append(v.astype(np.int64))
    pred, true = idx
    if pred.shape != true.shape:
        raise InputError(f"predicted_index {pred.shape} and true_index {true.shape} must have the same length")
    errors = np.zeros(pred.size)
    miss = np.flatnonzero(pred != true)
    sources = np.unique(true[miss])
    for s0 in range(0, sources.size, chunk):
        block = sources[s0:s0 + chunk]
        D = heat_geodesics_batch(ty, block, chunk=chunk)  # (b, n_y)
        sel = miss[np.isin(true[miss], block)]
        errors[sel] = D[np.searchsorted(block, true[sel]), pred[sel]]
    return errors / np.sqrt(ty.area)


def bijectivity(target_index, n_target: int) -> float:
    """Fraction of the ``n_target`` target vertices reached by the map (1 for a bijection between equal sizes)."""
    t = np.asarray(target_index, dtype=np.int64)
    return float(np.unique(t).size / int(n_target))


def dirichlet_smoothness(source, target, target_index) -> float:
    """Dirichlet energy of the target's coordinates pulled back to the source, relative to an isometry.

    ``E = sum_c f_c^T W_x f_c / 2`` with ``f = Y[target_index] / sqrt(area_y)`` and ``W_x`` the
    source's cotangent stiffness on its unit-area copy. For the identity map (or any isometry)
    the coordinate functions have energy ``2 area``, so ``E = 1``; a map that tears or folds
    has larger energy (a smooth stretch changes it little).
    """
    sx, sy = _spectral(source, "source"), _spectral(target, "target")
    t = np.asarray(target_index, dtype=np.int64)
    if t.shape != (sx.n,) or t.min() < 0 or t.max() >= sy.n:
        raise InputError(f"target_index must be (n,) = ({sx.n},) indices into the {sy.n} target vertices")
    f = sy.vertices[t] / np.sqrt(sy.area)  # (n_x, 3)
    return float(np.einsum("ic,ic->", f, sx.stiffness @ f) / 2.0)


# --------------------------------------------------------------------------- ground truth beyond the bar

GROUND_TRUTH_DEFORMATIONS = {
    "bend": "bent along its long axis (stretches the outer side)",
    "twist": "twisted about its long axis",
    "taper": "tapered along its long axis",
    "perturb": "smoothly, non-rigidly perturbed",
    "isometric bend": "bent with the curvature capped so that edge lengths change by at most max_strain",
    "rigid": "a random rotation and translation",
}


def deformed_copy(shape, kind: str, amount: float = 1.0, *, seed=0, permute: bool = True,
                  max_strain: float = 0.03):
    """A deformed copy of any 3D mesh with shuffled vertices, and the true map: ``(target Shape, true_index (n,))``.

    ``true_index[i]`` is the target vertex that source vertex ``i`` became. ``kind`` is a key of
    :data:`GROUND_TRUTH_DEFORMATIONS`: the deformations of :func:`swviz.shapes.deform` (bend,
    twist, taper, perturb), a near-isometric bend (the ``bend`` of :func:`~swviz.shapes.deform`
    through the angle at which the fibre farthest from the centre line stretches by
    ``max_strain``: edge lengths change by at most that fraction), or a rigid motion. With
    ``permute`` the vertices are shuffled (seeded) and the faces renumbered, so nothing can be
    read from the vertex order.
    """
    from .shapes.deform import deform
    from .shapes.shape import Shape

    if not isinstance(shape, Shape):
        v, f = _mesh_arrays(shape, "shape")
        shape = Shape("mesh", v, f)
    if not shape.is_mesh or shape.dim != 3:
        raise InputError(f"deformed copies need a 3D mesh; {shape.name!r} is a {shape.dim}D point cloud")
    if kind not in GROUND_TRUTH_DEFORMATIONS:
        raise InputError(f"unknown deformation {kind!r}; choose one of: {', '.join(GROUND_TRUTH_DEFORMATIONS)}")
    rng = rng_from(seed)
    v = shape.vertices
    if kind == "isometric bend":
        strain = float(max_strain)
        if not 0 < strain < 0.5:
            raise InputError(f"max_strain must be in (0, 0.5); got {max_strain}")
        lo, hi = v.min(0), v.max(0)
        ext = np.sort(hi - lo)[::-1]  # long axis, bending axis (as in swviz.shapes.deform)
        radius = (ext[1] / 2) / strain  # the outer fibre, ext[1] / 2 from the centre line, stretches by strain
        moved = deform(v, "bend", min(1.5, float(amount) * ext[0] / (radius * np.pi / 2)))
    elif kind == "rigid":
        from scipy.spatial.transform import Rotation

        R = Rotation.random(random_state=np.random.default_rng(rng.integers(2**31 - 1))).as_matrix()
        moved = v @ R.T + rng.normal(size=3) * float(np.ptp(v, axis=0).max()) * amount
    else:
        moved = deform(v, kind, amount, seed=rng)
    n = len(v)
    perm = rng.permutation(n) if permute else np.arange(n)  # target vertex j is source vertex perm[j]
    true = np.argsort(perm)
    target = Shape(f"{shape.name} ({kind}{', shuffled' if permute else ''})", moved[perm], true[shape.faces],
                   shape.origin, f"{shape.key}|gt:{kind}:{amount}:{permute}")
    return target, true


# --------------------------------------------------------------------------- segmentation transfer


def spectral_segments(mesh, n_segments: int = 6, *, seed=0) -> np.ndarray:
    """A segmentation of a mesh: k-means of its spectral embedding, ``(n,) int`` labels in ``[0, n_segments)``.

    The embedding is the first ``n_segments`` non-constant eigenfunctions divided by the square
    root of their eigenvalues (the commute-time embedding), clustered by k-means++ (scipy).
    """
    from scipy.cluster.vq import kmeans2

    sm = _spectral(mesh, "mesh")
    k = check_count(n_segments, "n_segments")
    if not 2 <= k <= 30:
        raise InputError(f"n_segments must be between 2 and 30; got {k}")
    evals, evecs = sm.eigenbasis(k + 1)
    emb = evecs[:, 1:] / np.sqrt(np.maximum(evals[1:], 1e-12))
    _, labels = kmeans2(emb, k, minit="++", seed=np.random.default_rng(rng_from(seed).integers(2**31 - 1)))
    return labels.astype(np.int64)


def transfer_labels(labels, target_index, target) -> np.ndarray:
    """Carry per-vertex source labels to the target through a map: ``(n_target,) int``.

    Each target vertex takes the most frequent label among the source vertices sent to it;
    target vertices no source vertex reaches take the label of the nearest reached one.
    """
    lab = np.asarray(labels)
    t = np.asarray(target_index, dtype=np.int64)
    if lab.shape != t.shape or not np.issubdtype(lab.dtype, np.integer):
        raise InputError(f"labels must be (n,) int like target_index {t.shape}; got {lab.dtype} {lab.shape}")
    vy, _ = _mesh_arrays(target, "target")
    k = int(lab.max()) + 1
    votes = np.zeros((len(vy), k))
    np.add.at(votes, (t, lab), 1.0)
    out = votes.argmax(1)
    hit = votes.sum(1) > 0
    if not hit.all():
        near = cKDTree(vy[hit]).query(vy[~hit])[1]
        out[~hit] = out[hit][near]
    return out.astype(np.int64)


def read_labels_csv(data: bytes, n_vertices: int) -> np.ndarray:
    """Per-vertex labels from a CSV/text file: one integer per line (the last column if several), ``(n,) int``."""
    import io

    try:
        arr = np.loadtxt(io.StringIO(data.decode("utf-8", errors="strict")), delimiter=",", ndmin=2,
                         comments="#")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"labels: could not read the CSV as numbers: {exc}") from None
    col = arr[:, -1]
    if len(col) != n_vertices:
        raise InputError(f"labels: the file has {len(col)} rows but the source mesh has {n_vertices} vertices")
    if not np.all(np.isfinite(col)) or np.any(col != np.round(col)) or col.min() < 0 or col.max() > 255:
        raise InputError("labels must be integers between 0 and 255")
    return col.astype(np.int64)
