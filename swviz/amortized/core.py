"""Amortized Max-SW and v-DSW: the model's direction in place of the per-pair ascent.

* :func:`vmf_rsample`: von Mises-Fisher samples that are a differentiable function of the
  location ``epsilon`` (reparameterisation): the samples are drawn once around ``e_1``
  (:func:`swviz.sample_vmf`) and carried onto ``epsilon`` by an orthogonal map ``Q(epsilon)``
  with ``Q e_1 = epsilon``, so ``theta = Q(epsilon) z`` has law ``vMF(epsilon, kappa)`` and
  ``d theta / d epsilon`` exists (Nguyen, Nguyen & Ho, ICML 2023, Section 3.3).
* :func:`amortized_objective`: the torch objective a model is trained to maximise.
* :func:`amortized_vdsw`, :func:`amortized_max_sw`: the numpy entry points, returning a
  :class:`swviz.SlicedDistance` like :func:`swviz.vmf_dsw` and :func:`swviz.max_sw`.

Since ``W_p^p(theta) = W_p^p(-theta)``, the amortized v-DSW is
``E_{theta ~ vMF(f(X, Y), kappa)} W_p^p(theta)``, a metric for every finite ``kappa >= 0`` when
``f`` is a fixed function of the pair (the location may be any direction; Nguyen et al.,
"Distributional Sliced-Wasserstein and Applications to Generative Modeling", ICLR 2021): it is
zero exactly when ``X = Y`` (as measures) and symmetric when ``f`` is; amortized Max-SW is
``W_p^p(f(X, Y))`` and is zero for some pairs with ``X != Y`` (any slice can miss a difference).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .._validation import InputError, check_count, check_p, check_pair, rng_from
from ..autodiff import slice_wpp
from ..distances import SlicedDistance, sample_vmf
from .models import DirectionModel

__all__ = ["amortized_max_sw", "amortized_objective", "amortized_vdsw", "compare_with_ascent", "householder_onto",
           "vmf_rsample"]


def householder_onto(eps: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Apply an orthogonal map taking ``e_1`` to ``eps`` to the rows of ``z``, differentiably in ``eps``.

    eps : (d,) unit tensor
    z : (L, d) tensor

    With ``eps_1 < 0`` it is the reflection ``I - 2 u u^T / |u|^2``, ``u = e_1 - eps``; otherwise
    minus the reflection with ``u = e_1 + eps``. Both have ``|u|^2 >= 2``, so neither divides by a
    small number anywhere on the sphere. Returns (L, d).
    """
    e1 = torch.zeros_like(eps)
    e1[0] = 1.0
    if float(eps.detach()[0]) < 0:
        u = e1 - eps
        return z - (2.0 / (u @ u)) * (z @ u)[:, None] * u[None, :]
    u = e1 + eps
    return -(z - (2.0 / (u @ u)) * (z @ u)[:, None] * u[None, :])


def vmf_rsample(eps: torch.Tensor, kappa: float, n: int, rng) -> torch.Tensor:
    """``n`` samples of ``vMF(eps, kappa)``, reparameterised: gradients reach ``eps``.

    eps : (d,) float64 unit tensor
    kappa : float >= 0
    n : int
    rng : numpy Generator (the draws around ``e_1``)

    Returns (n, d) float64 tensor.
    """
    d = eps.shape[0]
    e1 = np.zeros(d)
    e1[0] = 1.0
    z = torch.as_tensor(sample_vmf(e1, kappa, n, rng), dtype=eps.dtype, device=eps.device)
    return householder_onto(eps, z)


def amortized_objective(model: DirectionModel, x: torch.Tensor, y: torch.Tensor, *, kind: str = "v-dsw",
                        kappa: float = 10.0, n_projections: int = 32, p: float = 2.0, rng=None) -> torch.Tensor:
    """The mean over a batch of pairs of the amortized value, differentiable in the model.

    x : (B, n, d), y : (B, m, d) float64 tensors
    kind : {"v-dsw", "max-sw"}

    Returns a 0-d tensor: ``mean_b E_{vMF(f(X_b, Y_b), kappa)} W_p^p`` (v-DSW, over ``n_projections``
    reparameterised samples) or ``mean_b W_p^p(f(X_b, Y_b))`` (Max-SW).
    """
    theta = model(x, y)  # (B, d)
    rng = rng_from(rng)
    out = []
    for b in range(x.shape[0]):
        dirs = theta[b][None, :] if kind == "max-sw" else vmf_rsample(theta[b], kappa, n_projections, rng)
        out.append(slice_wpp(x[b], y[b], dirs, None, None, p).mean())
    return torch.stack(out).mean()


def _model(model):
    if model is None:
        from .weights import load_default

        return load_default()
    if not isinstance(model, DirectionModel):
        raise InputError(f"model must be a swviz direction model (see swviz.amortized.load_default); got "
                         f"{type(model).__name__}")
    return model


def _check_kappa(kappa) -> float:
    try:
        kappa = float(kappa)
    except (TypeError, ValueError):
        raise InputError(f"kappa must be a number >= 0; got {kappa!r}") from None
    if not (math.isfinite(kappa) and kappa >= 0):
        raise InputError(f"kappa must be a finite number >= 0; got {kappa}")
    return kappa


def amortized_vdsw(x, y, a=None, b=None, *, model=None, kappa: float = 10.0, n_projections: int = 100, p: float = 2,
                   seed=None, device=None) -> SlicedDistance:
    """Amortized v-DSW: the vMF location predicted by a model instead of found by ascent.

    .. math::
        \\text{A-v-DSW}_p^p(\\mu, \\nu) = \\mathbb{E}_{\\theta \\sim \\text{vMF}(f_\\psi(X, Y), \\kappa)}
        W_p^p(\\theta_\\#\\mu, \\theta_\\#\\nu)
        \\approx \\frac1L \\sum_{l=1}^L W_p^p(\\theta_l)

    (Nguyen, Nguyen & Ho, ICML 2023, eq. (9)). It is at most the per-pair v-DSW
    (:func:`swviz.vmf_dsw`, the maximum over the location); the difference is the amortization gap.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
        Weights of the measures, used in the value; the model reads the positions only.
    model : DirectionModel, optional
        The default is :func:`swviz.amortized.load_default` (3D).
    kappa : float
        vMF concentration, ``>= 0``.
    n_projections : int
        vMF samples ``L``.
    p : float
    seed : int, Generator or None
    device : None, "cpu", "cuda", "cuda:k" or a torch.device
        Where the model predicts the location (see :meth:`DirectionModel.direction`); the
        slices are computed by the CPU engine.

    Returns
    -------
    SlicedDistance named ``"amortized-v-dsw"``: ``direction`` the predicted location, ``directions``
    the samples, ``params`` with ``stderr`` (of the Monte Carlo mean), ``kappa``, ``model`` and
    ``model_seconds`` (the time of the prediction).
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    kappa = _check_kappa(kappa)
    L = check_count(n_projections)
    rng = rng_from(seed)
    model = _model(model)
    t0 = time.perf_counter()
    eps = model.direction(x, y, device=device)
    seconds = time.perf_counter() - t0
    samples = sample_vmf(eps, kappa, L, rng)
    from ..slices import sliced_wpp

    vals = sliced_wpp(x, y, samples, a, b, p)
    value = float(vals.mean())
    stderr = float(vals.std(ddof=1) / math.sqrt(L)) if L > 1 else math.nan
    return SlicedDistance("amortized-v-dsw", value, max(value, 0.0) ** (1.0 / p), eps, samples, np.full(L, 1.0 / L),
                          vals, p, np.zeros(0), {"kappa": kappa, "n_projections": L, "stderr": stderr,
                                                 "model": model.kind, "model_seconds": seconds})


def amortized_max_sw(x, y, a=None, b=None, *, model=None, p: float = 2, device=None) -> SlicedDistance:
    """Amortized Max-SW: ``W_p^p`` on the one slice a model predicts.

    .. math::
        \\text{A-Max-SW}_p^p(\\mu, \\nu) = W_p^p(f_\\psi(X, Y)_\\#\\mu, f_\\psi(X, Y)_\\#\\nu)
        \\le \\text{Max-SW}_p^p(\\mu, \\nu)

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    model : DirectionModel, optional
    p : float
    device : None or a device, where the model runs (see :func:`amortized_vdsw`)

    Returns
    -------
    SlicedDistance named ``"amortized-max-sw"`` (``params["model_seconds"]``: the prediction's time).
    """
    x, y, a, b = check_pair(x, y, a, b)
    p = check_p(p)
    model = _model(model)
    t0 = time.perf_counter()
    theta = model.direction(x, y, device=device)
    seconds = time.perf_counter() - t0
    from ..slices import sliced_wpp

    w = sliced_wpp(x, y, theta[None, :], a, b, p)
    f = float(w[0])
    return SlicedDistance("amortized-max-sw", f, max(f, 0.0) ** (1.0 / p), theta, theta[None, :], np.ones(1), w, p,
                          np.zeros(0), {"model": model.kind, "model_seconds": seconds})


def compare_with_ascent(x, y, a=None, b=None, *, model=None, kappa: float = 10.0, n_projections: int = 100,
                        p: float = 2, seed=0) -> dict:
    """The amortized values beside the per-pair ascents, timed, with the gaps and the metricity checks.

    Parameters
    ----------
    x : (n, d) float
    y : (m, d) float
    a, b : (n,), (m,) float, optional
    model : DirectionModel, optional
    kappa, n_projections, p, seed : as :func:`amortized_vdsw` (the ascents use the same ``kappa``,
        ``n_projections`` and ``seed``)

    Returns
    -------
    dict with ``amortized_vdsw``, ``amortized_max_sw``, ``vdsw``, ``max_sw`` (:class:`SlicedDistance`),
    ``seconds`` (name -> wall time: the amortized ones are one prediction plus the slicing),
    ``gap_vdsw`` and ``gap_max_sw`` (per-pair minus amortized value), ``self_vdsw`` (amortized v-DSW of
    ``x`` with itself, a :class:`SlicedDistance`), ``swapped_vdsw`` (of ``(y, x)``, same seed) and
    ``angle_max_sw`` (degrees between the predicted and the ascent's direction, sign-free).
    """
    from ..distances import max_sw, vmf_dsw

    model = _model(model)
    out, seconds = {}, {}
    t0 = time.perf_counter()
    out["amortized_vdsw"] = amortized_vdsw(x, y, a, b, model=model, kappa=kappa, n_projections=n_projections, p=p,
                                           seed=seed)
    seconds["amortized_vdsw"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["amortized_max_sw"] = amortized_max_sw(x, y, a, b, model=model, p=p)
    seconds["amortized_max_sw"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["max_sw"] = max_sw(x, y, a, b, p=p, seed=seed)
    seconds["max_sw"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["vdsw"] = vmf_dsw(x, y, a, b, kappa=kappa, p=p, n_projections=n_projections, seed=seed)
    seconds["vdsw"] = time.perf_counter() - t0
    out["seconds"] = seconds
    out["gap_vdsw"] = out["vdsw"].value - out["amortized_vdsw"].value
    out["gap_max_sw"] = out["max_sw"].value - out["amortized_max_sw"].value
    out["self_vdsw"] = amortized_vdsw(x, x, a, a, model=model, kappa=kappa, n_projections=n_projections, p=p,
                                      seed=seed)
    out["swapped_vdsw"] = amortized_vdsw(y, x, b, a, model=model, kappa=kappa, n_projections=n_projections, p=p,
                                         seed=seed)
    cos = abs(float(out["amortized_max_sw"].direction @ out["max_sw"].direction))
    out["angle_max_sw"] = math.degrees(math.acos(min(1.0, cos)))
    return out
