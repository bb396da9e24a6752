"""Variance studies: every estimator, a grid of ``L``, many repeats, one tidy table.

:func:`variance_study` answers "which estimator wins, by how much, at what cost" on one pair.
The whole cost is slicing (sorting projections), so the study slices as little as it can:

* estimators that draw their directions the same way (MC, the control variates, SHCV all use
  uniform directions; the randomised spiral with and without a control variate) share one
  pool of per-slice values per repeat;
* where the draw is nested in ``L`` (i.i.d. directions, Sobol sequences), the pool of the
  largest ``L`` serves every ``L`` of the grid through its prefixes, so ``L = 10`` costs
  nothing once ``L = 1000`` is sliced; non-nested sets (spiral, optimised sets) are drawn
  afresh at each ``L``;
* deterministic sets are sliced once (their repeats are all equal);
* each slicing call takes every repeat at once, so the slice engine's thread pool keeps
  both cores busy.

The grid is walked from the smallest ``L`` up and ``progress`` receives the rows done so
far, so a page can draw the first curves long before the largest ``L`` is sliced.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import InputError, check_count, check_p, check_pair
from .distances import _couplings
from .estimators import DEFAULT_OPTIONS, VALUE_ONLY, Estimator, Moments, get_estimator
from .reference import Reference, reference_sw
from .slices import sliced_wpp

__all__ = [
    "COLUMNS",
    "DEFAULT_ESTIMATORS",
    "DEFAULT_L_GRID",
    "SliceView",
    "explain_slice",
    "reduction_table",
    "variance_study",
]

#: The default study of the Variance page and the benchmark: six estimators, two of them
#: randomised QMC; seven values of L (powers of two: Sobol sets stay balanced, and SHCV of
#: degree 4 has its 16 directions at the smallest L).
DEFAULT_ESTIMATORS = ("mc", "lcv", "ucv", "shcv-4", "rqmc-spiral", "rqmc-equal-area")
DEFAULT_L_GRID = (16, 32, 64, 128, 256, 512, 1024)

#: Columns of the study table, in order.
COLUMNS = ["estimator", "label", "L", "mean", "std", "rmse", "bias", "seconds", "seconds_median", "abs_err_q10",
           "abs_err_q90", "n_repeats", "random", "reference", "note"]

#: Most directions a study may hold at once (repeats x largest L): about 0.5 GB in 3D.
MAX_POOL = 20_000_000

Progress = Callable[[float, pd.DataFrame], None]


@dataclass
class _Group:
    """Estimators sharing one way of drawing directions (hence one pool of slices)."""

    sampler: Callable
    pool: str
    nested: bool
    random: bool
    members: list = field(default_factory=list)
    theta: np.ndarray | None = None  # nested: (R, L_max, d) pool of directions
    values: np.ndarray | None = None  # nested: (R, L_max) per-slice values
    done: int = 0  # nested: slices computed per repeat so far
    draw_seconds: float = 0.0  # nested: time to draw the pool
    slice_seconds: float = 0.0  # nested: cumulative slicing time
    rngs: list = field(default_factory=list)


#: Largest ``rows x points x d`` of one projection product. OpenBLAS spreads bigger matrix
#: products over its own threads, which then compete with the slice engine's thread pool:
#: on two busy cores that made slicing 5 to 15 times slower than with small chunks.
_BLAS_SINGLE_THREAD_MNK = 2**17


def _slices(x, y, theta, a, b, p) -> np.ndarray:
    """``sliced_wpp`` in chunks small enough that each projection stays on one BLAS thread."""
    rows = max(8, _BLAS_SINGLE_THREAD_MNK // (max(x.shape[0], y.shape[0]) * x.shape[1]))
    return sliced_wpp(x, y, theta, a, b, p, chunk_bytes=rows * 8 * (x.shape[0] + y.shape[0]))


def _repeat_rngs(pool: str, seed: int, reps: int) -> list[np.random.Generator]:
    """One generator per repeat, from the seed and the pool's declared name (not from the other estimators)."""
    salt = zlib.crc32(pool.encode())
    return [np.random.default_rng(np.random.SeedSequence([seed, salt, r])) for r in range(reps)]


#: Single estimates timed per estimator and L for the robust time ``seconds_median``.
TIMED_REPEATS = 5
#: Most per-slice values one combine call of a study takes at once (repeats x L).
_COMBINE_VALUES = 2**16


def _combine_all(est: Estimator, values: np.ndarray, theta: np.ndarray, moments) -> np.ndarray:
    """``est.combine`` over the repeats (rows), in batches that keep memory bounded: (R,) estimates."""
    R, L = values.shape
    step = max(1, _COMBINE_VALUES // L)
    out = [np.atleast_1d(np.asarray(est.combine(values[s:s + step], theta[s:s + step], moments, VALUE_ONLY)[0],
                                    dtype=float)) for s in range(0, R, step)]
    return np.concatenate(out)


def _median_seconds(est: Estimator, x, y, a, b, p, L: int, seed: int, moments) -> float:
    """Median wall time of :data:`TIMED_REPEATS` single estimates: draw, slice, combine."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(est.pool.encode()), L, 7]))
    times = []
    for _ in range(TIMED_REPEATS if est.random else 1):
        t0 = time.perf_counter()
        theta = np.asarray(est.directions(L, x.shape[1], rng))
        w = _slices(x, y, theta, a, b, p)
        est.combine(w, theta, moments, DEFAULT_OPTIONS)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _resolve_reference(reference, x, y, a, b, p) -> tuple[float, str]:
    if reference is None:
        ref = reference_sw(x, y, a, b, p=p)
        return ref.value, ref.method
    if isinstance(reference, Reference):
        return reference.value, reference.method
    try:
        value = float(reference)
    except (TypeError, ValueError):
        raise InputError(f"reference must be None, a number or a swviz.Reference; got {reference!r}") from None
    if not math.isfinite(value):
        raise InputError(f"reference must be finite; got {value}")
    return value, "given by the caller"


def _check_grid(L_grid) -> list[int]:
    try:
        values = [check_count(v, "L_grid values") for v in L_grid]
    except TypeError:
        raise InputError(f"L_grid must be a sequence of whole numbers >= 1; got {L_grid!r}") from None
    if not values:
        raise InputError("L_grid is empty: give at least one number of projections")
    return sorted(set(values))


def _check_estimators(estimators, d: int) -> list[Estimator]:
    if isinstance(estimators, str):
        estimators = [estimators]
    names = list(dict.fromkeys(estimators))
    if not names:
        raise InputError("estimators is empty: pick at least one (see swviz.ESTIMATORS)")
    ests = [get_estimator(n) for n in names]
    for est in ests:
        if est.dims is not None and d not in est.dims:
            dims = ", ".join(map(str, est.dims))
            raise InputError(f"estimator {est.name!r} exists only in dimension {dims}; these points have d = {d}")
    return ests


def _row(est: Estimator, L: int, estimates: np.ndarray | None, ref: float, seconds: float, note: str = "") -> dict:
    row = {"estimator": est.name, "label": est.title, "L": int(L), "random": bool(est.random), "reference": ref,
           "note": note}
    if estimates is None or estimates.size == 0:
        row.update(mean=math.nan, std=math.nan, rmse=math.nan, bias=math.nan, seconds=math.nan, seconds_median=math.nan,
                   abs_err_q10=math.nan, abs_err_q90=math.nan, n_repeats=0)
        return row
    err = estimates - ref
    k = estimates.size
    row.update(
        mean=float(estimates.mean()),
        std=float(estimates.std(ddof=1)) if k > 1 else 0.0,
        rmse=float(np.sqrt(np.mean(err * err))),
        bias=float(err.mean()),
        seconds=float(seconds),
        abs_err_q10=float(np.quantile(np.abs(err), 0.1)),
        abs_err_q90=float(np.quantile(np.abs(err), 0.9)),
        n_repeats=int(k),
    )
    return row


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def variance_study(
    x,
    y,
    a=None,
    b=None,
    *,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    L_grid: Sequence[int] = DEFAULT_L_GRID,
    n_repeats: int = 100,
    p: float = 2,
    seed: int = 0,
    reference=None,
    progress: Progress | None = None,
    timing: bool = True,
) -> pd.DataFrame:
    """Error, spread and cost of several estimators of ``SW_p^p`` over a grid of ``L``.

    For each estimator and each ``L``, ``n_repeats`` independent estimates (one for a
    deterministic direction set) are compared with a near-exact reference.

    Parameters
    ----------
    x : (n, d) float
        Source points.
    y : (m, d) float
        Target points.
    a, b : (n,), (m,) float, optional
        Weights (normalised); uniform if omitted.
    estimators : sequence of str
        Keys of :data:`swviz.ESTIMATORS`.
    L_grid : sequence of int
        Numbers of projections (sorted and de-duplicated).
    n_repeats : int
        Independent repeats per random estimator and ``L``.
    p : float
        Ground cost exponent.
    seed : int
        Seeds every repeat; an estimator's estimates do not depend on which other
        estimators are in the study.
    reference : None, float or Reference
        The value errors are measured against; ``None`` computes :func:`swviz.reference_sw`.
    progress : callable ``(fraction, frame) -> None``, optional
        Called after the reference and after each ``L`` with the fraction of the work done
        and the rows finished so far.
    timing : bool
        Also time :data:`TIMED_REPEATS` single estimates per estimator and ``L`` for the
        robust ``seconds_median`` column (False: NaN there, and a little faster).

    Returns
    -------
    pandas.DataFrame, one row per estimator and ``L``, columns :data:`COLUMNS`:
    ``mean``, ``std`` (over repeats; 0 for deterministic sets), ``rmse`` and ``bias`` (against
    the reference), ``seconds`` (mean wall time of one estimate: drawing and slicing its ``L``
    directions, a shared pool charged in full to each estimator using it, plus its own
    combination step), ``seconds_median`` (the median wall time of a few single estimates,
    each drawing, slicing and combining on its own: robust to timing noise, the time to plot
    errors against), ``abs_err_q10`` / ``abs_err_q90`` (quantiles of ``|estimate - reference|``
    over repeats), ``n_repeats``, ``random``, ``reference`` and ``note`` (why a row is empty,
    e.g. ``L`` too small for an SHCV degree). ``frame.attrs`` holds the reference and its method.

    Examples
    --------
    >>> from swviz.shapes import sample_shape
    >>> x, y = sample_shape("sphere", 128, 0), sample_shape("torus", 128, 1)
    >>> df = variance_study(x, y, estimators=["mc", "ucv"], L_grid=[10, 100], n_repeats=20)
    >>> df[["estimator", "L"]].values.tolist()
    [['mc', 10], ['ucv', 10], ['mc', 100], ['ucv', 100]]
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    d = x.shape[1]
    ests = _check_estimators(estimators, d)
    grid = _check_grid(L_grid)
    R = check_count(n_repeats, "n_repeats")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0; got {seed!r}")
    L_max = grid[-1]
    if R * L_max > MAX_POOL:
        raise InputError(f"the study would hold n_repeats x largest L = {R} x {L_max} = {R * L_max:,} directions; "
                         f"keep it under {MAX_POOL:,}")

    # group estimators by how they draw directions: one pool of slices per group
    groups: dict[tuple, _Group] = {}
    for est in ests:
        key = (est.pool, est.nested, est.random)
        groups.setdefault(key, _Group(est.directions, est.pool, est.nested, est.random)).members.append(est)
    for g in groups.values():
        g.rngs = _repeat_rngs(g.pool, int(seed), R if g.random else 1)

    # cost model for the progress fraction, in slices
    n_ref = 0 if reference is not None else (30_000 if d in (2, 3) else 200_000)
    total = n_ref + sum((len(g.rngs) * (L_max if g.nested else sum(grid))) for g in groups.values())
    done_cost = 0

    ref, ref_method = _resolve_reference(reference, x, y, a, b, p)
    done_cost += n_ref
    rows: list[dict] = []

    def report():
        if progress is not None:
            frame = _frame(rows)
            frame.attrs.update(reference=ref, reference_method=ref_method)
            progress(min(done_cost / total, 1.0), frame)

    report()
    moments = Moments.of(x, y, a, b)

    for L in grid:
        level_rows: dict[str, dict] = {}
        for g in groups.values():
            reps = len(g.rngs)
            try:
                if g.nested:
                    if g.theta is None:
                        t0 = time.perf_counter()
                        g.theta = np.stack([g.sampler(L_max, d, rng) for rng in g.rngs])  # (R, L_max, d)
                        g.values = np.empty((reps, L_max))
                        g.draw_seconds = time.perf_counter() - t0
                    if L > g.done:
                        t0 = time.perf_counter()
                        new = g.theta[:, g.done:L].reshape(-1, d)
                        g.values[:, g.done:L] = _slices(x, y, new, a, b, p).reshape(reps, L - g.done)
                        g.slice_seconds += time.perf_counter() - t0
                        done_cost += reps * (L - g.done)
                        g.done = L
                    theta, values = g.theta[:, :L], g.values[:, :L]
                    base_seconds = (g.draw_seconds * L / L_max + g.slice_seconds) / reps
                else:
                    t0 = time.perf_counter()
                    theta = np.stack([g.sampler(L, d, rng) for rng in g.rngs])  # (R, L, d)
                    values = _slices(x, y, theta.reshape(-1, d), a, b, p).reshape(reps, L)
                    base_seconds = (time.perf_counter() - t0) / reps
                    done_cost += reps * L
            except InputError as exc:
                for est in g.members:
                    level_rows[est.name] = _row(est, L, None, ref, math.nan, str(exc))
                continue
            for est in g.members:
                t0 = time.perf_counter()
                try:
                    est.check(L, d)
                    estimates = _combine_all(est, values, theta, moments)
                except InputError as exc:
                    level_rows[est.name] = _row(est, L, None, ref, math.nan, str(exc))
                    continue
                seconds = base_seconds + (time.perf_counter() - t0) / reps
                row = _row(est, L, estimates, ref, seconds)
                row["seconds_median"] = (_median_seconds(est, x, y, a, b, p, L, int(seed), moments) if timing
                                         else math.nan)
                level_rows[est.name] = row
        rows.extend(level_rows[est.name] for est in ests)
        report()

    frame = _frame(rows)
    frame.attrs.update(reference=ref, reference_method=ref_method)
    return frame


def reduction_table(frame: pd.DataFrame, baseline: str = "mc", metric: str = "auto") -> pd.DataFrame:
    """Variance-reduction factors against a baseline estimator, one row per ``L``.

    Parameters
    ----------
    frame : DataFrame
        A :func:`variance_study` result that includes ``baseline``.
    baseline : str
        Estimator to divide by (``"mc"``).
    metric : {"auto", "variance", "mse"}
        ``"variance"``: ``std_baseline^2 / std^2``; ``"mse"``: ``rmse_baseline^2 / rmse^2``;
        ``"auto"``: the variance ratio for random estimators and the MSE ratio for
        deterministic sets (whose variance is zero).

    Returns
    -------
    DataFrame indexed by ``L`` with one column per estimator (labels as in the frame).
    """
    if metric not in ("auto", "variance", "mse"):
        raise InputError(f"metric must be 'auto', 'variance' or 'mse'; got {metric!r}")
    if baseline not in set(frame["estimator"]):
        raise InputError(f"the study has no {baseline!r} rows to compare against")
    base = frame[frame["estimator"] == baseline].set_index("L")
    out = {}
    for _, rows in frame.groupby("estimator", sort=False):
        rows = rows.set_index("L")
        use_var = metric == "variance" or (metric == "auto" and bool(rows["random"].iloc[0]))
        col = "std" if use_var else "rmse"
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows["label"].iloc[0]] = (base[col] ** 2) / (rows[col] ** 2)
    table = pd.DataFrame(out)
    table.index.name = "L"
    return table


# --------------------------------------------------------------------------- one slice, explained


@dataclass(frozen=True)
class SliceView:
    """Everything about one slice that a teaching figure needs.

    theta : (d,) float
    x_proj, y_proj : (n,), (m,) float
        Projections ``<theta, x_i>``, ``<theta, y_j>`` (unsorted).
    x_weights, y_weights : (n,), (m,) float
    q : (K,) float
        Right ends of the merged quantile grid (``q_K = 1``).
    x_quantile, y_quantile : (K,) float
        ``F^{-1}(q)`` and ``G^{-1}(q)`` on that grid.
    match_x, match_y : (K,) int
        Indices of the points matched on each piece of the grid.
    mass : (K,) float
        Mass each piece carries.
    value : float
        ``W_p^p(theta # mu, theta # nu)``.
    c_low, c_up : float
        The two control variates at ``theta``.
    mean_c_low, mean_c_up : float
        Their exact means under uniform directions.
    p : float
    """

    theta: np.ndarray
    x_proj: np.ndarray
    y_proj: np.ndarray
    x_weights: np.ndarray
    y_weights: np.ndarray
    q: np.ndarray
    x_quantile: np.ndarray
    y_quantile: np.ndarray
    match_x: np.ndarray
    match_y: np.ndarray
    mass: np.ndarray
    value: float
    c_low: float
    c_up: float
    mean_c_low: float
    mean_c_up: float
    p: float


def explain_slice(x, y, a=None, b=None, theta=None, p: float = 2) -> SliceView:
    """The one-dimensional problem behind one slice: projections, quantiles, matching.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    theta : (d,) float
        Direction (normalised here).
    p : float

    Returns
    -------
    SliceView
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    d = x.shape[1]
    theta = np.asarray(theta, dtype=float).reshape(-1)
    if theta.shape != (d,) or not np.all(np.isfinite(theta)) or np.linalg.norm(theta) == 0:
        raise InputError(f"theta must be a nonzero vector of shape ({d},); got shape {theta.shape}")
    theta = theta / np.linalg.norm(theta)
    I, J, W = _couplings(x, y, a, b, theta[None, :])
    I, J, W = I[0], J[0], W[0]
    keep = W > 0
    I, J, W = I[keep], J[keep], W[keep]
    xq, yq = x[I] @ theta, y[J] @ theta
    value = float(np.sum(W * np.abs(xq - yq) ** p))
    mom = Moments.of(x, y, a, b)
    return SliceView(
        theta=theta, x_proj=x @ theta, y_proj=y @ theta,
        x_weights=np.full(x.shape[0], 1.0 / x.shape[0]) if a is None else a,
        y_weights=np.full(y.shape[0], 1.0 / y.shape[0]) if b is None else b,
        q=np.cumsum(W), x_quantile=xq, y_quantile=yq, match_x=I, match_y=J, mass=W, value=value,
        c_low=float(mom.c_low(theta[None, :])[0]), c_up=float(mom.c_up(theta[None, :])[0]),
        mean_c_low=mom.mean_c_low(), mean_c_up=float(mom.mean_c_up()), p=p,
    )
