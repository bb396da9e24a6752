"""Functional maps between two meshes, their sliced Wasserstein alignment and entropic refinement.

Conventions (Ovsjanikov et al., "Functional Maps: A Flexible Representation of Maps Between
Shapes", ACM TOG 2012): ``Phi_x : (n_x, k_x)`` and ``Phi_y : (n_y, k_y)`` are mass-orthonormal
Laplace-Beltrami eigenbases of the source and the target; a functional map ``C : (k_y, k_x)``
carries the coefficients of a source function to those of the target function it corresponds
to. For a near-isometry ``C`` is close to orthogonal and the source's *spectral embedding
mapped by C*, the rows of ``Phi_x C^T``, lands near the rows of ``Phi_y`` at corresponding
points: the point map (source vertex -> target vertex) is the nearest neighbour there.

* :func:`fmap_least_squares`: descriptor preservation and Laplacian commutativity, solved in
  closed form row by row;
* :func:`zoomout`: Melzi et al., "ZoomOut: Spectral Upsampling for Efficient Shape
  Correspondence", ACM TOG (SIGGRAPH Asia) 2019: alternate point map and functional map
  while the basis grows;
* :func:`sw_align`: the functional-map energies plus a sliced Wasserstein term between the
  two area-weighted spectral embeddings (Le et al., "Integrating Efficient Optimal Transport
  and Functional Maps For Unsupervised Shape Correspondence Learning", CVPR 2024, sec. 3),
  minimised over ``C`` with torch;
* :func:`sinkhorn_refine`: entropic OT between the aligned embeddings with a decreasing
  epsilon, each soft plan giving the next ``C`` (the paper's adaptive refinement), then a point
  map; the plans are computed at full resolution on a kNN support by :func:`sinkhorn_sparse`
  (log-stabilised scaling, target marginal KL-relaxed), which on a full support is POT's
  ``ot.sinkhorn`` / ``ot.unbalanced.sinkhorn_unbalanced`` to round-off.
"""

from __future__ import annotations

import time

import numpy as np

from ._threads import check_threads, torch_threads
from ._validation import InputError, check_count

__all__ = ["fmap_energy", "fmap_from_pointmap", "fmap_least_squares", "knn_support", "nearest_rows",
           "pointmap_from_fmap", "sinkhorn_refine", "sinkhorn_sparse", "sw_align", "sw_alignment_loss", "zoomout"]


def fmap_least_squares(A_x: np.ndarray, A_y: np.ndarray, evals_x: np.ndarray, evals_y: np.ndarray,
                       alpha: float = 1e-3, prior: np.ndarray | None = None, rho: float = 0.0) -> np.ndarray:
    """The functional map ``C : (k_y, k_x)`` minimising descriptor preservation plus commutativity.

    .. math::
        \\min_C \\|C A_x - A_y\\|_F^2 + \\alpha \\|C \\Lambda_x - \\Lambda_y C\\|_F^2

    (Ovsjanikov et al. 2012, eq. 4 and sec. 6.1). The commutativity term is diagonal in the
    entries, ``sum_ij C_ij^2 (lambda^x_j - lambda^y_i)^2``, so each row ``c_i`` solves a
    ``k_x x k_x`` system ``(A_x A_x^T + alpha diag((lambda^x - lambda^y_i)^2)) c_i = A_x a^y_i``.

    A_x : (k_x, q) float
        Descriptor coefficients in the source basis (``Phi_x^T M_x F_x``).
    A_y : (k_y, q) float
    evals_x : (k_x,) float
    evals_y : (k_y,) float
    alpha : float
        Weight of commutativity; eigenvalues are those of the unit-area meshes.
    prior : (k_y, k_x) float, optional
        A map to pull towards, adding ``rho' |C - prior|^2`` with ``rho' = rho tr(A_x A_x^T) / k_x``:
        it decides only the directions the descriptors leave free (the eigenfunctions that a
        symmetry of the shapes flips, on which every symmetric descriptor projects to zero).
    """
    A_x, A_y = np.asarray(A_x, np.float64), np.asarray(A_y, np.float64)
    lx, ly = np.asarray(evals_x, np.float64), np.asarray(evals_y, np.float64)
    scale = max(float(lx[-1]), float(ly[-1]), 1e-12)
    lx, ly = lx / scale, ly / scale  # commutativity relative to the largest eigenvalue
    gram = A_x @ A_x.T  # (k_x, k_x)
    rhs = A_x @ A_y.T  # (k_x, k_y)
    C = np.empty((len(ly), len(lx)))
    ridge = (float(rho) if prior is not None else 1e-9) * np.trace(gram) / len(lx)
    pull = np.zeros((len(ly), len(lx))) if prior is None else ridge * np.asarray(prior, np.float64)
    for i in range(len(ly)):  # k_y small systems (k <= ~200)
        C[i] = np.linalg.solve(gram + np.diag(alpha * (lx - ly[i]) ** 2 + ridge), rhs[:, i] + pull[i])
    return C


def fmap_energy(C, A_x, A_y, evals_x, evals_y, alpha=1e-3, beta=0.0) -> float:
    """``|C A_x - A_y|^2 + alpha |C L_x - L_y C|^2 + beta |C^T C - I|^2`` (eigenvalues scaled as in the solve)."""
    scale = max(float(evals_x[-1]), float(evals_y[-1]), 1e-12)
    lx, ly = np.asarray(evals_x) / scale, np.asarray(evals_y) / scale
    e = float(((C @ A_x - A_y) ** 2).sum()) + alpha * float((C**2 * (lx[None, :] - ly[:, None]) ** 2).sum())
    if beta:
        e += beta * float(((C.T @ C - np.eye(C.shape[1])) ** 2).sum())
    return e


def nearest_rows(query: np.ndarray, ref: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Index of the nearest row of ``ref : (m, k)`` for each row of ``query : (n, k)``: ``(n,) int``.

    Brute force through matrix products (``|q|^2 - 2 q.r + |r|^2``), in chunks of ``chunk`` rows:
    in the 20-100 dimensions of a spectral embedding a k-d tree prunes almost nothing, and one
    BLAS product per chunk is several times faster. The products are in float32 (distances
    between embedding rows are far above its rounding, except exact ties).
    """
    ref = np.ascontiguousarray(ref, dtype=np.float32)  # float32 products: twice as fast, ties aside the same
    r2 = (ref.astype(np.float64) ** 2).sum(1).astype(np.float32)  # (m,)
    out = np.empty(len(query), dtype=np.int64)
    for s in range(0, len(query), chunk):
        q = np.asarray(query[s:s + chunk], dtype=np.float32)
        out[s:s + chunk] = np.argmin(r2[None, :] - 2.0 * (q @ ref.T), axis=1)  # |q|^2 is constant per row
    return out


def pointmap_from_fmap(C: np.ndarray, phi_x: np.ndarray, phi_y: np.ndarray, rows=None) -> np.ndarray:
    """Source -> target point map: each row of ``Phi_x C^T`` sent to its nearest row of ``Phi_y``. ``(n_x,) int``.

    C : (k_y, k_x) float
    phi_x : (n_x, >= k_x) float
    phi_y : (n_y, >= k_y) float
    rows : (s,) int, optional
        Only these source vertices (then the result is ``(s,)``).
    """
    ky, kx = C.shape
    px = phi_x[:, :kx] if rows is None else phi_x[rows, :kx]
    return nearest_rows(px @ C.T, phi_y[:, :ky])


def fmap_from_pointmap(index: np.ndarray, phi_x: np.ndarray, phi_y: np.ndarray, mass_x: np.ndarray,
                       k_x: int, k_y: int, rows=None) -> np.ndarray:
    """The functional map ``C : (k_y, k_x)`` of a source -> target point map, ``C^T = Phi_x^T M_x Pi Phi_y``.

    ``Pi : (n_x, n_y)`` is the map's pull-back (``Pi[i, index[i]] = 1``); for a near-isometry the
    pull-back's matrix is the transpose of the push-forward ``C``. With ``rows`` (a subset of
    source vertices, ``index`` then giving their images), ``C^T`` is the least-squares fit
    ``argmin |Phi_x[rows] C^T - Phi_y[index]|`` weighted by the vertices' masses, the
    subsampled ZoomOut of Melzi et al. (2019, sec. 4.3).
    """
    if rows is None:
        return ((phi_x[:, :k_x] * mass_x[:, None]).T @ phi_y[index, :k_y]).T
    w = mass_x[rows][:, None]
    px = phi_x[rows, :k_x]
    return np.linalg.solve(px.T @ (w * px), (w * px).T @ phi_y[index, :k_y]).T  # normal equations, (k_x, k_x)


def zoomout(C: np.ndarray, phi_x: np.ndarray, phi_y: np.ndarray, mass_x: np.ndarray, k_final: int,
            step: int = 1, rows=None) -> np.ndarray:
    """ZoomOut (Melzi et al., ACM TOG 2019, Algorithm 1): grow ``C`` from its size to ``k_final`` by ``step``.

    Each step: point map by nearest neighbours at the current size, then the functional map of
    that point map at the next size. ``rows`` (source vertices) restricts the point maps to a
    subsample (their sec. 4.3), which must hold more vertices than ``k_final``. Returns the
    ``(k_final, k_final)`` map.
    """
    k = C.shape[0]
    k_final = min(int(k_final), phi_x.shape[1], phi_y.shape[1])
    step = check_count(step, "step")
    while k < k_final:
        idx = pointmap_from_fmap(C, phi_x, phi_y, rows)
        k = min(k + step, k_final)
        C = fmap_from_pointmap(idx, phi_x, phi_y, mass_x, k, k, rows)
    return C


def sw_alignment_loss(C, emb_x, emb_y, mass_x, mass_y, *, n_projections=64, seed=None, directions=None):
    """The SW alignment term: ``SW_2^2(sum_i m^x_i delta_{(Phi_x C^T)_i}, sum_j m^y_j delta_{Phi_y,j})``.

    Le et al., CVPR 2024, sec. 3.2: the two spectral embeddings as discrete measures weighted by
    vertex area, compared by sliced Wasserstein, ``O(L n log n)``. Computed by
    :func:`swviz.autodiff.sw_loss`, so the gradient reaches ``C`` by torch autograd.

    C : (k_y, k_x) torch float64 tensor
    emb_x : (n_x, k_x) torch tensor; emb_y : (n_y, k_y) torch tensor
    mass_x : (n_x,) and mass_y : (n_y,) torch tensors (each summing to 1)
    """
    from .autodiff import sw_loss

    return sw_loss(emb_x @ C.T, emb_y, mass_x, mass_y, estimator="mc", n_projections=n_projections, p=2,
                   seed=seed, directions=directions)


def sw_align(C0: np.ndarray, A_x, A_y, evals_x, evals_y, phi_x, phi_y, mass_x, mass_y, *, alpha=1e-3,
             beta=1.0, gamma=1.0, n_projections=64, n_steps=150, lr=0.02, seed=0, loss="sw",
             sinkhorn_epsilon=0.05, sinkhorn_iter=200, tol=0.0, window=10, threads=1) -> tuple[np.ndarray, dict]:
    """Minimise the functional-map energies plus an OT alignment of the spectral embeddings over ``C``.

    .. math::
        E(C) = \\|C A_x - A_y\\|^2 + \\alpha \\|C\\Lambda_x - \\Lambda_y C\\|^2
             + \\beta \\|C^\\top C - I\\|^2 + \\gamma\\, \\mathrm{SW}_2^2\\bigl((\\Phi_x C^\\top)_\\# \\mu_x,
             (\\Phi_y)_\\# \\mu_y\\bigr)

    (Le et al., CVPR 2024, eq. 7 per pair, with descriptor features in place of learned ones),
    by Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1,
    written out on the one tensor ``C`` rather than through ``torch.optim``, whose first use
    imports torch's compiler stack, about 2 s) from ``C0``, fresh seeded directions at every
    step. With ``loss="sinkhorn"`` the last term is POT's entropic OT cost on the full
    ``(n_x, n_y)`` cost matrix instead (``ot.sinkhorn``, ``sinkhorn_iter`` iterations at most,
    ``reg = sinkhorn_epsilon`` times the mean cost at ``C0``, under the product of the two
    measures; see :func:`_sinkhorn_cost`): the quadratic
    baseline the paper replaces, for the benchmark.

    Stopping: after ``n_steps`` steps, or earlier when ``tol > 0`` and the mean energy of the
    last ``window`` steps has dropped by less than ``tol`` (relative) below the mean of the
    ``window`` steps before (the SW term is a Monte Carlo estimate, so single steps are noisy).

    ``threads``: torch intra-op threads while the loop runs (restored after; None leaves torch's
    setting). One by default: the products are small, and 100 steps at n = 3,000, k = 30 took
    11.4 s with 2 threads against 2.7 s with one on 2 idle cores (:mod:`swviz._threads`).

    Returns ``(C, info)`` with ``info["history"]`` the energy per step, ``info["steps"]`` the
    steps taken, ``info["seconds"]`` and, for ``loss="sinkhorn"``, ``info["sinkhorn"]`` the
    ``(iterations, dtype)`` of each step's Sinkhorn.
    """
    if loss not in ("sw", "sinkhorn"):
        raise InputError(f"loss must be 'sw' or 'sinkhorn'; got {loss!r}")
    n_steps = check_count(n_steps, "n_steps")
    window = check_count(window, "window")
    tol = float(tol)
    if not (np.isfinite(tol) and tol >= 0):
        raise InputError(f"tol must be a finite number >= 0; got {tol}")
    threads = check_threads(threads)
    import torch

    with torch_threads(threads):
        ky, kx = C0.shape
        t = {name: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64) for name, a in (
            ("Ax", A_x), ("Ay", A_y), ("ex", phi_x[:, :kx]), ("ey", phi_y[:, :ky]), ("mx", mass_x), ("my", mass_y))}
        scale = max(float(evals_x[kx - 1]), float(evals_y[ky - 1]), 1e-12)
        lx = torch.as_tensor(np.asarray(evals_x[:kx]) / scale)
        ly = torch.as_tensor(np.asarray(evals_y[:ky]) / scale)
        comm = (lx[None, :] - ly[:, None]) ** 2  # (k_y, k_x)
        eye = torch.eye(kx, dtype=torch.float64)
        C = torch.tensor(C0, dtype=torch.float64, requires_grad=True)
        m1, m2 = torch.zeros_like(C), torch.zeros_like(C)  # Adam's moment estimates
        b1, b2, adam_eps = 0.9, 0.999, 1e-8
        rng = np.random.default_rng(seed)
        history, sinkhorn_log = [], []
        # reg fixed for the run: epsilon times the mean cost at C0 (O(n k), as in sinkhorn_refine)
        if loss == "sinkhorn":
            X0 = phi_x[:, :kx] @ np.asarray(C0).T
            ey0, ax, by = phi_y[:, :ky], mass_x / mass_x.sum(), mass_y / mass_y.sum()
            mean_cost = ax @ (X0**2).sum(1) + by @ (ey0**2).sum(1) - 2 * (ax @ X0) @ (by @ ey0)
            reg = float(sinkhorn_epsilon) * float(mean_cost)
        t0 = time.perf_counter()
        for step in range(1, n_steps + 1):
            e = ((C @ t["Ax"] - t["Ay"]) ** 2).sum() + alpha * (C**2 * comm).sum()
            if beta:
                e = e + beta * ((C.T @ C - eye) ** 2).sum()
            if gamma:
                if loss == "sw":
                    ot_term = sw_alignment_loss(C, t["ex"], t["ey"], t["mx"], t["my"], n_projections=n_projections,
                                                seed=int(rng.integers(2**31 - 1)))
                else:
                    ot_term = _sinkhorn_cost(t["ex"] @ C.T, t["ey"], t["mx"], t["my"], reg, sinkhorn_iter, sinkhorn_log)
                e = e + gamma * ot_term
            (g,) = torch.autograd.grad(e, C)
            with torch.no_grad():
                m1.mul_(b1).add_(g, alpha=1 - b1)
                m2.mul_(b2).addcmul_(g, g, value=1 - b2)
                C -= lr * (m1 / (1 - b1**step)) / ((m2 / (1 - b2**step)).sqrt() + adam_eps)
            history.append(float(e.detach()))
            if tol and step >= 2 * window:
                recent, before = np.mean(history[-window:]), np.mean(history[-2 * window:-window])
                if before - recent < tol * abs(before):
                    break
        info = {"history": np.asarray(history), "steps": len(history), "seconds": time.perf_counter() - t0}
        if loss == "sinkhorn":
            info["sinkhorn"] = sinkhorn_log  # (iterations, dtype) per step
        return C.detach().numpy(), info


def _sinkhorn_cost(x, y, a, b, reg, n_iter=200, log=None):
    """The entropic OT cost on the full cost matrix by POT's Sinkhorn, differentiable in ``x``: a 0-d tensor.

    ``OT_reg = <M, P> + reg KL(P | a (x) b)`` (Cuturi, "Sinkhorn Distances: Lightspeed Computation
    of Optimal Transport", NeurIPS 2013, with the entropy relative to the product measure),
    ``P`` POT's ``ot.sinkhorn`` plan (numpy backend, at most ``n_iter`` iterations) on the dense
    ``(n_x, n_y)`` squared-distance matrix ``M``, ``reg`` fixed (absolute). Its gradient in
    ``M`` is ``P`` at the optimum (the envelope theorem), hence in ``x`` it is
    ``2 (diag(P 1) x - P y)``, computed in the forward pass so that ``M`` and ``P`` are freed. The
    matrices are float64 while the five of them that are alive at once (cost, kernel, plan and
    two temporaries) fit in 6 GB, float32 above (20,000 points a side: 1.6 GB each instead of
    3.2); ``log`` (a list) receives ``(iterations, dtype)``.
    """
    import torch

    class DenseSinkhorn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, xt):
            import warnings

            import ot

            xn, yn = xt.detach().numpy(), y.detach().numpy()
            dtype = np.float64 if 5 * 8 * len(xn) * len(yn) <= 6 * 2**30 else np.float32
            M = ot.dist(xn.astype(dtype), yn.astype(dtype))  # (n_x, n_y) squared distances
            an, bn = a.detach().numpy().astype(dtype), b.detach().numpy().astype(dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "did not converge" at a bounded iteration count
                P, info = ot.sinkhorn(an, bn, M, reg, numItermax=int(n_iter), stopThr=1e-6, log=True)
            del M
            py = (P @ yn.astype(dtype)).astype(np.float64)
            rows, cols = P.sum(1, dtype=np.float64), P.sum(0, dtype=np.float64)
            del P
            # <M, P> + reg KL(P | a (x) b) with P = diag(u) exp(-M / reg) diag(v), without M
            logs = [np.log(np.maximum(np.asarray(info[k], np.float64), 1e-300)) for k in ("u", "v")]
            value = reg * float(rows @ (logs[0] - np.log(an.astype(np.float64)))
                                + cols @ (logs[1] - np.log(bn.astype(np.float64))))
            ctx.save_for_backward(torch.from_numpy(2.0 * (rows[:, None] * xn - py)))
            if log is not None:
                log.append((int(info.get("niter", n_iter)), np.dtype(dtype).name))
            return xt.new_tensor(value)

        @staticmethod
        def backward(ctx, grad):
            (gx,) = ctx.saved_tensors
            return grad * gx

    return DenseSinkhorn.apply(x)


def knn_support(x: np.ndarray, y: np.ndarray, n_neighbors: int = 16, chunk: int = 1024):
    """The sparse support of a kNN-restricted plan: each row of ``x`` with its ``n_neighbors`` nearest rows of
    ``y`` and each row of ``y`` with its nearest rows of ``x`` (the union, so that every source and
    every target vertex has at least ``n_neighbors`` entries).

    x : (n, k) float; y : (m, k) float
    Returns ``rows (e,) int``, ``cols (e,) int`` (sorted by row, then column) and ``cost (e,)`` the
    squared distances ``|x_rows - y_cols|^2``. Neighbours by chunked float32 products and
    ``argpartition`` (``O(n m k)`` flops, ``chunk x m`` memory).
    """
    n, m = len(x), len(y)
    kk = int(min(check_count(n_neighbors, "n_neighbors"), n, m))

    def nearest(q, r):
        r = np.ascontiguousarray(r, dtype=np.float32)
        r2 = (r.astype(np.float64) ** 2).sum(1).astype(np.float32)
        out = np.empty((len(q), kk), dtype=np.int64)
        for s in range(0, len(q), chunk):
            d = r2[None, :] - 2.0 * (np.asarray(q[s:s + chunk], dtype=np.float32) @ r.T)
            out[s:s + chunk] = d.argsort(1)[:, :kk] if kk == len(r) else np.argpartition(d, kk - 1, axis=1)[:, :kk]
        return out

    j, i = nearest(x, y), nearest(y, x)
    lin = np.unique(np.concatenate([np.repeat(np.arange(n), kk) * m + j.ravel(),
                                    i.ravel() * m + np.repeat(np.arange(m), kk)]))
    rows, cols = lin // m, lin % m
    return rows, cols, ((x[rows] - y[cols]) ** 2).sum(1)


def sinkhorn_sparse(a, b, rows, cols, cost, epsilon, *, tau=None, f=None, g=None, max_iter=1000, tol=1e-6,
                    check_every=10, bound=1e30):
    """Entropic OT on a sparse support, the target marginal optionally relaxed: ``(P csr (n, m), f, g, info)``.

    .. math::
        \\min_{P \\ge 0,\\ P 1 = a,\\ \\mathrm{supp}\\,P \\subset S} \\langle C, P\\rangle
        + \\varepsilon\\, \\mathrm{KL}(P \\,|\\, a \\otimes b) + \\tau\\, \\mathrm{KL}(P^\\top 1 \\,|\\, b)

    (``tau=None``: the balanced problem, ``P^T 1 = b``). Scaling iterations ``u = a / K v``,
    ``v = (b / K^T u)^{tau / (tau + eps)}`` with ``K = diag(a) exp(-C / eps) diag(b)`` (the
    scaling algorithm of Chizat, Peyré, Schmitzer & Vialard, "Scaling algorithms for unbalanced
    optimal transport problems", Math. Comp. 2018, whose KL-relaxed marginal gives the exponent
    ``tau / (tau + eps)``), on a kernel restricted to the support ``S``, with the potentials
    ``f, g`` absorbed into it whenever a scaling leaves ``[1/bound, bound]`` (the log-stabilised
    sparse scaling of Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized
    transport problems", SIAM J. Sci. Comput. 2019). Each iteration costs two sparse products,
    ``O(|S|)``; ``f, g`` warm-start it.

    a : (n,) float; b : (m,) float (each summing to 1)
    rows, cols, cost : (e,) the support and its costs (see :func:`knn_support`)
    On the full support it is POT's ``ot.sinkhorn`` (balanced) and
    ``ot.unbalanced.sinkhorn_unbalanced(a, b, C, eps, (inf, tau), reg_type="kl")`` (relaxed)
    to round-off (tests/test_fmaps.py).
    Stops when ``eps * max |log(v_new / v_old)| < tol`` (checked every ``check_every`` iterations)
    or after ``max_iter``. ``info``: ``iterations``, ``converged``, ``absorptions``.
    """
    import scipy.sparse as sp

    eps = float(epsilon)
    if not (np.isfinite(eps) and eps > 0):
        raise InputError(f"epsilon must be a finite number > 0; got {epsilon}")
    if tau is not None and not (np.isfinite(float(tau)) and float(tau) > 0):
        raise InputError(f"tau must be a finite number > 0 (or None for balanced OT); got {tau}")
    if tau is None and len(a) != len(b) and rows.size < len(a) * len(b):
        pass  # balanced on a sparse support may be infeasible: the caller's choice (see sinkhorn_refine)
    n, m = len(a), len(b)
    f = np.zeros(n) if f is None else np.array(f, dtype=np.float64)
    g = np.zeros(m) if g is None else np.array(g, dtype=np.float64)
    power = 1.0 if tau is None else float(tau) / (float(tau) + eps)
    rows, cols, cost = (np.asarray(v) for v in (rows, cols, cost))
    if rows.size and np.any(np.diff(rows) < 0):
        order = np.argsort(rows, kind="stable")
        rows, cols, cost = rows[order], cols[order], cost[order]
    starts = np.flatnonzero(np.r_[True, np.diff(rows) > 0])
    if starts.size != n or rows[starts[0]] != 0:
        raise InputError(f"the support leaves {n - starts.size} source point(s) without any entry")
    if np.unique(cols).size != m:
        raise InputError(f"the support leaves {m - np.unique(cols).size} target point(s) without any entry")
    ref = np.log(np.maximum(a, 1e-300))[rows] + np.log(np.maximum(b, 1e-300))[cols]  # log of a (x) b on S
    # one log-domain row update first, f_i = eps (log a_i - logsumexp_j ((g_j - c_ij) / eps + ref_ij)):
    # potentials warm-started from another support (another C) can make some new entries overflow
    z = (g[cols] - cost) / eps + ref
    top = np.maximum.reduceat(z, starts)
    f = eps * (np.log(np.maximum(a, 1e-300)) - top - np.log(np.add.reduceat(np.exp(z - top[rows]), starts)))
    it, absorptions, converged = 0, 0, False
    while True:
        K = sp.csr_matrix((np.exp((f[rows] + g[cols] - cost) / eps + ref), (rows, cols)), shape=(n, m))
        KT = K.T.tocsr()
        # with f, g absorbed, the relaxed update of the scaled v carries a factor exp(-(1 - power) g / eps)
        pull = np.exp(-(1.0 - power) * g / eps) if power < 1.0 else 1.0
        u, v = np.ones(n), np.ones(m)
        absorbed = False
        while it < max_iter:
            v_old = v
            v = (b / np.maximum(KT @ u, 1e-300)) ** power * pull
            u = a / np.maximum(K @ v, 1e-300)
            it += 1
            if not (u.max() < bound and v.max() < bound and u.min() > 1 / bound and v.min() > 1 / bound):
                absorbed = True
                break
            if it % check_every == 0 and eps * float(np.abs(np.log(v / v_old)).max()) < tol:
                converged = True
                break
        f, g = f + eps * np.log(u), g + eps * np.log(v)
        if not absorbed or it >= max_iter:
            break
        absorptions += 1
    P = sp.csr_matrix((np.exp((f[rows] + g[cols] - cost) / eps + ref), (rows, cols)), shape=(n, m))
    if not np.all(np.isfinite(P.data)) or P.sum() <= 0.5:
        raise InputError(f"Sinkhorn underflowed at epsilon = {eps:g}; use a larger epsilon")
    return P, f, g, {"iterations": it, "converged": converged, "absorptions": absorptions}


def sinkhorn_refine(C: np.ndarray, phi_x, phi_y, mass_x, mass_y, *, epsilons=(0.01, 0.003, 0.001), tau=1.0,
                    n_neighbors=16, max_iter=1000, tol=1e-6) -> tuple[np.ndarray, object, np.ndarray, dict]:
    """Entropic-OT refinement with an epsilon schedule (Le et al., CVPR 2024, sec. 3.3), then a point map.

    For each epsilon (relative to the mean squared distance between the two embeddings under
    the product of their measures): the entropic plan ``P`` between
    ``sum_i m^x_i delta_{(Phi_x C^T)_i}`` and ``sum_j m^y_j delta_{Phi_y,j}``, then the
    functional map of the soft plan, ``C^T = Phi_x^T P Phi_y`` (the soft
    :func:`fmap_from_pointmap`: a point map's plan is ``M_x Pi``). The last ``C`` gives the
    point map by nearest neighbours in the refined embedding.

    Every plan is computed at full resolution on a kNN support (:func:`knn_support`, rebuilt
    for each ``C``) by :func:`sinkhorn_sparse`, ``O(n k)`` per iteration instead of the
    ``O(n^2)`` of a dense cost matrix: it is the entropic plan with an infinite cost off the
    support, close to the dense plan where epsilon is small against the gap between a vertex's
    nearest and ``n_neighbors``-th nearest partner. The source marginal is kept exact (each
    vertex sends its area); the target marginal is relaxed by ``tau`` times a KL divergence
    (relative, like epsilon; ``tau=None``: balanced OT, which a kNN support may make
    infeasible). A balanced plan must cover the target's area exactly, which a non-isometric
    deformation changes locally (the outer side of a bend is stretched): on the library's bent
    bar its map's mean geodesic error was about 0.018, the relaxed plan's (tau = 1) 0.013.

    Returns ``(target_index (n_x,) int, P (n_x, n_y) scipy.sparse CSR, C (k_y, k_x) float, info)``,
    ``info["iterations"]`` per epsilon.
    """
    ky, kx = C.shape
    ex, ey = np.ascontiguousarray(phi_x[:, :kx]), np.ascontiguousarray(phi_y[:, :ky])
    a, b = mass_x / mass_x.sum(), mass_y / mass_y.sum()
    scale = f = g = None
    P, iterations = None, []
    for eps in epsilons:
        eps = float(eps)
        if not (np.isfinite(eps) and eps > 0):
            raise InputError(f"every epsilon of the schedule must be a finite number > 0; got {eps}")
        X = ex @ C.T  # (n_x, k_y): the source's embedding mapped by C
        if scale is None:  # mean of |x_i - y_j|^2 under a (x) b, in O(n k)
            scale = float(a @ (X**2).sum(1) + b @ (ey**2).sum(1) - 2.0 * (a @ X) @ (b @ ey)) or 1.0
        rows, cols, cost = knn_support(X, ey, n_neighbors)
        P, f, g, info = sinkhorn_sparse(a, b, rows, cols, cost / scale, eps, tau=tau,
                                        f=f, g=g, max_iter=max_iter, tol=tol)
        iterations.append(info["iterations"])
        target = (P @ ey) / a[:, None]  # (n_x, k_y): barycentric image of each source vertex (rows sum to a)
        C = ((ex * a[:, None]).T @ target).T  # C^T = Phi_x^T diag(a) target = Phi_x^T P Phi_y
    return pointmap_from_fmap(C, phi_x, phi_y), P, C, {"iterations": iterations}
