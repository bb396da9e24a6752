"""Amortized slicing: the predicted direction against the per-pair ascent, and attention's cost in n.

    python benchmarks/bench_amortized.py [--n 2048] [--pairs 8] [--repeat 3] [--threads 1] [--eval 4000]

1. On ``--pairs`` pairs of held-out library shapes (:data:`swviz.amortized.HELD_OUT_SHAPES`, never
   seen in training; augmented like training pairs, then scaled together to unit RMS) at ``n``
   points each in 3D: the default model's direction against :func:`swviz.max_sw` (time, best of
   ``--repeat``; target at least 20x faster), and the amortized v-DSW against the per-pair
   :func:`swviz.vmf_dsw` (kappa = 10; target at least 90% of its value), with the amortization gaps.
   Both v-DSW values are evaluated at their locations with the same ``--eval`` vMF draws rotated
   onto each location (common random numbers), so the ratio measures the locations, not the
   Monte Carlo noise of two separate 100-direction estimates (about 3% each, which alone moved a
   ratio of 0.82 to 0.90).
2. Efficient attention against full softmax attention, one forward pass of equally sized fresh
   models, from n = 512 to 8,192 points per cloud (full attention stops at 2,048: its (2n)^2
   attention matrix is 0.5 GB at n = 4,096), with the growth factor per doubling of n (linear: 2,
   quadratic: 4).
"""

import argparse
import time

import numpy as np
import torch

import swviz
from swviz import amortized


def _best(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--eval", type=int, default=4000, help="vMF draws that evaluate each v-DSW location")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = amortized.load_default()
    sampler = amortized.PairSampler(amortized.HELD_OUT_SHAPES, pool=max(4096, args.n), seed=2024)
    rows = []
    for k in range(args.pairs):
        x, y = sampler.pair(args.n)
        c = 0.5 * (x.mean(0) + y.mean(0))
        s = np.sqrt(0.5 * (((x - c) ** 2).sum(1).mean() + ((y - c) ** 2).sum(1).mean()))
        x, y = (x - c) / s, (y - c) / s
        t_model, theta = _best(lambda x=x, y=y: model.direction(x, y), args.repeat)
        t_max, msw = _best(lambda x=x, y=y, k=k: swviz.max_sw(x, y, seed=k), args.repeat)
        t_vd, vd = _best(lambda x=x, y=y, k=k: swviz.vmf_dsw(x, y, kappa=10.0, n_projections=100, seed=k), 1)
        am = float(swviz.slices.sliced_wpp(x, y, theta[None])[0])

        def vdsw_at(mu, x=x, y=y, k=k):  # E_{vMF(mu, 10)} W_2^2, the same draws for every location
            return float(swviz.slices.sliced_wpp(x, y, swviz.sample_vmf(mu, 10.0, args.eval, seed=1000 + k)).mean())

        rows.append((t_model, t_max, t_vd, am, msw.value, vdsw_at(theta), vdsw_at(vd.direction)))
    r = np.asarray(rows)
    print(f"1. held-out library pairs, n = {args.n}, d = 3, {args.pairs} pairs, torch threads {args.threads}")
    print(f"   model direction      {np.median(r[:, 0]) * 1e3:8.1f} ms (median)")
    print(f"   Max-SW ascent        {np.median(r[:, 1]) * 1e3:8.1f} ms  -> speed-up x{np.median(r[:, 1] / r[:, 0]):.1f}"
          " (target >= 20)")
    print(f"   v-DSW ascent         {np.median(r[:, 2]) * 1e3:8.1f} ms  -> speed-up "
          f"x{np.median(r[:, 2] / r[:, 0]):.1f}")
    ratio_v, ratio_m = r[:, 5] / r[:, 6], r[:, 3] / r[:, 4]
    print(f"   amortized v-DSW / per-pair v-DSW: mean {ratio_v.mean():.3f}, min {ratio_v.min():.3f} (target >= 0.90)")
    print(f"   amortized Max-SW / per-pair Max-SW: mean {ratio_m.mean():.3f}, min {ratio_m.min():.3f}")
    print(f"   amortization gap (per-pair - amortized), relative: v-DSW {np.mean(1 - ratio_v):.3f}, "
          f"Max-SW {np.mean(1 - ratio_m):.3f}")

    print("2. one forward pass (fresh models, width 32, 2 layers), per cloud size n")
    torch.manual_seed(0)
    eff = amortized.build_model({"kind": "efficient", "dim": 3})
    full = amortized.build_model({"kind": "attention", "dim": 3})
    prev = {}
    rng = np.random.default_rng(0)
    for n in (512, 1024, 2048, 4096, 8192):
        xt = torch.from_numpy(rng.normal(size=(1, n, 3)))
        yt = torch.from_numpy(rng.normal(size=(1, n, 3)) + 0.3)
        line = f"   n = {n:5d}:"
        for name, m in (("efficient", eff), ("full", full)):
            if name == "full" and n > 2048:
                line += f"  {name} —"
                continue
            with torch.no_grad():
                t, _ = _best(lambda m=m, xt=xt, yt=yt: m(xt, yt), args.repeat)
            growth = f" (x{t / prev[name]:.2f})" if name in prev else ""
            prev[name] = t
            line += f"  {name} {t * 1e3:8.1f} ms{growth}"
        print(line)


if __name__ == "__main__":
    main()
