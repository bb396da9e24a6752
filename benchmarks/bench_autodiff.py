"""The differentiable engine: its backward against its forward, against naive torch autograd, and flows.

    python benchmarks/bench_autodiff.py [--quick]

Measured side by side in one run (machines are noisy: read the ratios):

1. At n = 1024 and 8192, d = 3, L = 100, equal sizes: the op's forward alone (the numpy slice
   engine), its forward plus backward (gradients in x), and a naive torch version (project,
   ``torch.sort``, difference, autograd through the sort's gather). Targets: the backward adds
   at most 1x the forward; ours at least 3x faster than the naive one. Measured twice: with
   torch's default intra-op threads (the naive version sorts rows in parallel; our op, beside
   torch's spinning OpenMP team, sorts on one thread) and with one torch thread, as the flows and
   trainings run (our op then sorts halves on the engine's small pool). A last line gives this
   machine's ``np.sort`` against ``torch.sort`` on one thread: the op's lead rests on it (the
   issue assumed numpy's SIMD sort several times faster; that depends on the CPU).
2. 500 gradient-flow steps at n = 1024, L = 100 for mc, lcv, ucv and shcv-4 (velocities by
   autograd through ``sw_loss``), against a closed-form Monte Carlo flow written out in numpy
   here (the hand-derived velocity ``(2n/L) sum_l r_l theta_l`` that the flows used before the
   engine), the naive baseline.
3. The same flows against the previous release's closed-form flows, estimator by estimator
   (``--previous REV``, default the last commit before the engine: each estimator's velocity
   derived by hand). Both run in 5 fresh processes each with the same allocator settings,
   alternately; the old tree is checked out with ``git worktree`` into a temporary folder and
   removed after. Reported: the ratio of the best times and the ratio of the medians (steadier
   on a shared machine). Target: each within 1.3x of the previous release's flow, and under 1 s.

Parts 1 and 2 report the best of several runs, interleaved.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from swviz._threads import torch_threads
from swviz.autodiff import slice_wpp
from swviz.flows import gradient_flow
from swviz.shapes import sample_shape
from swviz.slices import slice_costs


def _best(fns: dict, repeats: int) -> dict:
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def _op(n: int, L: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) + 1.0
    g = rng.normal(size=(L, 3))
    theta = torch.tensor(g / np.linalg.norm(g, axis=1, keepdims=True))
    xt, yt = torch.tensor(x), torch.tensor(y)

    def forward():
        with torch.no_grad():
            slice_wpp(xt, yt, theta).mean()

    def ours():
        z = xt.clone().requires_grad_(True)
        slice_wpp(z, yt, theta).mean().backward()

    def naive():
        z = xt.clone().requires_grad_(True)
        xs = torch.sort(theta @ z.T, dim=1).values
        ys = torch.sort(theta @ yt.T, dim=1).values
        ((xs - ys) ** 2).mean(dim=1).mean().backward()

    # the same numbers first
    z1, z2 = xt.clone().requires_grad_(True), xt.clone().requires_grad_(True)
    slice_wpp(z1, yt, theta).mean().backward()
    xs = torch.sort(theta @ z2.T, dim=1).values
    ((xs - torch.sort(theta @ yt.T, dim=1).values) ** 2).mean(dim=1).mean().backward()
    assert torch.allclose(z1.grad, z2.grad, rtol=1e-9, atol=1e-14)
    return _best({"forward": forward, "forward+backward": ours, "naive torch": naive}, repeats)


def _sorts(n: int, L: int, repeats: int) -> dict:
    """Row sorts of an (L, n) float64 array by numpy and by torch (the op's forward is mostly sorting)."""
    v = np.random.default_rng(1).normal(size=(L, n))
    vt = torch.from_numpy(v)
    return _best({"np.sort": lambda: np.sort(v, axis=-1), "torch.sort": lambda: torch.sort(vt, dim=-1)},
                 max(repeats, 5))


def _closed_form_mc_flow(x, y, L, h, steps, seed):
    """The hand-derived Monte Carlo flow in numpy: ``v_i = (n/L) sum_l (dW_l / d<theta_l, z_i>) theta_l``."""
    rng = np.random.default_rng(seed)
    z = x.copy()
    n = z.shape[0]
    t0 = time.perf_counter()
    for _ in range(steps):
        g = rng.standard_normal((L, 3))
        theta = g / np.linalg.norm(g, axis=1, keepdims=True)
        _, gx, _ = slice_costs(z, y, theta, grad_x=True)  # (L, n): (2/n)(theta'z_i - matched y)
        z = z - h * (n / L) * (gx.T @ theta)
    return time.perf_counter() - t0, z


ROOT = Path(__file__).resolve().parents[1]
#: The last commit whose flows derived each estimator's velocity by hand (before the autograd engine).
PREVIOUS = "054d0de"
FLOW_NAMES = ("mc", "lcv", "ucv", "shcv-4")
# one process's timing of the flows: the package found first on sys.path[0] (argv[1]) is timed
_FLOW_TIMER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from swviz.flows import gradient_flow
from swviz.shapes import sample_shape
x, y = sample_shape("sphere", 1024, 0), sample_shape("torus", 1024, 1)
steps = int(sys.argv[2])
gradient_flow(x, y, n_projections=100, step_size=0.1, n_steps=5, record_every=5, w2_steps=[0])  # warm-up
out = {}
for est in sys.argv[3:]:
    r = gradient_flow(x, y, estimator=est, n_projections=100, step_size=0.1, n_steps=steps, record_every=steps,
                      seed=0, w2_steps=[0])
    out[est] = [r.flow_seconds, r.gradient]
print(json.dumps(out))
"""


def _time_flows(tree: Path, steps: int, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", _FLOW_TIMER, str(tree), str(steps), *FLOW_NAMES],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def against_previous(rev: str, steps: int, repeats: int) -> None:
    """Part 3: this tree's flows against the flows of ``rev``, in alternating fresh processes."""
    print(f"\n3. {steps} flow steps, n = 1024, L = 100: this tree against {rev}'s closed-form flows "
          f"({repeats} fresh processes each, alternating)")
    with tempfile.TemporaryDirectory(prefix="swviz-previous-") as tmp:
        old = Path(tmp) / "tree"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), rev],
                              capture_output=True, text=True)
        if made.returncode != 0:
            print(f"   skipped: could not check out {rev} ({made.stderr.strip() or made.stdout.strip()})")
            return
        try:
            # the same allocator settings for both (swviz._malloc sets these in this tree's processes)
            env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": str(64 << 20), "MALLOC_MMAP_THRESHOLD_": str(64 << 20)}
            runs: dict = {"previous": {}, "now": {}}
            how = {}
            for _ in range(repeats):
                for key, tree in (("previous", old), ("now", ROOT)):
                    for est, (sec, grad) in _time_flows(tree, steps, env).items():
                        runs[key].setdefault(est, []).append(sec)
                        how[key, est] = grad
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
    # on a shared machine one process can run 30% slower than the next: the medians' ratio is the
    # steadier reading, the best times' ratio the optimistic one
    print(f"{'flow':8s} {'previous s':>11s} {'now s':>7s} {'best ratio':>11s} {'median ratio':>13s}")
    for est in FLOW_NAMES:
        prev, now = runs["previous"][est], runs["now"][est]
        best, med = min(now) / min(prev), statistics.median(now) / statistics.median(prev)
        ok = med <= 1.3 and min(now) < steps / 500  # the target: 500 steps under 1 s
        print(f"{est:8s} {min(prev):11.3f} {min(now):7.3f} {best:11.2f} {med:13.2f}   [{'ok' if ok else 'OVER'}]  "
              f"previous: {how['previous', est][:60]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and steps")
    ap.add_argument("--previous", default=PREVIOUS, help="the release to compare the flows with ('' to skip)")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    steps = 100 if args.quick else 500
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads\n")
    print(f"1. the slice op, d = 3, L = 100, equal sizes (best of {repeats})")
    print(f"{'threads':>8s} {'n':>6s} {'forward ms':>11s} {'fwd+bwd ms':>11s} {'naive ms':>9s} {'bwd/fwd':>8s} "
          f"{'naive/ours':>11s}")
    for threads in (torch.get_num_threads(), 1):
        with torch_threads(threads):
            for n in (1024, 8192):
                t = _op(n, 100, repeats)
                back = (t["forward+backward"] - t["forward"]) / t["forward"]
                speed = t["naive torch"] / t["forward+backward"]
                flags = f"{'ok' if back <= 1.0 else 'OVER 1x'}, {'ok' if speed >= 3 else 'UNDER 3x'}"
                print(f"{threads:8d} {n:6d} {1e3 * t['forward']:11.2f} {1e3 * t['forward+backward']:11.2f} "
                      f"{1e3 * t['naive torch']:9.2f} {back:8.2f} {speed:11.2f}   [{flags}]")
    with torch_threads(1):
        for n in (1024, 8192):
            t = _sorts(n, 100, repeats)
            print(f"   this machine, one thread, ({100}, {n}) rows: np.sort {1e3 * t['np.sort']:.2f} ms, "
                  f"torch.sort {1e3 * t['torch.sort']:.2f} ms ({t['torch.sort'] / t['np.sort']:.2f}x)")

    print(f"\n2. {steps} flow steps, n = 1024, d = 3, L = 100 (best of 2, interleaved)")
    x, y = sample_shape("sphere", 1024, 0), sample_shape("torus", 1024, 1)
    gradient_flow(x, y, n_projections=100, step_size=0.1, n_steps=5, record_every=5, w2_steps=[0])  # warm-up
    names = FLOW_NAMES
    best = {k: float("inf") for k in ("closed-form mc", *names)}
    for _ in range(2):
        best["closed-form mc"] = min(best["closed-form mc"], _closed_form_mc_flow(x, y, 100, 0.1, steps, 0)[0])
        for est in names:
            r = gradient_flow(x, y, estimator=est, n_projections=100, step_size=0.1, n_steps=steps,
                              record_every=steps, seed=0, w2_steps=[0])
            best[est] = min(best[est], r.flow_seconds)
    base = best["closed-form mc"]
    print(f"{'flow':16s} {'seconds':>8s} {'ms/step':>8s} {'/ closed form':>14s}")
    for k, v in best.items():
        ratio = v / base
        flag = "" if k == "closed-form mc" else f"   [{'ok' if ratio <= 1.3 else 'OVER 1.3x'}]"
        print(f"{k:16s} {v:8.3f} {1e3 * v / steps:8.2f} {ratio:14.2f}{flag}")
    # the autograd MC flow and the closed form take the same steps
    rr = gradient_flow(x, y, estimator="mc", n_projections=100, step_size=0.1, n_steps=20, record_every=20, seed=0,
                       w2_steps=[0])
    _, z = _closed_form_mc_flow(x, y, 100, 0.1, 20, 0)
    print(f"\nautograd MC flow vs closed form after 20 steps: max |difference| = {np.abs(rr.final - z).max():.2e}")
    if args.previous:
        against_previous(args.previous, steps, 2 if args.quick else 5)


if __name__ == "__main__":
    main()
