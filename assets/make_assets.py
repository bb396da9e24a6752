"""Write the library's implicit-surface meshes to assets/*.ply (run from the repository root).

    python assets/make_assets.py

The shapes come from signed distance functions in ``swviz/shapes/_isosurface.py`` meshed by
marching tetrahedra; no third-party mesh files are involved. The library reads these files
when they are present and rebuilds the same meshes otherwise. Binary PLY, float64 vertices.
"""

from pathlib import Path

import numpy as np

from swviz.shapes import Shape, shape_to_ply
from swviz.shapes._isosurface import marching_tetrahedra
from swviz.shapes.library import ASSET_BUILDS

OUT = Path(__file__).resolve().parent


def main() -> None:
    for stem, build in ASSET_BUILDS.items():
        sdf, lo, hi, n = build.implicit
        v, f = marching_tetrahedra(sdf, lo, hi, n)
        data = shape_to_ply(Shape(stem, v, f))
        (OUT / f"{stem}.ply").write_bytes(data)
        report = (f"{stem}.ply: {len(v):,} vertices, {len(f):,} faces, {len(data) / 1e3:.0f} kB, "
                  f"bbox {np.round(v.min(0), 3).tolist()} .. {np.round(v.max(0), 3).tolist()}")
        print(report)  # noqa: T201 - a script


if __name__ == "__main__":
    main()
