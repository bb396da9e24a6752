"""The losses of :func:`swviz.deformation.deform` in torch: measures of a mesh, Chamfer, and :func:`make_loss`.

A mesh is a probability measure (Le et al., "Diffeomorphic Mesh Deformation via Efficient
Optimal Transport for Cortical Surface Reconstruction", ICLR 2024, section 3): its oriented
varifold (:func:`varifold_measure`), uniform surface samples (:func:`surface_measure`) or its
area-weighted vertices (:func:`vertex_measure`); two measures are compared by
:func:`swviz.autodiff.sw_loss`, or by the set-based Chamfer baseline (:func:`chamfer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import torch

from .._validation import InputError, check_count
from ..autodiff import check_device, sw_loss
from ..shapes.measures import vertex_weights
from ..shapes.shape import face_areas
from ._fields import DTYPE
from ._metrics import _Target

LOSSES = MappingProxyType({
    "sw-varifold": "SW between oriented varifolds: face centroids and unit normals (6-D), weighted by area",
    "sw-surface": "SW between uniform surface samples, redrawn every iteration (barycentric, so gradients reach "
                  "the vertices)",
    "sw-vertices": "SW between the vertices weighted by a third of their faces' area",
    "chamfer": "Chamfer: mean squared nearest-neighbour distance both ways between surface samples (the set-based "
               "baseline)",
})


NN_METHODS = ("kdtree", "torch")
_CHUNK_ELEMENTS = 1 << 22  # distance-matrix entries per chunk of the exact torch nearest neighbours (32 MiB)


# ------------------------------------------------------------------------------- measures of a mesh (torch)


def _triangles(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    return vertices[faces]  # (m, 3, 3)


def varifold_measure(vertices: torch.Tensor, faces: torch.Tensor, normal_weight: float = 1.0):
    """Oriented varifold atoms of a mesh in torch, differentiable in the vertices.

    vertices : (n, 3) float tensor
    faces : (m, 3) int tensor
    normal_weight : float
        lambda in the atom ``(c_f, lambda n_f)``: the squared cost is ``|c - c'|^2 + lambda^2 |n - n'|^2``.

    Returns ``atoms : (m, 6)`` (centroid, normal_weight * unit normal) and ``weights : (m,)``
    (area / total area, detached). The same atoms as :func:`swviz.shapes.varifold_atoms`
    (Charon & Trouvé, "The varifold representation of nonoriented shapes for diffeomorphic
    registration", SIAM J. Imaging Sci. 2013; Le et al., ICLR 2024, section 3). A face of zero
    area keeps an atom of weight 0 (its normal is the cross product over a tiny floor).
    """
    p = _triangles(vertices, faces)
    cross = torch.linalg.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # (m, 3), length 2 * area
    twice_area = torch.linalg.vector_norm(cross, dim=1)
    normal = cross / twice_area.clamp_min(torch.finfo(cross.dtype).tiny ** 0.5)[:, None]
    atoms = torch.cat([p.mean(1), normal_weight * normal], dim=1)  # (m, 6)
    w = twice_area.detach()
    return atoms, w / w.sum()


def vertex_measure(vertices: torch.Tensor, faces: torch.Tensor):
    """The vertices with weights a third of their adjacent faces' area: ``(n, 3)`` and ``(n,)`` (detached)."""
    w = vertex_weights(vertices.detach().cpu().numpy(), faces.cpu().numpy())
    return vertices, torch.as_tensor(w, dtype=vertices.dtype, device=vertices.device)


def surface_measure(vertices: torch.Tensor, faces: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` uniform points on the surface, differentiable in the vertices: ``(n, 3)`` tensor.

    Faces are drawn with probability proportional to their (detached) area and a point
    uniform in each, ``x = a + u (b - a) + v (c - a)``, so ``dx / d(a, b, c)`` are the
    barycentric coordinates. The draws are those of :func:`swviz.shapes.surface_samples`
    with the same generator: the points are the same.
    """
    f = faces.cpu().numpy()
    area = face_areas(vertices.detach().cpu().numpy(), f)
    cdf = np.cumsum(area)
    face = np.minimum(np.searchsorted(cdf, rng.uniform(0, cdf[-1], n), side="right"), len(f) - 1)
    uv = rng.uniform(0.0, 1.0, (n, 2))
    out = uv.sum(1) > 1
    uv[out] = 1.0 - uv[out]
    uv = torch.as_tensor(uv, dtype=vertices.dtype, device=vertices.device)
    idx = faces[torch.as_tensor(face, device=faces.device)]  # (n, 3)
    a, b, c = vertices[idx[:, 0]], vertices[idx[:, 1]], vertices[idx[:, 2]]
    return a + uv[:, :1] * (b - a) + uv[:, 1:] * (c - a)


# ------------------------------------------------------------------------------- Chamfer


def nearest_index(x: torch.Tensor, y: torch.Tensor, nn: str = "kdtree") -> torch.Tensor:
    """Index of the nearest point of ``y`` for each point of ``x``: ``(n,) long`` (no gradient).

    x : (n, d), y : (m, d) tensors
    nn : "kdtree" (scipy's cKDTree, O((n + m) log m)) or "torch" (exact, by chunks of
        ``torch.cdist`` holding at most 4M distances at once, O(n m) time, O(n + m) memory).
    """
    if nn not in NN_METHODS:
        raise InputError(f"unknown nearest-neighbour method {nn!r}; choose one of: {', '.join(NN_METHODS)}")
    with torch.no_grad():
        if nn == "kdtree":
            from scipy.spatial import cKDTree

            _, idx = cKDTree(y.detach().cpu().numpy()).query(x.detach().cpu().numpy(), k=1)
            return torch.as_tensor(idx, dtype=torch.long, device=x.device)
        chunk = max(1, _CHUNK_ELEMENTS // max(1, y.shape[0]))
        return torch.cat([torch.cdist(x[i:i + chunk], y).argmin(1) for i in range(0, x.shape[0], chunk)])


def chamfer(x: torch.Tensor, y: torch.Tensor, nn: str = "kdtree") -> torch.Tensor:
    r"""Chamfer distance: a torch scalar, differentiable in ``x`` and ``y``.

    .. math::
        C(X, Y) = \frac1n \sum_i \min_j |x_i - y_j|^2 + \frac1m \sum_j \min_i |x_i - y_j|^2

    (Fan, Su & Guibas, "A Point Set Generation Network for 3D Object Reconstruction from a
    Single Image", CVPR 2017, eq. 1). The nearest neighbours are found without gradient
    (:func:`nearest_index`) and the distances recomputed by gathering, so autograd never
    holds a distance matrix; the gradient is the same almost everywhere (where the nearest
    neighbour is unique).

    x : (n, d), y : (m, d) tensors
    """
    d_xy = ((x - y[nearest_index(x, y, nn)]) ** 2).sum(1)  # (n,)
    d_yx = ((y - x[nearest_index(y, x, nn)]) ** 2).sum(1)  # (m,)
    return d_xy.mean() + d_yx.mean()


# ------------------------------------------------------------------------------- losses


def _draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


@dataclass(frozen=True, eq=False)
class LossTerm:
    """One of :data:`LOSSES` against a fixed target: ``term(vertices, rng) -> torch scalar``.

    ``rng`` (a numpy Generator) draws, in this order, the SW seed (an int, for the
    directions) and then the surface samples of the deformed mesh and of the target, so a
    term called twice with generators in the same state computes the same value.
    """

    name: str
    faces: torch.Tensor
    fn: Callable = field(repr=False)

    def __call__(self, vertices: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        return self.fn(vertices, rng)


def make_loss(
    loss: str,
    faces,
    target,
    *,
    n_projections: int = 100,
    estimator: str = "mc",
    normal_weight: float = 0.5,
    n_samples: int = 2048,
    chamfer_nn: str = "kdtree",
    device="cpu",
) -> LossTerm:
    """The loss ``loss`` (a key of :data:`LOSSES`) between a mesh with ``faces`` and ``target``.

    faces : (k, 3) int
        The deformed mesh's faces (its vertices are the argument of the returned term).
    target : (vertices (m, 3) float, faces (l, 3) int or None)
        A mesh, or a point cloud (faces None: its points, uniform).
    n_projections, estimator : passed to :func:`swviz.autodiff.sw_loss` (SW losses)
    normal_weight : float >= 0, the varifold's weight on the normals
    n_samples : int, surface samples per call on each side (sw-surface, chamfer)
    chamfer_nn : "kdtree" or "torch", see :func:`nearest_index`
    device : "cpu", "cuda", "cuda:k" or a torch.device
        Where the target's tensors live (the deformed vertices must be there too).
    """
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    if chamfer_nn not in NN_METHODS:
        raise InputError(f"unknown chamfer_nn {chamfer_nn!r}; choose one of: {', '.join(NN_METHODS)}")
    tgt_v, tgt_f = target
    tgt = _Target(np.asarray(tgt_v, dtype=np.float64), None if tgt_f is None else np.asarray(tgt_f, dtype=np.int64))
    dev = check_device(device)
    faces_t = torch.as_tensor(np.asarray(faces, dtype=np.int64), device=dev)
    n_projections = check_count(n_projections, "n_projections")
    n_samples = check_count(n_samples, "n_samples")
    ty = torch.as_tensor(tgt.vertices, dtype=DTYPE, device=dev)
    tf = None if tgt.faces is None else torch.as_tensor(tgt.faces, device=dev)

    def sw(x, y, a, b, seed):
        return sw_loss(x, y, a, b, estimator=estimator, n_projections=n_projections, p=2, seed=seed)

    def samples(v, rng):
        x = surface_measure(v, faces_t, n_samples, rng)
        y = surface_measure(ty, tf, n_samples, rng) if tgt.is_mesh else ty
        return x, y

    if loss == "sw-varifold":
        if not tgt.is_mesh:
            raise InputError("the sw-varifold loss needs a target mesh (its faces give the normals); the target is a "
                             "point cloud: use sw-surface, sw-vertices or chamfer")
        y_atoms, b = (t.detach() for t in varifold_measure(ty, tf, normal_weight))

        def fn(v, rng):
            x, a = varifold_measure(v, faces_t, normal_weight)
            return sw(x, y_atoms, a, b, _draw_seed(rng))
    elif loss == "sw-vertices":
        yb = vertex_measure(ty, tf)[1] if tgt.is_mesh else None

        def fn(v, rng):
            x, a = vertex_measure(v, faces_t)
            return sw(x, ty, a, yb, _draw_seed(rng))
    elif loss == "sw-surface":
        def fn(v, rng):
            seed = _draw_seed(rng)
            return sw(*samples(v, rng)[:2], None, None, seed)
    else:
        def fn(v, rng):
            return chamfer(*samples(v, rng), chamfer_nn)
    return LossTerm(loss, faces_t, fn)

