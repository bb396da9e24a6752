"""The :class:`Shape` every loader and library entry returns: a triangle mesh or a point cloud.

A shape keeps its vertices in the order they came in (file order for uploads), so two shapes
that share connectivity correspond vertex to vertex. :func:`describe` gives the numbers the
Shapes page shows (vertices, faces, surface area, watertight, bounding box).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Shape", "ShapeInfo", "describe", "face_areas"]


@dataclass(frozen=True, eq=False)
class Shape:
    """A shape as built or loaded, before it becomes a measure.

    name : str
        What a page shows ("sphere", "teapot.obj").
    vertices : (n, d) float, d in {2, 3}
        Points of a cloud, or vertices of a mesh, in file order.
    faces : (m, 3) int or None
        Triangles indexing ``vertices``; None for a point cloud.
    origin : str
        "library" or "upload".
    key : str
        Identity for caches (content hash of an upload, name and parameters of a library shape).
        Left empty, it is made from the name, the origin and a hash of the vertices and faces,
        so two shapes with the same key hold the same data.
    notes : tuple of str
        What loading decided on the user's behalf, one sentence each, for a page to show: a
        header line skipped (with its line number), STL corners merged into vertices. Empty
        when nothing was decided. Kept by :meth:`with_vertices`.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray | None = None
    origin: str = "library"
    key: str = field(default="", repr=False)
    notes: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self):
        v = np.ascontiguousarray(self.vertices, dtype=np.float64)
        v.setflags(write=False)
        object.__setattr__(self, "vertices", v)
        if self.faces is not None:
            f = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
            f.setflags(write=False)
            object.__setattr__(self, "faces", f)
        if not self.key:  # by content, never by id(): an id is reused once its object is freed
            h = hashlib.blake2b(v.tobytes(), digest_size=12)
            h.update(repr(v.shape).encode())
            if self.faces is not None:
                h.update(self.faces.tobytes())
            object.__setattr__(self, "key", f"{self.origin}:{self.name}:{h.hexdigest()}")
        object.__setattr__(self, "notes", tuple(str(n) for n in self.notes))

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None

    @property
    def dim(self) -> int:
        return int(self.vertices.shape[1])

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return 0 if self.faces is None else int(self.faces.shape[0])

    def with_vertices(self, vertices: np.ndarray, name: str | None = None, key: str | None = None) -> Shape:
        """The same connectivity with new vertex positions (vertex order is kept)."""
        name = self.name if name is None else name
        return Shape(name, vertices, self.faces, self.origin, key or f"{self.key}|{name}|moved", self.notes)

    def to_trimesh(self):
        """A ``trimesh.Trimesh`` (meshes) or ``trimesh.PointCloud`` (clouds, 2D padded with z = 0)."""
        import trimesh

        v = self.vertices if self.dim == 3 else np.column_stack([self.vertices, np.zeros(self.n_vertices)])
        if self.faces is None:
            return trimesh.PointCloud(v)
        return trimesh.Trimesh(v, self.faces, process=False, validate=False)


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Areas of the triangles: ``(m,) float``; vertices : (n, 3) float, faces : (m, 3) int."""
    p = vertices[faces]  # (m, 3, 3)
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


@dataclass(frozen=True)
class ShapeInfo:
    """What the Shapes page reports about a shape."""

    kind: str  # "mesh" or "point cloud"
    dim: int
    vertices: int
    faces: int
    area: float | None  # surface area (meshes)
    watertight: bool | None  # after merging coincident vertices (meshes)
    bbox_min: tuple[float, ...]
    bbox_max: tuple[float, ...]

    @property
    def extent(self) -> tuple[float, ...]:
        return tuple(float(b - a) for a, b in zip(self.bbox_min, self.bbox_max))

    def as_dict(self) -> dict:
        fmt = ", ".join
        return {
            "kind": f"{self.dim}D {self.kind}",
            "vertices": f"{self.vertices:,}",
            "faces": f"{self.faces:,}" if self.kind == "mesh" else "–",
            "surface area": f"{self.area:.4g}" if self.area is not None else "–",
            "watertight": ("yes" if self.watertight else "no") if self.watertight is not None else "–",
            "bounding box": f"[{fmt(f'{v:.3g}' for v in self.bbox_min)}] – [{fmt(f'{v:.3g}' for v in self.bbox_max)}]",
            "extent": " × ".join(f"{v:.3g}" for v in self.extent),
        }


def describe(shape: Shape) -> ShapeInfo:
    """Vertices, faces, surface area, watertightness and bounding box of ``shape``.

    Watertightness is decided on a copy whose coincident vertices are merged, so a triangle
    soup (every STL) or a mesh with seams duplicated for texture coordinates is judged by
    its geometry, not by how the file stores it. The shape itself is not changed.
    """
    v = shape.vertices
    lo, hi = tuple(float(x) for x in v.min(0)), tuple(float(x) for x in v.max(0))
    if not shape.is_mesh:
        return ShapeInfo("point cloud", shape.dim, shape.n_vertices, 0, None, None, lo, hi)
    area = float(face_areas(v, shape.faces).sum())
    tm = shape.to_trimesh()
    tm.merge_vertices()
    return ShapeInfo("mesh", shape.dim, shape.n_vertices, shape.n_faces, area, bool(tm.is_watertight), lo, hi)
