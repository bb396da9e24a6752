"""The metrics of a deformed mesh (numpy): distances to the target, flipped and degenerate faces.

:func:`mesh_metrics` gathers them, with the self-intersecting face pairs of
:func:`swviz.deformation.self_intersections`. Nothing here needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..shapes.shape import face_areas
from ._intersections import self_intersections

_DEGENERATE_QUALITY = 1e-3  # 4 sqrt(3) area / sum of squared edges below this: a degenerate face


@dataclass(frozen=True)
class _Target:
    """A target mesh, or a point cloud (``faces`` None)."""

    vertices: np.ndarray  # (m, 3)
    faces: np.ndarray | None  # (k, 3) or None for a cloud

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None


# ------------------------------------------------------------------------------- metrics


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit face normals ``(m, 3) float`` (zero for faces of zero area)."""
    p = vertices[faces]
    cross = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    norm = np.linalg.norm(cross, axis=1, keepdims=True)
    return np.divide(cross, norm, out=np.zeros_like(cross), where=norm > 0)


def flipped_faces(source_vertices: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> int:
    """Faces whose normal points against the same face's normal in the source: ``n_f . n_f^0 < 0``.

    A face of zero area (before or after) has no normal and is counted by
    :func:`degenerate_faces` instead. The count is not rotation invariant: it measures
    folding for deformations that do not turn the shape around.
    """
    return int(np.count_nonzero((face_normals(vertices, faces) * face_normals(source_vertices, faces)).sum(1) < 0))


def degenerate_faces(vertices: np.ndarray, faces: np.ndarray) -> int:
    """Faces of (near) zero area for their size: quality ``4 sqrt(3) A / (l1^2 + l2^2 + l3^2) < 1e-3``.

    The quality is 1 for an equilateral triangle and 0 for a collinear or collapsed one, and
    does not depend on scale.
    """
    p = vertices[faces]
    e2 = sum(((p[:, (k + 1) % 3] - p[:, k]) ** 2).sum(1) for k in range(3))  # (m,)
    area = face_areas(vertices, faces)
    quality = np.divide(4.0 * np.sqrt(3.0) * area, e2, out=np.zeros_like(area), where=e2 > 0)
    return int(np.count_nonzero(quality < _DEGENERATE_QUALITY))


def _surface_points(vertices, faces, n, seed):
    from ..shapes.measures import surface_samples

    return surface_samples(vertices, faces, n, seed)


def _distance_to(points, target: _Target):
    """Squared distance from each point to the target surface (or cloud) and the face hit (or -1)."""
    if target.is_mesh:
        import igl

        d2, face, _ = igl.point_mesh_squared_distance(np.ascontiguousarray(points), target.vertices, target.faces)
        return d2, face
    from scipy.spatial import cKDTree

    d, _ = cKDTree(target.vertices).query(points, k=1)
    return d**2, np.full(len(points), -1)


def mesh_metrics(
    vertices,
    faces,
    target,
    *,
    source_vertices=None,
    n_eval: int = 4096,
    n_projections: int = 200,
    seed: int = 0,
    intersections: bool = True,
) -> dict:
    """How close a deformed mesh is to the target, and how clean it stayed.

    vertices : (n, 3) float; faces : (m, 3) int
        The deformed mesh.
    target : (vertices (t, 3) float, faces (l, 3) int or None)
        A mesh or a cloud.
    source_vertices : (n, 3) float, optional
        The mesh before deformation (for flipped faces).
    n_eval : int
        Uniform surface samples on each mesh (seeded by ``seed`` and ``seed + 1``).

    Returns a dict:

    * ``chamfer``: mean squared distance from the deformed mesh's samples to the target
      surface plus from the target's samples to the deformed surface (point to triangle,
      libigl's AABB tree; to points for a cloud target); ``chamfer_normalised`` divides it by
      the squared diagonal of the target's bounding box;
    * ``hausdorff``: the symmetric Hausdorff distance, the largest of those distances over
      the samples and the vertices (``hausdorff_normalised``: over the diagonal);
    * ``sw2``: SW_2 between the two sample sets by the numpy engine (MC, ``n_projections``
      directions from ``seed``);
    * ``normal_consistency``: the mean of ``|n . n'|`` between each sample's face normal and
      the normal of the nearest target face, both ways (Gkioxari, Malik & Johnson, "Mesh
      R-CNN", ICCV 2019); NaN for a cloud target;
    * ``flipped_faces``, ``degenerate_faces``, ``self_intersections`` (face pairs): see
      :func:`flipped_faces`, :func:`degenerate_faces`, :func:`self_intersections`.
    """
    from ..estimators import sliced_wasserstein

    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    tgt = _Target(np.asarray(target[0], dtype=np.float64), None if target[1] is None else np.asarray(target[1]))
    me = _Target(v, f)
    p, p_face = _surface_points(v, f, n_eval, seed)
    q, q_face = (_surface_points(tgt.vertices, tgt.faces, n_eval, seed + 1) if tgt.is_mesh
                 else (tgt.vertices, np.full(len(tgt.vertices), -1)))
    d_pq, hit_t = _distance_to(np.vstack([p, v]), tgt)
    d_qp, hit_me = _distance_to(np.vstack([q, tgt.vertices]) if tgt.is_mesh else q, me)
    diag = float(np.linalg.norm(tgt.vertices.max(0) - tgt.vertices.min(0)))
    cham = float(d_pq[: len(p)].mean() + d_qp[: len(q)].mean())
    haus = float(np.sqrt(max(d_pq.max(), d_qp.max())))
    sw2 = sliced_wasserstein(p, q, n_projections=n_projections, seed=seed).distance
    if tgt.is_mesh:
        n_me, n_tg = face_normals(v, f), face_normals(tgt.vertices, tgt.faces)
        cos_p = np.abs((n_me[p_face] * n_tg[hit_t[: len(p)]]).sum(1))
        cos_q = np.abs((n_tg[q_face] * n_me[hit_me[: len(q)]]).sum(1))
        consistency = float(0.5 * (cos_p.mean() + cos_q.mean()))
    else:
        consistency = float("nan")
    return {
        "chamfer": cham,
        "chamfer_normalised": cham / diag**2,
        "hausdorff": haus,
        "hausdorff_normalised": haus / diag,
        "sw2": float(sw2),
        "normal_consistency": consistency,
        "flipped_faces": flipped_faces(source_vertices, v, f) if source_vertices is not None else 0,
        "degenerate_faces": degenerate_faces(v, f),
        "self_intersections": len(self_intersections(v, f)) if intersections else -1,
    }

