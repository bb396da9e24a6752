"""Functional maps with an SW alignment on a 5,000-vertex pair: each stage timed, and SW against Sinkhorn.

    python benchmarks/bench_fmaps.py [--n 5000] [--align-sizes 5000,20000] [--steps 3] [--skip-quality]

1. The library's bar (0.6 x 0.6 x 3), meshed as a regular grid of about ``--n`` vertices,
   against its bent copy (``swviz.shapes.deform``, same vertex order, so the truth is the
   identity): the Laplacian, the eigenpairs at k = 50 and 100, the descriptors, then ``fmap``
   and ``fmap-sw`` end to end (k = 50, nothing cached) with their stages (least-squares
   functional map, ZoomOut, SW alignment, Sinkhorn refinement) and their mean geodesic
   error against the truth. Target: the whole ``fmap-sw`` under 15 s on 2 cores.
2. The alignment step alone (``swviz.fmaps.sw_align``, k = 30): SW (``swviz.autodiff.sw_loss``,
   ``O(L n log n)``) against the same alignment with POT's Sinkhorn on the full ``(n, n)``
   cost matrix (``ot.sinkhorn2``, torch backend), seconds per optimisation step at each size,
   measured one after the other in this run and printed as ratios. Above 6,000 vertices the
   dense Sinkhorn runs ``--big-steps`` steps only (each is ``O(n^2)`` in time and memory; at
   20,000 vertices its matrices are float32, 1.6 GB each, since five float64 ones would not fit
   beside the other work on a 24 GB machine); the output says so.

Wall clock and process CPU time are printed; on a shared machine compare the ratios, and the
load average printed at the start and the end.
"""

import argparse
import time

import numpy as np
import torch
import trimesh

from swviz import fmaps
from swviz.correspondence import correspond_meshes, geodesic_error, prepare_mesh
from swviz.shapes.deform import deform


def bar(n_target):
    """The bar 0.6 x 0.6 x 3 as a closed grid mesh of about ``n_target`` vertices (squares cut in two)."""
    ext = np.array([0.6, 0.6, 3.0])
    area = 2 * (ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2])
    h = np.sqrt(area / n_target)
    counts = np.maximum(1, np.round(ext / h)).astype(int)
    verts, faces = [], []
    for ax in range(3):
        u, w = [a for a in range(3) if a != ax]
        gu, gw = np.meshgrid(np.linspace(0, 1, counts[u] + 1), np.linspace(0, 1, counts[w] + 1), indexing="ij")
        idx = np.arange(gu.size).reshape(gu.shape)
        a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
        quads = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
        for side in (0.0, 1.0):
            p = np.zeros((gu.size, 3))
            p[:, ax], p[:, u], p[:, w] = side, gu.ravel(), gw.ravel()
            faces.append(quads + sum(len(x) for x in verts))
            verts.append((p - 0.5) * ext)
    m = trimesh.Trimesh(np.concatenate(verts), np.concatenate(faces), process=True)  # merges the seams
    m.fix_normals()
    return np.asarray(m.vertices), np.asarray(m.faces)


def timed(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def loadavg():
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def mem_available_gb():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def row(label, wall, cpu, extra=""):
    print(f"{label:<38}{wall:>9.2f}{cpu:>9.2f}   {extra}", flush=True)


def stages_part(n, skip_quality):
    v, f = bar(n)
    w = deform(v, "bend", 1.0)
    print(f"pair: the bar as a grid of {len(v):,} vertices, {len(f):,} faces, against its bent copy "
          "(same vertex order)")
    print(f"{'stage':<38}{'wall s':>9}{'cpu s':>9}")
    (s, t), wall, cpu = timed(lambda: (prepare_mesh((v, f)), prepare_mesh((w, f))))
    row("Laplacian + mass (both meshes)", wall, cpu)
    for k in (50, 100):
        fresh = prepare_mesh((v, f)), prepare_mesh((w, f))
        _, wall, cpu = timed(lambda ms, kk: [m.eigenbasis(kk) for m in ms], fresh, k)
        row(f"eigenpairs k = {k} (both)", wall, cpu)
    s.eigenbasis(50), t.eigenbasis(50)
    _, wall, cpu = timed(lambda: [m.descriptors(50) for m in (s, t)])
    row("descriptors WKS + HKS (both)", wall, cpu)
    true = np.arange(len(v))
    totals = {}
    for method in ("fmap", "fmap-sw"):
        s2, t2 = prepare_mesh((v, f)), prepare_mesh((w, f))  # end to end: nothing cached
        c, wall, cpu = timed(correspond_meshes, s2, t2, method=method, k=50)
        totals[method] = wall
        err = "" if skip_quality else f"mean geodesic error {geodesic_error(t2, c.target_index, true).mean():.4f}"
        row(f"{method} end to end (k = 50)", wall, cpu, err)
        for name, x in c.stages.items():
            print(f"    {name:<34}{x:>9.2f}")
    if not skip_quality:
        c, wall, cpu = timed(lambda: correspond_meshes(s, t, method="assignment"))
        row("assignment (extrinsic, for reference)", wall, cpu,
            f"mean geodesic error {geodesic_error(t, c.target_index, true).mean():.4f}")
    verdict = "meets" if totals["fmap-sw"] < 15 else "misses"
    print(f"fmap-sw end to end: {totals['fmap-sw']:.2f} s at {len(v):,} vertices ({verdict} the 15 s target)")


def align_part(sizes, steps, big_steps):
    print("\nalignment step alone (k = 30): SW (64 projections, swviz.autodiff.sw_loss) against POT's Sinkhorn on "
          "the full cost matrix (ot.sinkhorn, reg = 0.05 x mean cost, up to 200 iterations); seconds per Adam step")
    for n in sizes:
        vv, ff = bar(n)
        a, b = prepare_mesh((vv, ff)), prepare_mesh((deform(vv, "bend", 1.0), ff))
        ex, px = a.eigenbasis(30)
        ey, py = b.eigenbasis(30)
        Ax, Ay = np.zeros((30, 1)), np.zeros((30, 1))
        args = (np.eye(30), Ax, Ay, ex, ey, px, py, a.mass, b.mass)
        _, sw_w, sw_c = timed(fmaps.sw_align, *args, n_steps=steps, loss="sw")
        sw_w, sw_c = sw_w / steps, sw_c / steps
        itemsize = 8 if 5 * 8 * len(vv) ** 2 <= 6 * 2**30 else 4  # as swviz.fmaps._sinkhorn_cost chooses
        need = 5 * itemsize * len(vv) ** 2 / 2**30  # cost matrix, kernel, plan and two temporaries
        if need > 0.8 * mem_available_gb():
            print(f"  n = {len(vv):>6,}: SW {sw_w:.3f} s/step (cpu {sw_c:.3f}); Sinkhorn skipped: it needs about "
                  f"{need:.0f} GB and {mem_available_gb():.1f} GB are available")
            continue
        k_steps = steps if len(vv) <= 6000 else big_steps
        (_, info), sk_w, sk_c = timed(fmaps.sw_align, *args, n_steps=k_steps, loss="sinkhorn", sinkhorn_iter=200)
        sk_w, sk_c = sk_w / k_steps, sk_c / k_steps
        iters = ", ".join(str(i) for i, _ in info["sinkhorn"])
        note = (f"{k_steps} Sinkhorn step(s) of {iters} iterations, {info['sinkhorn'][0][1]} "
                f"({need / 5:.1f} GB per n x n matrix)")
        if k_steps < steps:
            note += f"; BOUNDED to {k_steps} step(s) of the {steps} SW ran"
        print(f"  n = {len(vv):>6,}: SW {sw_w:.3f} s/step (cpu {sw_c:.3f}), Sinkhorn {sk_w:.2f} s/step "
              f"(cpu {sk_c:.2f}); Sinkhorn / SW = {sk_w / sw_w:.0f}x wall, {sk_c / sw_c:.0f}x cpu  [{note}]",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000, help="vertices of the timed pair")
    ap.add_argument("--align-sizes", default="5000,20000")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--big-steps", type=int, default=1,
                    help="Sinkhorn steps above 6,000 vertices (each is O(n^2) in time and memory)")
    ap.add_argument("--skip-quality", action="store_true", help="no geodesic errors (they take ~10 s each)")
    ap.add_argument("--skip-align", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"load average at the start: {loadavg()}")
    stages_part(args.n, args.skip_quality)
    if not args.skip_align:
        align_part([int(x) for x in args.align_sizes.split(",")], args.steps, args.big_steps)
    print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
