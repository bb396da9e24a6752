"""Differentiable sliced Wasserstein in torch: one autograd op, and every estimator through it.

:func:`slice_wpp` is a ``torch.autograd.Function``: its forward is the slice engine of
:mod:`swviz.slices` (numpy's sort on the CPU, several times faster there than ``torch.sort``;
torch on a CUDA device), and its backward is the closed form of the one-dimensional transport
gradient at the optimal (monotone) matching. With ``g_{l,i} = dW_l / d<theta_l, x_i>`` from
the engine (for ``p = 2`` and equal sizes, ``(2/n)(theta_l'x_i - theta_l'y_(rank of i))``),

.. math::
    \\frac{\\partial W_l}{\\partial x_i} = g_{l,i} \\, \\theta_l, \\qquad
    \\frac{\\partial W_l}{\\partial y_j} = h_{l,j} \\, \\theta_l, \\qquad
    \\frac{\\partial W_l}{\\partial \\theta_l} = \\sum_i g_{l,i} x_i + \\sum_j h_{l,j} y_j ,

the derivative at a fixed optimal coupling, which is the derivative of the minimum (Danskin's
theorem; Bonneel et al., JMIV 2015, Section 2.2 for the gradient in the points). General
``p >= 1``, unequal sizes and weights go through the merged quantile matching of
:func:`swviz.slices.merged_cells`, written once.

:func:`sw_loss` composes the op with an estimator's combine step, written once for numpy and
torch (:mod:`swviz.estimators`): autograd differentiates the control variates through the
clouds' means and covariances (Nguyen & Ho, ICLR 2024) and the spherical-harmonics regression
(Leluc et al., ICML 2024) with nothing derived by hand. In float64 it equals
:func:`swviz.sliced_wasserstein` for the same seed (the same directions), to rounding.
"""

from __future__ import annotations

import numpy as np

from ._validation import InputError, check_count, check_p, rng_from
from .estimators import CombineOptions, Estimator, Moments, get_estimator
from .slices import POOL_WORKERS, pool_blas, slice_costs

__all__ = ["check_device", "check_tensor_pair", "slice_wpp", "sw_loss", "sw_objective"]


def _torch():
    import torch

    return torch


def _function():
    """The autograd Function, built on first use so that importing swviz does not import torch."""
    global _FN
    if _FN is not None:
        return _FN
    torch = _torch()

    class SliceWpp(torch.autograd.Function):
        """Per-slice ``W_p^p``: forward by the slice engine, backward in closed form."""

        @staticmethod
        def forward(ctx, x, y, theta, a, b, p):
            want_theta = ctx.needs_input_grad[2]
            want_x = ctx.needs_input_grad[0] or want_theta
            want_y = ctx.needs_input_grad[1] or want_theta
            if x.device.type == "cpu":
                # the numpy engine on views of the tensors' memory (no copies)
                xn, yn, tn = x.detach().numpy(), y.detach().numpy(), theta.detach().numpy()
                an = None if a is None else a.detach().numpy()
                bn = None if b is None else b.detach().numpy()
                # the engine's pool only where torch runs one thread: next to torch's own OpenMP
                # team, which keeps spinning after each torch call, the pool was measured 2x slower
                # than one thread on two cores; beside one torch thread it sorts halves in parallel
                # (500 flow steps at n = 1024, L = 100: 2.1 s -> 1.5 s on two cores)
                pooled = (torch.get_num_threads() == 1 and
                          tn.shape[0] * (xn.shape[0] + yn.shape[0]) >= _POOL_MIN_VALUES)
                values, gx, gy = slice_costs(xn, yn, tn, an, bn, p, grad_x=want_x, grad_y=want_y,
                                             threads=pooled, parts=POOL_WORKERS if pooled else 1,
                                             chunk_bytes=_CHUNK_BYTES)
                values = torch.from_numpy(values)
                gx = None if gx is None else torch.from_numpy(gx)
                gy = None if gy is None else torch.from_numpy(gy)
            else:
                pooled = False
                with torch.no_grad():
                    values, gx, gy = slice_costs(x.detach(), y.detach(), theta.detach(), a, b, p,
                                                 grad_x=want_x, grad_y=want_y)
            # the backward's products run beside the next forward's pool: the same BLAS setting
            ctx.pooled_values = theta.shape[0] * (x.shape[0] + y.shape[0]) if pooled else 0
            ctx.save_for_backward(x if want_theta else None, y if want_theta else None, theta, gx, gy)
            return values

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, grad):
            x, y, theta, gx, gy = ctx.saved_tensors
            cpu = theta.device.type == "cpu"
            if cpu:
                # numpy's BLAS for these thin products: torch's threaded matmul of an (n, L) by
                # (L, 3) product was measured 30x slower on two busy cores
                grad, theta, gx, gy = (None if v is None else v.numpy() for v in (grad, theta, gx, gy))
                x, y = (None if v is None else v.detach().numpy() for v in (x, y))
            out = [None, None, None]
            with pool_blas(ctx.pooled_values):
                scaled = grad[:, None] * theta  # (L, d): grad_l theta_l
                if ctx.needs_input_grad[0]:
                    out[0] = gx.T @ scaled  # (n, d): sum_l grad_l g_li theta_l
                if ctx.needs_input_grad[1]:
                    out[1] = gy.T @ scaled
                if ctx.needs_input_grad[2]:
                    out[2] = grad[:, None] * (gx @ x + gy @ y)  # (L, d)
            if cpu:
                out = [None if v is None else torch.from_numpy(np.ascontiguousarray(v)) for v in out]
            return out[0], out[1], out[2], None, None, None

    _FN = SliceWpp
    return _FN


_FN = None
#: Fewest projected values (L x (n + m)) for which the op's forward uses the engine's pool (when
#: torch runs one thread): below it, handing chunks to threads costs more than it saves.
_POOL_MIN_VALUES = 40_000
#: Chunk budget of the op's forward: one chunk for the usual L x n of a flow or a training step.
_CHUNK_BYTES = 64 * 2**20


def check_device(device):
    """``"cpu"``, ``"cuda"``, ``"cuda:k"`` or a ``torch.device`` -> a checked ``torch.device``.

    Raises :class:`InputError` for anything else, and for a CUDA device this machine does not
    have (no silent fall back to the CPU).
    """
    torch = _torch()

    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str) and device.strip().lower() in ("cpu",) or (
            isinstance(device, str) and device.strip().lower().startswith("cuda")):
        try:
            dev = torch.device(device.strip().lower())
        except RuntimeError as exc:
            raise InputError(f"device {device!r} is not a valid device name: {exc}") from None
    else:
        raise InputError(f"device must be 'cpu', 'cuda', 'cuda:<index>' or a torch.device; got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} was requested but CUDA is not available on this machine "
                             "(torch sees no GPU); use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif dev.type != "cpu":
        raise InputError(f"device must be a CPU or CUDA device; got {device!r}")
    return dev


def slice_wpp(x, y, theta, a=None, b=None, p: float = 2.0):
    """Per-slice ``W_p^p`` of torch tensors, differentiable in ``x``, ``y`` and ``theta``.

    Parameters
    ----------
    x : (n, d) float64 tensor
    y : (m, d) float64 tensor, on the device of ``x``
    theta : (L, d) float64 tensor of unit rows
    a, b : (n,), (m,) float64 tensors summing to 1, or None (uniform); not differentiated
    p : float >= 1

    Returns
    -------
    (L,) float64 tensor.

    The inputs are not validated (see :func:`sw_loss` for the checked entry point).
    """
    return _function().apply(x, y, theta, a, b, float(p))


# --------------------------------------------------------------------------- validation


def _check_tensor(v, name: str, torch, ndim: int):
    if not isinstance(v, torch.Tensor):
        raise InputError(f"{name} must be a torch tensor; got {type(v).__name__} (use swviz.sliced_wasserstein "
                         "for numpy arrays)")
    if v.ndim != ndim:
        shape = "(n, d)" if ndim == 2 else "(n,)"
        raise InputError(f"{name} must have shape {shape}; got a tensor of shape {tuple(v.shape)}")
    if v.dtype not in (torch.float32, torch.float64):
        raise InputError(f"{name} must be a float32 or float64 tensor; got dtype {v.dtype}")
    if v.shape[0] == 0:
        raise InputError(f"{name} is empty (shape {tuple(v.shape)})")


def _check_finite(v, name: str, torch):
    if not bool(torch.isfinite(v.detach()).all()):
        bad = int((~torch.isfinite(v.detach())).sum())
        raise InputError(f"{name} contains {bad} NaN or infinite value(s); every entry must be finite")


def check_tensor_pair(x, y, a=None, b=None):
    """Validate torch clouds and weights; return them in float64 with normalised weights.

    x : (n, d), y : (m, d) float tensors on one device; a : (n,), b : (m,) non-negative float
    tensors (or None), which may not require grad. Raises :class:`InputError` naming the
    problem, before any work.
    """
    torch = _torch()
    _check_tensor(x, "x", torch, 2)
    _check_tensor(y, "y", torch, 2)
    if x.shape[1] != y.shape[1]:
        raise InputError(f"x and y must have the same dimension: x is {tuple(x.shape)}, y is {tuple(y.shape)}")
    if x.device != y.device:
        raise InputError(f"x and y must be on the same device; x is on {x.device}, y on {y.device}")
    _check_finite(x, "x", torch)
    _check_finite(y, "y", torch)
    out = []
    for w, name, n in ((a, "a", x.shape[0]), (b, "b", y.shape[0])):
        if w is None:
            out.append(None)
            continue
        _check_tensor(w, name, torch, 1)
        if w.requires_grad:
            raise InputError(f"{name} requires grad, but gradients in the weights are not supported: pass "
                             f"{name}.detach() (the gradient reaches the positions only)")
        if w.shape[0] != n:
            raise InputError(f"{name} has {w.shape[0]} weights but there are {n} points")
        if w.device != x.device:
            raise InputError(f"{name} must be on the device of the points ({x.device}); it is on {w.device}")
        _check_finite(w, name, torch)
        if bool((w < 0).any()):
            raise InputError(f"{name} has negative weights (min {float(w.min()):.3g}); weights must be >= 0")
        total = w.sum()
        if not float(total) > 0:
            raise InputError(f"{name} sums to zero; at least one weight must be positive")
        out.append((w / total).to(torch.float64))
    return x.to(torch.float64), y.to(torch.float64), out[0], out[1]


def _directions(est: Estimator, n_projections, d: int, seed, directions, like):
    torch = _torch()
    if directions is None:
        L = check_count(n_projections)
        est.check(L, d)
        theta = est.directions(L, d, rng_from(seed))
        return torch.as_tensor(np.ascontiguousarray(theta), dtype=torch.float64, device=like.device)
    if isinstance(directions, torch.Tensor):
        if directions.ndim != 2 or directions.shape[1] != d:
            raise InputError(f"directions must have shape (L, {d}); got {tuple(directions.shape)}")
        if directions.device != like.device:
            raise InputError(f"directions must be on the device of the points ({like.device}); "
                             f"they are on {directions.device}")
        theta = directions.to(torch.float64)
    else:
        from ._validation import check_directions

        theta = torch.as_tensor(check_directions(directions, d), dtype=torch.float64, device=like.device)
    if not bool(torch.isfinite(theta.detach()).all()):
        raise InputError("directions contain NaN or infinite values")
    norms = theta.detach().norm(dim=1)
    if bool(((norms - 1).abs() > 1e-6).any()):
        raise InputError(f"directions must be unit vectors; norms range from {float(norms.min()):.6g} to "
                         f"{float(norms.max()):.6g}")
    est.check(theta.shape[0], d)
    return theta


def sw_objective(x, y, a, b, theta, est: Estimator, p: float, options: CombineOptions):
    """The estimate of ``SW_p^p`` from validated float64 tensors and directions (no checks).

    The loop of a flow or a training calls this each step; :func:`sw_loss` is the checked form.
    Returns a 0-d tensor.
    """
    w = slice_wpp(x, y, theta, a, b, p)
    value, _ = est.combine(w, theta, Moments(x, y, a, b), options)
    return value


def sw_loss(x, y, a=None, b=None, *, estimator: str = "mc", n_projections: int = 100, p: float = 2,
            seed=None, directions=None, cv_ridge: float = 0.0):
    """A differentiable estimate of ``SW_p^p`` between two torch point clouds.

    .. math::
        \\widehat{SW}_p^p(\\mu, \\nu) = \\text{combine}\\bigl(W_p^p(\\theta_1), \\dots,
        W_p^p(\\theta_L)\\bigr), \\qquad \\theta_l \\text{ drawn by the estimator}

    Parameters
    ----------
    x : (n, d) float tensor
        Source points (float32 or float64; computed in float64). Gradients reach it.
    y : (m, d) float tensor
        Target points, on the device of ``x``. Gradients reach it too.
    a, b : (n,) and (m,) float tensors, optional
        Non-negative weights (normalised); uniform if omitted. Not differentiable.
    estimator : str
        A key of :data:`swviz.ESTIMATORS`; every registered estimator is differentiable.
    n_projections : int
        Number of directions ``L``.
    p : float
        Ground cost exponent, ``p >= 1``.
    seed : int, numpy.random.Generator or None
        Randomness of the directions: the same seed gives the same directions as
        :func:`swviz.sliced_wasserstein`, hence the same value.
    directions : (L, d) array or tensor, optional
        Unit directions instead of sampling; a tensor that requires grad receives the
        gradient (e.g. a model predicting where to slice).
    cv_ridge : float
        :attr:`swviz.estimators.CombineOptions.cv_ridge` (control-variate estimators only).

    Returns
    -------
    0-d tensor in the dtype of ``x``.

    Examples
    --------
    >>> import numpy as np, torch, swviz
    >>> rng = np.random.default_rng(0)
    >>> xn, yn = rng.normal(size=(64, 3)), rng.normal(size=(48, 3)) + 1.0
    >>> x = torch.tensor(xn, requires_grad=True)
    >>> loss = sw_loss(x, torch.tensor(yn), estimator="ucv", n_projections=50, seed=0)
    >>> loss.backward()  # x.grad now holds d loss / dx, shape (64, 3)
    >>> ref = swviz.sliced_wasserstein(xn, yn, estimator="ucv", n_projections=50, seed=0).value
    >>> bool(abs(loss.item() - ref) <= 1e-12 * ref)
    True
    """
    est = get_estimator(estimator)
    p = check_p(p)
    options = CombineOptions(cv_ridge, stderr=False)  # a loss reads the value only
    x64, y64, a64, b64 = check_tensor_pair(x, y, a, b)
    theta = _directions(est, n_projections, x64.shape[1], seed, directions, x64)
    value = sw_objective(x64, y64, a64, b64, theta, est, p, options)
    return value.to(x.dtype)
