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
   ``-1`` on ``Y``, so attention mixes information across the pair (at most ``max_points`` of
   each cloud, chosen by rank along a fixed axis, so the cost does not grow with ``n``);
3. the pooled output is a positive semi-definite matrix
   ``M(X, Y) = sum_c A_c^2 + sum_c u_c u_c^T`` with ``A_c = mean_i g_{ic} x_i x_i^T`` and
   ``u_c = mean_i h_{ic} x_i`` (``g, h`` per-token scalars read from the encoder): weighted second
   moments and mean shifts; ``M_sym = M(X, Y) + M(Y, X)`` is exactly symmetric in the pair;
4. the head scores a fixed grid of directions ``theta_k`` on a half-sphere (slices are sign-free):
   ``s_k = theta_k^T M_sym theta_k``, plus, with ``prior=True``, the closed-form Gaussian score
   ``G(theta) = (theta^T (m_X - m_Y))^2 + (sqrt(theta^T C_X theta) - sqrt(theta^T C_Y theta))^2``
   (``W_2^2`` between the Gaussians with the projections' means and variances, read from every
   point), so the attention learns a correction to it;
5. the scores are smoothed over the sphere as v-DSW smooths ``W_p^p`` (a vMF kernel
   ``exp(kappa (|theta_j . theta_k| - 1))``; Nguyen et al., "Distributional Sliced-Wasserstein"),
   a soft argmax with a learned sharpness weights the grid, and the direction is the leading
   eigenvector of ``P = sum_k w_k theta_k theta_k^T``, by repeated squarings of ``P`` applied to a
   learned start ``w_0`` (power iteration: differentiable with no singularity at repeated
   eigenvalues, unlike ``eigh``). The output is unchanged (the same bits) when the pair is
   swapped, and sign-free like ``W_p^p(theta)``.

The blocks are residual single-head attention without an MLP, as in the paper's models. The
shipped default (:data:`~swviz.amortized.training.DEFAULT_RECIPE`) is one efficient-attention
block of width 16 over at most 64 points of each cloud, with the Gaussian prior: on library pairs
the smoothed closed form alone finds the v-DSW location about as well as the per-pair ascent,
from the two clouds' means and covariances, and the trained attention changes little. Its limit
is what second moments cannot see: for two clouds with the same mean and covariance ``G`` is
flat and the direction rests on the learned score alone, which the shipped recipe does not train
to do better than a random direction there.

:class:`LinearDirection` is the paper's linear baseline (their ``Linear_Mapping``, after Nguyen &
Ho, "Amortized Projection Optimization for Sliced Wasserstein Generative Models", NeurIPS 2022):
``f(X, Y) = Proj(w_0 + [X; Y]^T w_1)`` with one weight per point *index*. It needs a fixed number
of points and depends on their order, which is the weakness the attention models remove; it is
declared so (:attr:`DirectionModel.permutation_invariant`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .._threads import check_threads, torch_threads
from .._validation import InputError, check_pair

__all__ = ["KINDS", "MIN_POINTS", "PRECISIONS", "AttentionDirection", "DirectionModel", "LinearDirection",
           "build_model", "direction_grid"]

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


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (B, d) and covariance (B, d, d, divided by n) of a batch of clouds (B, n, d)."""
    m = x.mean(1)
    xc = x - m[:, None, :]
    return m, xc.transpose(1, 2) @ xc / x.shape[1]


@lru_cache(maxsize=64)
def _even_ranks(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced ranks among ``n`` (read-only: the cache hands out one array)."""
    ranks = np.linspace(0, n - 1, k).round().astype(np.int64)
    ranks.setflags(write=False)
    return ranks


def direction_grid(dim: int, k: int) -> torch.Tensor:
    """``k`` fixed unit directions covering a half of ``S^{d-1}`` (slices are sign-free): (k, d) float64.

    d = 2: evenly spaced angles in ``[0, pi)``; d = 3: a Fibonacci (golden-angle) lattice on the
    upper half-sphere, uniform in the height so in area; d > 3: seeded Gaussian directions.
    """
    if dim == 2:
        phi = math.pi * (np.arange(k) + 0.5) / k
        pts = np.stack([np.cos(phi), np.sin(phi)], 1)
    elif dim == 3:
        z = (np.arange(k) + 0.5) / k
        phi = np.arange(k) * math.pi * (3.0 - math.sqrt(5.0))
        r = np.sqrt(1.0 - z * z)
        pts = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)
    else:
        pts = np.random.default_rng(0).standard_normal((k, dim))
        pts = pts * np.sign(pts[:, -1:]) / np.linalg.norm(pts, axis=1, keepdims=True)
    return torch.from_numpy(np.ascontiguousarray(pts, dtype=np.float64))


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

    def direction(self, x, y, *, device=None, precision: str = "float32", threads: int | None = 1) -> np.ndarray:
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
        threads : int or None
            torch intra-op threads for the prediction (restored after; None leaves torch's
            setting). One by default: the tensors are small, and on 2 busy cores a prediction took
            120 ms with 2 threads against 1 ms with one (:mod:`swviz._threads`).

        Returns
        -------
        (d,) float unit vector (float64).
        """
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        x, y = self.check_pair(x, y)
        threads = check_threads(threads)
        net = self.on(device, PRECISIONS[precision])
        dev, dtype = next(net.parameters()).device, PRECISIONS[precision]
        with torch.inference_mode(), torch_threads(threads):
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
    """One residual self-attention block (single head), pre-normalised.

    As in the paper's attention models there is no MLP after the attention: the queries, keys and
    values are linear maps of the tokens (one map, ``qkv``) and the block adds the attention's
    output, mapped by ``out``, to its input.
    """

    def __init__(self, width: int, efficient: bool):
        super().__init__()
        self.efficient = efficient
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, N, w)
        q, k, v = self.qkv(self.norm(h)).chunk(3, dim=-1)
        if self.efficient:
            # Shen et al. (WACV 2021), eq. (2): softmax over features for queries, over tokens for
            # keys, then Q (K^T V): (N, w) x (w, w), linear in N
            context = torch.softmax(k, dim=1).transpose(1, 2) @ v  # (B, w, w)
            att = torch.softmax(q, dim=2) @ context
        else:
            # scaled dot-product attention (Vaswani et al., NeurIPS 2017): an (N, N) matrix
            logits = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, N, N)
            att = torch.softmax(logits, dim=2) @ v
        return h + self.out(att)


class AttentionDirection(DirectionModel):
    """Self-attention (``efficient=False``) or efficient-attention direction model.

    Nguyen, Nguyen & Ho (ICML 2023, Section 3.2) amortize the v-DSW location with attention over
    the points of the pair; here the attention encoder scores a fixed grid of directions and the
    prediction is where the smoothed score peaks (see the module docstring).

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
        Matrix and vector channels of the pooled moment matrix ``M``.
    squarings : int
        Squarings of the head's matrix ``P`` before it is applied to ``w_0``: ``2^squarings``
        power-iteration steps for its leading eigenvector, in ``squarings`` products. ``P`` has unit
        trace, so its largest eigenvalue is at least ``1/d`` and ``d^(-2^squarings)`` must stay far
        from float32's underflow (at most 5 squarings in 3D).
    max_points : int
        Read at most this many points of each cloud (0: all), chosen by the points themselves so
        the invariance to their order holds (:meth:`_subsample`); the cost stops growing with n.
        The Gaussian prior reads every point.
    grid : int
        Directions of the fixed grid the head scores (on a half-sphere: slices are sign-free).
    kappa : float
        vMF concentration of the smoothing of the scores over the sphere (that of the v-DSW the
        model is trained for).
    prior : bool
        Add the closed-form Gaussian score ``G(theta)`` (the ``W_2^2`` of the Gaussians with the
        projected means and variances) to the learned one; the attention then learns a correction.
    """

    def __init__(self, dim: int = 3, efficient: bool = True, width: int = 32, layers: int = 2, channels: int = 4,
                 squarings: int = 4, max_points: int = 0, grid: int = 96, kappa: float = 10.0, prior: bool = False):
        super().__init__(dim)
        self.max_points = int(max_points)
        self.efficient = bool(efficient)
        self.kind = "efficient" if self.efficient else "attention"
        self.width, self.layers, self.channels, self.squarings = int(width), int(layers), int(channels), int(squarings)
        self.grid_size, self.kappa, self.prior = int(grid), float(kappa), bool(prior)
        if self.grid_size < dim:
            raise InputError(f"grid must hold at least dim = {dim} directions; got {grid}")
        if self.squarings < 0 or 2**self.squarings * math.log10(max(dim, 2)) > 16:
            raise InputError(f"squarings must be in 0..{int(math.log2(16 / math.log10(max(dim, 2))))} for d = {dim} "
                             f"(P^(2^squarings) would underflow in float32); got {squarings}")
        self.embed = nn.Linear(dim + 1, width)
        self.blocks = nn.ModuleList([_Attention(width, self.efficient) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.gates = nn.Linear(width, 2 * channels)  # g (matrix channels) and h (vector channels)
        with torch.no_grad():  # the learned score starts small: a correction to the prior where there is one
            self.gates.weight.mul_(0.1)
            self.gates.bias.mul_(0.1)
        self.log_beta = nn.Parameter(torch.tensor(math.log(10.0)))  # sharpness of the soft argmax
        self.w0 = nn.Parameter(torch.randn(dim) / math.sqrt(dim))
        grid_dirs = direction_grid(dim, self.grid_size)
        # fixed, not parameters (nor stored in weights files); float64 until the model is cast with it
        self.register_buffer("grid", grid_dirs, persistent=False)  # (K, d)
        self.register_buffer("outer", (grid_dirs[:, :, None] * grid_dirs[:, None, :]).flatten(1),
                             persistent=False)  # (K, d*d): theta_k theta_k^T, so theta_k^T S theta_k = outer_k . vec(S)
        self.register_buffer("kernel", torch.exp(self.kappa * ((grid_dirs @ grid_dirs.T).abs() - 1.0)),
                             persistent=False)  # (K, K) vMF smoothing, sign-free
        axis = torch.sqrt(torch.arange(1, dim + 1, dtype=torch.float64))
        self.register_buffer("axis", axis / axis.norm(), persistent=False)

    @property
    def config(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "width": self.width, "layers": self.layers,
                "channels": self.channels, "squarings": self.squarings, "max_points": self.max_points,
                "grid": self.grid_size, "kappa": self.kappa, "prior": self.prior}

    def _subsample(self, x: torch.Tensor) -> torch.Tensor:
        """At most ``max_points`` of each cloud, chosen by the points themselves (not their order).

        The points are ranked by their projection on a fixed generic axis and every k-th is kept
        (evenly spaced ranks): the same points whatever the order they came in (ties have
        probability 0), so the model stays invariant to permutations.
        """
        n = x.shape[1]
        if not self.max_points or n <= self.max_points:
            return x
        ranks = _even_ranks(n, self.max_points)
        proj = (x @ self.axis.to(x.dtype)).detach()  # (B, n); the indices carry no gradient
        if proj.device.type == "cpu":  # numpy's argsort: about half of torch's time on a CPU
            keep = torch.from_numpy(np.argsort(proj.numpy(), axis=1)[:, ranks])
        else:
            keep = torch.argsort(proj, dim=1)[:, torch.tensor(ranks, device=proj.device)]
        return torch.gather(x, 1, keep[..., None].expand(-1, -1, self.dim))

    def moment_matrix(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """``M(X, Y) + M(Y, X)``: (B, d, d) positive semi-definite, from the tokens of the two clouds.

        ``xs`` (B, n', d) and ``ys`` (B, m', d) are the (subsampled) points of the jointly
        normalised pair. ``M(X, Y) = sum_c A_c^2 + sum_c u_c u_c^T`` with
        ``A_c = mean_i g_{ic} x_i x_i^T`` and ``u_c = mean_i h_{ic} x_i`` over the tokens of both
        clouds, ``g, h`` read from the attention encoder. Both orders of the pair run in one batch,
        so the sum is the same bits when the pair is swapped.
        """
        B, d, C = xs.shape[0], self.dim, self.channels
        pts = torch.cat([torch.cat([xs, ys], dim=1), torch.cat([ys, xs], dim=1)])  # (2B, N, d)
        ones_x, ones_y = xs.new_ones(B, xs.shape[1], 1), ys.new_ones(B, ys.shape[1], 1)
        side = torch.cat([torch.cat([ones_x, -ones_y], dim=1), torch.cat([ones_y, -ones_x], dim=1)])
        h = self.embed(torch.cat([pts, side], dim=-1))
        for block in self.blocks:
            h = block(h)
        gh = self.gates(self.norm(h))  # (2B, N, 2C): g (matrix channels) and h (vector channels)
        feats = torch.cat([(pts[..., :, None] * pts[..., None, :]).flatten(2), pts], dim=-1)  # (2B, N, d*d + d)
        pooled = gh.transpose(1, 2) @ feats / pts.shape[1]  # (2B, 2C, d*d + d): every weighted mean at once
        A = pooled[:, :C, : d * d].reshape(2 * B, C, d, d)
        u = pooled[:, C:, d * d:]  # (2B, C, d)
        M = (A @ A).sum(1) + u.transpose(1, 2) @ u
        return M[:B] + M[B:]

    def gaussian_score(self, dm: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
        """The prior ``G(theta_k)`` on the grid: (B, K), from ``dm = m_X - m_Y`` (B, d) and the covariances (B, d, d).

        ``G(theta) = (theta^T (m_X - m_Y))^2 + (sqrt(theta^T C_X theta) - sqrt(theta^T C_Y theta))^2`` is
        ``W_2^2`` between the Gaussians with the projections' means and variances: the exact slice
        value when both clouds are Gaussian, a lower bound of it otherwise (Gelbrich, "On a formula
        for the L2 Wasserstein metric between measures on Euclidean and Hilbert spaces", Math.
        Nachr. 1990). Its smoothed peak is where the projections' locations and spreads differ
        most.
        """
        outer = self.outer.to(dm.dtype)
        # the floor keeps the square roots' gradients finite
        sx, sy = ((c.flatten(1) @ outer.T).clamp_min(1e-24).sqrt() for c in (cx, cy))  # (B, K) projected sds
        return (dm @ self.grid.to(dm.dtype).T) ** 2 + (sx - sy) ** 2

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        B, d = x.shape[0], self.dim
        # each cloud's mean and covariance on its own (the same bits whichever side of the pair it is on),
        # from every point; then the joint normalisation of _normalise_pair from them: the centre c and
        # the RMS radius s of the pair, E|x - c|^2 = tr C_X + |m_X - m_Y|^2 / 4
        (mx, cx), (my, cy) = _moments(x), _moments(y)
        dm = mx - my
        s2 = (0.5 * ((cx + cy).diagonal(dim1=1, dim2=2).sum(-1) + 0.5 * (dm * dm).sum(-1))).clamp_min(1e-24)  # (B,)
        s = s2.sqrt()[:, None, None]
        c = 0.5 * (mx + my)[:, None, :]
        # the tokens: the subsample (ranks along an axis do not change under the normalisation), normalised
        xs, ys = (self._subsample(x) - c) / s, (self._subsample(y) - c) / s
        outer = self.outer.to(x.dtype)
        score = self.moment_matrix(xs, ys).reshape(B, d * d) @ outer.T  # (B, K): theta_k^T M theta_k
        if self.prior:  # G of the normalised pair: G of the pair over s^2
            score = score + self.gaussian_score(dm, cx, cy) / s2[:, None]
        # smoothed like the v-DSW objective (a vMF average, sign-free), then a soft argmax on the grid
        smooth = score @ self.kernel.to(x.dtype)
        weights = torch.softmax(self.log_beta.exp() * smooth / smooth.amax(1, keepdim=True).clamp_min(1e-30), dim=1)
        P = (weights @ outer).reshape(B, d, d)  # sum_k w_k theta_k theta_k^T: unit trace, positive definite
        for _ in range(self.squarings):
            # P <- P^2: 2^squarings power steps in `squarings` products. No rescaling is needed: the
            # eigenvalues lie in [0, 1] with the largest >= 1/d, and the constructor bounds d^(-2^squarings)
            P = P @ P
        v = (P @ self.w0[:, None])[..., 0]
        return v / v.norm(dim=1, keepdim=True)


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
