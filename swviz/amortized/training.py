"""Training a direction model on library pairs (the amortized model alone).

:class:`PairSampler` draws pairs of 3D library shapes with augmentation: random rotations (a
common one, and sometimes a relative one), random scaling of each cloud, random subsampling,
and the deformation family of :func:`swviz.shapes.deform` (bend, twist, taper, perturb) on
either side. :func:`train_direction_model` maximises the amortized objective
(:func:`~swviz.amortized.core.amortized_objective`) over such pairs with Adam;
:func:`train_default` is the fixed-seed recipe behind the shipped weights.

Shapes in :data:`HELD_OUT_SHAPES` never appear in training: the tests and the benchmark score
models on pairs made of them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._threads import check_threads, torch_threads
from .._validation import InputError, check_count, rng_from
from ..shapes.deform import DEFORMATIONS, deform
from ..shapes.library import SHAPES, shape_names
from .core import amortized_objective
from .models import DirectionModel, build_model

__all__ = ["DEFAULT_RECIPE", "HELD_OUT_SHAPES", "TRAIN_SHAPES", "PairSampler", "StopTraining", "TrainResult",
           "evaluate", "train_default", "train_direction_model"]

#: 3D library shapes kept out of training (the tests' and benchmark's unseen pairs).
HELD_OUT_SHAPES = ("capsule", "bumpy sphere", "bar (twisted)", "gaussian mixture", "double torus")
#: The 3D library shapes a default model trains on.
TRAIN_SHAPES = tuple(n for n in shape_names(3) if n not in HELD_OUT_SHAPES)


class StopTraining(Exception):
    """Raise it from a progress callback to end training early (the result so far is returned)."""


@dataclass
class TrainResult:
    """A trained model and its curve.

    model : DirectionModel
    history : (k, 2) float
        Step and the batch objective (``W_p^p`` on jointly normalised pairs) at each step.
    seconds : float
    stopped : bool
        Whether a progress callback stopped it.
    params : dict
    """

    model: DirectionModel
    history: np.ndarray
    seconds: float
    stopped: bool
    params: dict = field(default_factory=dict)


def _rotation(rng) -> np.ndarray:
    """A uniform random rotation of R^3 (QR of a Gaussian matrix, signs fixed; det +1)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class PairSampler:
    """Augmented pairs of 3D library shapes.

    Parameters
    ----------
    shapes : sequence of str
        3D library shape names.
    pool : int
        Points drawn once per shape (each pair subsamples them).
    seed : int or Generator
    """

    def __init__(self, shapes=TRAIN_SHAPES, pool: int = 4096, seed=0):
        shapes = list(shapes)
        if len(shapes) < 2:
            raise InputError(f"pairs need at least two shapes; got {shapes}")
        for s in shapes:
            if s not in SHAPES or SHAPES[s].dim != 3:
                raise InputError(f"{s!r} is not a 3D library shape; choose from: {', '.join(shape_names(3))}")
        self.shapes = shapes
        self.rng = rng_from(seed)
        self.clouds = {}
        for s in shapes:
            pts = SHAPES[s].sample(check_count(pool, "pool"), self.rng)
            pts = pts - pts.mean(0)
            self.clouds[s] = pts / np.sqrt((pts**2).sum(1).mean())  # unit RMS radius

    def _cloud(self, name: str, n: int) -> np.ndarray:
        pts = self.clouds[name]
        pts = pts[self.rng.choice(len(pts), n, replace=False)]
        if self.rng.random() < 0.3:
            kind = list(DEFORMATIONS)[self.rng.integers(len(DEFORMATIONS))]
            pts = deform(pts, kind, float(self.rng.uniform(0.3, 1.0)), seed=self.rng)
        return pts * self.rng.uniform(0.7, 1.3)

    def pair(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """One augmented pair of ``n`` points each: ``(n, 3), (n, 3)`` float."""
        i = self.rng.integers(len(self.shapes))
        j = i if self.rng.random() < 0.2 else (i + 1 + self.rng.integers(len(self.shapes) - 1)) % len(self.shapes)
        x, y = self._cloud(self.shapes[i], n), self._cloud(self.shapes[j], n)
        if self.rng.random() < 0.5:
            y = y @ _rotation(self.rng).T
        y = y + 0.2 * self.rng.standard_normal(3)
        R = _rotation(self.rng)
        return x @ R.T, y @ R.T

    def batch(self, size: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` pairs as float64 tensors ``(size, n, 3)``, ``(size, n, 3)``."""
        pairs = [self.pair(n) for _ in range(size)]
        return (torch.from_numpy(np.stack([p[0] for p in pairs])), torch.from_numpy(np.stack([p[1] for p in pairs])))


def _normalised(x: torch.Tensor, y: torch.Tensor):
    from .models import _normalise_pair

    return _normalise_pair(x, y)


def evaluate(model: DirectionModel, pairs, *, kind: str = "v-dsw", kappa: float = 10.0, n_projections: int = 256,
             p: float = 2.0, seed=0) -> float:
    """Mean amortized objective of ``model`` over fixed ``pairs`` (a list of ``(x, y)`` numpy arrays).

    Each pair is normalised jointly (as in training), so pairs of every size weigh alike.
    """
    rng = rng_from(seed)
    vals = []
    with torch.no_grad():
        for x, y in pairs:
            xt, yt = _normalised(torch.from_numpy(np.asarray(x, float))[None],
                                 torch.from_numpy(np.asarray(y, float))[None])
            vals.append(float(amortized_objective(model, xt, yt, kind=kind, kappa=kappa,
                                                  n_projections=n_projections, p=p, rng=rng)))
    return float(np.mean(vals))


Progress = Callable[[int, int, float], None]


def train_direction_model(model: DirectionModel | dict | None = None, *, steps: int = 300, batch: int = 8,
                          n_points: tuple[int, int] = (128, 384), objective: str = "v-dsw", kappa: float = 10.0,
                          n_projections: int = 32, p: float = 2.0, lr: float = 3e-3, shapes=TRAIN_SHAPES,
                          seed=0, progress: Progress | None = None, threads: int | None = 1) -> TrainResult:
    """Train a direction model to maximise the amortized objective over augmented library pairs.

    .. math::
        \\max_\\psi \\; \\mathbb{E}_{(X, Y)} \\, \\mathbb{E}_{\\theta \\sim \\text{vMF}(f_\\psi(X, Y), \\kappa)}
        W_p^p(\\theta_\\# \\tilde X, \\theta_\\# \\tilde Y)

    on jointly normalised pairs ``(X~, Y~)`` (so every pair weighs alike), with reparameterised
    vMF samples (``objective="v-dsw"``) or the one slice ``f_psi(X, Y)`` (``"max-sw"``).

    Parameters
    ----------
    model : DirectionModel, config dict or None
        Trained in place (a dict or None builds a fresh one: efficient attention in 3D).
    steps, batch : int
        Adam steps and pairs per step.
    n_points : (int, int)
        Range of the points per cloud, drawn per step.
    objective : {"v-dsw", "max-sw"}
    kappa, n_projections, p : the objective's parameters
    lr : float
    shapes : sequence of str
        3D library shapes to pair.
    seed : int
        Everything random (initial weights, pairs, vMF draws) follows from it.
    progress : callable ``(step, steps, objective)``, optional
        Called after each step; raising :class:`StopTraining` ends training early.
    threads : int or None
        torch intra-op threads while training (restored after; None leaves torch's setting). One
        by default: the tensors are small, so one thread is faster on 2 cores (1.2x to 1.3x idle,
        far more when the cores are busy), and the result does not depend on the machine's core
        count (:mod:`swviz._threads`).

    Returns
    -------
    TrainResult
    """
    if objective not in ("v-dsw", "max-sw"):
        raise InputError(f"objective must be 'v-dsw' or 'max-sw'; got {objective!r}")
    steps, batch = check_count(steps, "steps"), check_count(batch, "batch")
    lo, hi = (int(v) for v in n_points)
    if not 4 <= lo <= hi:
        raise InputError(f"n_points must be a range (lo, hi) with 4 <= lo <= hi; got {n_points}")
    threads = check_threads(threads)
    with torch_threads(threads):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
        torch_gen = torch.Generator().manual_seed(int(seed))
        if model is None or isinstance(model, dict):
            config = model or {"kind": "efficient", "dim": 3}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=torch_gen)))
                model = build_model(config)
        if model.dim != 3:
            raise InputError(f"library pairs are 3D; the model is for d = {model.dim}")
        sampler = PairSampler(shapes, seed=rng)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        history = []
        t0 = time.perf_counter()
        stopped = False
        model.train()
        for step in range(steps):
            n = int(rng.integers(lo, hi + 1))
            x, y = sampler.batch(batch, n)
            x, y = _normalised(x, y)
            value = amortized_objective(model, x, y, kind=objective, kappa=kappa, n_projections=n_projections, p=p,
                                        rng=rng)
            opt.zero_grad()
            (-value).backward()
            opt.step()
            history.append((step + 1, float(value.detach())))
            if progress is not None:
                try:
                    progress(step + 1, steps, history[-1][1])
                except StopTraining:
                    stopped = True
                    break
        model.eval()
        return TrainResult(model, np.asarray(history, dtype=float).reshape(-1, 2), time.perf_counter() - t0, stopped,
                           {"steps": steps, "batch": batch, "n_points": [lo, hi], "objective": objective,
                            "kappa": kappa, "n_projections": n_projections, "p": p, "lr": lr, "shapes": list(shapes),
                            "seed": int(seed)})


#: The shipped default's recipe (``python -m swviz.amortized train-default``): one efficient-attention
#: block of width 16 over at most 64 points per cloud, with the Gaussian prior (see
#: :mod:`~swviz.amortized.models`), trained on pairs of 1,024 to 2,048 points per cloud (as large as
#: the pairs it predicts for) at a learning rate that keeps the learned score a correction (3e-3
#: made the trained model worse than the prior alone on some validation seeds). About 10 s on one
#: thread.
DEFAULT_RECIPE = {"model": {"kind": "efficient", "dim": 3, "width": 16, "layers": 1, "channels": 4, "squarings": 4,
                            "max_points": 64, "grid": 96, "kappa": 10.0, "prior": True},
                  "steps": 300, "batch": 8, "n_points": (1024, 2048), "objective": "v-dsw", "kappa": 10.0,
                  "n_projections": 64, "lr": 1e-3, "seed": 0}


def train_default(progress: Progress | None = None, **overrides) -> TrainResult:
    """Train a model by :data:`DEFAULT_RECIPE` (``overrides`` replace entries, e.g. ``steps`` for a short run)."""
    recipe = {**copy.deepcopy(DEFAULT_RECIPE), **overrides}
    config = recipe.pop("model")
    return train_direction_model(config, progress=progress, **recipe)
