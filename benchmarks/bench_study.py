"""Benchmark: the default variance study, against a naive loop and against POT, side by side.

The default study of the Variance page: six estimators (MC, lower CV, upper CV, SHCV of
degree <= 4, randomised spiral, scrambled equal-area Sobol: two of them randomised QMC),
seven values of L from 16 to 1024, 100 repeats, n = 1024 points per shape, d = 3
(sphere vs torus). ``--grid issue`` uses the issue's literal grid instead (10..1000 at 7
log-spaced values).

Measured:

* ``swviz.variance_study``: wall time to complete, time to the first curves (the first
  progress report with two values of L), growth of the peak resident memory;
* a naive loop: one ``swviz.sliced_wasserstein`` call per estimator, L and repeat (no shared
  pools, no nested prefixes), timed on a subset of repeats and scaled (cost is linear in them);
* the naive loop again with the study's slice chunks (isolates what sharing pools buys: the
  plain ``sliced_wpp`` chunks let OpenBLAS threads fight the slice engine's thread pool);
* the same naive loop through POT: ``ot.sliced_wasserstein_distance(..., projections=...,
  log=True)`` gives the per-slice values, combined by each estimator's own rule (POT has
  MC only), timed on fewer repeats and scaled.

Run from the project root:  python benchmarks/bench_study.py [--repeats 100] [--grid page|issue]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import ot

import swviz
from swviz.estimators import Moments
from swviz.shapes import sample_shape
from swviz.study import DEFAULT_ESTIMATORS, DEFAULT_L_GRID, _slices

ISSUE_GRID = tuple(int(round(v)) for v in np.geomspace(10, 1000, 7))  # 10, 22, 46, 100, 215, 464, 1000


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_study(x, y, names, grid, repeats, ref):
    t0 = time.perf_counter()
    first = [None]

    def progress(fraction, frame):
        if first[0] is None and frame["L"].nunique() >= 2:
            first[0] = time.perf_counter() - t0

    rss0 = _maxrss_mb()
    df = swviz.variance_study(x, y, estimators=names, L_grid=grid, n_repeats=repeats, reference=ref,
                              progress=progress)
    return df, time.perf_counter() - t0, first[0], _maxrss_mb() - rss0


def naive_swviz(x, y, names, grid, repeats):
    t0 = time.perf_counter()
    for name in names:
        reps = repeats if swviz.get_estimator(name).random else 1
        for L in grid:
            for r in range(reps):
                try:
                    swviz.sliced_wasserstein(x, y, estimator=name, n_projections=L, seed=r)
                except swviz.InputError:
                    break  # e.g. SHCV with too few directions
    return time.perf_counter() - t0


def naive_loop(x, y, names, grid, repeats, slicer):
    """The naive loop: each estimate draws its own directions and slices them with ``slicer``."""
    moments = Moments.of(x, y)
    t0 = time.perf_counter()
    for name in names:
        est = swviz.get_estimator(name)
        reps = repeats if est.random else 1
        for L in grid:
            for r in range(reps):
                theta = est.directions(L, x.shape[1], np.random.default_rng(r))
                try:
                    est.combine(slicer(x, y, theta), theta, moments)
                except swviz.InputError:
                    break  # e.g. SHCV with too few directions
    return time.perf_counter() - t0


def small_chunks(x, y, theta):
    """The study's BLAS-friendly chunks: the naive loop with them isolates the pool sharing."""
    return _slices(x, y, theta, None, None, 2.0)


def pot_slices(x, y, theta):
    _, log = ot.sliced_wasserstein_distance(x, y, projections=theta.T, p=2, log=True)
    return np.asarray(log["projected_emds"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("-n", type=int, default=1024)
    ap.add_argument("--grid", choices=["page", "issue"], default="page")
    ap.add_argument("--naive-repeats", type=int, default=10, help="repeats actually run by the naive loop")
    ap.add_argument("--pot-repeats", type=int, default=2, help="repeats actually run through POT")
    args = ap.parse_args(argv)

    grid = DEFAULT_L_GRID if args.grid == "page" else ISSUE_GRID
    names = list(DEFAULT_ESTIMATORS)
    x, y = sample_shape("sphere", args.n, 0), sample_shape("torus", args.n, 1)
    print(f"cores: {os.cpu_count()} · n = {args.n} per shape, d = 3 · estimators: {', '.join(names)}")
    print(f"L grid: {list(grid)} · repeats: {args.repeats}")

    # sanity: POT's per-slice values are ours
    theta = swviz.directions.uniform(8, 3, np.random.default_rng(0))
    _, log = ot.sliced_wasserstein_distance(x, y, projections=theta.T, p=2, log=True)
    ours = swviz.slices.sliced_wpp(x, y, theta)
    assert np.allclose(np.asarray(log["projected_emds"]), ours, rtol=1e-10), "POT and swviz disagree on slices"

    # end to end, as on a first visit of the page: the study computes its reference first
    df, t_study, t_first, rss = run_study(x, y, names, grid, args.repeats, None)
    ref = df.attrs["reference"]
    print(f"reference: {ref:.8g} ({df.attrs['reference_method']})")
    print(f"\nvariance_study: {t_study:.2f} s to complete (target < 10 s), first curves after {t_first:.2f} s "
          f"(target < 2 s), both including the reference; peak RSS grew by {rss:.0f} MB")

    k = max(1, min(args.naive_repeats, args.repeats))
    t_naive = naive_swviz(x, y, names, grid, k) * args.repeats / k
    print(f"naive loop over sliced_wasserstein: {t_naive:.1f} s (timed on {k} repeats, scaled x{args.repeats / k:g})")
    t_small = naive_loop(x, y, names, grid, k, small_chunks) * args.repeats / k
    print(f"naive loop with the study's slice chunks: {t_small:.1f} s (timed on {k} repeats, scaled)")
    k_pot = max(1, min(args.pot_repeats, args.repeats))
    t_pot = naive_loop(x, y, names, grid, k_pot, pot_slices) * args.repeats / k_pot
    print(f"naive loop through POT's sliced_wasserstein_distance: {t_pot:.1f} s "
          f"(timed on {k_pot} repeats, scaled x{args.repeats / k_pot:g})")

    print("\nratios (time of the alternative / time of variance_study):")
    print(f"  naive swviz loop / study: {t_naive / t_study:6.1f}x")
    print(f"  naive loop, same chunks / study (sharing pools and prefixes alone): {t_small / t_study:6.1f}x")
    print(f"  naive POT loop   / study: {t_pot / t_study:6.1f}x")
    print(f"  POT loop / naive swviz loop (slice engine alone): {t_pot / t_naive:6.1f}x")

    table = swviz.reduction_table(df)
    print("\nvariance-reduction factors against MC (Var[MC] / Var[estimator]):")
    print(table.map(lambda v: f"{v:.3g}").to_string())


if __name__ == "__main__":
    main()
