r"""Diffeomorphic mesh deformation under sliced Wasserstein: a neural ODE carries a mesh onto a target.

Le et al., "Diffeomorphic Mesh Deformation via Efficient Optimal Transport for Cortical
Surface Reconstruction" (ICLR 2024) encode a mesh as a probability measure and compare two
meshes by sliced Wasserstein, whose cost is linear in the number of atoms (up to the sort)
and which is a metric, unlike the quadratic, set-based Chamfer distance. The source's
vertices move along the trajectories of a learned velocity field,

.. math::
    \frac{dx}{dt} = v_\psi(x, t), \quad t \in [0, 1], \qquad
    \phi_\psi(x_0) = x_0 + \int_0^1 v_\psi(x(t), t)\,dt,

with :math:`v_\psi` a small MLP. The flow of a Lipschitz field is a diffeomorphism of
:math:`\mathbb{R}^3`, so in the continuous limit faces neither flip nor cross; a coarse
fixed step can still fold, which the metrics check. :func:`deform` minimises

.. math::
    \min_\psi\ \mathcal{L}\bigl(\mu[\phi_\psi(V), F],\ \nu\bigr)

by Adam, with :math:`\mathcal{L}` one of :data:`LOSSES` and the field one of :data:`FIELDS`
(``"free"``, per-vertex displacements, is today's unconstrained flow, for comparison).

The pieces are public so they can be tested and measured alone: the measures of a mesh in
torch (:func:`varifold_measure`, :func:`surface_measure`, :func:`vertex_measure`), the
Chamfer loss (:func:`chamfer`, exact nearest neighbours without the full distance matrix),
the velocity field (:class:`VelocityField`, :func:`integrate`) and the metrics
(:func:`mesh_metrics`, :func:`self_intersections`, :func:`flipped_faces`,
:func:`degenerate_faces`). Every SW term goes through :func:`swviz.autodiff.sw_loss`.

The ODE is integrated by ``torchdiffeq.odeint`` (Chen et al., "Neural Ordinary Differential
Equations", NeurIPS 2018) with the fixed-step ``"rk4"`` method on a uniform grid of
``time_steps`` steps, and differentiated by plain backpropagation through the solver's steps
(discretise-then-optimise): the gradient is exactly that of the discrete map whose result is
shown, and at these sizes (a few thousand vertices, about ten steps) the memory is small, so
the adjoint method would only add a second, approximate backward integration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch

from .._validation import InputError, as_points, check_count
from ..autodiff import sw_loss
from ..shapes.measures import vertex_weights
from ..shapes.shape import Shape, face_areas

__all__ = [
    "FIELDS",
    "LOSSES",
    "OPTIONS",
    "EXAMPLES",
    "DeformResult",
    "LossTerm",
    "StopDeformation",
    "VelocityField",
    "chamfer",
    "deform",
    "degenerate_faces",
    "example",
    "face_normals",
    "flipped_faces",
    "integrate",
    "make_loss",
    "mesh_metrics",
    "nearest_index",
    "self_intersections",
    "surface_measure",
    "varifold_measure",
    "vertex_measure",
]

DTYPE = torch.float64

LOSSES = MappingProxyType({
    "sw-varifold": "SW between oriented varifolds: face centroids and unit normals (6-D), weighted by area",
    "sw-surface": "SW between uniform surface samples, redrawn every iteration (barycentric, so gradients reach "
                  "the vertices)",
    "sw-vertices": "SW between the vertices weighted by a third of their faces' area",
    "chamfer": "Chamfer: mean squared nearest-neighbour distance both ways between surface samples (the set-based "
               "baseline)",
})


@dataclass(frozen=True)
class Field:
    """A deformation model: its description and its default Adam learning rate."""

    name: str
    description: str
    lr: float


FIELDS = MappingProxyType({
    "ode": Field("ode", "neural ODE: a small MLP velocity v(x, t) integrated by fixed-step RK4 (diffeomorphic)", 1e-2),
    "free": Field("free", "free flow: one displacement per vertex (no regularity)", 3e-3),
})

# name -> (default, description); anything else passed to deform() is an InputError
OPTIONS = MappingProxyType({
    "normal_weight": (0.5, "weight on the normal block of the varifold atoms, in units of the normalised scale"),
    "n_samples": (2048, "surface samples per iteration on each side (sw-surface, chamfer)"),
    "time_steps": (10, "fixed RK4 steps over t in [0, 1] (ode)"),
    "hidden": (64, "width of the MLP's hidden layers (ode)"),
    "depth": (2, "number of hidden layers of the MLP (ode)"),
    "record_every": (None, "record the vertices and metrics every k steps (default: about 20 records)"),
    "chamfer_nn": ("kdtree", "nearest neighbours for the chamfer loss: 'kdtree' (scipy) or 'torch' (chunked exact)"),
    "metrics": (True, "compute the metrics at each recorded step"),
    "n_eval": (4096, "surface samples on each side for the metrics"),
    "threads": (1, "torch intra-op threads during the run (restored after); the MLP's small products run slower "
                   "threaded"),
})

NN_METHODS = ("kdtree", "torch")
_CHUNK_ELEMENTS = 1 << 22  # distance-matrix entries per chunk of the exact torch nearest neighbours (32 MiB)
_DEGENERATE_QUALITY = 1e-3  # 4 sqrt(3) area / sum of squared edges below this: a degenerate face


EXAMPLES = MappingProxyType({
    "sphere-jack": "a sphere (642 vertices) onto the jack: deep concavities between three rods",
    "sphere-peanut": "a sphere (642 vertices) onto the peanut: a waist to reach into",
    "bar-bent": "the bar onto its bent copy: a template onto a deformed copy of itself (same vertex order)",
})


def example(name: str) -> tuple[Shape, Shape]:
    """The (source, target) meshes of :data:`EXAMPLES` ``name``.

    The spheres are trimesh's icosphere with 3 subdivisions (642 vertices, 1,280 faces),
    coarse enough for an interactive neural ODE; the targets are library meshes.
    """
    from ..shapes import library_shape

    if name not in EXAMPLES:
        raise InputError(f"unknown example {name!r}; choose one of: {', '.join(EXAMPLES)}")
    if name == "bar-bent":
        return library_shape("bar"), library_shape("bar (bent)")
    import trimesh

    ico = trimesh.creation.icosphere(3)
    source = Shape("sphere (642 vertices)", np.asarray(ico.vertices), np.asarray(ico.faces), "library",
                   "deform-example:icosphere3")
    return source, library_shape(name.split("-")[1])


class StopDeformation(Exception):  # noqa: N818 - a signal, not an error
    """Raise from a ``progress`` callback to stop :func:`deform`: it returns what it has so far (``stopped=True``)."""


# ------------------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class DeformResult:
    """What :func:`deform` returns.

    vertices : (T, n, 3) float
        The source's vertices at the recorded optimisation steps; ``vertices[-1]`` is the result.
    steps : (T,) int
        The optimisation step of each record (0 is the source).
    faces : (m, 3) int
        The source's faces (kept).
    trajectory : (K + 1, n, 3) float
        The vertices along ODE time for the final field, at ``times``. For the free field,
        which has no time, the straight path from the source to the result.
    times : (K + 1,) float
        The times in [0, 1] of ``trajectory``.
    loss : (S,) float
        The loss at each optimisation step (S = the steps taken).
    metrics : pandas.DataFrame
        One row per recorded step (indexed by step): see :func:`mesh_metrics`.
    seconds : float
        Wall time of the optimisation (the metrics excluded: see ``metric_seconds``).
    loss_name, field : str
        The keys of :data:`LOSSES` and :data:`FIELDS` used.
    stopped : bool
        True when the progress callback stopped the run early.
    options : dict
        Every option as used (defaults filled in, learning rate and steps included).
    """

    vertices: np.ndarray
    steps: np.ndarray
    faces: np.ndarray
    trajectory: np.ndarray
    times: np.ndarray
    loss: np.ndarray
    metrics: pd.DataFrame
    seconds: float
    loss_name: str
    field: str
    stopped: bool = False
    metric_seconds: float = 0.0
    options: dict = field(default_factory=dict)
    _model: object | None = field(default=None, repr=False)
    _frame: tuple = field(default=(np.zeros(3), 1.0), repr=False)

    @property
    def final(self) -> np.ndarray:
        """The deformed vertices: ``(n, 3) float``."""
        return self.vertices[-1]

    def to_shape(self, name: str = "deformed") -> Shape:
        """The deformed mesh as a :class:`~swviz.shapes.Shape` (source faces, vertex order kept)."""
        return Shape(name, self.final, self.faces, origin="upload", key=f"deform:{name}:{id(self)}")

    def export(self, fmt: str = "ply") -> bytes:
        """The deformed mesh as a file: ``fmt`` "ply" (binary) or "obj" (text), written by trimesh."""
        if fmt not in ("ply", "obj"):
            raise InputError(f"unknown mesh format {fmt!r}; choose 'ply' or 'obj'")
        data = self.to_shape().to_trimesh().export(file_type=fmt)
        return data.encode() if isinstance(data, str) else bytes(data)

    def flow(self, points, reverse: bool = False) -> np.ndarray:
        """Points carried by the final field: ``(K + 1, p, 3) float`` at ``times`` (backwards in time if ``reverse``).

        points : (p, 3) float
            Anywhere in space (the field is defined everywhere, not only on the mesh).
        reverse : bool
            Integrate from t = 1 back to t = 0 with the same fixed steps: the inverse map,
            up to the solver's error.
        """
        if self._model is None:
            raise InputError("a free flow has no velocity field to integrate; use field='ode'")
        x = as_points(points, "points")
        if x.shape[1] != 3:
            raise InputError(f"points must have shape (p, 3); got {x.shape}")
        centre, scale = self._frame
        with torch.no_grad():
            z = torch.as_tensor((x - centre) / scale, dtype=DTYPE)
            traj = integrate(self._model, z, int(self.options["time_steps"]), reverse=reverse)
        return traj.numpy() * scale + centre


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
    return vertices, torch.as_tensor(w, dtype=vertices.dtype)


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
    uv = torch.as_tensor(uv, dtype=vertices.dtype)
    idx = faces[torch.as_tensor(face)]  # (n, 3)
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
            return torch.as_tensor(idx, dtype=torch.long)
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


@dataclass(frozen=True)
class _Target:
    vertices: np.ndarray  # (m, 3)
    faces: np.ndarray | None  # (k, 3) or None for a cloud

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None


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
    """
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    if chamfer_nn not in NN_METHODS:
        raise InputError(f"unknown chamfer_nn {chamfer_nn!r}; choose one of: {', '.join(NN_METHODS)}")
    tgt_v, tgt_f = target
    tgt = _Target(np.asarray(tgt_v, dtype=np.float64), None if tgt_f is None else np.asarray(tgt_f, dtype=np.int64))
    faces_t = torch.as_tensor(np.asarray(faces, dtype=np.int64))
    n_projections = check_count(n_projections, "n_projections")
    n_samples = check_count(n_samples, "n_samples")
    ty = torch.as_tensor(tgt.vertices, dtype=DTYPE)
    tf = None if tgt.faces is None else torch.as_tensor(tgt.faces)

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


# ------------------------------------------------------------------------------- the velocity field


class VelocityField(torch.nn.Module):
    """A small MLP velocity ``v(x, t)``: ``(n, 3)`` positions and a time -> ``(n, 3)`` velocities.

    ``depth`` hidden layers of width ``hidden`` with tanh activations (smooth and Lipschitz,
    so the flow is a diffeomorphism). The last layer starts at zero: the initial map is the
    identity. Weights are drawn from a torch Generator seeded by ``seed`` (no global state).
    """

    def __init__(self, dim: int = 3, hidden: int = 64, depth: int = 2, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        sizes = [dim + 1] + [hidden] * depth
        layers: list[torch.nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            lin = torch.nn.Linear(fan_in, fan_out, dtype=DTYPE)
            with torch.no_grad():
                lin.weight.normal_(0.0, (1.0 / fan_in) ** 0.5, generator=gen)  # LeCun normal for tanh
                lin.bias.zero_()
            layers += [lin, torch.nn.Tanh()]
        last = torch.nn.Linear(sizes[-1], dim, dtype=DTYPE)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        self.net = torch.nn.Sequential(*layers, last)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # the signature odeint calls
        return self.net(torch.cat([x, t.reshape(1, 1).expand(x.shape[0], 1).to(x.dtype)], dim=1))


def integrate(model: torch.nn.Module, x0: torch.Tensor, time_steps: int = 10, reverse: bool = False) -> torch.Tensor:
    """The flow of ``model`` from ``x0``: ``(time_steps + 1, n, 3)`` positions at t = 0, 1/K, ..., 1.

    Fixed-step RK4 (torchdiffeq's ``"rk4"``, the 3/8 rule) on the uniform grid, differentiable
    by backpropagation through the steps. ``reverse`` integrates from t = 1 down to t = 0 on
    the same grid (the inverse map up to the solver's O(h^4) error); the output then runs from
    t = 1 to t = 0.
    """
    from torchdiffeq import odeint

    t = torch.linspace(0.0, 1.0, int(time_steps) + 1, dtype=x0.dtype)
    if reverse:
        t = t.flip(0)
    return odeint(model, x0, t, method="rk4")


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


def self_intersections(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Pairs of faces that intersect other than along the edges and corners they share: ``(k, 2) int``.

    By libigl's ``remesh_self_intersections`` in detection mode (Jacobson et al., libigl;
    the CGAL-backed routine behind its mesh booleans: an AABB-tree broad phase and exact
    predicates, which tell a fold across a shared edge from the shared edge itself).
    """
    from igl.copyleft.cgal import remesh_self_intersections

    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    return np.asarray(remesh_self_intersections(v, f, detect_only=True)[2]).reshape(-1, 2)


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


# ------------------------------------------------------------------------------- deform


def _as_mesh(obj, what: str, need_faces: bool):
    """(vertices (n, 3), faces (m, 3) or None, name) from a Shape, a (vertices, faces) pair or an array."""
    if isinstance(obj, Shape):
        v, f, name = obj.vertices, obj.faces, obj.name
    elif isinstance(obj, (tuple, list)) and len(obj) == 2 and not np.isscalar(obj[0]):
        v, f, name = obj[0], obj[1], what
    else:
        v, f, name = obj, None, what
    v = as_points(v, f"{what} vertices")
    if f is None:
        if need_faces:
            raise InputError(f"the {what} {name!r} is a point cloud ({v.shape[0]:,} points, no faces); deformation "
                             "moves a mesh: the varifold, the surface samples and the metrics need its faces")
        return v, None, name
    try:
        f = np.asarray(f)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the {what}'s faces must be an (m, 3) integer array: {exc}") from None
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] == 0:
        raise InputError(f"the {what}'s faces must have shape (m, 3) with m >= 1; got {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        if not (np.issubdtype(f.dtype, np.floating) and np.all(np.isfinite(f)) and np.all(f == np.round(f))):
            raise InputError(f"the {what}'s faces must be whole vertex indices")
    f = f.astype(np.int64)
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise InputError(f"the {what}'s faces index vertices {f.min()}..{f.max()} but it has {v.shape[0]:,}")
    return v, f, name


def _options(options: dict, steps: int) -> dict:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(map(repr, unknown))}; valid options: {', '.join(OPTIONS)}")
    opts = {k: options.get(k, default) for k, (default, _) in OPTIONS.items()}
    for k in ("n_samples", "time_steps", "hidden", "depth", "n_eval", "threads"):
        opts[k] = check_count(opts[k], k)
    if opts["record_every"] is None:
        opts["record_every"] = max(1, steps // 20)
    opts["record_every"] = check_count(opts["record_every"], "record_every")
    try:
        nw = float(opts["normal_weight"])
    except (TypeError, ValueError):
        raise InputError(f"normal_weight must be a number >= 0; got {opts['normal_weight']!r}") from None
    if not (np.isfinite(nw) and nw >= 0):
        raise InputError(f"normal_weight must be a finite number >= 0; got {nw}")
    opts["normal_weight"] = nw
    opts["metrics"] = bool(opts["metrics"])
    return opts


def deform(
    source,
    target,
    *,
    loss: str = "sw-varifold",
    field: str = "ode",
    n_projections: int = 100,
    estimator: str = "mc",
    steps: int = 300,
    lr: float | None = None,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    **options,
) -> DeformResult:
    """Deform the mesh ``source`` onto ``target`` by minimising a loss over a velocity field (or free displacements).

    Parameters
    ----------
    source : Shape or (vertices (n, 3) float, faces (m, 3) int)
        A 3-D triangle mesh; its faces are kept.
    target : Shape, (vertices (t, 3) float, faces (l, 3) int) or (t, 3) float
        A mesh or a point cloud (a cloud's points count as uniform; sw-varifold needs a mesh).
    loss : str
        A key of :data:`LOSSES`.
    field : str
        A key of :data:`FIELDS`: "ode" (diffeomorphic) or "free" (per-vertex displacements).
    n_projections, estimator : int, str
        Directions per iteration and how they are drawn, for the SW losses (fresh every iteration).
    steps : int
        Adam iterations.
    lr : float or None
        Adam's learning rate; None takes the field's default (``FIELDS[field].lr``).
    seed : int
        Seeds the MLP's weights, the directions and the samples. Iteration ``i`` draws from
        ``numpy.random.default_rng([seed, i])`` whatever the field, so the ODE and the free
        flow see the same directions and samples (a fair side-by-side).
    progress : callable ``(fraction, message) -> None``, optional
        Called after every iteration; raising :class:`StopDeformation` stops the run and
        returns what it has (``stopped=True``); any other exception propagates.
    **options
        See :data:`OPTIONS` (normal_weight, n_samples, time_steps, hidden, depth,
        record_every, chamfer_nn, metrics, n_eval).

    Returns
    -------
    DeformResult

    Notes
    -----
    Both meshes are moved by one affine map (centred on the centre of their joint bounding
    box, scaled to a unit joint diagonal) before optimisation and mapped back after, so the
    learning rates and ``normal_weight`` do not depend on the units. The area weights of the
    measures are recomputed every iteration but detached (constant within an iteration).
    """
    src_v, src_f, _ = _as_mesh(source, "source", need_faces=True)
    tgt_v, tgt_f, _ = _as_mesh(target, "target", need_faces=False)
    if src_v.shape[1] != 3 or tgt_v.shape[1] != 3:
        raise InputError(f"deformation works in 3D: the source is {src_v.shape[1]}D and the target "
                         f"{tgt_v.shape[1]}D")
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    if field not in FIELDS:
        raise InputError(f"unknown field {field!r}; choose one of: {', '.join(FIELDS)}")
    steps = check_count(steps, "steps")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0; got {seed!r}")
    seed = int(seed)
    lr = FIELDS[field].lr if lr is None else lr
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise InputError(f"lr must be a positive number; got {lr!r}") from None
    if not (np.isfinite(lr) and lr > 0):
        raise InputError(f"lr must be a finite positive number; got {lr}")
    opts = _options(options, steps)
    opts.update(steps=steps, lr=lr, n_projections=n_projections, estimator=estimator, seed=seed)

    # one affine frame for both meshes: unit joint diagonal, centred
    both = np.vstack([src_v, tgt_v])
    lo, hi = both.min(0), both.max(0)
    centre, scale = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
    if not scale > 0:
        raise InputError("the source and the target are a single point: there is nothing to deform")
    term = make_loss(loss, src_f, ((tgt_v - centre) / scale, tgt_f), n_projections=n_projections,
                     estimator=estimator, normal_weight=opts["normal_weight"], n_samples=opts["n_samples"],
                     chamfer_nn=opts["chamfer_nn"])
    x0 = torch.as_tensor((src_v - centre) / scale, dtype=DTYPE)
    K = opts["time_steps"]
    model = None
    if field == "ode":
        model = VelocityField(3, opts["hidden"], opts["depth"], seed)
        params = list(model.parameters())

        def forward():
            return integrate(model, x0, K)[-1]
    else:
        disp = torch.zeros_like(x0, requires_grad=True)
        params = [disp]

        def forward():
            return x0 + disp

    with _threads(opts["threads"]):
        return _optimise(forward, params, model, term, x0, src_v, src_f, tgt_v, tgt_f, centre, scale, loss, field,
                         opts, progress)


@contextmanager
def _threads(n: int):
    """Run with ``n`` torch intra-op threads, restoring the previous count after.

    Measured on two busy cores: an RK4 step of the 64-wide MLP on 162 points, forward and
    backward, took 35 times longer with 2 threads than with 1 (the products are too small to
    split). The count is process-wide while the run lasts.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _optimise(forward, params, model, term, x0, src_v, src_f, tgt_v, tgt_f, centre, scale, loss, field, opts,
              progress) -> DeformResult:
    """The Adam loop, the records, the trajectory and the metrics of :func:`deform`."""
    steps, lr, seed, K = opts["steps"], opts["lr"], opts["seed"], opts["time_steps"]
    opt = torch.optim.Adam(params, lr=lr)
    every = opts["record_every"]
    records, rec_steps, losses = [src_v.copy()], [0], []
    stopped = False
    t0 = time.perf_counter()
    for it in range(steps):
        opt.zero_grad(set_to_none=True)
        value = term(forward(), np.random.default_rng([seed, it]))
        if not torch.isfinite(value):
            raise InputError(f"the loss became {value.item()} at iteration {it}; try a smaller lr (now {lr:g})")
        value.backward()
        opt.step()
        losses.append(float(value.detach()))
        done = it + 1
        if done % every == 0 or done == steps:
            with torch.no_grad():
                records.append(forward().numpy() * scale + centre)
            rec_steps.append(done)
        if progress is not None:
            try:
                progress(done / steps, f"{field} · iteration {done:,} of {steps:,} · loss {losses[-1]:.4g}")
            except StopDeformation:
                stopped = True
                break
    if rec_steps[-1] != len(losses):  # stopped between records
        with torch.no_grad():
            records.append(forward().numpy() * scale + centre)
        rec_steps.append(len(losses))
    seconds = time.perf_counter() - t0

    times = np.linspace(0.0, 1.0, K + 1)
    if model is not None:
        model.eval()
        with torch.no_grad():
            trajectory = integrate(model, x0, K).numpy() * scale + centre
    else:
        trajectory = src_v[None] + times[:, None, None] * (records[-1] - src_v)[None]

    t1 = time.perf_counter()
    rows = []
    if opts["metrics"]:
        todo = list(range(len(records)))
        for k in todo:
            if stopped and 0 < k < len(records) - 1:
                continue  # a stopped run reports the source and where it stopped only
            if progress is not None and not stopped:
                try:
                    progress(1.0, f"metrics {k + 1} of {len(records)}")
                except StopDeformation:
                    stopped = True
                    if 0 < k < len(records) - 1:
                        continue
            rows.append({"step": rec_steps[k], **mesh_metrics(records[k], src_f, (tgt_v, tgt_f),
                                                               source_vertices=src_v, n_eval=opts["n_eval"],
                                                               seed=seed)})
    metrics = pd.DataFrame(rows).set_index("step") if rows else pd.DataFrame(index=pd.Index(rec_steps, name="step"))
    return DeformResult(
        vertices=np.stack(records), steps=np.asarray(rec_steps), faces=src_f, trajectory=trajectory, times=times,
        loss=np.asarray(losses), metrics=metrics, seconds=seconds, loss_name=loss, field=field, stopped=stopped,
        metric_seconds=time.perf_counter() - t1, options=opts, _model=model, _frame=(centre, scale),
    )
