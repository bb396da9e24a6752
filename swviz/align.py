r"""Rigid alignment of one measure onto another under the sliced Wasserstein distance.

:func:`align_rigid` moves the target :math:`\nu = \sum_j b_j \delta_{y_j}` by a rotation
:math:`R` and a translation :math:`t` to minimise

.. math::
    f(R) = \frac1L \sum_{l=1}^L W_p^p\bigl(\theta_l{}_\# \mu,\ \theta_l{}_\# (R, t)_\# \nu\bigr),

the sliced cost on a fixed deterministic set of directions :math:`\theta_1..\theta_L` (a
Fibonacci lattice on :math:`S^2`, the midpoint rule on the half circle in 2D), so the
objective is deterministic and the same at every call. Three steps:

1. **Centring**: :math:`t` matches the weighted means, :math:`t = m_\mu - R\, m_\nu`.
2. **Candidates**: with :math:`U_\mu, U_\nu` the principal axes (eigenvectors of the weighted
   covariances), every :math:`R = U_\mu Q U_\nu^\top` with :math:`Q` a signed permutation and
   :math:`\det R = +1` (the 24 proper rotations mapping principal axes onto principal axes in
   3D, 4 in 2D), plus the identity. PCA alone cannot tell a shape from its flipped copy (the
   covariance is blind to signs), and it leaves the axes arbitrary when two variances are
   close; trying every axis assignment and keeping the one of least SW settles both.
3. **Refinement**: from the best few candidates, L-BFGS-B (scipy) over a rotation vector
   :math:`\omega`, :math:`R(\omega) = \exp([\omega]_\times) R_0`. The objective is piecewise
   smooth: between changes of the sorting order, each slice's optimal monotone coupling is
   fixed and :math:`W_p^p` is a smooth function of :math:`R`. Its gradient comes from the
   differentiable engine, :func:`swviz.autodiff.sw_loss` on the fixed directions, carried to
   :math:`\omega` by torch autograd (exact wherever the sort does not tie).

The result never has a larger SW than the pair as given: the unmoved pair and the centred
pair are candidates of the final comparison. Rotating a measure is the same as rotating the
directions the other way, :math:`\theta^\top R y = (R^\top\theta)^\top y`, so on an exact
(continuous) objective a rotated copy is recovered up to the shape's own symmetries.

Varifold atoms (6-D: position and normal) are rotated block-wise, both blocks by the same
:math:`R`; their principal axes are those of the positions.

References: PCA candidates for rigid registration as in the ICP initialisations surveyed by
Rusinkiewicz & Levoy, "Efficient variants of the ICP algorithm", 3DIM 2001; sliced
Wasserstein as a registration cost, Bonneel, Rabin, Peyré & Pfister, "Sliced and Radon
Wasserstein barycenters of measures", JMIV 2015.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ._threads import torch_threads
from ._validation import InputError, check_count, check_p, check_pair, rng_from
from .directions import fibonacci_sphere, half_circle, uniform

__all__ = ["AlignResult", "RANK_DIRECTIONS", "align_rigid", "axis_angle", "rotation_candidates"]

#: Directions used to rank the starting rotations before refinement.
RANK_DIRECTIONS = 32


@dataclass(frozen=True)
class AlignResult:
    """A rigid motion of the target onto the source, and the sliced cost before and after.

    rotation : (k, k) float, k = 2 or 3
        Proper rotation (``det = +1``); the aligned target is ``y @ rotation.T + translation``.
    translation : (k,) float
    sw_before : float
        ``SW_p^p`` of the pair as given, on the alignment's directions.
    sw_centred : float
        After the translation that matches the means only.
    sw_after : float
        After the rotation and translation found; ``sw_after <= min(sw_before, sw_centred)``
        (equal to ``sw_centred`` when no rotation gained enough: the rotation is then the identity).
    candidates : int
        How many starting rotations were tried (PCA axis assignments and the identity).
    refined : int
        How many of the best were refined by L-BFGS-B.
    candidate_sw : (candidates,) float
        ``SW_p^p`` at each starting rotation on :data:`RANK_DIRECTIONS` directions (the
        ranking), in the order of :func:`rotation_candidates` (the identity last).
    n_projections : int
        The size of the fixed direction set.
    p : float
    """

    rotation: np.ndarray
    translation: np.ndarray
    sw_before: float
    sw_centred: float
    sw_after: float
    candidates: int
    refined: int
    candidate_sw: np.ndarray = field(repr=False)
    n_projections: int = 0
    p: float = 2.0

    def apply(self, points: np.ndarray) -> np.ndarray:
        """The target's points moved: ``(m, d) -> (m, d)``; 6-D varifold atoms are rotated block-wise
        (the translation moves positions only)."""
        points = np.asarray(points, dtype=np.float64)
        k = self.rotation.shape[0]
        out = _rotate(points, self.rotation)
        out[:, :k] += self.translation
        return out

    @property
    def angle_degrees(self) -> float:
        """The rotation's angle in degrees, in [0, 180]."""
        return axis_angle(self.rotation)[1]

    @property
    def axis(self) -> np.ndarray:
        """The rotation's unit axis (3D; ``[0, 0, 1]`` for 2D and for the identity)."""
        return axis_angle(self.rotation)[0]

    def describe(self, symbol: str | None = None) -> str:
        """One sentence: the rotation found (axis-angle in degrees) and the SW before and after."""
        symbol = symbol or f"SW_{self.p:g}^{self.p:g}"
        axis, angle = axis_angle(self.rotation)
        if self.rotation.shape[0] == 3:
            turn = f"a rotation of {angle:.1f}° about the axis ({axis[0]:.2f}, {axis[1]:.2f}, {axis[2]:.2f})"
        else:
            turn = f"a rotation of {angle * np.sign(axis[2] or 1):.1f}°"
        ratio = self.sw_after / self.sw_centred if self.sw_centred > 0 else np.nan
        if angle == 0.0:
            return (f"The target is only translated onto the source: no rotation lowered {symbol} enough "
                    f"({self.sw_centred:.4g} after centring, {self.sw_before:.4g} as given; best of "
                    f"{self.candidates} principal-axis starts, {self.refined} refined, on {self.n_projections} "
                    "fixed directions).")
        return (f"The target is moved by {turn}: {symbol} {self.sw_centred:.4g} after centring, "
                f"{self.sw_after:.4g} after the rotation (x{ratio:.3g}); {self.sw_before:.4g} as given. "
                f"Best of {self.candidates} principal-axis starts, {self.refined} refined, "
                f"on {self.n_projections} fixed directions.")


def axis_angle(rotation: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit axis ``(3,)`` and angle in degrees ``[0, 180]`` of a 3D rotation (2D: axis ``±e_z``)."""
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape == (2, 2):
        ang = float(np.degrees(np.arctan2(r[1, 0], r[0, 0])))
        return np.array([0.0, 0.0, 1.0 if ang >= 0 else -1.0]), abs(ang)
    from scipy.spatial.transform import Rotation

    vec = Rotation.from_matrix(r).as_rotvec()
    angle = float(np.linalg.norm(vec))
    axis = vec / angle if angle > 1e-12 else np.array([0.0, 0.0, 1.0])
    return axis, float(np.degrees(angle))


def rotation_candidates(x_axes: np.ndarray, y_axes: np.ndarray) -> np.ndarray:
    """Every proper rotation ``U_x Q U_y^T`` sending principal axes of y onto those of x.

    x_axes, y_axes : (k, k) float, orthonormal columns (principal axes).
    Returns ``(c, k, k)`` float: ``Q`` runs over the signed permutations with ``det = +1`` of
    the product (24 in 3D, 4 in 2D), in a fixed order.
    """
    k = x_axes.shape[0]
    out = []
    for perm in itertools.permutations(range(k)):
        for signs in itertools.product((1.0, -1.0), repeat=k):
            q = np.zeros((k, k))
            q[np.arange(k), perm] = signs
            r = x_axes @ q @ y_axes.T
            if np.linalg.det(r) > 0:
                out.append(r)
    return np.array(out)


def _rotate(points: np.ndarray, rotation) -> np.ndarray:
    """``points @ R.T`` block-wise over the position (and normal) blocks."""
    k = rotation.shape[0]
    out = np.array(points, dtype=np.float64)
    for s in range(0, points.shape[1], k):
        out[:, s:s + k] = points[:, s:s + k] @ np.asarray(rotation).T
    return out


def _directions(L: int, d: int, seed) -> np.ndarray:
    if d == 3:
        return fibonacci_sphere(L)
    if d == 2:
        return half_circle(L)
    return uniform(L, d, rng_from(seed))  # varifold atoms: a seeded but fixed set


def _principal_axes(points: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    c = points[:, :k] - w @ points[:, :k]
    cov = (c * w[:, None]).T @ c
    _, vecs = np.linalg.eigh(cov)
    return vecs[:, ::-1]  # largest variance first


def _skew(w, torch):
    """``[w]_x`` as a torch matrix: (3,) -> (3, 3), or (1,) -> (2, 2)."""
    z = torch.zeros((), dtype=w.dtype)
    if w.shape[0] == 3:
        rows = [[z, -w[2], w[1]], [w[2], z, -w[0]], [-w[1], w[0], z]]
    else:
        rows = [[z, -w[0]], [w[0], z]]
    return torch.stack([torch.stack(r) for r in rows])


class _Objective:
    """``f(R) = mean_l W_p^p(theta_l; x, R y)`` on fixed directions, with its gradient in a rotation vector.

    Rotating y is rotating the directions: ``theta' R y = (R' theta)' y``, so the source's
    projections (and their sort) are computed once.
    """

    def __init__(self, x, y, a, b, theta, p, k):
        import torch

        from .discrepancy import monotone_couplings

        self.couple = monotone_couplings
        self.y, self.a, self.b, self.theta, self.p, self.k = y, a, b, theta, p, k
        self.x_t, self.y_t = torch.as_tensor(x), torch.as_tensor(y)
        self.a_t = None if a is None else torch.as_tensor(a)
        self.b_t = None if b is None else torch.as_tensor(b)
        self.px = theta @ np.ascontiguousarray(x.T)  # (L, n)
        # contiguous (k, m) blocks: a transposed view sends numpy's matmul down a slow path
        self.y_blocks = [np.ascontiguousarray(y[:, s:s + k].T) for s in range(0, y.shape[1], k)]
        self.order_x = np.argsort(self.px, axis=1)
        self.px_sorted = np.take_along_axis(self.px, self.order_x, 1)

    def _py(self, rotation):
        k = self.k
        return sum((self.theta[:, b * k:(b + 1) * k] @ rotation) @ yb for b, yb in enumerate(self.y_blocks))

    def value(self, rotation: np.ndarray) -> float:
        py = self._py(np.asarray(rotation))  # (L, m)
        if self.a is None and self.b is None and py.shape[1] == self.px.shape[1]:  # sorted against sorted
            r = self.px_sorted - np.sort(py, axis=1)
            return float(np.mean(np.mean(np.abs(r) ** self.p, axis=1)))
        I, J, W = self.couple(self.px, py, self.a, self.b, self.order_x)  # (L, K) each
        r = np.take_along_axis(self.px, I, 1) - np.take_along_axis(py, J, 1)
        return float(np.mean(np.sum(W * np.abs(r) ** self.p, axis=1)))

    def value_and_grad(self, omega: np.ndarray, base: np.ndarray) -> tuple[float, np.ndarray]:
        """At ``R = exp([omega]_x) base``: the value and its gradient in ``omega`` by torch autograd.

        The loss is :func:`swviz.autodiff.sw_loss` on the fixed directions (its backward is the
        one-dimensional transport gradient at the optimal matching, exact wherever no two
        projections tie); autograd carries it through the rotation to ``omega``.
        """
        import torch

        from .autodiff import sw_loss

        w = torch.tensor(omega, dtype=torch.float64, requires_grad=True)
        rot = torch.linalg.matrix_exp(_skew(w, torch)) @ torch.as_tensor(base, dtype=torch.float64)  # (k, k)
        yr = torch.cat([self.y_t[:, b * self.k:(b + 1) * self.k] @ rot.T for b in range(len(self.y_blocks))], dim=1)
        f = sw_loss(self.x_t, yr, self.a_t, self.b_t, directions=self.theta, p=self.p)
        f.backward()
        return float(f.detach()), w.grad.numpy().copy()


def align_rigid(
    source_points,
    target_points,
    a=None,
    b=None,
    *,
    seed=0,
    n_projections: int = 128,
    p: float = 2,
    max_points: int = 4096,
    n_refine: int = 3,
    max_iter: int = 50,
    min_gain: float = 0.01,
) -> AlignResult:
    """The rotation and translation of the target that minimise ``SW_p^p`` to the source.

    Parameters
    ----------
    source_points : (n, d) float, d in {2, 3}, or (n, 6) varifold atoms (position, normal)
    target_points : (m, d) float
    a, b : (n,), (m,) float, optional
        Weights (normalised); uniform if omitted.
    seed : int, None or numpy Generator
        Chooses the subsets when a side has more than ``max_points`` atoms (and the direction
        set of 6-D atoms); the result is a deterministic function of the inputs and the seed.
    n_projections : int
        Size of the fixed direction set of the objective (Fibonacci lattice in 3D).
    p : float >= 1
    max_points : int
        The optimisation runs on at most this many atoms per side (a seeded subset, weights
        renormalised); ``sw_before``, ``sw_centred`` and ``sw_after`` use every atom.
    n_refine : int
        How many of the best candidates L-BFGS-B refines.
    max_iter : int
        L-BFGS-B iterations per refinement.
    min_gain : float in [0, 1)
        A rotation is kept only if it lowers ``SW_p^p`` below ``(1 - min_gain)`` times its value
        after centring; else the target is only translated (a symmetric shape is not turned
        half-way round for nothing).

    Returns
    -------
    AlignResult
        The aligned target is ``result.apply(target_points)``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.transform import Rotation
    >>> x = np.random.default_rng(0).standard_normal((400, 3)) * [3.0, 1.5, 0.5]
    >>> turn = Rotation.from_euler("xyz", [30, -50, 70], degrees=True).as_matrix()
    >>> res = align_rigid(x, x @ turn.T + 5.0)
    >>> bool(np.allclose(res.rotation @ turn, np.eye(3), atol=1e-6)), res.sw_after < 1e-10
    (True, True)
    """
    from scipy.optimize import minimize

    x, y, a, b = check_pair(source_points, target_points, a, b)
    d = x.shape[1]
    if d not in (2, 3, 6):
        raise InputError(f"rigid alignment needs 2D or 3D points (or 6-D varifold atoms); got d = {d}")
    k = 3 if d == 6 else d
    p = check_p(p)
    n_projections = check_count(n_projections, "n_projections")
    max_points = check_count(max_points, "max_points")
    n_refine = check_count(n_refine, "n_refine")
    max_iter = check_count(max_iter, "max_iter")
    if not (isinstance(min_gain, (int, float)) and 0.0 <= min_gain < 1.0):
        raise InputError(f"min_gain must be a number in [0, 1); got {min_gain!r}")
    rng = rng_from(seed)
    wa = np.full(len(x), 1.0 / len(x)) if a is None else a
    wb = np.full(len(y), 1.0 / len(y)) if b is None else b
    mx, my = wa @ x[:, :k], wb @ y[:, :k]
    theta = _directions(n_projections, d, rng)

    def subset(pts, w):
        if len(pts) <= max_points:
            return pts, (None if a is None and b is None else w)
        idx = np.sort(rng.choice(len(pts), max_points, replace=False))
        return pts[idx], w[idx] / w[idx].sum()

    def centred(pts, m):
        out = np.array(pts)
        out[:, :k] -= m
        return out

    xs, ys = centred(x, mx), centred(y, my)
    x_opt, a_opt = subset(xs, wa)
    y_opt, b_opt = subset(ys, wb)
    if (a_opt is None) != (b_opt is None):  # one side subsampled and weighted: give both explicit weights
        a_opt = np.full(len(x_opt), 1.0 / len(x_opt)) if a_opt is None else a_opt
        b_opt = np.full(len(y_opt), 1.0 / len(y_opt)) if b_opt is None else b_opt
    obj = _Objective(x_opt, y_opt, a_opt, b_opt, theta, p, k)

    starts = np.concatenate([rotation_candidates(_principal_axes(xs, wa, k), _principal_axes(ys, wb, k)),
                             np.eye(k)[None]])
    # the candidates are far apart (quarter turns at least), so a coarse direction set ranks them
    coarse = obj if n_projections <= RANK_DIRECTIONS else _Objective(
        x_opt, y_opt, a_opt, b_opt, _directions(RANK_DIRECTIONS, d, rng), p, k)
    start_sw = np.array([coarse.value(r) for r in starts])
    best = []
    with torch_threads(1):  # small tensors: threading them costs more than it saves (swviz._threads)
        for i in np.argsort(start_sw, kind="stable")[:n_refine]:
            base = starts[i]
            res = minimize(obj.value_and_grad, np.zeros(3 if k == 3 else 1), args=(base,), jac=True,
                           method="L-BFGS-B", options=dict(maxiter=max_iter))
            omega = res.x if res.fun <= obj.value(base) else np.zeros_like(res.x)
            best.append(_exp_rotation(omega, k) @ base)

    identity = np.eye(k)
    sw_before = _sliced_cost(x, y, a, b, theta, p, identity)
    sw_centred = _sliced_cost(xs, ys, a, b, theta, p, identity)
    scored = [(_sliced_cost(xs, ys, a, b, theta, p, r), j, r) for j, r in enumerate(best)]
    sw_after, _, rotation = min(scored, key=lambda s: (s[0], s[1]))
    if not sw_after < (1.0 - min_gain) * sw_centred:
        sw_after, rotation = sw_centred, identity
    translation = mx - rotation @ my
    if sw_after > sw_before:  # as given is better (possible for p != 2): do not move
        sw_after, rotation, translation = sw_before, identity, np.zeros(k)
    return AlignResult(rotation, translation, sw_before, sw_centred, sw_after, len(starts), len(best), start_sw,
                       n_projections, p)


def _sliced_cost(x, y, a, b, theta, p, rotation, chunk_values: int = 2_000_000) -> float:
    """``mean_l W_p^p(theta_l; x, R y)`` on every atom, over chunks of directions (bounded memory)."""
    from .discrepancy import monotone_couplings

    xt, yt = np.ascontiguousarray(x.T), np.ascontiguousarray(_rotate(y, rotation).T)  # (d, n), (d, m)
    total = 0.0
    step = max(1, chunk_values // (len(x) + len(y)))
    for s in range(0, len(theta), step):
        t = theta[s:s + step]
        px, py = t @ xt, t @ yt
        I, J, W = monotone_couplings(px, py, a, b)
        r = np.take_along_axis(px, I, 1) - np.take_along_axis(py, J, 1)
        total += float(np.sum(W * np.abs(r) ** p))
    return total / len(theta)


def _exp_rotation(omega: np.ndarray, k: int) -> np.ndarray:
    if k == 2:
        c, s = np.cos(omega[0]), np.sin(omega[0])
        return np.array([[c, -s], [s, c]])
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(omega).as_matrix()
