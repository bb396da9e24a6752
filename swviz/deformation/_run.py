"""The optimisation of :func:`swviz.deformation.deform`: options, input checks, the Adam loop, :class:`DeformResult`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch

from .._threads import torch_threads
from .._validation import InputError, as_points, check_count
from ..autodiff import check_device
from ..shapes.shape import Shape
from ._fields import DTYPE, FIELDS, VelocityField, integrate
from ._losses import LOSSES, make_loss
from ._metrics import mesh_metrics

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
                   "threaded: an RK4 step on 162 points, forward and backward, 35x slower with 2 threads on busy "
                   "cores (swviz._threads)"),
})


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
            dev = next(self._model.parameters()).device
            z = torch.as_tensor((x - centre) / scale, dtype=DTYPE, device=dev)
            traj = integrate(self._model, z, int(self.options["time_steps"]), reverse=reverse)
        return traj.cpu().numpy() * scale + centre


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
    device="cpu",
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
    device : "cpu", "cuda", "cuda:k" or a torch.device
        Where the field, the vertices and the losses are computed (the directions and the
        surface samples are drawn on the CPU from the same generators, so a CUDA run follows
        the CPU run up to floating-point rounding). An unavailable device is an error.
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
    dev = check_device(device)
    opts.update(device=str(dev), steps=steps, lr=lr, n_projections=n_projections, estimator=estimator, seed=seed)

    # one affine frame for both meshes: unit joint diagonal, centred
    both = np.vstack([src_v, tgt_v])
    lo, hi = both.min(0), both.max(0)
    centre, scale = (lo + hi) / 2, float(np.linalg.norm(hi - lo))
    if not scale > 0:
        raise InputError("the source and the target are a single point: there is nothing to deform")
    term = make_loss(loss, src_f, ((tgt_v - centre) / scale, tgt_f), n_projections=n_projections,
                     estimator=estimator, normal_weight=opts["normal_weight"], n_samples=opts["n_samples"],
                     chamfer_nn=opts["chamfer_nn"], device=dev)
    x0 = torch.as_tensor((src_v - centre) / scale, dtype=DTYPE, device=dev)
    K = opts["time_steps"]
    model = None
    if field == "ode":
        model = VelocityField(3, opts["hidden"], opts["depth"], seed).to(dev)
        params = list(model.parameters())

        def forward():
            return integrate(model, x0, K)[-1]
    else:
        disp = torch.zeros_like(x0, requires_grad=True)
        params = [disp]

        def forward():
            return x0 + disp

    with torch_threads(opts["threads"]):
        return _optimise(forward, params, model, term, x0, src_v, src_f, tgt_v, tgt_f, centre, scale, loss, field,
                         opts, progress)


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
                records.append(forward().cpu().numpy() * scale + centre)
            rec_steps.append(done)
        if progress is not None:
            try:
                progress(done / steps, f"{field} · iteration {done:,} of {steps:,} · loss {losses[-1]:.4g}")
            except StopDeformation:
                stopped = True
                break
    if rec_steps[-1] != len(losses):  # stopped between records
        with torch.no_grad():
            records.append(forward().cpu().numpy() * scale + centre)
        rec_steps.append(len(losses))
    seconds = time.perf_counter() - t0

    times = np.linspace(0.0, 1.0, K + 1)
    if model is not None:
        model.eval()
        with torch.no_grad():
            trajectory = integrate(model, x0, K).cpu().numpy() * scale + centre
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
