r"""Shapes as discrete measures: the four modes, normalisation, and the pair every page uses.

A :class:`~swviz.shapes.shape.Shape` becomes a :class:`Measure`
:math:`\mu = \sum_i w_i \delta_{x_i}` in one of four modes (:data:`MODES`):

* ``"surface"``: uniform on the surface. Faces are drawn with probability
  :math:`|T_f| / \sum_g |T_g|` and a point uniform in the triangle
  (:math:`x = a + u(b - a) + v(c - a)` with :math:`(u, v)` uniform on the unit triangle),
  ``n`` points of weight :math:`1/n`, seeded.
* ``"vertices"``: the vertices, weighted by a third of the area of their adjacent faces,
  :math:`w_i \propto \frac13 \sum_{f \ni i} |T_f|`.
* ``"varifold"``: the oriented varifold, one atom per face at
  :math:`(c_f, \lambda\, n_f) \in \mathbb{R}^6` (centroid and unit normal) of weight
  :math:`|T_f| / \sum_g |T_g|`; :math:`\lambda` (``normal_weight``) trades orientation
  against position, as the squared cost is :math:`|c - c'|^2 + \lambda^2 |n - n'|^2`.
* ``"points"``: the vertices or points as given, uniform weights.

A point cloud has no surface: ``"surface"`` and ``"vertices"`` use its points as given,
and ``"varifold"`` needs a mesh. Normalisation (:data:`NORMALISATIONS`) moves the shape
before it is measured: centre it at the centroid of its uniform measure (area-weighted for
meshes), then optionally scale it to a unit bounding-box diagonal or a unit RMS radius.
``"align"`` is a normalisation of the pair: both shapes are centred, then the target is
moved rigidly onto the source by :func:`swviz.align.align_rigid` (principal-axis candidates
refined by minimising SW over rotations); :func:`make_pair` applies it and the target
measure carries the result in :attr:`Measure.alignment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from .._validation import InputError, check_count, rng_from
from .shape import Shape, face_areas

__all__ = [
    "MODES",
    "NORMALISATIONS",
    "PAIR_NORMALISATIONS",
    "Measure",
    "Normalisation",
    "make_pair",
    "normalise",
    "rms_radius",
    "surface_centroid",
    "surface_barycentric",
    "surface_samples",
    "to_measure",
    "varifold_atoms",
    "vertex_weights",
]

MODES = MappingProxyType({
    "surface": "uniform surface samples",
    "vertices": "vertices with area weights",
    "varifold": "oriented varifold",
    "points": "raw points",
})
NORMALISATIONS = MappingProxyType({
    "none": "as given",
    "centre": "centred",
    "unit-bbox": "centred, unit bounding-box diagonal",
    "unit-rms": "centred, unit RMS radius",
    "align": "centred, target rotated onto the source (least SW)",
})
#: Normalisations that act on the pair, so only :func:`make_pair` can apply them.
PAIR_NORMALISATIONS = ("align",)


@dataclass(frozen=True)
class Measure:
    """A discrete measure ``sum_i w_i delta_{x_i}`` ready for the estimators.

    points : (n, d) float
        d = 6 for varifold atoms (centroid, normal_weight * unit normal).
    weights : (n,) float summing to 1, or None for uniform
    name : str
        What a page shows ("sphere", "teapot.obj"...).
    mesh : trimesh.Trimesh or None
        The (normalised) mesh the measure was built from, when it is a surface.
    mode : str
        How the measure was built: a value of :data:`MODES` ("raw points"...).
    shape : Shape or None
        The normalised shape the measure was built from.
    face_index : (n,) int or None
        The face each atom lies on (surface samples and varifold atoms).
    alignment : swviz.align.AlignResult or None
        On the target of a pair normalised with ``"align"``: the rotation and translation
        that moved it onto the source, and ``SW_2^2`` before and after.
    """

    points: np.ndarray
    weights: np.ndarray | None = None
    name: str = ""
    mesh: object | None = field(default=None, repr=False, compare=False)
    mode: str = "raw points"
    shape: Shape | None = field(default=None, repr=False, compare=False)
    face_index: np.ndarray | None = field(default=None, repr=False, compare=False)
    alignment: object | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return int(self.points.shape[0])

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])


@dataclass(frozen=True)
class Normalisation:
    """``x_normalised = (x - centre) / scale``."""

    how: str
    centre: np.ndarray
    scale: float


def _check_mesh(shape: Shape, what: str) -> None:
    if not shape.is_mesh:
        raise InputError(f"{what} needs a mesh, but {shape.name!r} is a point cloud")


def surface_centroid(shape: Shape) -> np.ndarray:
    """Centroid of the uniform measure on ``shape``: area-weighted for meshes, the mean for clouds. (d,) float."""
    if not shape.is_mesh:
        return shape.vertices.mean(0)
    area = face_areas(shape.vertices, shape.faces)
    centroids = shape.vertices[shape.faces].mean(1)  # (m, 3)
    return area @ centroids / area.sum()


def rms_radius(shape: Shape, centre: np.ndarray | None = None) -> float:
    r"""Root mean square distance to ``centre`` under the uniform measure on ``shape``.

    For a mesh this is exact: uniform on a triangle with corners :math:`a, b, c` (relative to
    the centre), :math:`E|x|^2 = (|a|^2 + |b|^2 + |c|^2 + |a + b + c|^2) / 12`.
    """
    centre = surface_centroid(shape) if centre is None else centre
    v = shape.vertices - centre
    if not shape.is_mesh:
        return float(np.sqrt((v**2).sum(1).mean()))
    p = v[shape.faces]  # (m, 3, 3)
    second = ((p**2).sum((1, 2)) + (p.sum(1) ** 2).sum(1)) / 12  # (m,)
    area = face_areas(shape.vertices, shape.faces)
    return float(np.sqrt(area @ second / area.sum()))


def normalise(shape: Shape, how: str = "none") -> tuple[Shape, Normalisation]:
    """Move (and scale) ``shape`` as :data:`NORMALISATIONS` says; vertex order is kept.

    Returns the new shape and the :class:`Normalisation` applied, ``x' = (x - centre) / scale``.
    ``"align"`` acts on a pair (see :func:`make_pair`) and is refused here.
    """
    if how not in NORMALISATIONS:
        raise InputError(f"unknown normalisation {how!r}; choose one of: {', '.join(NORMALISATIONS)}")
    if how in PAIR_NORMALISATIONS:
        raise InputError(f"the normalisation {how!r} moves the target onto the source, so it needs the pair: "
                         "use make_pair(source, target, ..., normalise_how=...)")
    d = shape.dim
    if how == "none":
        return shape, Normalisation(how, np.zeros(d), 1.0)
    centre = surface_centroid(shape)
    scale = 1.0
    if how == "unit-bbox":
        scale = float(np.linalg.norm(shape.vertices.max(0) - shape.vertices.min(0)))
    elif how == "unit-rms":
        scale = rms_radius(shape, centre)
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"cannot scale {shape.name!r} to unit size: its size is {scale:.3g}")
    moved = shape.with_vertices((shape.vertices - centre) / scale, key=f"{shape.key}|norm={how}")
    return moved, Normalisation(how, centre, scale)


def surface_barycentric(vertices: np.ndarray, faces: np.ndarray, n: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Where ``n`` uniform surface samples lie: their faces and barycentric coordinates.

    Faces are drawn with probability proportional to area, points uniformly inside (the unit
    square folded onto the triangle). vertices : (v, 3) float; faces : (m, 3) int; seed : int,
    None or numpy Generator. Returns ``face_index : (n,) int`` and ``uv : (n, 2) float``: the
    sample is ``A + u (B - A) + v (C - A)`` on the face ``(A, B, C)``, so it follows the
    vertices when a mesh deforms.
    """
    n = check_count(n, "n")
    rng = rng_from(seed)
    area = face_areas(vertices, faces)
    cdf = np.cumsum(area)
    face = np.minimum(np.searchsorted(cdf, rng.uniform(0, cdf[-1], n), side="right"), len(faces) - 1)
    uv = rng.uniform(0.0, 1.0, (n, 2))
    out = uv.sum(1) > 1  # reflect the far half of the unit square onto the triangle
    uv[out] = 1.0 - uv[out]
    return face, uv


def surface_samples(vertices: np.ndarray, faces: np.ndarray, n: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform on the surface (area-weighted faces, uniform barycentric points).

    vertices : (v, 3) float; faces : (m, 3) int; seed : int, None or numpy Generator.
    Returns ``points : (n, 3) float`` and ``face_index : (n,) int`` (see :func:`surface_barycentric`).
    """
    face, uv = surface_barycentric(vertices, faces, n, seed)
    a, b, c = (vertices[faces[face, k]] for k in range(3))
    return a + uv[:, :1] * (b - a) + uv[:, 1:] * (c - a), face


def vertex_weights(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each vertex's weight: a third of the area of its adjacent faces, normalised to sum 1. (v,) float.

    Vertices in no face get weight 0 (they are kept, so vertex order is unchanged).
    """
    area = face_areas(vertices, faces)
    w = np.bincount(faces.ravel(), weights=np.repeat(area / 3.0, 3), minlength=len(vertices))
    return w / w.sum()


def varifold_atoms(
    vertices: np.ndarray, faces: np.ndarray, normal_weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oriented varifold atoms: one per face of positive area.

    Returns ``points : (k, 6) float`` (centroid, normal_weight * unit normal), ``weights :
    (k,) float`` (area / total area) and ``face_index : (k,) int``. Faces of zero area have
    no normal and no mass, so they carry no atom.
    """
    p = vertices[faces]
    cross = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # (m, 3), length 2 * area
    twice_area = np.linalg.norm(cross, axis=1)
    keep = np.flatnonzero(twice_area > 0)
    normal = cross[keep] / twice_area[keep, None]
    atoms = np.column_stack([p[keep].mean(1), normal_weight * normal])
    return atoms, twice_area[keep] / twice_area[keep].sum(), keep


def to_measure(
    shape: Shape,
    mode: str = "surface",
    n: int = 1024,
    seed=0,
    normalise_how: str = "none",
    normal_weight: float = 1.0,
) -> Measure:
    """``shape`` as a :class:`Measure` in ``mode`` after normalising it.

    shape : Shape
    mode : str, a key of :data:`MODES`
    n : int, number of surface samples (mode "surface" on a mesh)
    seed : int, None or numpy Generator, for the surface samples
    normalise_how : str, a key of :data:`NORMALISATIONS`
    normal_weight : float >= 0, the weight on the normal block of varifold atoms
    """
    if mode not in MODES:
        raise InputError(f"unknown measure mode {mode!r}; choose one of: {', '.join(MODES)}")
    try:
        normal_weight = float(normal_weight)
    except (TypeError, ValueError):
        raise InputError(f"normal_weight must be a number >= 0; got {normal_weight!r}") from None
    if not (np.isfinite(normal_weight) and normal_weight >= 0):
        raise InputError(f"normal_weight must be a finite number >= 0; got {normal_weight}")
    shape, _ = normalise(shape, normalise_how)
    mesh = shape.to_trimesh() if shape.is_mesh else None
    if mode == "varifold":
        _check_mesh(shape, "the oriented varifold")
        pts, w, face = varifold_atoms(shape.vertices, shape.faces, normal_weight)
        return Measure(pts, w, shape.name, mesh, MODES[mode], shape, face)
    if mode == "surface" and shape.is_mesh:
        pts, face = surface_samples(shape.vertices, shape.faces, n, seed)
        return Measure(pts, None, shape.name, mesh, MODES[mode], shape, face)
    if mode == "vertices" and shape.is_mesh:
        w = vertex_weights(shape.vertices, shape.faces)
        return Measure(shape.vertices.copy(), w, shape.name, mesh, MODES[mode], shape)
    return Measure(shape.vertices.copy(), None, shape.name, mesh, MODES["points"], shape)


def make_pair(
    source: Shape,
    target: Shape,
    mode: str = "surface",
    n: int = 1024,
    seed: int = 0,
    normalise_how: str = "none",
    normal_weight: float = 1.0,
) -> tuple[Measure, Measure]:
    """The source and target measures of a pair, checked to live in the same dimension.

    The target's surface samples use ``seed + 1`` so that a shape paired with itself is
    not sampled at the very same points. With ``normalise_how="align"`` the target is moved
    rigidly onto the source (:func:`swviz.align.align_rigid` on the two measures as given,
    seeded with ``seed``), then both are shifted so that the source is centred; the returned
    target's ``alignment`` holds the motion (in the shapes' own coordinates) and ``SW_2^2`` as
    given, after centring, and after the rotation (the SW of the returned pair).
    """
    seed = int(seed)
    if source.dim != target.dim:
        raise InputError(
            f"the source {source.name!r} is {source.dim}D but the target {target.name!r} is {target.dim}D; "
            "pick two shapes of the same dimension"
        )
    if mode == "varifold":
        for s in (source, target):
            _check_mesh(s, "the oriented varifold")
    if normalise_how != "align":
        return (to_measure(source, mode, n, seed, normalise_how, normal_weight),
                to_measure(target, mode, n, seed + 1, normalise_how, normal_weight))
    from ..align import align_rigid

    src = to_measure(source, mode, n, seed, "none", normal_weight)
    tgt = to_measure(target, mode, n, seed + 1, "none", normal_weight)
    result = align_rigid(src.points, tgt.points, src.weights, tgt.weights, seed=seed)
    # Then shift both by the source's centroid: a common translation changes no distance, so
    # the returned pair has exactly the SW of the result. The shapes are moved and measured
    # again: surface samples, vertex weights and varifold atoms follow rigid motions exactly
    # (the same seed draws the same faces and barycentric coordinates), and the mesh moves too.
    src_shape, how = normalise(source, "centre")
    src = to_measure(src_shape, mode, n, seed, "none", normal_weight)
    moved = target.with_vertices(result.apply(target.vertices) - how.centre, key=f"{target.key}|align:{seed}")
    aligned = to_measure(moved, mode, n, seed + 1, "none", normal_weight)
    return src, replace(aligned, alignment=result)
