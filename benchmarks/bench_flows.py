"""Gradient-flow speed: 500 steps at n = 1024, d = 3, L = 100 per estimator (target: under 3 s).

    python benchmarks/bench_flows.py [--estimators mc,lcv,ucv] [--all] [--steps 500] [--n 1024] [--L 100]

Times the flow alone (``FlowResult.flow_seconds``: directions, slices, gradients, Euler
steps; no ``W_2^2``), wall clock and process CPU time, best of ``--repeat`` runs, for each
estimator; ``--all`` runs every registered estimator of d = 3. Then the page's default
preset end to end (three flows and their ``W_2^2`` by exact OT), and the cost of one exact
``W_2^2`` at a few sizes. On a shared machine the CPU column is the steadier one.
"""

import argparse
import time

import numpy as np

import swviz
from swviz.flows import PRESETS, gradient_flow, w2_squared
from swviz.shapes import sample_shape


def _flow(x, y, est, args):
    t0, c0 = time.perf_counter(), time.process_time()
    r = gradient_flow(x, y, estimator=est, n_projections=args.L, step_size=0.1, n_steps=args.steps,
                      record_every=args.steps, seed=0, w2_steps=[0])
    return r, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--estimators", default="mc,lcv,ucv")
    ap.add_argument("--all", action="store_true", help="every registered estimator that exists in d = 3")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--L", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    names = list(swviz.ESTIMATORS) if args.all else args.estimators.split(",")
    names = [e for e in names if swviz.get_estimator(e).dims in (None,) or 3 in swviz.get_estimator(e).dims]

    x = sample_shape("sphere", args.n, 0)
    y = sample_shape("torus", args.n, 1)
    _flow(x, y, "mc", argparse.Namespace(L=args.L, steps=5))  # warm-up (thread pool, imports)
    print(f"{args.steps} steps, n = {args.n}, d = 3, L = {args.L} (flow only, best of {args.repeat})")
    print(f"{'estimator':24s} {'wall s':>7s} {'cpu s':>7s} {'ms/step':>8s}  gradient")
    for est in names:
        runs = [_flow(x, y, est, args) for _ in range(args.repeat)]
        r = min(runs, key=lambda t: t[0].flow_seconds)[0]
        cpu = min(t[2] for t in runs)
        flag = "ok" if r.flow_seconds < 3.0 else "OVER 3 s"
        print(f"{est:24s} {r.flow_seconds:7.2f} {cpu:7.2f} {1e3 * r.flow_seconds / args.steps:8.2f}  "
              f"[{flag}] {r.gradient}")

    p = PRESETS["fast"]
    xs, ys = p.prepare(sample_shape("sphere", p.n_points, 0), sample_shape("torus", p.n_points, 1))
    t0 = time.perf_counter()
    total_w2 = 0.0
    for est in p.estimators:
        r = gradient_flow(xs, ys, estimator=est, n_projections=p.n_projections, step_size=p.step_size,
                          n_steps=p.n_steps, record_every=5, seed=0, loss=p.loss,
                          w2_steps=sorted({0, 1, 4, 14, 53, *p.table_steps}))
        total_w2 += r.w2_seconds
    print(f"\npreset 'fast' ({len(p.estimators)} estimators, {p.n_points} particles, {p.n_steps} steps, "
          f"W_2^2 at {len(r.w2_steps)} steps each): {time.perf_counter() - t0:.2f} s, of which W_2^2 {total_w2:.2f} s")

    rng = np.random.default_rng(0)
    for n in (512, 1024, 2048):
        a, b = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) + 0.5
        t0 = time.perf_counter()
        w2_squared(a, b)
        print(f"exact W_2^2 (POT emd2) at n = {n}: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
