"""Loading a 100k-face mesh from bytes and sampling 4096 points on it (target: under 1 s).

    python benchmarks/bench_shapes.py [--faces 100000] [--repeat 5]

The mesh is a wavy grid generated here and written to PLY (binary), OBJ, STL, OFF and GLB
in memory; each is loaded with ``swviz.shapes.load_shape`` (parsing and validation) and
turned into ``to_measure(..., "surface", n=4096)``. Best and median of ``--repeat`` runs.
"""

import argparse
import statistics
import time

import numpy as np
import trimesh

from swviz.shapes import load_shape, to_measure


def grid_mesh(n_faces: int):
    k = int(np.ceil(np.sqrt(n_faces / 2))) + 1  # (k - 1)^2 quads, two triangles each
    u = np.linspace(0.0, 1.0, k)
    x, y = np.meshgrid(u, u)
    v = np.column_stack([x.ravel(), y.ravel(), 0.1 * np.sin(6 * x.ravel()) * np.cos(5 * y.ravel())])
    idx = np.arange(k * k).reshape(k, k)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    f = np.concatenate([np.column_stack([a, b, c]), np.column_stack([b, d, c])])[:n_faces]
    return trimesh.Trimesh(v, f, process=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    mesh = grid_mesh(args.faces)
    print(f"mesh: {len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces; sampling {args.points} points")
    for fmt in ("ply", "obj", "stl", "off", "glb"):
        data = mesh.export(file_type=fmt)
        data = data.encode() if isinstance(data, str) else data
        load_s, total_s = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            shape = load_shape(data, f"bench.{fmt}")
            t1 = time.perf_counter()
            m = to_measure(shape, "surface", n=args.points, seed=0)
            t2 = time.perf_counter()
            load_s.append(t1 - t0)
            total_s.append(t2 - t0)
        assert m.n == args.points and shape.n_faces == len(mesh.faces)
        best, med = min(total_s), statistics.median(total_s)
        flag = "ok" if med < 1.0 else "OVER 1 s"
        print(f"{fmt.upper():4s} {len(data) / 2**20:6.1f} MB  load {min(load_s):.3f} s  load+sample best {best:.3f} s "
              f"median {med:.3f} s  [{flag}]")


if __name__ == "__main__":
    main()
