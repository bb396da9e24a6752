"""The built-in shapes: meshes where the shape is a surface, point clouds where it is not.

Each entry of :data:`SHAPES` is a :class:`ShapeSpec`. Surfaces carry a ``build`` function
returning ``(vertices, faces)``; clouds are drawn by ``sample(n, rng)``. Every spec has a
``sample(n, rng)`` returning ``(n, dim)`` float points, uniform on the surface (by area) for
meshes: for the sphere, torus and cube these are exact samples of the ideal surface (as
:func:`sample_shape` always gave), for the others samples of the mesh. :func:`library_shape`
gives the :class:`Shape` (the mesh, or ``n`` seeded points), which the measures use.

The ``bar`` family are deformed copies of one mesh (bent, twisted, tapered, perturbed) that
keep its vertex order: :func:`deformation_pairs` lists them and
:func:`~swviz.shapes.deform.ground_truth` gives their vertex correspondence (the identity).
Two shapes (``double torus``, ``jack``) are implicit surfaces; ``assets/make_assets.py``
stores them as PLY files, read when present and rebuilt the same way otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .._validation import InputError, check_count, rng_from
from . import _isosurface as iso
from .deform import deform
from .shape import Shape

__all__ = [
    "ASSETS",
    "SHAPES",
    "ShapeSpec",
    "deformation_pairs",
    "library_mesh",
    "library_shape",
    "sample_shape",
    "shape_names",
]

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@dataclass(frozen=True)
class ShapeSpec:
    """A built-in shape.

    name : str
    dim : int (2 or 3)
    description : str
    sample : callable ``(n, rng) -> (n, dim) float``
    build : callable ``() -> (vertices (v, 3) float, faces (m, 3) int)`` or None for clouds
    family : str or None
        Shapes of one family share faces and vertex order (deformed copies of one mesh).
    """

    name: str
    dim: int
    description: str
    sample: Callable[[int, np.random.Generator], np.ndarray]
    build: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    family: str | None = None

    @property
    def kind(self) -> str:
        return "mesh" if self.build is not None else "point cloud"


# -- meshes ---------------------------------------------------------------------------------


def _grid_surface(f, nu: int, nv: int, close_v: bool = True):
    """A parametric surface periodic in u (and in v when ``close_v``): f(u, v) -> (..., 3), u, v in [0, 1)."""
    mv = nv if close_v else nv + 1
    u, v = np.meshgrid(np.arange(nu) / nu, np.arange(mv) / nv if close_v else np.linspace(0, 1, mv), indexing="ij")
    verts = f(u.ravel(), v.ravel())
    idx = np.arange(nu * mv).reshape(nu, mv)
    i0, i1 = idx, np.roll(idx, -1, axis=0)
    j = slice(None) if close_v else slice(0, mv - 1)
    a, b = i0[:, j], i1[:, j]
    c, d = np.roll(i0, -1, axis=1)[:, j], np.roll(i1, -1, axis=1)[:, j]
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    return verts, faces


def _icosphere(sub=4):
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=sub)
    return np.asarray(m.vertices), np.asarray(m.faces)


def _sphere():
    return _icosphere(4)


def _torus(R=1.0, r=0.35):
    def f(u, v):
        a, b = 2 * np.pi * u, 2 * np.pi * v
        return np.stack([(R + r * np.cos(b)) * np.cos(a), (R + r * np.cos(b)) * np.sin(a), r * np.sin(b)], -1)

    return _grid_surface(f, 96, 32)


def _cube():
    import trimesh

    m = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    return trimesh.remesh.subdivide(*trimesh.remesh.subdivide(m.vertices, m.faces))


def _cylinder():
    import trimesh

    m = trimesh.creation.cylinder(radius=0.7, height=2.0, sections=64)
    return trimesh.remesh.subdivide_to_size(m.vertices, m.faces, max_edge=0.25)


def _cone():
    import trimesh

    m = trimesh.creation.cone(radius=0.9, height=2.0, sections=64)
    v, f = trimesh.remesh.subdivide_to_size(m.vertices, m.faces, max_edge=0.25)
    return v - [0.0, 0.0, 1.0], f  # base at z = -1, apex at z = 1


def _capsule():
    import trimesh

    m = trimesh.creation.capsule(height=1.6, radius=0.55, count=[48, 48])
    return np.asarray(m.vertices), np.asarray(m.faces)


def _bumpy_sphere():
    v, f = _icosphere(5)
    x, y, z = v.T
    r = 1 + 0.12 * np.sin(4 * x) * np.sin(4 * y) * np.sin(4 * z) + 0.06 * np.cos(7 * z)
    return v * r[:, None], f


def _peanut():
    v, f = _icosphere(4)
    x = v[:, 0]
    waist = 0.45 + 0.5 * x**2  # thin in the middle, full at the lobes
    return np.column_stack([1.6 * x, v[:, 1] * waist * 1.2, v[:, 2] * waist * 1.2]), f


def _trefoil(radius=0.38):
    def curve(t):
        return np.stack([np.sin(t) + 2 * np.sin(2 * t), np.cos(t) - 2 * np.cos(2 * t), -np.sin(3 * t)], -1)

    def tangent(t):
        return np.stack([np.cos(t) + 4 * np.cos(2 * t), -np.sin(t) + 4 * np.sin(2 * t), -3 * np.cos(3 * t)], -1)

    def f(u, v):
        t, a = 2 * np.pi * u, 2 * np.pi * v
        T = tangent(t)
        T /= np.linalg.norm(T, axis=-1, keepdims=True)
        B = np.cross(T, [0.0, 0.0, 1.0])  # T is never vertical on this knot, so this frame closes up
        B /= np.linalg.norm(B, axis=-1, keepdims=True)
        N = np.cross(B, T)
        return curve(t) + radius * (np.cos(a)[:, None] * N + np.sin(a)[:, None] * B)

    v, faces = _grid_surface(f, 240, 20)
    return v, faces[:, ::-1]  # this frame turns the grid inside out: flip to outward normals


def _bar():
    import trimesh

    m = trimesh.creation.box(extents=(0.6, 0.6, 3.0))
    return trimesh.remesh.subdivide_to_size(m.vertices, m.faces, max_edge=0.1)


def _bar_deformed(kind, amount=1.0):
    def build():
        v, f = library_mesh("bar")
        return deform(v, kind, amount, seed=7), f

    return build


def _asset(stem, sdf, lo, hi, n):
    def build():
        path = ASSETS / f"{stem}.ply"
        if path.is_file():
            from .io import load_shape

            s = load_shape(path.read_bytes(), path.name)
            return s.vertices, s.faces
        return iso.marching_tetrahedra(sdf, lo, hi, n)

    build.implicit = (sdf, lo, hi, n)  # what assets/make_assets.py writes out
    return build


ASSET_BUILDS = {
    "double_torus": _asset("double_torus", iso.sdf_double_torus, -2.3, 2.3, 56),
    "jack": _asset("jack", iso.sdf_jack, -1.45, 1.45, 48),
}


@lru_cache(maxsize=64)
def _mesh_cached(name):
    v, f = SHAPES[name].build()
    v = np.ascontiguousarray(v, dtype=np.float64)
    f = np.ascontiguousarray(f, dtype=np.int64)
    v.setflags(write=False)
    f.setflags(write=False)
    return v, f


def library_mesh(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (v, 3) float, faces (m, 3) int)`` of the library mesh ``name`` (read-only arrays)."""
    spec = _spec(name)
    if spec.build is None:
        raise InputError(f"{name!r} is a point cloud, not a mesh")
    return _mesh_cached(name)


def _mesh_sampler(name):
    def sample(n, rng):
        from .measures import surface_samples

        v, f = library_mesh(name)
        return surface_samples(v, f, n, rng)[0]

    return sample


# exact samplers of the ideal sphere, torus and cube (sample_shape keeps drawing these; the
# measures of the library shapes sample their meshes, see ``to_measure``)


def _sphere_exact(n, rng):
    g = rng.standard_normal((n, 3))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _torus_exact(n, rng, R=1.0, r=0.35):
    # rejection on the tube angle gives area-uniform samples (density ~ R + r cos v)
    out = np.empty((0, 3))
    while out.shape[0] < n:
        k = 2 * (n - out.shape[0]) + 16
        u = rng.uniform(0, 2 * np.pi, k)
        v = rng.uniform(0, 2 * np.pi, k)
        keep = rng.uniform(0, R + r, k) < R + r * np.cos(v)
        u, v = u[keep], v[keep]
        pts = np.stack([(R + r * np.cos(v)) * np.cos(u), (R + r * np.cos(v)) * np.sin(u), r * np.sin(v)], 1)
        out = np.concatenate([out, pts])
    return out[:n]


def _cube_exact(n, rng):
    face = rng.integers(0, 6, n)
    pts = rng.uniform(-1, 1, (n, 3))
    axis = face // 2
    pts[np.arange(n), axis] = np.where(face % 2 == 0, -1.0, 1.0)
    return pts


# -- clouds -----------------------------------------------------------------------------------


def _helix(n, rng):
    t = rng.uniform(0, 1, n)  # constant speed, so uniform in t is uniform along the curve
    a = 2 * np.pi * 3 * t
    return np.stack([np.cos(a), np.sin(a), 3 * t - 1.5], 1)


def _blobs(n, rng):
    k = rng.integers(0, 2, n)
    centres = np.array([[-1.2, 0.0, 0.0], [1.2, 0.3, 0.2]])
    return centres[k] + 0.4 * rng.standard_normal((n, 3))


def _mixture_3d(n, rng):
    k = rng.integers(0, 4, n)
    centres = np.array([[-1.2, 0.0, 0.0], [1.2, 0.3, 0.2], [0.0, 1.1, -0.6], [0.2, -0.9, 0.8]])
    scales = np.array([0.4, 0.3, 0.25, 0.15])
    return centres[k] + scales[k, None] * rng.standard_normal((n, 3))


def _circle(n, rng):
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(t), np.sin(t)], 1)


def _polygon_boundary(corners, n, rng):
    """Uniform by length on the closed polygon through ``corners : (k, 2)``."""
    seg = np.roll(corners, -1, 0) - corners
    length = np.linalg.norm(seg, axis=1)
    s = rng.uniform(0, length.sum(), n)
    cum = np.concatenate([[0], np.cumsum(length)])
    i = np.minimum(np.searchsorted(cum, s, side="right") - 1, len(corners) - 1)
    return corners[i] + ((s - cum[i]) / length[i])[:, None] * seg[i]


def _square(n, rng):
    s = rng.uniform(0, 4, n)
    side = np.floor(s).astype(int)
    f = s - side
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
    return corners[side] + f[:, None] * (corners[(side + 1) % 4] - corners[side])


def _star(n, rng):
    k = np.arange(10)
    r = np.where(k % 2 == 0, 1.0, 0.42)
    a = np.pi / 2 + k * np.pi / 5
    return _polygon_boundary(np.stack([r * np.cos(a), r * np.sin(a)], 1), n, rng)


def _spiral(n, rng):
    # Archimedean spiral r = b * theta for theta in [0.5, 4 pi]; rejection on the speed gives uniform arc length
    out = np.empty((0, 2))
    lo, hi = 0.5, 4 * np.pi
    speed_max = np.hypot(1.0, hi)
    while out.shape[0] < n:
        th = rng.uniform(lo, hi, 2 * n)
        th = th[rng.uniform(0, speed_max, 2 * n) < np.hypot(1.0, th)]
        out = np.concatenate([out, 0.08 * np.stack([th * np.cos(th), th * np.sin(th)], 1)])
    return out[:n]


def _two_moons(n, rng):
    k = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    pts = np.where(k[:, None] == 0, upper, lower) + 0.05 * rng.standard_normal((n, 2))
    return pts - [0.5, 0.25]


def _annulus(n, rng, r0=0.5, r1=1.0):
    r = np.sqrt(rng.uniform(r0**2, r1**2, n))  # uniform by area
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _mixture_2d(n, rng):
    k = rng.integers(0, 4, n)
    centres = np.array([[-1.0, -0.6], [1.0, -0.4], [0.0, 0.9], [0.2, -0.1]])
    return centres[k] + np.array([0.25, 0.3, 0.2, 0.12])[k, None] * rng.standard_normal((n, 2))


def _mesh_spec(name, description, build, family=None, sample=None):
    return ShapeSpec(name, 3, description, sample or _mesh_sampler(name), build, family)


#: Shape name -> :class:`ShapeSpec` (read-only).
SHAPES = MappingProxyType({
    s.name: s
    for s in [
        _mesh_spec("sphere", "unit sphere (icosphere, 5,120 faces)", _sphere, sample=_sphere_exact),
        _mesh_spec("torus", "torus, R = 1, r = 0.35", _torus, sample=_torus_exact),
        _mesh_spec("cube", "surface of the cube [-1, 1]^3", _cube, sample=_cube_exact),
        _mesh_spec("cylinder", "closed cylinder, radius 0.7, height 2", _cylinder),
        _mesh_spec("cone", "closed cone, radius 0.9, height 2", _cone),
        _mesh_spec("capsule", "capsule: a cylinder with hemispherical caps", _capsule),
        _mesh_spec("bumpy sphere", "sphere with smooth radial bumps", _bumpy_sphere),
        _mesh_spec("peanut", "two lobes joined by a waist", _peanut),
        _mesh_spec("trefoil knot", "tube around a trefoil knot", _trefoil),
        _mesh_spec("double torus", "genus-2 surface (implicit, stored in assets/)", ASSET_BUILDS["double_torus"]),
        _mesh_spec("jack", "three blended rods with round knobs (implicit, stored in assets/)", ASSET_BUILDS["jack"]),
        _mesh_spec("bar", "square bar 0.6 x 0.6 x 3: the base of the deformed pairs", _bar, "bar"),
        _mesh_spec("bar (bent)", "the bar bent through 90 degrees; same vertex order", _bar_deformed("bend"), "bar"),
        _mesh_spec("bar (twisted)", "the bar twisted by 180 degrees; same vertex order", _bar_deformed("twist"),
                   "bar"),
        _mesh_spec("bar (tapered)", "the bar tapered to 40% at one end; same vertex order", _bar_deformed("taper"),
                   "bar"),
        _mesh_spec("bar (perturbed)", "the bar smoothly perturbed (seeded); same vertex order",
                   _bar_deformed("perturb"), "bar"),
        ShapeSpec("helix", 3, "three turns of a helix (a curve: point cloud)", _helix),
        ShapeSpec("gaussian blobs", 3, "two Gaussian blobs (point cloud)", _blobs),
        ShapeSpec("gaussian mixture", 3, "mixture of four Gaussians of different spreads (point cloud)", _mixture_3d),
        ShapeSpec("circle", 2, "unit circle", _circle),
        ShapeSpec("square", 2, "boundary of the square [-1, 1]^2", _square),
        ShapeSpec("star", 2, "boundary of a five-pointed star", _star),
        ShapeSpec("spiral", 2, "Archimedean spiral, uniform along its length", _spiral),
        ShapeSpec("two moons", 2, "two interleaved half circles with noise", _two_moons),
        ShapeSpec("annulus", 2, "ring 0.5 <= r <= 1, uniform by area", _annulus),
        ShapeSpec("gaussian mixture 2d", 2, "mixture of four Gaussians", _mixture_2d),
    ]
})


def _spec(name: str) -> ShapeSpec:
    if name not in SHAPES:
        raise InputError(f"unknown shape {name!r}; built-in shapes are: {', '.join(SHAPES)}")
    return SHAPES[name]


def shape_names(dim: int | None = None, kind: str | None = None) -> list[str]:
    """Names of the built-in shapes, optionally only those of dimension ``dim`` or ``kind`` ("mesh", "point cloud")."""
    return [k for k, s in SHAPES.items() if (dim is None or s.dim == dim) and (kind is None or s.kind == kind)]


def sample_shape(name: str, n: int = 1024, seed=0) -> np.ndarray:
    """``n`` points of the built-in shape ``name``: (n, dim) float, uniform by area on meshes."""
    spec = _spec(name)
    n = check_count(n, "n")
    return spec.sample(n, rng_from(seed))


def library_shape(name: str, n: int = 1024, seed=0) -> Shape:
    """The built-in shape ``name`` as a :class:`Shape`: the mesh (``n`` and ``seed`` unused), or ``n`` seeded points."""
    spec = _spec(name)
    if spec.build is not None:
        v, f = library_mesh(name)
        return Shape(name, v, f, "library", f"library:{name}")
    n = check_count(n, "n")
    if isinstance(seed, np.random.Generator):
        return Shape(name, spec.sample(n, seed), None, "library", "")
    return Shape(name, spec.sample(n, rng_from(seed)), None, "library", f"library:{name}:{n}:{seed}")


def deformation_pairs() -> list[tuple[str, str]]:
    """(base, deformed copy) name pairs of the library whose ground truth is the identity."""
    pairs = []
    for fam in sorted({s.family for s in SHAPES.values() if s.family}):
        names = [k for k, s in SHAPES.items() if s.family == fam]
        pairs += [(names[0], other) for other in names[1:]]
    return pairs


def library_pair(source: str, target: str, n: int = 1024, seed: int = 0, mode: str = "surface",
                 normalise_how: str = "none", normal_weight: float = 1.0):
    """The measures of two built-in shapes exactly as the app builds them.

    The shapes are :func:`library_shape` (point clouds drawn with ``seed`` for the source and
    ``seed + 1`` for the target), then :func:`swviz.shapes.measures.make_pair` with ``mode``,
    ``n``, ``seed``, the normalisation and the varifold normal weight. The command line and the
    pages both call this, so the same settings give the same number everywhere.

    Returns ``(source, target)`` :class:`~swviz.shapes.measures.Measure`.
    """
    from .measures import make_pair

    seed = int(seed)
    return make_pair(library_shape(source, n, seed), library_shape(target, n, seed + 1), mode, n, seed,
                     normalise_how, normal_weight)
