"""Functional maps with an SW alignment on a ~5,000-vertex pair: each stage timed, and SW against Sinkhorn.

    python benchmarks/bench_fmaps.py [--max-edge 0.078] [--align-sizes 5000,20000] [--steps 3]

1. A bar (the library's, refined to about 5,000 vertices) against its bent copy: the Laplacian,
   the eigenpairs at k = 50 and 100, the descriptors, then ``fmap`` and ``fmap-sw`` end to end
   (k = 50) with their stages (functional-map solve, ZoomOut, SW alignment, Sinkhorn), and
   their mean geodesic error against the truth. Target: the whole ``fmap-sw`` under 15 s on 2 cores.
2. The alignment step alone, SW (``swviz.autodiff.sw_loss``, O(L n log n)) against the same
   alignment with POT's Sinkhorn on the full (n, n) cost matrix (``ot.sinkhorn2``, torch
   backend), seconds per optimisation step at each size, measured side by side.

Wall clock and process CPU time are printed; on a shared machine the CPU column is steadier.
"""

import argparse
import time

import numpy as np
import torch
import trimesh

from swviz.correspondence import correspond_meshes, geodesic_error, prepare_mesh
from swviz.fmaps import sw_align
from swviz.shapes.deform import deform


def bar(max_edge):
    m = trimesh.creation.box(extents=(0.6, 0.6, 3.0))
    return trimesh.remesh.subdivide_to_size(m.vertices, m.faces, max_edge=max_edge)


def timed(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-edge", type=float, default=0.078)
    ap.add_argument("--align-sizes", default="5000,20000")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)

    v, f = bar(args.max_edge)
    w = deform(v, "bend", 1.0)
    print(f"pair: bar with {len(v):,} vertices, {len(f):,} faces, against its bent copy (same vertex order)")
    print(f"{'stage':<34}{'wall s':>9}{'cpu s':>9}")
    (s, t), wall, cpu = timed(lambda: (prepare_mesh((v, f)), prepare_mesh((w, f))))
    print(f"{'Laplacian + mass (both)':<34}{wall:>9.2f}{cpu:>9.2f}")
    for k in (50, 100):
        fresh = prepare_mesh((v, f)), prepare_mesh((w, f))
        _, wall, cpu = timed(lambda ms, kk: [m.eigenbasis(kk) for m in ms], fresh, k)
        print(f"{f'eigenpairs k = {k} (both)':<34}{wall:>9.2f}{cpu:>9.2f}")
    _, wall, cpu = timed(lambda: [m.eigenbasis(50) for m in (s, t)])
    _, wall, cpu = timed(lambda: [m.descriptors(50) for m in (s, t)])
    print(f"{'descriptors WKS+HKS (both)':<34}{wall:>9.2f}{cpu:>9.2f}")
    true = np.arange(len(v))
    for method in ("fmap", "fmap-sw"):
        s2, t2 = prepare_mesh((v, f)), prepare_mesh((w, f))  # end to end: nothing cached
        c, wall, cpu = timed(correspond_meshes, s2, t2, method=method, k=50)
        err = geodesic_error(t2, c.target_index, true).mean()
        stages = ", ".join(f"{k} {x:.2f}" for k, x in c.stages.items())
        print(f"{method + ' end to end':<34}{wall:>9.2f}{cpu:>9.2f}   error {err:.4f}   ({stages})")
    c, wall, cpu = timed(lambda: correspond_meshes(s, t, method="assignment"))
    print(f"{'assignment (extrinsic)':<34}{wall:>9.2f}{cpu:>9.2f}   error "
          f"{geodesic_error(t, c.target_index, true).mean():.4f}")

    print(f"\nalignment step, SW vs Sinkhorn on the full cost matrix ({args.steps} Adam steps, k = 30)")
    for n in (int(x) for x in args.align_sizes.split(",")):
        edge = args.max_edge * np.sqrt(len(v) / n)
        vv, ff = bar(edge)
        a, b = prepare_mesh((vv, ff)), prepare_mesh((deform(vv, "bend", 1.0), ff))
        ex, px = a.eigenbasis(30)
        ey, py = b.eigenbasis(30)
        Ax, Ay = np.zeros((30, 1)), np.zeros((30, 1))
        row = []
        for loss in ("sw", "sinkhorn"):
            try:
                _, wall, cpu = timed(sw_align, np.eye(30), Ax, Ay, ex, ey, px, py, a.mass, b.mass,
                                     n_steps=args.steps, loss=loss)
                row.append((loss, wall / args.steps, cpu / args.steps))
            except (MemoryError, RuntimeError) as exc:
                row.append((loss, float("nan"), float("nan")))
                print(f"  {loss} at n = {len(vv):,}: {exc}")
        (_, sw_w, sw_c), (_, sk_w, sk_c) = row
        print(f"  n = {len(vv):>6,}: SW {sw_w:.3f} s/step (cpu {sw_c:.3f}), Sinkhorn {sk_w:.3f} s/step "
              f"(cpu {sk_c:.3f}); Sinkhorn / SW = {sk_w / sw_w:.1f}x wall, {sk_c / sw_c:.1f}x cpu")


if __name__ == "__main__":
    main()
