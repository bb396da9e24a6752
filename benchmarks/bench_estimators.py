"""Speed of the estimators against the sort that bounds them and against POT, in one run.

n = 4096 points per cloud, d = 3, L = 1000 directions, the same directions for everyone.
Prints median-of-repeats times and the ratios (machines are noisy: read the ratios).
Targets (issue 2): mc <= 1.3x the sort bound, >= 8x faster than POT; lcv, ucv <= 1.1x mc.

    python benchmarks/bench_estimators.py [--n 4096] [--L 1000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ot

import swviz
from swviz.directions import uniform
from swviz.slices import sliced_wpp


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--L", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, 3))
    y = rng.uniform(-1, 1, size=(args.n, 3)) + [2.0, 0.0, 0.0]
    theta = uniform(args.L, 3, rng)
    xp, yp = theta @ x.T, theta @ y.T

    def sort_bound():
        np.sort(xp, axis=1)
        np.sort(yp, axis=1)

    rows = {"np.sort of the two projected (L, n) arrays": timeit(sort_bound, args.repeats)}
    for est in ("mc", "lcv", "ucv"):
        rows[f"swviz {est}"] = timeit(lambda e=est: swviz.sliced_wasserstein(x, y, estimator=e, directions=theta),
                                      args.repeats)
    rows["swviz mc slices on one thread"] = timeit(lambda: sliced_wpp(x, y, theta, threads=False).mean(),
                                                   args.repeats)
    rows["POT sliced_wasserstein_distance"] = timeit(
        lambda: ot.sliced_wasserstein_distance(x, y, projections=theta.T), max(3, args.repeats // 3))

    # same numbers from both
    ours = swviz.sliced_wasserstein(x, y, directions=theta).value
    pot = ot.sliced_wasserstein_distance(x, y, projections=theta.T) ** 2
    print(f"n = {args.n}, d = 3, L = {args.L}; |ours - POT| / POT = {abs(ours - pot) / pot:.1e}")
    for k, v in rows.items():
        print(f"  {k:45s} {v * 1e3:9.2f} ms")
    sort_t, mc = rows["np.sort of the two projected (L, n) arrays"], rows["swviz mc"]
    print("ratios:")
    print(f"  mc / sort bound               {mc / sort_t:6.2f}   (target <= 1.3)")
    one = rows["swviz mc slices on one thread"]
    print(f"  mc on one thread / sort bound {one / sort_t:6.2f}   (the pool uses both cores)")
    print(f"  POT / mc                      {rows['POT sliced_wasserstein_distance'] / mc:6.2f}   (target >= 8)")
    print(f"  lcv / mc                      {rows['swviz lcv'] / mc:6.2f}   (target <= 1.1)")
    print(f"  ucv / mc                      {rows['swviz ucv'] / mc:6.2f}   (target <= 1.1)")


if __name__ == "__main__":
    main()
