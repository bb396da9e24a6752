"""The loop of every gradient flow: Euler steps on an estimated sliced loss, by autograd.

The particles ``z : (n, d)`` of ``mu = sum_i a_i delta_{z_i}`` move towards a fixed target
``nu`` by explicit Euler steps of the Wasserstein gradient flow of an estimated loss ``F``
(``"sw2"``: ``SW_2^2``; ``"sw"``: ``SW_2``, the loss of the flows in Nguyen & Ho, ICLR 2024,
Section 5.1),

.. math::
    z_i \\leftarrow z_i - h \\, v_i, \\qquad v_i = \\frac{1}{a_i} \\frac{\\partial \\hat F}{\\partial z_i}
    \\quad (= n \\, \\partial \\hat F / \\partial z_i \\text{ for uniform weights}),

so a step ``h`` means the same whatever ``n`` is (Liutkus et al., "Sliced-Wasserstein flows",
ICML 2019, for the flow of the sliced loss). Every step draws fresh directions from the chosen
estimator and takes the gradient of its estimate by autograd through
:func:`swviz.autodiff.sw_objective`, so one loop serves every registered estimator, and the
velocity of a control-variate estimate includes its dependence on the source's mean and
covariance. For ``loss="sw"`` the chain rule ``d sqrt(E) = dE / (2 sqrt(E))`` is applied with the
root taken of ``max(E, 1% of the mean slice value)``, so a CV estimate that dips to or below 0
near the target still gives a finite step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .._threads import check_threads, torch_threads
from .._validation import InputError, as_points, check_count, check_directions, check_pair, rng_from
from ..autodiff import check_device, slice_wpp
from ..estimators import CombineOptions, Estimator, Moments, get_estimator
from ._carriers import Carrier, check_mesh, mesh_carrier
from ._w2 import EXACT_OT_MAX, SLICED_REFERENCE_DIRECTIONS, _w2

__all__ = [
    "LOSSES",
    "MESH_MEASURES",
    "PRESETS",
    "FlowPreset",
    "FlowResult",
    "flow_velocity",
    "gradient_flow",
    "mesh_flow",
]

#: Loss name -> description.
LOSSES = MappingProxyType({
    "sw2": "SW_2^2, the sliced Wasserstein loss (an expectation over directions)",
    "sw": "SW_2 = (SW_2^2)^(1/2), the loss of the CV paper's flows",
})

#: Mesh measure name -> description (:func:`mesh_flow`).
MESH_MEASURES = MappingProxyType({
    "vertices": "the vertices, each weighing a third of its adjacent faces' area",
    "surface": "area-uniform surface samples carried by barycentric coordinates",
})

Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FlowResult:
    """The trajectory of a gradient flow.

    frames : (T, n, d) float
        Positions at the recorded steps (the mesh's vertices in mesh mode).
    steps : (T,) int
        Step number of each frame (0 is the initial state).
    loss : (n_steps,) float
        The estimated loss (``SW_2^2`` or ``SW_2``) at each step, before its update.
    w2 : (K,) float
        ``W_2^2`` from the flowing measure to the target at ``w2_steps``.
    w2_steps : (K,) int
        Steps where ``w2`` was computed (by default every recorded step).
    w2_method : str
        How ``w2`` was computed: exact OT, or (above :data:`EXACT_OT_MAX` points) a labelled
        sliced reference.
    estimator, loss_name : str
    cv_ridge : float
        The control-variate coefficient's ridge used (:class:`swviz.estimators.CombineOptions`).
    n_projections : int
    step_size : float
    seed : int or None
    gradient : str
        How the velocity was obtained (autograd through :func:`swviz.sw_loss`, and the options).
    faces : (F, 3) int or None
        The mesh's faces in mesh mode (unchanged by the flow).
    flow_seconds, w2_seconds : float
        Time spent moving particles, and computing ``w2``.
    """

    frames: np.ndarray = field(repr=False)
    steps: np.ndarray
    loss: np.ndarray = field(repr=False)
    w2: np.ndarray
    w2_steps: np.ndarray
    w2_method: str
    estimator: str
    loss_name: str
    n_projections: int
    step_size: float
    seed: int | None
    gradient: str
    cv_ridge: float = 0.0
    faces: np.ndarray | None = field(default=None, repr=False)
    flow_seconds: float = 0.0
    w2_seconds: float = 0.0

    @property
    def final(self) -> np.ndarray:
        """Positions after the last step: (n, d)."""
        return self.frames[-1]

    def w2_at(self, step: int) -> float:
        """``W_2^2`` at ``step`` (one of :attr:`w2_steps`)."""
        hit = np.flatnonzero(self.w2_steps == step)
        if hit.size == 0:
            raise InputError(f"W_2^2 was not computed at step {step}; it was at steps {self.w2_steps.tolist()}")
        return float(self.w2[hit[0]])


@dataclass(frozen=True)
class FlowPreset:
    """A named set of flow parameters.

    The source is scaled by ``scale`` and shifted by ``-shift`` on every coordinate, the
    target scaled and shifted by ``+shift``; ``n_points`` particles per shape is the CPU
    scale; ``table_steps`` are the steps a page tabulates ``W_2^2`` at.
    """

    name: str
    description: str
    n_projections: int
    step_size: float
    n_steps: int
    loss: str
    n_points: int
    table_steps: tuple[int, ...]
    scale: float = 1.0
    shift: float = 0.0
    estimators: tuple[str, ...] = ("mc", "lcv", "ucv")

    def prepare(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Scale and shift a pair: ``(scale x - shift, scale y + shift)``."""
        x = as_points(x, "x")
        y = as_points(y, "y")
        return self.scale * x - self.shift, self.scale * y + self.shift


#: Preset name -> :class:`FlowPreset`.
PRESETS = MappingProxyType({
    "fast": FlowPreset(
        "fast", "A pleasing flow in a few seconds: SW_2^2 with L = 32, 200 steps of 0.3, 512 particles",
        n_projections=32, step_size=0.3, n_steps=200, loss="sw2", n_points=512,
        table_steps=(0, 10, 50, 100, 200)),
    "paper": FlowPreset(
        "paper",
        "The CV paper's set-up at CPU scale: shapes scaled x2 and shifted by -10 and +10, loss SW_2 "
        "with step 0.01 (the paper's update on n SW_2), L = 10, 8000 steps",
        n_projections=10, step_size=0.01, n_steps=8000, loss="sw", n_points=512,
        table_steps=(1, 3000, 4000, 5000, 6000, 8000), scale=2.0, shift=10.0),
})


# --------------------------------------------------------------------------- checks


def _record_steps(record_every, n_steps: int) -> np.ndarray:
    if isinstance(record_every, (int, np.integer)) and not isinstance(record_every, bool):
        k = check_count(record_every, "record_every")
        steps = np.arange(0, n_steps + 1, k)
        return np.union1d(steps, [n_steps]).astype(np.int64)
    return _step_list(record_every, n_steps, "record_every")


def _step_list(values, n_steps: int, name: str, allow_empty: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(list(values), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number >= 1 or a sequence of step numbers; got {values!r}") from None
    if arr.size == 0 and allow_empty:
        return np.zeros(0, dtype=np.int64)
    if arr.size == 0:
        raise InputError(f"{name} must hold at least one step number; got {values!r}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InputError(f"{name} must hold whole step numbers; got {values!r}")
    if arr.min() < 0 or arr.max() > n_steps:
        raise InputError(f"{name} must lie in [0, n_steps = {n_steps}]; got {arr.min():g} .. {arr.max():g}")
    return np.unique(arr.astype(np.int64))


def _check_step_size(step_size) -> float:
    try:
        h = float(step_size)
    except (TypeError, ValueError):
        raise InputError(f"step_size must be a positive number; got {step_size!r}") from None
    if not (math.isfinite(h) and h > 0):
        raise InputError(f"step_size must be a finite number > 0; got {step_size!r}")
    return h


def _check_loss(loss) -> str:
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; valid losses are: {', '.join(LOSSES)}")
    return loss


def _check_estimator(estimator, n_projections, d) -> tuple[Estimator, int]:
    est = get_estimator(estimator)
    L = check_count(n_projections)
    est.check(L, d)
    return est, L


def _check_ridge(cv_ridge) -> CombineOptions:
    # a flow reads the value only: no standard error
    return CombineOptions(cv_ridge if not isinstance(cv_ridge, np.floating) else float(cv_ridge), stderr=False)


# --------------------------------------------------------------------------- one step


class _Step:
    """The estimated loss and the velocity of the moving points, for given directions.

    Holds the target, the carrier's tensors and the estimator; ``__call__(V, theta)`` returns
    ``(F, velocity)`` with ``velocity = (dF/dV) / mass`` from autograd (numpy out).
    """

    def __init__(self, carrier: Carrier, y, b, est: Estimator, options: CombineOptions, loss: str, device):
        import torch

        self.torch = torch
        self.device = device
        self.carrier = carrier
        self.B, self.aw, self.inv_mass = carrier.tensors(device)
        self.y = torch.as_tensor(y, dtype=torch.float64, device=device)
        self.b = None if b is None else torch.as_tensor(b, dtype=torch.float64, device=device)
        self.est, self.options, self.loss = est, options, loss
        self.fit_y = Moments.fit(self.y, self.b) if est.uses_moments else None  # the target is fixed

    def __call__(self, V, theta):
        torch = self.torch
        # a fresh leaf: on a GPU, V is already such a tensor and must not start recording a graph
        Vt = torch.as_tensor(V, dtype=torch.float64, device=self.device).detach().requires_grad_(True)
        th = torch.as_tensor(theta, dtype=torch.float64, device=self.device)
        P = self.carrier.atoms(Vt, self.B)
        w = slice_wpp(P, self.y, th, self.aw, self.b, 2.0)
        value, _ = self.est.combine(w, th, Moments(P, self.y, self.aw, self.b, fit_y=self.fit_y), self.options)
        (grad,) = torch.autograd.grad(value, Vt)
        vel = grad * self.inv_mass
        E = float(value.detach())
        if self.loss == "sw":
            floor = max(E, 1e-2 * float(w.detach().mean()))
            vel = vel * (0.5 / math.sqrt(floor) if floor > 0 else 0.0)
            E = math.sqrt(max(E, 0.0))
        vel = vel.detach()
        if self.device.type == "cpu":
            vel = vel.numpy()
            if self.carrier.post_processes:
                vel = self.carrier.finish(vel)
        elif self.carrier.post_processes:
            vel = torch.as_tensor(self.carrier.finish(vel.cpu().numpy()), device=self.device)
        return E, vel


def flow_velocity(x, y, a=None, b=None, *, directions, estimator: str = "mc", loss: str = "sw2",
                  cv_ridge: float = 0.0, device="cpu") -> tuple[float, np.ndarray]:
    """The estimated loss and the flow's velocity field for given directions.

    x : (n, d) float; y : (m, d) float; a, b : weights or None; directions : (L, d) unit
    vectors. Returns ``(F, v)`` with ``F`` the estimate of ``SW_2^2`` (``loss="sw2"``) or
    ``SW_2`` and ``v : (n, d)`` the velocity ``(1/a_i) dF/dx_i`` (``n dF/dx_i`` for uniform
    weights) that one step of :func:`gradient_flow` follows.
    """
    x, y, a, b = check_pair(x, y, a, b)
    est = get_estimator(estimator)
    theta = check_directions(directions, x.shape[1])
    est.check(theta.shape[0], x.shape[1])
    step = _Step(Carrier(x.shape[0], a), y, b, est, _check_ridge(cv_ridge), _check_loss(loss), check_device(device))
    value, vel = step(x, theta)
    return value, np.asarray(vel.cpu() if hasattr(vel, "cpu") else vel, dtype=np.float64)


# --------------------------------------------------------------------------- the loop


def _run(V0, carrier, y, a_atoms, b, *, est, L, h, n_steps, rng, record, w2_steps, loss, options, device,
         progress, seed, faces):
    """One loop for every estimator and every carrier; returns a :class:`FlowResult`.

    ``record`` and ``w2_steps`` are sorted step numbers; ``a_atoms`` the atoms' weights (None: uniform).
    """
    d = V0.shape[1]
    step_fn = _Step(carrier, y, b, est, options, loss, device)
    V = np.array(V0, dtype=np.float64)  # our own copy (a read-only input made torch warn on the GPU)
    if device.type != "cpu":
        V = step_fn.torch.as_tensor(V, device=device)
    to_np = (lambda v: np.array(v)) if device.type == "cpu" else (lambda v: v.cpu().numpy().copy())
    B = carrier.B
    atoms_np = (lambda v: v) if B is None else (lambda v: np.asarray(B @ v))
    n_atoms, m = (V0.shape[0] if B is None else B.shape[0]), y.shape[0]
    record_set, w2_set = set(record.tolist()), set(w2_steps.tolist())
    frames, atoms_at = [], []
    losses = np.empty(n_steps)
    every = max(1, n_steps // 200)
    # a rough share of the time spent flowing (the rest computes W_2^2), for progress
    flow_work = n_steps * L * (n_atoms + m)
    w2_work = len(w2_steps) * (12.0 * n_atoms * m if max(n_atoms, m) <= EXACT_OT_MAX
                               else 2.0 * SLICED_REFERENCE_DIRECTIONS * (n_atoms + m))
    flow_share = flow_work / (flow_work + w2_work)

    t0 = time.perf_counter()
    for k in range(n_steps + 1):
        if k in record_set:
            frames.append(to_np(V))
        if k in w2_set:
            atoms_at.append(atoms_np(to_np(V)))
        if k == n_steps:
            break
        theta = est.directions(L, d, rng)  # fresh directions every step
        losses[k], vel = step_fn(V, theta)
        V = V - h * vel  # Euler step
        finite = np.isfinite(V).all() if device.type == "cpu" else bool(step_fn.torch.isfinite(V).all())
        if not finite:
            raise FloatingPointError(
                f"the flow diverged at step {k + 1} (non-finite positions) with step_size {h} and "
                f"estimator {est.name!r}; use a smaller step_size")
        if progress is not None and (k + 1) % every == 0:
            progress(flow_share * (k + 1) / n_steps, f"{est.title}: step {k + 1:,} of {n_steps:,}")
    flow_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    w2 = np.empty(len(atoms_at))
    w2_method = ""
    # exact OT releases the GIL: two at a time
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i, (value, method) in enumerate(pool.map(lambda z: _w2(z, y, a_atoms, b), atoms_at)):
            w2[i], w2_method = value, method
            if progress is not None:
                progress(flow_share + (1 - flow_share) * (i + 1) / len(atoms_at),
                         f"{est.title}: W_2^2 at {i + 1} of {len(atoms_at)} steps")
    how = "autograd through swviz.sw_loss (closed-form slice backward)"
    if est.control_variate:
        how += f", control-variate coefficient ridge {options.cv_ridge:g}"
    return FlowResult(
        frames=np.stack(frames), steps=record.astype(np.int64), loss=losses, w2=w2,
        w2_steps=w2_steps.astype(np.int64), w2_method=w2_method, estimator=est.name, loss_name=loss,
        n_projections=L, step_size=h, seed=int(seed) if isinstance(seed, (int, np.integer)) else None,
        gradient=how, cv_ridge=float(options.cv_ridge), faces=faces, flow_seconds=flow_seconds,
        w2_seconds=time.perf_counter() - t1,
    )


def _common(d, *, estimator, n_projections, n_steps, record_every, w2_steps, step_size, loss, device, cv_ridge,
            seed) -> dict:
    """The checked settings both flows share, as keyword arguments of :func:`_run` (and ``rng``)."""
    est, L = _check_estimator(estimator, n_projections, d)
    n_steps = check_count(n_steps, "n_steps")
    record = _record_steps(record_every, n_steps)
    w2 = record if w2_steps is None else _step_list(w2_steps, n_steps, "w2_steps", allow_empty=True)
    return dict(est=est, L=L, h=_check_step_size(step_size), n_steps=n_steps, rng=rng_from(seed),
                record=np.union1d(record, w2), w2_steps=w2, loss=_check_loss(loss), options=_check_ridge(cv_ridge),
                device=check_device(device), seed=seed)


def gradient_flow(
    x0,
    y,
    a=None,
    b=None,
    *,
    estimator: str = "mc",
    n_projections: int = 10,
    step_size: float,
    n_steps: int,
    seed=0,
    record_every,
    loss: str = "sw2",
    cv_ridge: float = 0.0,
    device="cpu",
    progress: Progress | None = None,
    w2_steps=None,
    threads: int | None = 1,
) -> FlowResult:
    """Carry a point cloud onto a target by Euler steps on an estimated sliced loss.

    .. math::
        z_i^{k+1} = z_i^k - h \\, \\frac{1}{a_i} \\nabla_{z_i} \\hat F(z^k), \\qquad
        \\hat F = \\widehat{SW}_2^2 \\text{ or } \\widehat{SW}_2,

    with fresh directions from ``estimator`` at every step.

    Parameters
    ----------
    x0 : (n, d) float
        Initial particles.
    y : (m, d) float
        Target points (fixed).
    a, b : (n,) and (m,) float, optional
        Weights of the particles and of the target (normalised); uniform if omitted.
    estimator : str
        A key of :data:`swviz.ESTIMATORS`; its directions and its combination of slices
        define the estimated loss, and autograd its gradient.
    n_projections : int
        Directions per step ``L``.
    step_size : float
        ``h`` in units of the Wasserstein gradient flow: each particle moves by ``h`` times
        the velocity ``(1/a_i) dF/dz_i`` (``n dF/dz_i`` for uniform weights). The CV paper's
        update ``0.01 * grad(n SW_2)`` is ``loss="sw", step_size=0.01``.
    n_steps : int
    seed : int, numpy.random.Generator or None
        Randomness of the directions; the same seed gives every estimator the same stream.
    record_every : int or sequence of int
        Record positions every that many steps (and at the last), or at these step numbers.
    loss : {"sw2", "sw"}
    cv_ridge : float >= 0
        Ridge of the control-variate coefficient (:class:`swviz.estimators.CombineOptions`),
        read by the control-variate estimators: 0 is the estimator of Nguyen & Ho; a small
        ridge (0.01) keeps the gradient bounded as the means meet, where the raw coefficient's
        gradient grows like ``1/|dm|`` and large steps can kick converged particles off.
    device : "cpu", "cuda", "cuda:<k>" or torch.device
        ``"cpu"`` runs the slice engine in numpy (the fastest on a CPU); a CUDA device runs
        it in torch (float64). Asking for CUDA where there is none raises an error.
    progress : callable ``(fraction, message)``, optional
        Called about 200 times during the flow and once per ``W_2^2``; an exception raised
        by it aborts the flow.
    w2_steps : sequence of int, optional
        Steps at which to compute ``W_2^2`` (added to the recorded frames); default: every
        recorded step; an empty sequence computes none. Exact OT costs about 0.05 s at 512 points
        and 1 s at 2048.
    threads : int or None
        torch intra-op threads while the flow runs (restored after; ``None`` leaves torch's
        setting). One by default: a step's tensors are small, and torch's split of them over
        several threads made UCV steps 2.5x slower on 2 idle cores and 5x on busy ones
        (:mod:`swviz._threads`).

    Returns
    -------
    FlowResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) + 3.0
    >>> r = gradient_flow(x, y, estimator="ucv", step_size=0.2, n_steps=60, record_every=60)
    >>> bool(r.w2[-1] < 0.05 * r.w2[0])
    True
    """
    x0, y, a, b = check_pair(x0, y, a, b)
    threads = check_threads(threads)
    run = _common(x0.shape[1], estimator=estimator, n_projections=n_projections, n_steps=n_steps,
                  record_every=record_every, w2_steps=w2_steps, step_size=step_size, loss=loss, device=device,
                  cv_ridge=cv_ridge, seed=seed)
    with torch_threads(threads):
        return _run(x0, Carrier(x0.shape[0], a), y, a, b, progress=progress, faces=None, **run)


def mesh_flow(
    vertices,
    faces,
    y,
    b=None,
    *,
    measure: str = "vertices",
    n_samples: int = 2048,
    smoothing: float = 0.0,
    estimator: str = "mc",
    n_projections: int = 10,
    step_size: float,
    n_steps: int,
    seed=0,
    record_every,
    loss: str = "sw2",
    cv_ridge: float = 0.0,
    device="cpu",
    progress: Progress | None = None,
    w2_steps=None,
    threads: int | None = 1,
) -> FlowResult:
    """Deform a mesh onto a target by the gradient flow of its vertices; faces are kept.

    Parameters
    ----------
    vertices : (nv, 3) float
    faces : (F, 3) int
        Kept as they are; ``FlowResult.faces`` holds them and ``frames`` the vertices.
    y : (m, 3) float
        Target points; ``b`` : (m,) their weights.
    measure : {"vertices", "surface"}
        The flowing measure: the vertices with area weights, or ``n_samples`` area-uniform
        surface samples carried by barycentric coordinates (a vertex then moves with the
        mass-weighted mean velocity of the samples it carries; a vertex that carries none
        moves with its neighbours).
    smoothing : float >= 0
        Weight ``lambda`` of an implicit Laplacian smoothing of the velocity: the vertex
        velocities ``u`` become the solution of ``(I + lambda L) u' = u`` with ``L`` the mesh's
        graph Laplacian divided by its mean degree, so neighbours move alike and the surface
        stays clean (the shape does not shrink, unlike smoothing the positions). 0 turns it
        off; about 1 to 20 is useful, larger is smoother and slower to fit detail.
    estimator, n_projections, step_size, n_steps, seed, record_every, loss, cv_ridge, device,
    progress, w2_steps, threads
        As in :func:`gradient_flow`; ``W_2^2`` is measured on the flowing measure.

    Returns
    -------
    FlowResult with ``faces`` set.
    """
    V0, F = check_mesh(vertices, faces)
    threads = check_threads(threads)
    y = as_points(y, "y")
    if y.shape[1] != 3:
        raise InputError(f"y must have shape (m, 3) for a mesh flow; got {y.shape}")
    _, y, _, b = check_pair(V0, y, None, b)
    if measure not in MESH_MEASURES:
        raise InputError(f"unknown mesh measure {measure!r}; valid measures are: {', '.join(MESH_MEASURES)}")
    try:
        s = float(smoothing)
    except (TypeError, ValueError):
        raise InputError(f"smoothing must be a number >= 0; got {smoothing!r}") from None
    if not (math.isfinite(s) and s >= 0.0):
        raise InputError(f"smoothing must be a finite number >= 0; got {smoothing!r}")
    run = _common(3, estimator=estimator, n_projections=n_projections, n_steps=n_steps, record_every=record_every,
                  w2_steps=w2_steps, step_size=step_size, loss=loss, device=device, cv_ridge=cv_ridge, seed=seed)
    carrier, a = mesh_carrier(V0, F, measure, n_samples, s, run["rng"])
    with torch_threads(threads):
        return _run(V0, carrier, y, a, b, progress=progress, faces=F, **run)
