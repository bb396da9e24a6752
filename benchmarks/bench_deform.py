"""Deformation losses and one ODE iteration: SW (L = 100) against Chamfer by exact nearest neighbours.

    python benchmarks/bench_deform.py [--sizes 1000,3000,10000,30000,100000] [--L 100] [--repeat 3]

For each n, two clouds of n points in 3D (uniform on two spheres) and the loss with its
gradient (forward + backward, best of ``--repeat``, wall clock and process CPU):

* ``sw``: :func:`swviz.autodiff.sw_loss`, Monte Carlo, L directions (cost ~ L n log n);
* ``chamfer-torch``: :func:`swviz.deformation.chamfer` with exact nearest neighbours by chunked
  ``torch.cdist`` (cost ~ n^2; memory O(n));
* ``chamfer-kdtree``: the same loss, nearest neighbours by scipy's cKDTree (~ n log n).

It prints the ratio Chamfer-torch / SW per n and the crossover (the first n where exact
Chamfer in torch costs more than SW), the growth exponent of each between the smallest and
largest n, and then one Adam iteration of :func:`swviz.deformation.deform` with the neural ODE at
about 10k vertices (an icosphere, 10,242 vertices, onto an ellipsoid), per loss. All figures
are measured side by side in one run; on a shared machine the CPU column is the steadier one.
Last, :func:`swviz.deformation.self_intersections` on meshes of 50k and 82k faces, clean and
pushed through themselves.
"""

import argparse
import time

import numpy as np
import torch
import trimesh

from swviz.autodiff import sw_loss
from swviz.deformation import chamfer, deform, self_intersections


def _clouds(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = rng.standard_normal((n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return x, 1.2 * y + 0.1


def _time(fn, repeat):
    best_w, best_c = np.inf, np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best_w, best_c = min(best_w, time.perf_counter() - t0), min(best_c, time.process_time() - c0)
    return best_w, best_c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,3000,10000,30000,100000")
    ap.add_argument("--L", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ode-steps", type=int, default=3, help="iterations timed for the 10k-vertex ODE (best)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"loss + gradient, d = 3, L = {args.L}, best of {args.repeat} (seconds: wall / cpu)")
    print(f"{'n':>8} {'sw':>16} {'chamfer-torch':>16} {'chamfer-kdtree':>16} {'torch/sw':>9}")
    rows = []
    for n in sizes:
        xn, yn = _clouds(n)

        def run(kind, xn=xn, yn=yn):
            x = torch.tensor(xn, requires_grad=True)
            y = torch.tensor(yn)
            loss = (sw_loss(x, y, n_projections=args.L, seed=0) if kind == "sw"
                    else chamfer(x, y, "torch" if kind == "chamfer-torch" else "kdtree"))
            loss.backward()

        t = {k: _time(lambda k=k: run(k), args.repeat) for k in ("sw", "chamfer-torch", "chamfer-kdtree")}
        rows.append((n, t))
        cell = {k: f"{w:.4f}/{c:.4f}" for k, (w, c) in t.items()}
        print(f"{n:>8} {cell['sw']:>16} {cell['chamfer-torch']:>16} {cell['chamfer-kdtree']:>16} "
              f"{t['chamfer-torch'][1] / t['sw'][1]:>9.2f}", flush=True)

    cross = next((n for n, t in rows if t["chamfer-torch"][1] > t["sw"][1]), None)
    print(f"crossover (CPU): exact Chamfer in torch costs more than SW from n = {cross:,}" if cross else
          "crossover: none in this range (exact Chamfer in torch stayed cheaper)")
    if len(rows) >= 2:
        (n0, t0), (n1, t1) = rows[0], rows[-1]
        for k in ("sw", "chamfer-torch", "chamfer-kdtree"):
            slope = np.log(t1[k][1] / t0[k][1]) / np.log(n1 / n0)
            print(f"growth exponent {k:>15}: {slope:.2f}  (cost ~ n^slope, CPU, n = {n0:,}..{n1:,})")

    ico = trimesh.creation.icosphere(5)
    v, f = np.asarray(ico.vertices), np.asarray(ico.faces)
    target = (v * [1.3, 1.0, 0.75], f)
    print(f"\none ODE iteration at {len(v):,} vertices ({len(f):,} faces), RK4 10 steps, MLP 64 x 2, "
          f"L = {args.L} (best of {args.ode_steps}, seconds per iteration)")
    for loss in ("sw-varifold", "sw-vertices", "sw-surface", "chamfer"):
        for field in ("ode", "free"):
            r = deform((v, f), target, loss=loss, field=field, steps=args.ode_steps, n_projections=args.L,
                       metrics=False, record_every=args.ode_steps, threads=args.threads)
            print(f"  {loss:>12} {field:>5}: {r.seconds / args.ode_steps:.3f} s", flush=True)
    _bench_intersections(args.repeat)


def _bench_intersections(repeat: int) -> None:
    """Self-intersecting face pairs of a 50,000-face torus, clean and with a slab pushed through itself."""
    torus = trimesh.creation.torus(1.0, 0.35, major_sections=250, minor_sections=100)
    v, f = np.asarray(torus.vertices), np.asarray(torus.faces)
    crossed = v.copy()
    crossed[v[:, 0] > 0.8, 0] -= 0.5  # the outer rim at +x sinks through the inner one
    ico = trimesh.creation.icosphere(6)
    w, g = np.asarray(ico.vertices), np.asarray(ico.faces)
    pushed = w.copy()
    pushed[w[:, 2] > 0, 2] -= 0.5  # the top cap sinks through the bottom one
    print(f"\nself_intersections (best of {repeat}, seconds: wall / cpu)")
    for name, (x, faces) in {"torus": (v, f), "torus, rim pushed through": (crossed, f),
                             "icosphere(6)": (w, g), "icosphere(6), cap pushed through": (pushed, g)}.items():
        count = len(self_intersections(x, faces))
        wall, cpu = _time(lambda x=x, faces=faces: self_intersections(x, faces), repeat)
        print(f"  {name:>34}: {len(faces):,} faces, {count:,} pairs, {wall:.3f} / {cpu:.3f}", flush=True)


if __name__ == "__main__":
    main()
