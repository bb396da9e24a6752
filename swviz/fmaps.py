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
  epsilon (POT's Sinkhorn), each soft plan giving the next ``C`` (the paper's adaptive
  refinement), then a point map.
"""

from __future__ import annotations

import time

import numpy as np

from ._validation import InputError, check_count

__all__ = ["fmap_energy", "fmap_from_pointmap", "fmap_least_squares", "nearest_rows", "pointmap_from_fmap",
           "sinkhorn_refine", "sw_align", "sw_alignment_loss", "zoomout"]


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
             sinkhorn_epsilon=0.05) -> tuple[np.ndarray, dict]:
    """Minimise the functional-map energies plus an OT alignment of the spectral embeddings over ``C``.

    .. math::
        E(C) = \\|C A_x - A_y\\|^2 + \\alpha \\|C\\Lambda_x - \\Lambda_y C\\|^2
             + \\beta \\|C^\\top C - I\\|^2 + \\gamma\\, \\mathrm{SW}_2^2\\bigl((\\Phi_x C^\\top)_\\# \\mu_x,
             (\\Phi_y)_\\# \\mu_y\\bigr)

    (Le et al., CVPR 2024, eq. 7 per pair, with descriptor features in place of learned ones),
    by Adam on ``C`` from ``C0``, fresh seeded directions at every step. With ``loss="sinkhorn"``
    the last term is POT's entropic OT cost on the full ``(n_x, n_y)`` cost matrix instead (the
    quadratic baseline the paper replaces; for the benchmark).

    Returns ``(C, info)`` with ``info["history"]`` the energy per step and ``info["seconds"]``.
    """
    import torch

    if loss not in ("sw", "sinkhorn"):
        raise InputError(f"loss must be 'sw' or 'sinkhorn'; got {loss!r}")
    n_steps = check_count(n_steps, "n_steps")
    ky, kx = C0.shape
    t = {name: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64) for name, a in (
        ("Ax", A_x), ("Ay", A_y), ("ex", phi_x[:, :kx]), ("ey", phi_y[:, :ky]), ("mx", mass_x), ("my", mass_y))}
    scale = max(float(evals_x[kx - 1]), float(evals_y[ky - 1]), 1e-12)
    lx = torch.as_tensor(np.asarray(evals_x[:kx]) / scale)
    ly = torch.as_tensor(np.asarray(evals_y[:ky]) / scale)
    comm = (lx[None, :] - ly[:, None]) ** 2  # (k_y, k_x)
    eye = torch.eye(kx, dtype=torch.float64)
    C = torch.tensor(C0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([C], lr=lr)
    rng = np.random.default_rng(seed)
    history = []
    t0 = time.perf_counter()
    for _ in range(n_steps):
        opt.zero_grad()
        e = ((C @ t["Ax"] - t["Ay"]) ** 2).sum() + alpha * (C**2 * comm).sum()
        if beta:
            e = e + beta * ((C.T @ C - eye) ** 2).sum()
        if gamma:
            if loss == "sw":
                ot_term = sw_alignment_loss(C, t["ex"], t["ey"], t["mx"], t["my"], n_projections=n_projections,
                                            seed=int(rng.integers(2**31 - 1)))
            else:
                ot_term = _sinkhorn_cost(t["ex"] @ C.T, t["ey"], t["mx"], t["my"], sinkhorn_epsilon)
            e = e + gamma * ot_term
        e.backward()
        opt.step()
        history.append(float(e.detach()))
    return C.detach().numpy(), {"history": np.asarray(history), "seconds": time.perf_counter() - t0}


def _sinkhorn_cost(x, y, a, b, epsilon):
    """POT's entropic OT cost (``ot.sinkhorn2``, torch backend, gradients by autograd) on the full cost matrix."""
    import ot

    M = ot.dist(x, y)  # (n_x, n_y) squared distances
    return ot.sinkhorn2(a, b, M, epsilon * float(M.detach().mean()), numItermax=200, stopThr=1e-6)


def sinkhorn_refine(C: np.ndarray, phi_x, phi_y, mass_x, mass_y, *, epsilons=(0.1, 0.03, 0.01),
                    max_iter=200, max_points=2000, seed=0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Entropic-OT refinement with an epsilon schedule (Le et al., CVPR 2024, sec. 3.3), then a point map.

    For each epsilon (relative to the mean squared distance): the Sinkhorn plan ``P`` between
    ``sum_i m^x_i delta_{(Phi_x C^T)_i}`` and ``sum_j m^y_j delta_{Phi_y,j}`` (POT's
    ``ot.sinkhorn``, warm-started from the previous epsilon's potentials), then the functional
    map of the soft plan, ``C^T = Phi_x^T P Phi_y`` (the soft :func:`fmap_from_pointmap`: a
    point map's plan is ``M_x Pi``). After the last epsilon each source vertex goes to the
    largest entry of its row of ``P``.

    Above ``max_points`` vertices a side, the plans are computed between seeded subsamples of
    ``max_points`` vertices (masses renormalised) so that each costs ``max_points^2``, and the
    final point map is the nearest neighbour in the refined embedding; ``P`` is then None.

    Returns ``(target_index (n_x,) int, P (n_x, n_y) float or None, C (k_y, k_x) float)``.
    """
    import warnings

    import ot

    ky, kx = C.shape
    rng = np.random.default_rng(seed)
    nx, ny = len(phi_x), len(phi_y)
    full = nx <= max_points and ny <= max_points
    rx = np.arange(nx) if nx <= max_points else np.sort(rng.choice(nx, max_points, replace=False))
    ry = np.arange(ny) if ny <= max_points else np.sort(rng.choice(ny, max_points, replace=False))
    ex, ey = phi_x[rx, :kx], phi_y[ry, :ky]
    a, b = mass_x[rx] / mass_x[rx].sum(), mass_y[ry] / mass_y[ry].sum()
    P, warm = None, None
    for eps in epsilons:
        eps = float(eps)
        if not (np.isfinite(eps) and eps > 0):
            raise InputError(f"every epsilon of the schedule must be a finite number > 0; got {eps}")
        Mc = ot.dist(ex @ C.T, ey)  # (s_x, s_y) squared distances in the embedding
        Mc /= float(Mc.mean()) or 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "did not converge": the plan is still the refinement's input
            P, log = ot.sinkhorn(a, b, Mc, eps, numItermax=int(max_iter), stopThr=1e-5, warmstart=warm, log=True)
        if not (np.all(np.isfinite(P)) and P.sum() > 0.5):
            raise InputError(f"Sinkhorn underflowed at epsilon = {eps:g} (relative to the mean cost); "
                             "use a larger final epsilon")
        warm = (np.log(np.maximum(log["u"], 1e-300)), np.log(np.maximum(log["v"], 1e-300)))
        # the soft point map's functional map, by least squares on the subsample (exact quadrature when full)
        target = (P / P.sum(1, keepdims=True)) @ ey  # (s_x, k_y): barycentric image of each source row
        if full:  # C^T = Phi_x^T diag(a) target = Phi_x^T P Phi_y
            C = ((ex * a[:, None]).T @ target).T
        else:  # least squares on the subsample, as in the subsampled ZoomOut
            w = np.sqrt(a)[:, None]
            C = np.linalg.lstsq(w * ex, w * target, rcond=None)[0].T
    if full:
        return np.asarray(P.argmax(1), dtype=np.int64), P, C
    return pointmap_from_fmap(C, phi_x, phi_y), None, C
