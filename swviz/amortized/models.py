"""Amortized direction models: a pair of clouds in, one unit direction out.

Nguyen, Nguyen & Ho, "Self-Attention Amortized Distributional Projection Optimization for Sliced
Wasserstein Point-Cloud Reconstruction" (ICML 2023, Section 3.2) replace the per-pair ascent of
Max-SW (or of the v-DSW location) by a model ``f_psi(X, Y) in S^{d-1}`` trained over many pairs.
Their models are self-attention over the points of each cloud, mean pooling (invariance to the
order of the points), the two clouds' outputs averaged (symmetry in the pair) and a projection
on the sphere; efficient attention (Shen et al., "Efficient Attention: Attention with Linear
Complexities", WACV 2021) makes the cost linear in the number of points.

:class:`AttentionDirection` keeps the attention encoders and the invariances and changes how the
pair is combined: pooling each cloud separately and adding the results cannot see *where the two
clouds differ* (a sum of per-cloud features does not contain their difference), so here

1. both clouds are centred and scaled together (the joint mean and RMS radius: the maximiser of
   ``W_p^p(theta)`` does not change under a common translation or scaling of the pair);
2. the points of both clouds are one set of tokens ``[x_i, s_i]``, ``s_i = +1`` on ``X`` and
   ``-1`` on ``Y``, so attention mixes information across the pair;
3. the pooled output is a positive semi-definite matrix
   ``M(X, Y) = sum_c A_c^2 + sum_c u_c u_c^T`` with ``A_c = mean_i g_{ic} x_i x_i^T`` and
   ``u_c = mean_i h_{ic} x_i`` (``g, h`` per-token scalars read from the encoder): weighted second
   moments and mean shifts, whose leading eigenvectors are where the two clouds differ most;
4. ``M_sym = M(X, Y) + M(Y, X)`` (exactly symmetric) and the direction is ``M_sym``'s leading
   eigenvector, by a few normalised power steps from a learned start ``w_0``. A power step is
   differentiable with no singularity at repeated eigenvalues (unlike ``eigh``); the output is
   unchanged (the same bits) when the pair is swapped, and sign-free like ``W_p^p(theta)``.

:class:`LinearDirection` is the paper's linear baseline (their ``Linear_Mapping``, after Nguyen &
Ho, "Amortized Projection Optimization for Sliced Wasserstein Generative Models", NeurIPS 2022):
``f(X, Y) = Proj(w_0 + [X; Y]^T w_1)`` with one weight per point *index*. It needs a fixed number
of points and depends on their order, which is the weakness the attention models remove; it is
declared so (:attr:`DirectionModel.permutation_invariant`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._validation import InputError, check_pair

__all__ = ["KINDS", "MIN_POINTS", "PRECISIONS", "AttentionDirection", "DirectionModel", "LinearDirection", "build_model"]

#: Fewest points per cloud a model accepts (a direction from fewer is noise).
MIN_POINTS = 4

#: The arithmetic :meth:`DirectionModel.direction` can predict in.
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}

#: Model kinds: name -> description.
KINDS = {
    "attention": "self-attention over the pair's points (cost quadratic in n)",
    "efficient": "efficient (linear) attention, Shen et al. WACV 2021 (cost linear in n)",
    "linear": "the paper's linear baseline: one weight per point index (fixed n, order-dependent)",
}


def _normalise_pair(x: torch.Tensor, y: torch.Tensor):
    """Centre and scale a batch of pairs together: ``(B, n, d), (B, m, d)`` -> the same, unit joint RMS."""
    c = 0.5 * (x.mean(1, keepdim=True) + y.mean(1, keepdim=True))  # (B, 1, d)
    xc, yc = x - c, y - c
    rms2 = 0.5 * ((xc * xc).sum(-1).mean(1) + (yc * yc).sum(-1).mean(1))  # (B,)
    s = torch.sqrt(rms2.clamp_min(1e-24))[:, None, None]
    return xc / s, yc / s


class DirectionModel(nn.Module):
    """Base of the direction models: the numpy entry point and the declared facts.

    dim : int
        Dimension of the clouds the model was built (and trained) for.
    kind : str
        A key of :data:`KINDS`.
    permutation_invariant : bool
        Whether reordering the points of either cloud leaves the direction unchanged.
    config : dict
        The constructor's arguments (stored with the weights).
    """

    kind = ""
    permutation_invariant = True

    def __init__(self, dim: int):
        super().__init__()
        self.dim = int(dim)

    # the batched forward: (B, n, d), (B, m, d) float64 tensors -> (B, d) unit rows
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_pair(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Validate a numpy pair for this model: finite ``(n, d), (m, d)`` with ``d = dim``, enough points."""
        x, y, _, _ = check_pair(x, y)
        if x.shape[1] != self.dim:
            raise InputError(f"this {self.kind} direction model was trained for d = {self.dim}; the pair has "
                             f"d = {x.shape[1]} (x is {x.shape}, y is {y.shape})")
        for v, name in ((x, "x"), (y, "y")):
            if v.shape[0] < MIN_POINTS:
                raise InputError(f"{name} has {v.shape[0]} point(s); the direction model needs at least "
                                 f"{MIN_POINTS} per cloud")
        return x, y

    def direction(self, x, y, *, device=None, precision: str = "float32") -> np.ndarray:
        """The predicted direction for one pair.

        Parameters
        ----------
        x : (n, d) float
        y : (m, d) float
        device : None, "cpu", "cuda", "cuda:k" or a torch.device
            Where the network runs; None: where its parameters are. On another device a copy of
            the model is made once and kept (the model itself is not moved).
        precision : {"float32", "float64"}
            The arithmetic of the prediction. float32 (a kept copy of the model) is 3 to 4x faster
            on a CPU and gives the float64 direction to about 1e-6; training and the gradients of
            :func:`amortized_objective` stay in float64.

        Returns
        -------
        (d,) float unit vector (float64).
        """
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        x, y = self.check_pair(x, y)
        net = self.on(device, PRECISIONS[precision])
        dev, dtype = next(net.parameters()).device, PRECISIONS[precision]
        with torch.inference_mode():
            theta = net(torch.from_numpy(x).to(dev, dtype)[None], torch.from_numpy(y).to(dev, dtype)[None])[0]
        theta = theta.cpu().double().numpy()
        return theta / np.linalg.norm(theta)  # unit in float64 too

    def on(self, device=None, dtype=None) -> DirectionModel:
        """This model on ``device`` in ``dtype`` (itself when it is so already, or both are None).

        A copy is made for another device or dtype and kept, keyed by the device, the dtype and the
        parameters' versions, so training this model afterwards makes a fresh copy on next use.
        """
        first = next(self.parameters())
        dev = first.device if device is None else None
        if dev is None:
            from ..autodiff import check_device

            dev = check_device(device)
        dtype = first.dtype if dtype is None else dtype
        if first.device == dev and first.dtype == dtype:
            return self
        name = f"{dev}/{dtype}"
        key = (name, tuple((id(t), t._version) for t in self.parameters()))
        copies = self.__dict__.setdefault("_copies", {})  # in __dict__: not a submodule
        if copies.get(name, (None,))[0] != key:
            import copy

            clone = copy.deepcopy(self, {id(copies): {}}).to(dev, dtype)
            clone.__dict__.pop("_copies", None)
            copies[name] = (key, clone)
        return copies[name][1]


class _Attention(nn.Module):
    """One residual attention block (single head) and a residual MLP, pre-normalised."""

    def __init__(self, width: int, efficient: bool):
        super().__init__()
        self.efficient = efficient
        self.norm1 = nn.LayerNorm(width)
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, N, w)
        z = self.norm1(h)
        q, k, v = self.q(z), self.k(z), self.v(z)
        if self.efficient:
            # Shen et al. (WACV 2021), eq. (2): softmax over features for queries, over tokens for
            # keys, then Q (K^T V): (N, w) x (w, w), linear in N
            context = torch.softmax(k, dim=1).transpose(1, 2) @ v  # (B, w, w)
            att = torch.softmax(q, dim=2) @ context
        else:
            # scaled dot-product attention (Vaswani et al., NeurIPS 2017): an (N, N) matrix
            logits = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, N, N)
            att = torch.softmax(logits, dim=2) @ v
        h = h + self.out(att)
        return h + self.mlp(self.norm2(h))


class AttentionDirection(DirectionModel):
    """Self-attention (``efficient=False``) or efficient-attention direction model.

    Parameters
    ----------
    dim : int
        Dimension of the clouds.
    efficient : bool
        Linear attention (cost ``O(n w^2)``) instead of softmax attention (``O(n^2 w)``).
    width : int
        Token width ``w``.
    layers : int
        Attention blocks.
    channels : int
        Matrix and vector channels of the pooled head.
    power_steps : int
        Power-iteration steps for the leading eigenvector.
    max_points : int
        Read at most this many points of each cloud (0: all), chosen by the points themselves so
        the invariance to their order holds (:meth:`_subsample`); the cost stops growing with n.
    """

    def __init__(self, dim: int = 3, efficient: bool = True, width: int = 32, layers: int = 2, channels: int = 4,
                 power_steps: int = 8, max_points: int = 0):
        super().__init__(dim)
        self.max_points = int(max_points)
        self.efficient = bool(efficient)
        self.kind = "efficient" if self.efficient else "attention"
        self.width, self.layers, self.channels, self.power_steps = int(width), int(layers), int(channels), \
            int(power_steps)
        self.embed = nn.Linear(dim + 1, width)
        self.blocks = nn.ModuleList([_Attention(width, self.efficient) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.gates = nn.Linear(width, 2 * channels)  # g (matrix channels) and h (vector channels)
        self.w0 = nn.Parameter(torch.randn(dim) / math.sqrt(dim))

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "width": self.width, "layers": self.layers,
                "channels": self.channels, "power_steps": self.power_steps, "max_points": self.max_points}

    def _moment_matrix(self, pts: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """``M``: (B, d, d) positive semi-definite, from tokens ``pts`` (B, N, d) and their sides (B, N, 1)."""
        h = self.embed(torch.cat([pts, side], dim=-1))
        for block in self.blocks:
            h = block(h)
        gh = self.gates(self.norm(h))  # (B, N, 2C)
        g, hv = gh[..., : self.channels], gh[..., self.channels:]
        N = pts.shape[1]
        A = torch.einsum("bnc,bni,bnj->bcij", g, pts, pts) / N  # (B, C, d, d)
        u = torch.einsum("bnc,bni->bci", hv, pts) / N  # (B, C, d)
        return (A @ A).sum(1) + torch.einsum("bci,bcj->bij", u, u)

    def _subsample(self, x: torch.Tensor) -> torch.Tensor:
        """At most ``max_points`` of each cloud, chosen by the points themselves (not their order).

        The points are ranked by their projection on a fixed generic axis and every k-th is kept
        (evenly spaced ranks): the same points whatever the order they came in (ties have
        probability 0), so the model stays invariant to permutations.
        """
        n = x.shape[1]
        if not self.max_points or n <= self.max_points:
            return x
        axis = torch.sqrt(torch.arange(1, self.dim + 1, dtype=x.dtype))
        order = torch.argsort(x @ (axis / axis.norm()), dim=1)  # (B, n)
        keep = order[:, torch.linspace(0, n - 1, self.max_points).round().long()]
        return torch.gather(x, 1, keep[..., None].expand(-1, -1, self.dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = _normalise_pair(x, y)
        x, y = self._subsample(x), self._subsample(y)
        B = x.shape[0]
        sx, sy = torch.ones_like(x[..., :1]), -torch.ones_like(y[..., :1])
        # (X, Y) and (Y, X) in one batch: M_sym = M(X, Y) + M(Y, X), symmetric in the pair exactly
        pts = torch.cat([torch.cat([x, y], dim=1), torch.cat([y, x], dim=1)])
        side = torch.cat([torch.cat([sx, sy], dim=1), torch.cat([-sy, -sx], dim=1)])
        both = self._moment_matrix(pts, side)
        M = both[:B] + both[B:]
        M = M / M.diagonal(dim1=1, dim2=2).sum(-1).clamp_min(1e-30)[:, None, None]  # unit trace
        v = self.w0.expand(B, -1)
        v = v / v.norm(dim=1, keepdim=True)
        for _ in range(self.power_steps):
            v = (M @ v[..., None])[..., 0] + 1e-12 * self.w0  # the tiny w0 keeps M = 0 (X = Y = a point) finite
            v = v / v.norm(dim=1, keepdim=True)
        return v


class LinearDirection(DirectionModel):
    """The paper's linear baseline: ``Proj(w_0 + [X; Y]^T w_1)``, one weight per point index.

    Parameters
    ----------
    dim : int
    n_points : int
        The number of points of each cloud (fixed: ``w_1`` has ``2 n`` entries).
    """

    kind = "linear"
    permutation_invariant = False

    def __init__(self, dim: int = 3, n_points: int = 512):
        super().__init__(dim)
        self.n_points = int(n_points)
        self.f = nn.Linear(2 * self.n_points, 1)

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "n_points": self.n_points}

    def check_pair(self, x, y):
        x, y = super().check_pair(x, y)
        if x.shape[0] != self.n_points or y.shape[0] != self.n_points:
            raise InputError(f"the linear baseline was built for clouds of exactly {self.n_points} points; got "
                             f"{x.shape[0]} and {y.shape[0]}")
        return x, y

    def forward(self, x, y):
        x, y = _normalise_pair(x, y)
        a = self.f(torch.cat([x, y], dim=1).transpose(1, 2))[..., 0]  # (B, d)
        return a / a.norm(dim=1, keepdim=True).clamp_min(1e-30)


def build_model(config: dict) -> DirectionModel:
    """A fresh model from a config dict (as :attr:`DirectionModel.config` writes it), in float64."""
    config = dict(config)
    kind = config.pop("kind", None)
    try:
        if kind in ("attention", "efficient"):
            model = AttentionDirection(efficient=kind == "efficient", **config)
        elif kind == "linear":
            model = LinearDirection(**config)
        else:
            raise InputError(f"unknown direction model kind {kind!r}; choose one of: {', '.join(KINDS)}")
    except TypeError as exc:
        raise InputError(f"bad direction model config {config!r}: {exc}") from None
    return model.double()
