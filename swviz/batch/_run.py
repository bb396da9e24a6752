"""Batch studies: plans of tasks, the task itself, the runners (in-process, Dask) and the tables."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import InputError
from ..estimators import VALUE_ONLY, Moments, get_estimator
from ..reference import reference_sw
from ..shapes import SHAPES, library_pair, load_shape, make_pair
from ..slices import sliced_wpp
from ._config import StudyConfig, _field_error, _whole, config_to_toml

#: Columns of :attr:`StudyResult.table`, in order (one row per pair, estimator, L and repeat).
RESULT_COLUMNS = ["pair", "source", "target", "estimator", "L", "repeat", "value", "reference", "error", "seconds"]
#: Columns of :attr:`StudyResult.failures`.
FAILURE_COLUMNS = ["pair", "source", "target", "estimator", "L", "repeats", "kind", "message"]

#: Rough seconds per unit of :meth:`Plan.cost` (one point of a pair projected and sorted) on one core.
SECONDS_PER_WORK = 3.5e-8

#: Progress callback: ``(tasks_done, tasks_total, seconds_left or None)``.
Progress = Callable[[int, int, "float | None"], None]


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Task:
    """One unit of work: ``repeats`` of ``estimator`` at ``L`` on pair ``pair`` (reference: estimator None)."""

    pair: int
    estimator: str | None
    L: int
    start: int
    stop: int


@dataclass
class Plan:
    """A config expanded: the measures of each pair and the task list (references first)."""

    config: StudyConfig
    data: list  # per pair: (x (n, d), y (m, d), a (n,) or None, b (m,) or None)
    dims: list
    tasks: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (pair, estimator, why): not in the pair's dimension

    def cost(self, task: Task) -> float:
        """Rough work of a task in projected points (for the time left)."""
        x, y = self.data[task.pair][:2]
        slices = 20_000 if task.estimator is None else task.L * (task.stop - task.start)
        return float(slices * (x.shape[0] + y.shape[0]))

    def work(self) -> float:
        """Total :meth:`cost` of the study (about ``SECONDS_PER_WORK`` seconds each on one core)."""
        return float(sum(self.cost(t) for t in self.tasks))

    def describe(self, task: Task) -> dict:
        src, tgt = self.config.pairs[task.pair]
        return {"pair": f"{src} / {tgt}", "source": src, "target": tgt,
                "estimator": task.estimator or "(reference)", "L": task.L, "repeats": f"{task.start}-{task.stop - 1}"}


def _shape(name: str, n: int, seed: int, base_dir: str):
    from ..shapes import library_shape

    if name in SHAPES:
        return library_shape(name, n, seed)
    path = Path(base_dir) / name
    return load_shape(path.read_bytes(), path.name)


def _measures(cfg: StudyConfig, src: str, tgt: str):
    if src in SHAPES and tgt in SHAPES:
        return library_pair(src, tgt, cfg.n, cfg.seed, cfg.mode, cfg.normalise, cfg.normal_weight)
    s, t = _shape(src, cfg.n, cfg.seed, cfg.base_dir), _shape(tgt, cfg.n, cfg.seed + 1, cfg.base_dir)
    return make_pair(s, t, cfg.mode, cfg.n, cfg.seed, cfg.normalise, cfg.normal_weight)


def plan_study(cfg: StudyConfig, chunk: int | None = None) -> Plan:
    """Build every pair's measures and the tasks.

    An estimator that exists only in some dimensions is skipped on pairs of another one
    (listed in :attr:`Plan.skipped` and in the result's failures as ``"skipped"``); an ``L``
    below an estimator's minimum is a config error naming the field ``L``.

    ``chunk`` overrides ``cfg.chunk`` (repeats per task).
    """
    if chunk is not None:
        cfg = replace(cfg, chunk=_whole(chunk, "chunk"))
    data, dims = [], []
    for i, (src, tgt) in enumerate(cfg.pairs):
        try:
            s, t = _measures(cfg, src, tgt)
        except (ValueError, OSError) as exc:
            raise _field_error("pairs", f"entry {i} ({src} / {tgt}): {exc}") from None
        data.append((np.ascontiguousarray(s.points), np.ascontiguousarray(t.points), s.weights, t.weights))
        dims.append(int(s.points.shape[1]))
    plan = Plan(cfg, data, dims)
    for name in cfg.estimators:
        est = get_estimator(name)
        if est.dims is not None and not any(d in est.dims for d in dims):
            raise _field_error("estimators", f"{name!r} exists only in dimension "
                               f"{', '.join(map(str, est.dims))}; no pair of the study is")
        for i, ((src, tgt), d) in enumerate(zip(cfg.pairs, dims)):
            if est.dims is not None and d not in est.dims:  # reported as skipped, not silently left out
                plan.skipped.append((i, name, f"{name!r} exists only in dimension "
                                     f"{', '.join(map(str, est.dims))}; this pair is {d}D"))
                continue
            for L in cfg.L:
                try:
                    est.check(L, d)
                except InputError as exc:
                    raise _field_error("L", f"on the pair {src} / {tgt}: {exc}") from None
    plan.tasks = [Task(i, None, 0, 0, 1) for i in range(len(cfg.pairs))]
    skip = {(i, name) for i, name, _ in plan.skipped}
    for i in range(len(cfg.pairs)):
        for name in cfg.estimators:
            if (i, name) in skip:
                continue
            reps = cfg.repeats if get_estimator(name).random else 1
            for L in cfg.L:
                plan.tasks += [Task(i, name, L, s, min(s + cfg.chunk, reps)) for s in range(0, reps, cfg.chunk)]
    return plan


# --------------------------------------------------------------------------- tasks (run on the workers)

#: Largest ``rows x points x d`` of one projection product (see :mod:`swviz.study`): one BLAS thread each.
_BLAS_SINGLE_THREAD_MNK = 2**17


def repeat_rng(seed: int, source: str, target: str, pool: str, L: int, repeat: int) -> np.random.Generator:
    """The generator of one repeat, from the study seed and the repeat's own coordinates only."""
    pair_key = zlib.crc32(f"{source}\x00{target}".encode())
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(pair_key, zlib.crc32(pool.encode()), int(L), int(repeat)))
    return np.random.default_rng(ss)


def _slices(x, y, theta, a, b, p) -> np.ndarray:
    rows = max(8, _BLAS_SINGLE_THREAD_MNK // (max(x.shape[0], y.shape[0]) * x.shape[1]))
    # one core per task: the parallelism is the workers', not the slice engine's thread pool
    return sliced_wpp(x, y, theta, a, b, p, chunk_bytes=rows * 8 * (x.shape[0] + y.shape[0]), threads=False)


def run_task(task: Task, data, cfg: StudyConfig) -> dict:
    """Compute one task; an exception is returned as ``{"error": ...}``, never raised."""
    try:
        x, y, a, b = data
        if task.estimator is None:
            ref = reference_sw(x, y, a, b, p=cfg.p)
            return {"reference": ref.value, "method": ref.method}
        est = get_estimator(task.estimator)
        src, tgt = cfg.pairs[task.pair]
        moments = Moments.of(x, y, a, b)
        values, seconds = [], []
        for r in range(task.start, task.stop):
            t0 = time.perf_counter()
            rng = repeat_rng(cfg.seed, src, tgt, est.pool, task.L, r)
            theta = np.asarray(est.directions(task.L, x.shape[1], rng))
            w = _slices(x, y, theta, a, b, cfg.p)
            value = est.combine(w[None], theta[None], moments, VALUE_ONLY)[0]
            values.append(float(np.asarray(value).reshape(-1)[0]))
            seconds.append(time.perf_counter() - t0)
        return {"values": values, "seconds": seconds}
    except Exception as exc:  # noqa: BLE001 - reported with the task's parameters, the study goes on
        return {"error": f"{type(exc).__name__}: {exc}"}


# --------------------------------------------------------------------------- results


@dataclass
class StudyResult:
    """What a study produced.

    table : DataFrame, columns :data:`RESULT_COLUMNS`
        One row per pair, estimator, L and repeat, sorted in config order. ``error`` is
        ``value - reference``; ``seconds`` the wall time of that estimate (the only column that
        changes between runs).
    failures : DataFrame, columns :data:`FAILURE_COLUMNS`
        Tasks that raised (kind ``"error"``), lost their worker too often (``"worker"``), or
        did not run because the study was interrupted (``"cancelled"``); and estimators left out
        of a pair whose dimension they do not exist in (``"skipped"``, ``L`` 0).
    references : DataFrame
        One row per pair: ``reference`` and its ``method``.
    config : StudyConfig
    meta : dict
        Runner, tasks, timings, seed and package versions (written to ``study.json``).
    interrupted : bool
    """

    table: pd.DataFrame
    failures: pd.DataFrame
    references: pd.DataFrame
    config: StudyConfig
    meta: dict
    interrupted: bool = False

    def summary(self) -> pd.DataFrame:
        return summary_table(self.table, self.config.baseline)

    def write(self, out) -> dict:
        """Write ``results.parquet``, ``results.csv``, ``summary.csv``, ``failures.csv``, ``study.toml``
        and ``study.json`` (config, seed, versions, references) into folder ``out``; returns name -> path."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {k: out / v for k, v in {"parquet": "results.parquet", "csv": "results.csv",
                                          "summary": "summary.csv", "failures": "failures.csv",
                                          "config": "study.toml", "meta": "study.json"}.items()}
        self.table.to_parquet(paths["parquet"], index=False)
        self.table.to_csv(paths["csv"], index=False)
        self.summary().to_csv(paths["summary"], index=False)
        self.failures.to_csv(paths["failures"], index=False)
        paths["config"].write_text(config_to_toml(self.config), encoding="utf-8")
        meta = {**self.meta, "config": asdict(self.config), "interrupted": self.interrupted,
                "references": self.references.to_dict(orient="records"), "n_failures": int(len(self.failures))}
        paths["meta"].write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        return paths


def versions() -> dict:
    """Versions of Python and the packages a study's numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("swviz", "numpy", "scipy", "pandas", "dask", "distributed", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _assemble(plan: Plan, results: dict, meta: dict, interrupted: bool) -> StudyResult:
    """Tables from ``results`` (task index -> task output or ``("worker"|"cancelled", message)``)."""
    cfg = plan.config
    refs, fails, rows = {}, [], []
    ref_rows = []
    for i, task in enumerate(plan.tasks):
        res = results.get(i, ("cancelled", "the study was interrupted before this task ran"))
        if isinstance(res, tuple):
            fails.append({**plan.describe(task), "kind": res[0], "message": res[1]})
        elif "error" in res:
            fails.append({**plan.describe(task), "kind": "error", "message": res["error"]})
        elif task.estimator is None:
            refs[task.pair] = res["reference"]
            src, tgt = cfg.pairs[task.pair]
            ref_rows.append({"pair": f"{src} / {tgt}", "reference": res["reference"], "method": res["method"]})
    for i, name, why in plan.skipped:
        src, tgt = cfg.pairs[i]
        fails.append({"pair": f"{src} / {tgt}", "source": src, "target": tgt, "estimator": name, "L": 0,
                      "repeats": "", "kind": "skipped", "message": why})
    order = {e: k for k, e in enumerate(cfg.estimators)}
    for i, task in enumerate(plan.tasks):
        res = results.get(i)
        if task.estimator is None or not isinstance(res, dict) or "values" not in res:
            continue
        src, tgt = cfg.pairs[task.pair]
        ref = refs.get(task.pair, math.nan)
        for r, (v, s) in enumerate(zip(res["values"], res["seconds"]), start=task.start):
            rows.append({"pair": f"{src} / {tgt}", "source": src, "target": tgt, "estimator": task.estimator,
                         "L": task.L, "repeat": r, "value": v, "reference": ref, "error": v - ref, "seconds": s,
                         "_p": task.pair, "_e": order[task.estimator]})
    table = pd.DataFrame(rows, columns=RESULT_COLUMNS + ["_p", "_e"])
    table = table.sort_values(["_p", "_e", "L", "repeat"], kind="stable").drop(columns=["_p", "_e"])
    table = table.reset_index(drop=True).astype({"L": "int64", "repeat": "int64", "value": "float64",
                                                 "reference": "float64", "error": "float64", "seconds": "float64"})
    return StudyResult(table, pd.DataFrame(fails, columns=FAILURE_COLUMNS),
                       pd.DataFrame(ref_rows, columns=["pair", "reference", "method"]), cfg, meta, interrupted)


def _meta(plan: Plan, runner: str, seconds: float) -> dict:
    return {"runner": runner, "n_tasks": len(plan.tasks), "seed": plan.config.seed, "seconds": seconds,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": versions()}


def summary_table(table: pd.DataFrame, baseline: str = "mc") -> pd.DataFrame:
    """Per pair, estimator and L: mean, std, RMSE against the reference, and the variance-reduction factor.

    ``vrf = var(baseline) / var(estimator)`` over the repeats for random estimators, and the
    ratio of mean squared errors for deterministic sets (their variance is zero), as
    :func:`swviz.reduction_table` with ``metric="auto"``.
    """
    cols = ["pair", "estimator", "L", "n_repeats", "mean", "std", "rmse", "vrf"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    g = table.groupby(["pair", "estimator", "L"], sort=False)
    out = g.agg(n_repeats=("value", "size"), mean=("value", "mean"), std=("value", "std"),
                rmse=("error", lambda e: float(np.sqrt(np.mean(np.square(e)))))).reset_index()
    base = out[out["estimator"] == baseline].set_index(["pair", "L"])
    vrf = []
    for row in out.itertuples():
        key = (row.pair, row.L)
        if key not in base.index:
            vrf.append(math.nan)
            continue
        b = base.loc[key]
        random = row.n_repeats > 1
        num, den = (b["std"] ** 2, row.std ** 2) if random else (b["rmse"] ** 2, row.rmse ** 2)
        vrf.append(float(num / den) if den > 0 else math.inf)
    out["vrf"] = vrf
    return out[cols]


def wide_table(summary: pd.DataFrame, metric: str = "vrf") -> pd.DataFrame:
    """One row per pair, one column per estimator and L (``"ucv @ L=64"``), values of ``metric``."""
    if metric not in ("vrf", "rmse", "mean", "std"):
        raise InputError(f"metric must be 'vrf', 'rmse', 'mean' or 'std'; got {metric!r}")
    if summary.empty:
        return pd.DataFrame()
    s = summary.assign(column=[f"{e} @ L={L}" for e, L in zip(summary["estimator"], summary["L"])])
    wide = s.pivot(index="pair", columns="column", values=metric)
    wide = wide.reindex(index=list(dict.fromkeys(s["pair"])), columns=list(dict.fromkeys(s["column"])))
    wide.columns.name = None
    return wide


def pair_table(summary: pd.DataFrame, references: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per pair; for each estimator and L its variance-reduction factor and RMSE side by side.

    Columns read ``"lcv @ L=64 · VRF"`` and ``"lcv @ L=64 · RMSE"``, in the summary's order
    of estimators and L (the Studies page's table); with ``references``
    (:attr:`StudyResult.references`) a first column ``"reference"`` holds each pair's value.
    """
    if summary.empty:
        return pd.DataFrame()
    vrf, rmse = wide_table(summary, "vrf"), wide_table(summary, "rmse")
    cols = {}
    if references is not None:
        cols["reference"] = references.set_index("pair")["reference"].reindex(vrf.index)
    for c in vrf.columns:
        cols[f"{c} · VRF"] = vrf[c]
        cols[f"{c} · RMSE"] = rmse[c]
    out = pd.DataFrame(cols, index=vrf.index)
    out.index.name = "pair"
    return out


# --------------------------------------------------------------------------- runners


class _Clock:
    """Tasks done and time left, the time extrapolated from the cost (slices x points) done so far."""

    def __init__(self, plan: Plan, progress: Progress | None):
        self.costs = [plan.cost(t) for t in plan.tasks]
        self.total_cost, self.done_cost = float(sum(self.costs)), 0.0
        self.total, self.done, self.progress, self.t0 = len(self.costs), 0, progress, time.perf_counter()

    def tick(self, i: int) -> None:
        self.done += 1
        self.done_cost += self.costs[i]
        if self.progress is not None:
            elapsed = time.perf_counter() - self.t0
            left = elapsed / self.done_cost * (self.total_cost - self.done_cost) if self.done_cost else None
            self.progress(self.done, self.total, left)


def _run_local(plan: Plan, progress: Progress | None) -> StudyResult:
    t0 = time.perf_counter()
    clock = _Clock(plan, progress)
    results, interrupted = {}, False
    try:
        for i, task in enumerate(plan.tasks):
            results[i] = run_task(task, plan.data[task.pair], plan.config)
            clock.tick(i)
    except KeyboardInterrupt:
        interrupted = True
    return _assemble(plan, results, _meta(plan, "in-process", time.perf_counter() - t0), interrupted)


def connect(*, workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0):
    """A ``distributed.Client``: a new local cluster of ``workers`` processes (one thread each), or ``scheduler``.

    ``timeout`` (seconds) bounds the wait for a scheduler; an address that does not parse or a
    scheduler that does not answer in time raises :class:`InputError` naming the address.
    The caller closes it (``client.close()``; for a local cluster, ``client.cluster.close()`` too).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("clusters need dask.distributed: pip install 'dask[distributed]'") from None
    if (workers is None) == (scheduler is None):
        raise InputError("give either workers (a local cluster) or scheduler (an address), not both or neither")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise InputError(f"scheduler must be an address like tcp://host:8786; got {scheduler!r}")
        try:
            return Client(scheduler.strip(), timeout=f"{float(timeout)}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        except ValueError as exc:  # distributed's own parse of the address
            raise InputError(f"{scheduler!r} is not a Dask scheduler address (like tcp://host:8786): {exc}") from None
    workers = _whole(workers, "workers")
    import dask

    # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536. Any fixed trim threshold also
    # fixes glibc's mmap threshold at 128 KiB, so in a worker's task thread every (L, n) projection
    # buffer is a fresh mmap that page-faults afresh: a task ran 2 to 3x slower than in-process
    # (n = 4096, L = 256). Both thresholds at 64 MiB keep the buffers, as in-process.
    env = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": WORKER_MALLOC_THRESHOLD,
           "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": WORKER_MALLOC_THRESHOLD}
    with dask.config.set(env):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster, set_as_default=False)


#: glibc's ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` for the workers of
#: :func:`connect`'s local clusters (bytes; see the README for workers started by hand).
WORKER_MALLOC_THRESHOLD = 64 << 20


def _hold(value):
    """A value as the result of a task (see :class:`StudyRun`)."""
    return value


class StudyRun:
    """A study submitted to a Dask cluster, polled without blocking (the Studies page) or waited on.

    ``done()`` and ``progress()`` never block; ``result()`` gathers what finished (cancelling
    the rest when ``cancel=True``); ``wait(progress)`` blocks, reporting each finished task,
    and turns Ctrl-C into a cancelled, partial result.
    """

    def __init__(self, plan: Plan, client, retries: int = 2):
        self.plan, self.client, self.t0 = plan, client, time.perf_counter()
        prefix = f"swviz-study-{uuid.uuid4().hex[:10]}"
        cfg = plan.config
        # Each pair's arrays are a task's result (not scattered data): the scheduler keeps the task
        # and recomputes it if every worker holding the arrays dies. Scattered data cannot be
        # recomputed, and the scheduler's memory manager drops the replicas that a broadcast made
        # once no task on that worker waits for them: killing the one holder left then failed
        # every task of the pair. Replicated once to every worker, they then travel by reference.
        self.data = data = [client.submit(_hold, arrays, key=f"{prefix}-pair-{j}", pure=False)
                            for j, arrays in enumerate(plan.data)]
        cfg_f = client.submit(_hold, cfg, key=f"{prefix}-config", pure=False)
        client.replicate([*data, cfg_f])
        self.futures = [client.submit(run_task, t, data[t.pair], cfg_f, key=f"{prefix}-{i}", retries=retries,
                                      pure=False) for i, t in enumerate(plan.tasks)]
        self.index = {f.key: i for i, f in enumerate(self.futures)}
        self.interrupted = False

    def progress(self) -> tuple[int, int]:
        return sum(f.done() for f in self.futures), len(self.futures)

    def done(self) -> bool:
        return all(f.done() for f in self.futures)

    def cancel(self) -> None:
        self.interrupted = not self.done()
        self.client.cancel([f for f in self.futures if not f.done()])

    def _collect(self, i, fut) -> dict | tuple:
        if fut.status == "finished":
            return fut.result()
        if fut.status == "cancelled":
            return ("cancelled", "the study was interrupted before this task ran")
        exc = fut.exception()
        return ("worker", f"{type(exc).__name__}: {exc}")

    def result(self, cancel: bool = False) -> StudyResult:
        if cancel:
            self.cancel()
        results = {i: self._collect(i, f) for i, f in enumerate(self.futures) if f.done()}
        runner = f"dask at {self.client.scheduler.address}"
        return _assemble(self.plan, results, _meta(self.plan, runner, time.perf_counter() - self.t0),
                         self.interrupted)

    def wait(self, progress: Progress | None = None) -> StudyResult:
        from distributed import as_completed

        clock = _Clock(self.plan, progress)
        try:
            for fut in as_completed(self.futures, loop=self.client.loop):
                clock.tick(self.index[fut.key])
        except KeyboardInterrupt:
            return self.result(cancel=True)
        return self.result()


def submit_study(plan_or_cfg, client, chunk: int | None = None) -> StudyRun:
    """Scatter the pairs and submit every task to ``client``; returns at once."""
    plan = plan_or_cfg if isinstance(plan_or_cfg, Plan) else plan_study(plan_or_cfg, chunk)
    return StudyRun(plan, client)


def run_study(cfg: StudyConfig | Plan, *, workers: int | None = None, scheduler: str | None = None, client=None,
              chunk: int | None = None, progress: Progress | None = None) -> StudyResult:
    """Run a study in-process (default), on a new local cluster (``workers``), a scheduler, or a ``client``.

    Parameters
    ----------
    cfg : StudyConfig or Plan
        From :func:`parse_config` or :func:`load_config` (or a :func:`plan_study` already built;
        ``chunk`` is then its own).
    workers : int, optional
        Start a ``LocalCluster`` of this many single-thread processes for the study.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    client : distributed.Client, optional
        Use this client (left open).
    chunk : int, optional
        Repeats per task (overrides the config; the table does not change).
    progress : callable ``(done, total, seconds_left)``, optional

    Returns
    -------
    StudyResult
    """
    if sum(v is not None for v in (workers, scheduler, client)) > 1:
        raise InputError("give at most one of workers, scheduler and client")
    plan = cfg if isinstance(cfg, Plan) else plan_study(cfg, chunk)
    if workers is None and scheduler is None and client is None:
        return _run_local(plan, progress)
    own = client is None
    if own:
        client = connect(workers=workers, scheduler=scheduler)
    try:
        return StudyRun(plan, client).wait(progress)
    finally:
        if own:
            cluster = client.cluster if workers is not None else None
            client.close()
            if cluster is not None:
                cluster.close()

