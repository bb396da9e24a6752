"""Benchmark: a study of 200 tasks on a 2-worker local Dask cluster against the same study in-process.

    python benchmarks/bench_batch.py [--workers 2] [--n 4096] [--chunk 8] [--repeats 1] [--quick]

Two studies, each exactly 200 tasks (``swviz.batch``), each run in-process and then on a
``LocalCluster`` of single-thread worker processes started once beforehand (its start-up is
reported apart):

* **speed-up**: a real study (two 3D pairs of ``--n`` points, MC and both control variates,
  L = 64, 128, 256, 11 chunks of ``--chunk`` repeats each: 198 estimate tasks and 2 reference
  tasks; about 40 ms per task in-process on one core at the defaults).
  Speed-up = in-process wall time / cluster wall time, the cluster's time counting the
  scatter of the pairs, the submission and the gathering of every result. Target: at
  least 1.6x on 2 workers (2 cores).
* **overhead per task**: a trivial study (one 2D pair of 16 points, 199 MC tasks of one
  repeat at L = 4, and its reference), where each task computes for a fraction of a
  millisecond. Overhead per task = cluster wall time per task - in-process wall time per
  task (what the scheduler, the transfers and the worker add to each task, as seen from
  the client); also given as worker time, (workers x cluster wall - in-process wall) / tasks.
  Target: under 20 ms.

The machine's ceiling is measured too: ``--workers`` copies of the in-process study run at
once in plain processes (no Dask, the workers' environment); ``workers x in-process / that`` is the most any runner
gets from these cores (shared caches, memory bandwidth, turbo, neighbours on a VM), and the
speed-up is given as a fraction of it.

Both runs must give the identical table (checked; only the ``seconds`` column may differ).
Each figure is the best of ``--repeats`` runs. The machine's load average is printed before
and after: on a shared machine other processes take cores from the workers.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from swviz import batch

SPEED = """
name = "bench-speed"
pairs = [["sphere", "torus"], ["cube", "cylinder"]]
estimators = ["mc", "lcv", "ucv"]
L = [64, 128, 256]
repeats = {repeats}
chunk = {chunk}
[measure]
n = {n}
"""
# 1 reference + 199 single-repeat MC tasks
OVERHEAD = """
name = "bench-overhead"
pairs = [["circle", "square"]]
estimators = ["mc"]
L = [4]
repeats = 199
chunk = 1
[measure]
n = 16
"""


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"), check_exact=True)


def _best(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _estimate_seconds(res) -> float:
    """Compute time of the estimates alone (the table's ``seconds``: wall time of each repeat where it ran)."""
    return float(res.table["seconds"].sum())


def _alone(plan) -> float:
    """In-process wall time of ``plan`` (run in a child process by the machine's ceiling below)."""
    t0 = time.perf_counter()
    batch.run_study(plan)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n", type=int, default=4096, help="points per shape of the speed-up study")
    ap.add_argument("--chunk", type=int, default=8, help="repeats per task of the speed-up study (11 chunks each)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each measurement (the best is kept)")
    ap.add_argument("--quick", action="store_true", help="n = 512: a smoke run (the speed-up then suffers)")
    args = ap.parse_args()
    n = 512 if args.quick else args.n

    reps = 11 * args.chunk  # 2 references + 2 pairs x 3 estimators x 3 L x 11 chunks = 200 tasks
    speed = batch.parse_config(SPEED.format(repeats=reps, chunk=args.chunk, n=n))
    tiny = batch.parse_config(OVERHEAD)
    plans = {"speed": batch.plan_study(speed), "overhead": batch.plan_study(tiny)}
    for name, plan in plans.items():
        assert len(plan.tasks) == 200, (name, len(plan.tasks))

    print(f"cores: {os.cpu_count()} · load average before: {_load()}")
    print(f"speed-up study: 2 pairs x {n} points, 3 estimators, L = 64/128/256, {reps} repeats in chunks of "
          f"{args.chunk}: "
          f"200 tasks, {sum(t.stop - t.start for t in plans['speed'].tasks if t.estimator):,} estimates")

    local = {k: _best(lambda p=p: batch.run_study(p), args.repeats) for k, p in plans.items()}
    # the machine's own ceiling: two copies of the in-process study at once, in two plain processes (no Dask)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawned, not forked (a fork would inherit the slice engine's thread pool without its threads), with the
    # environment Dask gives its workers (one BLAS thread, the malloc thresholds of swviz.batch.connect)
    worker_env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                  "MALLOC_TRIM_THRESHOLD_": str(batch.WORKER_MALLOC_THRESHOLD),
                  "MALLOC_MMAP_THRESHOLD_": str(batch.WORKER_MALLOC_THRESHOLD)}
    saved = {k: os.environ.get(k) for k in worker_env}
    os.environ.update(worker_env)
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(int, range(args.workers)))  # the processes are up before timing
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
        t0 = time.perf_counter()
        list(pool.map(_alone, [plans["speed"]] * args.workers))
        t_copies = time.perf_counter() - t0

    t0 = time.perf_counter()
    client = batch.connect(workers=args.workers)
    client.wait_for_workers(args.workers, timeout=120)
    startup = time.perf_counter() - t0
    try:
        client.run(lambda: None)  # every worker answers once before timing
        remote = {k: _best(lambda p=p: batch.run_study(p, client=client), args.repeats) for k, p in plans.items()}
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()

    for k in plans:
        _same(local[k][1].table, remote[k][1].table)
        assert remote[k][1].failures.empty and local[k][1].failures.empty, k

    t_loc, t_dask = local["speed"][0], remote["speed"][0]
    speedup = t_loc / t_dask
    o_loc, o_dask = local["overhead"][0], remote["overhead"][0]
    per_task_wall = (o_dask - o_loc) / 200
    per_task_worker = (args.workers * o_dask - o_loc) / 200

    print(f"cluster start-up ({args.workers} worker processes): {startup:.1f} s (not counted below)")
    print("tables identical in-process and on the cluster: yes (both studies)")
    print()
    print(f"speed-up study    in-process {t_loc:7.2f} s · cluster {t_dask:7.2f} s · "
          f"speed-up {speedup:.2f}x on {args.workers} workers "
          f"(= {speedup / 1.6:.2f} of the 1.6x target; parallel efficiency {speedup / args.workers:.2f})")
    print(f"                  with the cluster's start-up counted: {t_loc / (t_dask + startup):.2f}x")
    ceiling = args.workers * t_loc / t_copies
    slow = _estimate_seconds(remote["speed"][1]) / _estimate_seconds(local["speed"][1])
    print(f"                  this machine's ceiling: {args.workers} copies of the in-process study at once, without "
          f"Dask, take {t_copies:.2f} s: {ceiling:.2f}x; Dask reaches {speedup / ceiling:.2f} of it")
    print(f"                  each estimate computes {slow:.2f}x as long on a worker (cores shared) as in-process")
    print(f"overhead study    in-process {o_loc * 1e3 / 200:6.2f} ms per task · cluster {o_dask * 1e3 / 200:6.2f} ms "
          f"per task of wall time")
    print(f"overhead per task {per_task_wall * 1e3:.2f} ms of wall time (= {per_task_wall / 0.020:.2f} of the 20 ms "
          f"target); {per_task_worker * 1e3:.2f} ms of worker time (= {per_task_worker / 0.020:.2f} of the target)")
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
