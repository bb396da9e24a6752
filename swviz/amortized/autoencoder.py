"""The paper's application at CPU scale: a point-cloud autoencoder under each reconstruction loss.

Nguyen, Nguyen & Ho (ICML 2023, Section 4.1) train a point-cloud autoencoder on ShapeNet with
2,048 points under SW, Max-SW, v-DSW and their amortized versions. Here the same experiment runs
in minutes on two CPU cores: a PointNet-style encoder (a shared per-point MLP and a max-pool; Qi
et al., CVPR 2017), an MLP decoder to ``n_points`` points (512 by default, not 2,048, to fit the
CPU budget), trained on the 3D library shapes of :data:`~swviz.amortized.training.TRAIN_SHAPES`
(random subsampling, scaling and the deformation family), and scored on the shapes it never saw
(:data:`~swviz.amortized.training.HELD_OUT_SHAPES`) by Chamfer, the exact ``W_2^2`` (optimal
assignment) and ``SW_2^2`` (:func:`swviz.reference_sw`).

The losses (:data:`LOSSES`): SW by Monte Carlo and by the upper control variate, both through
:func:`swviz.autodiff.sw_loss`; Max-SW and v-DSW by the per-pair ascents of
:mod:`swviz.distances`, then differentiated at the found direction(s) (Danskin's theorem: the
gradient of a maximum is the gradient at the maximiser); their amortized versions, where a
direction model (started from the shipped default) takes one ascent step on the objective
before each autoencoder step (the autoencoder minimises, the model maximises: alternating
steps); and Chamfer, the set-based baseline.
"""

from __future__ import annotations

import copy
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._threads import check_threads, torch_threads
from .._validation import InputError, check_count
from ..autodiff import slice_wpp, sw_loss
from ..distances import max_sw, vmf_dsw
from ..shapes.deform import DEFORMATIONS, deform
from ..shapes.library import SHAPES
from .core import amortized_objective, vmf_rsample
from .models import DirectionModel, _normalise_pair
from .training import HELD_OUT_SHAPES, TRAIN_SHAPES, StopTraining

__all__ = ["LOSSES", "RESULTS", "AutoencoderResult", "PointAutoencoder", "chamfer", "exact_w2", "load_results",
           "run_study", "save_results", "score", "train_autoencoder"]

#: Reconstruction losses: key -> label.
LOSSES = {
    "sw-mc": "SW (Monte Carlo)",
    "sw-ucv": "SW (upper control variate)",
    "max-sw": "Max-SW (ascent)",
    "v-dsw": "v-DSW (ascent)",
    "a-max-sw": "amortized Max-SW",
    "a-v-dsw": "amortized v-DSW",
    "chamfer": "Chamfer",
}
RESULTS = Path(__file__).resolve().parents[1] / "data" / "amortized_autoencoder.npz"
FORMAT = "swviz-amortized-autoencoder"
VERSION = 1


class PointAutoencoder(nn.Module):
    """PointNet-style encoder (per-point MLP, max-pool) and an MLP decoder: ``(B, n, 3) -> (B, n_points, 3)``.

    n_points : int
        Points of the reconstruction.
    latent : int
        Code size.
    """

    def __init__(self, n_points: int = 512, latent: int = 64):
        super().__init__()
        self.n_points, self.latent = int(n_points), int(latent)
        self.encoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                                     nn.Linear(128, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                     nn.Linear(256, 3 * self.n_points))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).max(dim=1).values  # (B, latent): invariant to the order of the points

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)).view(x.shape[0], self.n_points, 3)


def chamfer(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Chamfer discrepancy ``mean_i min_j |x_i - y_j|^2 + mean_j min_i |x_i - y_j|^2`` of ``(n, 3), (m, 3)``."""
    d2 = torch.cdist(x, y).square()
    return d2.min(1).values.mean() + d2.min(0).values.mean()


def exact_w2(x: np.ndarray, y: np.ndarray) -> float:
    """Exact ``W_2^2`` of two uniform clouds of equal size, by optimal assignment (scipy)."""
    from scipy.optimize import linear_sum_assignment

    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].mean())


class _Clouds:
    """Unit-RMS point pools of library shapes and augmented batches drawn from them."""

    def __init__(self, shapes, n: int, rng, pool: int = 4096):
        self.shapes, self.n, self.rng = list(shapes), int(n), rng
        self.pool = {}
        for s in self.shapes:
            pts = SHAPES[s].sample(pool, rng)
            pts = pts - pts.mean(0)
            self.pool[s] = pts / np.sqrt((pts**2).sum(1).mean())

    def fixed(self) -> np.ndarray:
        """One cloud of ``n`` points per shape (no augmentation): (S, n, 3)."""
        return np.stack([self.pool[s][: self.n] for s in self.shapes])

    def batch(self, size: int) -> torch.Tensor:
        out = []
        for _ in range(size):
            s = self.shapes[self.rng.integers(len(self.shapes))]
            pts = self.pool[s][self.rng.choice(len(self.pool[s]), self.n, replace=False)]
            if self.rng.random() < 0.3:
                kind = list(DEFORMATIONS)[self.rng.integers(len(DEFORMATIONS))]
                pts = deform(pts, kind, float(self.rng.uniform(0.2, 0.8)), seed=self.rng)
            out.append(pts * self.rng.uniform(0.85, 1.15))
        return torch.from_numpy(np.stack(out)).float()


@dataclass
class AutoencoderResult:
    """An autoencoder trained under one loss, with its curves.

    loss : str
        A key of :data:`LOSSES`.
    model : PointAutoencoder
    steps : (k,) int
        Steps at which the curves were measured (0 is before training).
    val_chamfer : (k,) float
        Mean Chamfer on the held-out shapes.
    train_chamfer : (k,) float
        Mean Chamfer on fixed clouds of the training shapes.
    seconds : float
    stopped : bool
    params : dict
    """

    loss: str
    model: PointAutoencoder
    steps: np.ndarray
    val_chamfer: np.ndarray
    train_chamfer: np.ndarray
    seconds: float
    stopped: bool
    params: dict = field(default_factory=dict)


def _mean_chamfer(model: PointAutoencoder, clouds: np.ndarray) -> float:
    with torch.no_grad():
        x = torch.from_numpy(clouds).float()
        out = model(x)
        return float(np.mean([float(chamfer(out[i].double(), x[i].double())) for i in range(len(x))]))


Progress = Callable[[str, int, int, float], None]


def train_autoencoder(loss: str, *, steps: int = 150, batch: int = 8, n_points: int = 512, latent: int = 64,
                      n_projections: int = 100, kappa: float = 10.0, lr: float = 2e-3, seed=0, eval_every: int = 10,
                      direction_model: DirectionModel | None = None, direction_lr: float = 1e-3,
                      model_points: int = 128, shapes=TRAIN_SHAPES, held_out=HELD_OUT_SHAPES,
                      progress: Progress | None = None, threads: int | None = 1) -> AutoencoderResult:
    """Train a :class:`PointAutoencoder` on library shapes under one reconstruction loss.

    Parameters
    ----------
    loss : str
        A key of :data:`LOSSES`.
    steps, batch : int
        Adam steps and shapes per step.
    n_points : int
        Points per cloud (input and reconstruction).
    latent : int
    n_projections : int
        Slices of the SW losses and vMF samples of the v-DSW losses.
    kappa : float
        vMF concentration of the v-DSW losses.
    lr : float
    seed : int
        Everything random (weights, batches, slices) follows from it.
    eval_every : int
        Steps between two points of the curves.
    direction_model : DirectionModel, optional
        For the amortized losses: trained alongside (a copy is taken); default the shipped model.
    direction_lr : float
    model_points : int
        Points of each cloud the direction model reads (a random subset, per step).
    shapes, held_out : sequences of 3D library shape names
    progress : callable ``(loss, step, steps, value)``, optional
        Raising :class:`~swviz.amortized.StopTraining` ends training early.
    threads : int or None
        torch intra-op threads while training (restored after; None leaves torch's setting). One
        by default: the tensors are small, so one thread is faster on 2 cores (1.2x to 1.3x idle,
        far more when the cores are busy), and the result does not depend on the machine's core
        count (:mod:`swviz._threads`).

    Returns
    -------
    AutoencoderResult
    """
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    steps, batch = check_count(steps, "steps"), check_count(batch, "batch")
    n_points, eval_every = check_count(n_points, "n_points"), check_count(eval_every, "eval_every")
    if n_points < 8:
        raise InputError(f"n_points must be at least 8; got {n_points}")
    threads = check_threads(threads)
    with torch_threads(threads):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 23]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            ae = PointAutoencoder(n_points, latent)
        train = _Clouds(shapes, n_points, rng)
        val = _Clouds(held_out, n_points, rng).fixed()
        train_fixed = train.fixed()
        opt = torch.optim.Adam(ae.parameters(), lr=lr)
        amortized = loss.startswith("a-")
        if amortized:
            if direction_model is None:
                from .weights import load_default

                direction_model = load_default()
            direction_model = copy.deepcopy(direction_model)
            direction_model.train()
            dopt = torch.optim.Adam(direction_model.parameters(), lr=direction_lr)
        curve = [(0, _mean_chamfer(ae, val), _mean_chamfer(ae, train_fixed))]
        t0 = time.perf_counter()
        stopped = False
        for step in range(1, steps + 1):
            x = train.batch(batch)  # (B, n, 3) float32
            out = ae(x)
            x64, out64 = x.double(), out.double()
            if amortized:  # the model's ascent step, on the current reconstructions (held fixed)
                kind = "max-sw" if loss == "a-max-sw" else "v-dsw"
                # the model reads a random subset of each cloud (its cost is in the tokens); the slices below
                # use every point
                sub = torch.from_numpy(rng.choice(n_points, min(n_points, model_points), replace=False))
                on, xn = _normalise_pair(out64.detach()[:, sub], x64[:, sub])
                obj = amortized_objective(direction_model, on, xn, kind=kind, kappa=kappa,
                                          n_projections=min(n_projections, 64), rng=rng)
                dopt.zero_grad()
                (-obj).backward()
                dopt.step()
                with torch.no_grad():
                    theta = direction_model(on, xn)  # (B, 3)
            terms = []
            for b in range(batch):
                o, t = out64[b], x64[b]
                if loss in ("sw-mc", "sw-ucv"):
                    terms.append(sw_loss(o, t, estimator=loss[3:], n_projections=n_projections, seed=rng))
                elif loss == "max-sw":
                    th = max_sw(o.detach().numpy(), t.numpy(), n_candidates=32, n_starts=1, max_iter=30,
                                seed=rng).direction
                    terms.append(slice_wpp(o, t, torch.from_numpy(th)[None, :])[0])
                elif loss == "v-dsw":
                    res = vmf_dsw(o.detach().numpy(), t.numpy(), kappa=kappa, n_projections=min(n_projections, 64),
                                  max_iter=10, seed=rng)
                    terms.append(slice_wpp(o, t, torch.from_numpy(res.directions)).mean())
                elif loss == "a-max-sw":
                    terms.append(slice_wpp(o, t, theta[b][None, :])[0])
                elif loss == "a-v-dsw":
                    terms.append(slice_wpp(o, t, vmf_rsample(theta[b], kappa, min(n_projections, 64), rng)).mean())
                else:
                    terms.append(chamfer(o, t))
            value = torch.stack(terms).mean()
            opt.zero_grad()
            value.backward()
            opt.step()
            if step % eval_every == 0 or step == steps:
                curve.append((step, _mean_chamfer(ae, val), _mean_chamfer(ae, train_fixed)))
            if progress is not None:
                try:
                    progress(loss, step, steps, float(value.detach()))
                except StopTraining:
                    stopped = True
                    if curve[-1][0] != step:
                        curve.append((step, _mean_chamfer(ae, val), _mean_chamfer(ae, train_fixed)))
                    break
        c = np.asarray(curve, dtype=float)
        ae.eval()
        return AutoencoderResult(loss, ae, c[:, 0].astype(int), c[:, 1], c[:, 2], time.perf_counter() - t0, stopped,
                                 {"steps": steps, "batch": batch, "n_points": n_points, "latent": latent,
                                  "n_projections": n_projections, "kappa": kappa, "lr": lr, "seed": int(seed),
                                  "shapes": list(shapes), "held_out": list(held_out)})


def score(model: PointAutoencoder, clouds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructions and their scores: ``(S, n, 3)`` outputs and ``(S, 3)`` [Chamfer, exact W2², SW2²]."""
    from ..reference import reference_sw

    with torch.no_grad():
        out = model(torch.from_numpy(clouds).float()).double().numpy()
    rows = []
    for o, x in zip(out, clouds):
        rows.append([float(chamfer(torch.from_numpy(o), torch.from_numpy(x))), exact_w2(o, x),
                     reference_sw(o, x, n_projections=4096).value])
    return out, np.asarray(rows)


def run_study(losses=tuple(LOSSES), *, steps: int = 150, progress: Progress | None = None, **kw) -> dict:
    """Train one autoencoder per loss (same seed, same batches) and score each on the held-out shapes.

    Returns a dict: ``losses`` (keys), ``held_out`` (names), ``inputs`` (S, n, 3), ``outputs``
    (loss -> (S, n, 3)), ``scores`` (loss -> (S, 3)), ``curves`` (loss -> (steps, val, train)),
    ``seconds`` (loss -> float), ``params`` (the training parameters).
    """
    study = {"losses": list(losses), "outputs": {}, "scores": {}, "curves": {}, "seconds": {}}
    for loss in losses:
        res = train_autoencoder(loss, steps=steps, progress=progress, **kw)
        held = _Clouds(res.params["held_out"], res.params["n_points"], np.random.default_rng(
            np.random.SeedSequence([res.params["seed"], 29]))).fixed()
        out, sc = score(res.model, held)
        study["inputs"], study["held_out"], study["params"] = held, res.params["held_out"], res.params
        study["outputs"][loss], study["scores"][loss] = out, sc
        study["curves"][loss] = (res.steps, res.val_chamfer, res.train_chamfer)
        study["seconds"][loss] = res.seconds
    return study


def save_results(study: dict, path=RESULTS) -> Path:
    """Write a :func:`run_study` result as a compressed ``.npz`` (float32 points)."""
    meta = {"losses": study["losses"], "held_out": list(study["held_out"]), "params": study["params"],
            "seconds": {k: round(v, 2) for k, v in study["seconds"].items()}}
    arrays = {"__format__": np.array(FORMAT), "__version__": np.array(VERSION),
              "__meta__": np.array(json.dumps(meta, sort_keys=True)),
              "inputs": study["inputs"].astype(np.float32)}
    for k in study["losses"]:
        arrays[f"out_{k}"] = study["outputs"][k].astype(np.float32)
        arrays[f"scores_{k}"] = study["scores"][k]
        arrays[f"curve_{k}"] = np.stack([np.asarray(c, dtype=float) for c in study["curves"][k]])
    path = Path(path)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def load_results(path=RESULTS) -> dict:
    """Read a results file written by :func:`save_results` (no unpickling); a bad file is an InputError."""
    what = Path(path).name
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            if "__format__" not in z.files or str(z["__format__"]) != FORMAT:
                raise InputError(f"{what} is not a swviz autoencoder results file")
            if int(z["__version__"]) != VERSION:
                raise InputError(f"{what} has version {int(z['__version__'])}; this swviz reads {VERSION}")
            meta = json.loads(str(z["__meta__"]))
            inputs = z["inputs"].astype(np.float64)
            S = inputs.shape[0]
            study = {"losses": meta["losses"], "held_out": meta["held_out"], "params": meta["params"],
                     "seconds": meta["seconds"], "inputs": inputs, "outputs": {}, "scores": {}, "curves": {}}
            for k in meta["losses"]:
                if k not in LOSSES:
                    raise InputError(f"{what} holds an unknown loss {k!r}")
                out, sc = z[f"out_{k}"].astype(np.float64), z[f"scores_{k}"]
                if out.shape[0] != S or sc.shape != (S, 3):
                    raise InputError(f"{what}: the arrays of {k!r} do not match its {S} shapes")
                c = z[f"curve_{k}"]
                study["outputs"][k], study["scores"][k] = out, sc
                study["curves"][k] = (c[0].astype(int), c[1], c[2])
    except InputError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} is corrupt or truncated: {type(exc).__name__}: {exc}") from None
    return study
