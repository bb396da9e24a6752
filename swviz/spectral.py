"""The spectral toolkit of a triangle mesh: Laplace-Beltrami eigenbasis, WKS / HKS signatures, heat geodesics.

The pieces and the libraries that do them:

* **Laplacian and mass**: ``robust_laplacian.mesh_laplacian`` (Sharp & Crane, "A Laplacian for
  Nonmanifold Triangle Meshes", SGP 2020). It is the cotangent Laplacian of the intrinsic
  Delaunay triangulation of the mesh's *tufted cover*, with a lumped (diagonal) mass. We use it
  rather than the plain cotangent matrix because its weights are never negative (a plain
  cotangent Laplacian loses positivity on obtuse or sliver triangles, which breaks the maximum
  principle and spoils shift-invert eigensolves), it is defined on meshes with non-manifold
  edges and vertices (the tufted cover), and a small intrinsic mollification makes zero-area
  faces harmless. The stiffness ``W`` is positive semi-definite: ``W phi = lambda M phi``.
* **Eigenpairs**: ``scipy.sparse.linalg.eigsh`` in shift-invert mode (``sigma`` just below 0, so
  ``W - sigma M`` is positive definite and factorised once): the ``k`` smallest eigenpairs cost a
  few sparse back-substitutions each instead of a Krylov run on the whole spectrum.
* **Geodesics**: ``potpourri3d.MeshHeatMethodDistanceSolver`` for the distance from a few vertices
  (the heat method of Crane, Weischedel & Wardetzky, "Geodesics in Heat", ACM TOG 2013, on the
  same robust Laplacian); :func:`heat_geodesics_batch` runs the same heat method for many
  sources at once with one sparse factorisation and matrix right-hand sides, which is what
  scoring a map against ground truth needs (one distance per source vertex).
* **Signatures**: the heat kernel signature (Sun, Ovsjanikov & Guibas, SGP 2009, eq. 3) and
  the wave kernel signature (Aubry, Schlickewei & Cremers, ICCV Workshops 2011, eq. 9), both
  read from the eigenbasis; they are intrinsic, hence invariant to rigid motions (and nearly
  so to near-isometric bending).

Every spectral quantity is computed on the mesh scaled to unit area (the mass sums to 1, so
the eigenfunctions are orthonormal for a probability measure and eigenvalues of two shapes
of different size are comparable); distances from :func:`heat_geodesics_batch` and
:func:`geodesic_distances` are in the mesh's own units.

Bad input (see :func:`mesh_report`): isolated vertices and several connected components are
refused by :func:`spectral_mesh` with a message naming the count (the spectrum of a
disconnected surface has one zero eigenvalue per component, and geodesic distances between
components are infinite); non-manifold edges and zero-area faces are handled by the robust
Laplacian and reported (:attr:`MeshReport.notes`), and the heat-method geodesics leave
vertices that only zero-area faces use out of their solves (each takes the distance of its
nearest kept vertex plus the offset to it). Repeated vertex indices in a face, indices out of
range and non-finite coordinates are refused with a message naming them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ._validation import InputError

__all__ = ["MeshReport", "SpectralMesh", "geodesic_distances", "heat_geodesics_batch", "hks", "mesh_report",
           "spectral_mesh", "wks"]


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class MeshReport:
    """What stands between a mesh and the spectral methods.

    n_vertices, n_faces : int
    isolated_vertices : int
        Vertices used by no face.
    components : int
        Connected components of the faces (isolated vertices not counted).
    non_manifold_edges : int
        Edges shared by more than two faces.
    boundary_edges : int
        Edges of exactly one face (an open surface: allowed, Neumann boundary).
    zero_area_faces : int
        Faces with area below ``1e-12`` times the mean face area.
    """

    n_vertices: int
    n_faces: int
    isolated_vertices: int
    components: int
    non_manifold_edges: int
    boundary_edges: int
    zero_area_faces: int

    @property
    def manifold(self) -> bool:
        return self.non_manifold_edges == 0

    @property
    def problems(self) -> list[str]:
        """The refusals of :func:`spectral_mesh`, as sentences (empty when the mesh is usable)."""
        out = []
        if self.isolated_vertices:
            out.append(f"{self.isolated_vertices:,} isolated vertices (used by no face)")
        if self.components > 1:
            out.append(f"{self.components:,} connected components (spectral methods need one connected surface)")
        return out

    @property
    def notes(self) -> list[str]:
        """What is handled rather than refused."""
        out = []
        if self.non_manifold_edges:
            out.append(f"{self.non_manifold_edges:,} non-manifold edges: handled by the tufted-cover Laplacian")
        if self.zero_area_faces:
            out.append(f"{self.zero_area_faces:,} zero-area faces: handled by the Laplacian's mollification, "
                       "left out of the heat-method geodesics (a vertex on none but them takes its nearest "
                       "neighbour's distance)")
        if self.boundary_edges:
            out.append(f"{self.boundary_edges:,} boundary edges: an open surface (Neumann boundary)")
        return out


def _check_arrays(vertices, faces, name="mesh"):
    try:
        v = np.ascontiguousarray(vertices, dtype=np.float64)
        f = np.asarray(faces)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: vertices and faces must be numeric arrays: {exc}") from None
    if v.ndim != 2 or v.shape[1] != 3 or len(v) < 4:
        raise InputError(f"{name}: vertices must be (n, 3) with n >= 4; got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InputError(f"{name}: vertices contain NaN or infinite coordinates")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InputError(f"{name}: faces must be a non-empty (m, 3) int array of triangles; got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        if not np.all(np.mod(f, 1) == 0):
            raise InputError(f"{name}: faces must hold integer vertex indices")
    f = np.ascontiguousarray(f, dtype=np.int64)
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"{name}: faces index vertices {f.min()}..{f.max()} but there are {len(v)} vertices")
    if np.any((f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])):
        raise InputError(f"{name}: some faces repeat a vertex (degenerate triangles by index); remove them")
    return v, f


def _edges(f):
    """Unique undirected edges (e, 2) and, for each, the number of faces using it."""
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)  # (3m, 2)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    return uniq, counts


def mesh_report(vertices, faces, name: str = "mesh") -> MeshReport:
    """Count what the spectral methods refuse or handle (see :class:`MeshReport`).

    vertices : (n, 3) float
    faces : (m, 3) int
    """
    from scipy.sparse.csgraph import connected_components

    v, f = _check_arrays(vertices, faces, name)
    n = len(v)
    used = np.zeros(n, bool)
    used[f.ravel()] = True
    edges, counts = _edges(f)
    g = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    n_comp, labels = connected_components(g, directed=False)
    comps = int(np.unique(labels[used]).size)
    p = v[f]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    tiny = int(np.count_nonzero(area <= 1e-12 * max(area.mean(), 1e-300)))
    return MeshReport(n, len(f), int(n - used.sum()), comps, int(np.count_nonzero(counts > 2)),
                      int(np.count_nonzero(counts == 1)), tiny)


# --------------------------------------------------------------------------- signatures


def hks(evals: np.ndarray, evecs: np.ndarray, n_times: int = 16, times: np.ndarray | None = None) -> np.ndarray:
    """Heat kernel signature ``(n, T)``: ``h(x, t) = sum_k exp(-lambda_k t) phi_k(x)^2 / sum_k exp(-lambda_k t)``.

    Sun, Ovsjanikov & Guibas, "A Concise and Provably Informative Multi-Scale Signature Based
    on Heat Diffusion", SGP 2009, eq. (3); divided by the heat trace (their scaled HKS) so
    every time scale weighs alike. Times are log-spaced in ``[4 ln 10 / lambda_max,
    4 ln 10 / lambda_1]`` as in the paper.

    evals : (k,) float, ascending, ``evals[0] = 0``
    evecs : (n, k) float, mass-orthonormal
    """
    lam = np.maximum(np.asarray(evals, dtype=np.float64), 0.0)
    if times is None:
        lo, hi = 4 * np.log(10) / lam[-1], 4 * np.log(10) / max(lam[1], 1e-12)
        times = np.geomspace(lo, hi, n_times)
    t = np.asarray(times, dtype=np.float64)
    w = np.exp(-np.outer(lam, t))  # (k, T)
    return (evecs**2 @ w) / w.sum(0)


def wks(evals: np.ndarray, evecs: np.ndarray, n_energies: int = 32, sigma_factor: float = 7.0) -> np.ndarray:
    """Wave kernel signature ``(n, E)``.

    .. math::
        \\mathrm{WKS}(x, e) = \\frac{\\sum_k \\phi_k(x)^2 \\exp(-(e - \\log\\lambda_k)^2 / 2\\sigma^2)}
        {\\sum_k \\exp(-(e - \\log\\lambda_k)^2 / 2\\sigma^2)}

    Aubry, Schlickewei & Cremers, "The Wave Kernel Signature: A Quantum Mechanical Approach to
    Shape Analysis", ICCV Workshops 2011, eqs. (9)-(10): energies ``e`` evenly spaced in
    ``[log lambda_1, log lambda_max]`` (the constant eigenfunction left out), ``sigma`` =
    ``sigma_factor`` times their spacing.

    evals : (k,) float, ascending, ``evals[0] = 0``
    evecs : (n, k) float, mass-orthonormal
    """
    lam = np.asarray(evals, dtype=np.float64)[1:]
    phi2 = np.asarray(evecs)[:, 1:] ** 2
    loglam = np.log(np.maximum(lam, 1e-12))
    e = np.linspace(loglam[0], loglam[-1] / 1.02, n_energies)
    sigma = sigma_factor * (e[1] - e[0]) if n_energies > 1 else 1.0
    w = np.exp(-((e[None, :] - loglam[:, None]) ** 2) / (2 * sigma**2))  # (k-1, E)
    return (phi2 @ w) / w.sum(0)


# --------------------------------------------------------------------------- the mesh object


def _fem(v, f):
    """Per-face gradient operator ``G : (3m, n)`` (x, y, z blocks stacked) and face areas ``(m,)``.

    For a piecewise-linear function ``u``, ``(G u)[face]`` is its constant gradient on the face;
    ``G^T diag(A) G`` is the cotangent Laplacian. Zero-area faces get zero rows.
    """
    p = v[f]  # (m, 3, 3)
    nrm = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # (m, 3), length 2A
    dbl = np.linalg.norm(nrm, axis=1)
    ok = dbl > 1e-12 * max(dbl.mean(), 1e-300)
    unit = np.where(ok[:, None], nrm / np.where(ok, dbl, 1.0)[:, None], 0.0)
    m, n = len(f), len(v)
    rows, cols, vals = [], [], []
    for c in range(3):  # grad phi_c = (N x e_c) / 2A, e_c the edge opposite corner c
        e = p[:, (c + 2) % 3] - p[:, (c + 1) % 3]  # (m, 3)
        g = np.cross(unit, e) / np.where(ok, dbl, 1.0)[:, None]  # (m, 3)
        for ax in range(3):
            rows.append(ax * m + np.arange(m))
            cols.append(f[:, c])
            vals.append(np.where(ok, g[:, ax], 0.0))
    G = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(3 * m, n))
    return G, 0.5 * dbl * ok


class _BandedCholesky:
    """A sparse SPD matrix reordered by reverse Cuthill-McKee and factorised as a band (LAPACK ``pbtrf``).

    Mesh matrices have a narrow band after the reordering (about 150 for the library meshes of
    3k-10k vertices), and a banded solve takes many right-hand sides at once, which SuperLU's
    column-by-column solve does not do fast.
    """

    def __init__(self, A, perm=None):
        import scipy.linalg as sla
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        A = sp.csr_matrix(A)
        self.perm = reverse_cuthill_mckee(A, symmetric_mode=True) if perm is None else perm
        Ap = A[self.perm][:, self.perm].tocoo()
        low = Ap.row >= Ap.col
        bw = int((Ap.row - Ap.col)[low].max())
        ab = np.zeros((bw + 1, A.shape[0]))
        np.add.at(ab, ((Ap.row - Ap.col)[low], Ap.col[low]), Ap.data[low])
        self._cb = sla.cholesky_banded(ab, lower=True)
        self._inv = np.argsort(self.perm)

    def solve(self, b):
        import scipy.linalg as sla

        return sla.cho_solve_banded((self._cb, True), b[self.perm])[self._inv]


@dataclass(eq=False)
class SpectralMesh:
    """A checked mesh with its Laplacian, mass and (lazily) eigenbasis, signatures and geodesics.

    Build it with :func:`spectral_mesh`. Attributes:

    vertices : (n, 3) float
        As given (original units).
    faces : (m, 3) int
    area : float
        Total surface area (original units).
    stiffness : (n, n) sparse float
        Robust cotangent Laplacian ``W`` of the unit-area mesh (positive semi-definite).
    mass : (n,) float
        Lumped vertex areas of the unit-area mesh (they sum to 1).
    report : MeshReport
    seconds : dict
        Wall time of each stage computed so far (``laplacian``, ``eigenpairs``, ``descriptors``).
    """

    vertices: np.ndarray
    faces: np.ndarray
    area: float
    stiffness: sp.spmatrix
    mass: np.ndarray
    report: MeshReport
    seconds: dict = field(default_factory=dict)
    _basis: tuple | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.vertices)

    def eigenbasis(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(evals (k,), evecs (n, k))``: the ``k`` smallest Laplace-Beltrami eigenpairs, ``W phi = lambda M phi``.

        ``evecs`` are mass-orthonormal (``evecs.T @ diag(mass) @ evecs = I``) and ``evals[0] = 0``
        up to round-off. Computed once at the largest ``k`` asked so far and sliced after.
        """
        from scipy.sparse.linalg import eigsh

        k = int(k)
        if not 2 <= k < self.n:
            raise InputError(f"the eigenbasis size k must be between 2 and n - 1 = {self.n - 1}; got {k}")
        if self._basis is None or self._basis[0].size < k:
            t0 = time.perf_counter()
            M = sp.diags(self.mass)
            # shift-invert about a small negative sigma: W - sigma M is positive definite
            sigma = -1e-3 * float(self.stiffness.diagonal().mean() / self.mass.mean())
            vals, vecs = eigsh(self.stiffness, k, M, sigma=sigma, which="LM", v0=np.ones(self.n))
            order = np.argsort(vals)
            vals, vecs = vals[order], vecs[:, order]
            vecs[:, 0] *= np.sign(vecs[:, 0].sum()) or 1.0  # the constant function, positive
            self._basis = (np.maximum(vals, 0.0), vecs)
            self.seconds["eigenpairs"] = time.perf_counter() - t0
        return self._basis[0][:k], self._basis[1][:, :k]

    def descriptors(self, k: int = 100, n_wks: int = 32, n_hks: int = 16) -> np.ndarray:
        """WKS and HKS stacked, each column scaled to unit mass-norm: ``(n, n_wks + n_hks)`` float."""
        evals, evecs = self.eigenbasis(k)
        t0 = time.perf_counter()
        parts = [wks(evals, evecs, n_wks)] if n_wks else []
        if n_hks:
            parts.append(hks(evals, evecs, n_hks))
        if not parts:
            raise InputError("ask for at least one descriptor (n_wks or n_hks > 0)")
        d = np.column_stack(parts)
        d /= np.sqrt(self.mass @ d**2)[None, :]
        self.seconds["descriptors"] = time.perf_counter() - t0
        return d

    @cached_property
    def _heat(self):
        """The heat method's operators on the vertices that some face of positive area uses.

        A vertex used only by zero-area faces has no finite-element mass or stiffness (the
        systems would be singular there); it is left out of the solves and takes the distance of
        the nearest vertex that is kept, plus the straight-line offset to it (``proxy``, ``offset``).
        """
        from scipy.spatial import cKDTree

        G, A = _fem(self.vertices, self.faces)
        m = len(self.faces)
        mass = np.zeros(self.n)
        np.add.at(mass, self.faces.ravel(), np.repeat(A / 3.0, 3))
        live = np.flatnonzero(mass > 0)
        proxy, offset = np.arange(self.n), np.zeros(self.n)
        if live.size < self.n:
            dead = np.flatnonzero(mass <= 0)
            offset[dead], near = cKDTree(self.vertices[live]).query(self.vertices[dead])
            proxy[dead] = live[near]
        G = G[:, live].tocsr()  # zero-area faces have zero rows: nothing of the kept faces is lost
        Ad = sp.diags(np.tile(A, 3))
        L = (G.T @ Ad @ G).tocsr()  # cotangent Laplacian of the FEM gradient (original units)
        e = self.vertices[self.faces] - self.vertices[np.roll(self.faces, 1, axis=1)]
        h = float(np.linalg.norm(e, axis=2).mean())
        t = h * h  # the heat method's time step: mean edge length squared (Crane et al. 2013, sec. 3.2.4)
        heat = _BandedCholesky(sp.diags(mass[live]) + t * L)
        # L is singular (constants): a tiny diagonal shift makes it factorisable; phi is re-zeroed after
        poisson = _BandedCholesky(L + sp.identity(live.size) * (1e-9 * L.diagonal().mean()), heat.perm)
        position = np.full(self.n, -1)
        position[live] = np.arange(live.size)
        return G, Ad, m, heat, poisson, position[proxy], offset

    @cached_property
    def _pp3d(self):
        import potpourri3d as pp3d

        return pp3d.MeshHeatMethodDistanceSolver(self.vertices, self.faces)

    def geodesics_from(self, vertex: int) -> np.ndarray:
        """Heat-method geodesic distance from ``vertex`` to every vertex, ``(n,)`` float (potpourri3d)."""
        vertex = int(vertex)
        if not 0 <= vertex < self.n:
            raise InputError(f"vertex must be in [0, {self.n - 1}]; got {vertex}")
        return np.asarray(self._pp3d.compute_distance(vertex), dtype=np.float64)


def spectral_mesh(vertices, faces, name: str = "mesh") -> SpectralMesh:
    """Check a mesh (see :func:`mesh_report`) and build its robust Laplacian and mass on the unit-area copy.

    vertices : (n, 3) float
    faces : (m, 3) int
    name : str
        Used in error messages ("source", "target", a file name).

    Raises :class:`~swviz.InputError` naming the problem for isolated vertices or several
    connected components; non-manifold edges, boundaries and zero-area faces are handled.
    """
    import robust_laplacian

    v, f = _check_arrays(vertices, faces, name)
    report = mesh_report(v, f, name)
    if report.problems:
        hint = ""
        if report.components > 1 and report.components >= report.n_faces // 2:
            hint = " (it looks like a triangle soup: merge coincident vertices first)"
        raise InputError(f"{name}: the spectral methods cannot use this mesh: {'; '.join(report.problems)}{hint}")
    p = v[f]
    area = float(0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum())
    if not area > 0:
        raise InputError(f"{name}: the mesh has zero surface area")
    t0 = time.perf_counter()
    W, M = robust_laplacian.mesh_laplacian(v / np.sqrt(area), f)
    mass = np.asarray(M.diagonal(), dtype=np.float64)
    if np.any(mass <= 0):
        raise InputError(f"{name}: {int(np.sum(mass <= 0))} vertices have zero area after mollification")
    sm = SpectralMesh(v, f, area, W.tocsc(), mass / mass.sum(), report)  # the sum is 1 up to mollification
    sm.seconds["laplacian"] = time.perf_counter() - t0
    return sm


def heat_geodesics_batch(mesh: SpectralMesh, sources, chunk: int = 256) -> np.ndarray:
    """Heat-method geodesic distances from each vertex in ``sources`` to every vertex: ``(s, n)`` float.

    The heat method (Crane, Weischedel & Wardetzky, ACM TOG 2013, Algorithm 1) with the linear
    finite-element gradient on the mesh's own faces: heat ``(M + t L) u = delta_s`` for time
    ``t = h^2`` (``h`` the mean edge length), normalised negative gradient ``X``, then
    ``L phi = div X`` and a shift so that ``phi(s) = 0``. Both systems are factorised once (banded
    Cholesky after a reverse Cuthill-McKee reordering) and solved for ``chunk`` sources at a time.
    Vertices used only by zero-area faces (no finite-element area) are left out of the solves
    and take the distance of the nearest vertex kept, plus the straight-line offset to it.
    """
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    if src.size and (src.min() < 0 or src.max() >= mesh.n):
        raise InputError(f"sources must index the {mesh.n} vertices; got values in [{src.min()}, {src.max()}]")
    G, Ad, m, heat, poisson, at, offset = mesh._heat  # at: row of each vertex (or of its proxy) in the solves
    n_live = heat.perm.size
    out = np.empty((src.size, mesh.n))
    for s0 in range(0, src.size, chunk):
        s = src[s0:s0 + chunk]
        rhs = np.zeros((n_live, s.size))
        rhs[at[s], np.arange(s.size)] = 1.0
        u = heat.solve(rhs)  # (n_live, c)
        g = (G @ u).reshape(3, m, s.size)  # per-face gradients
        norm = np.linalg.norm(g, axis=0)
        X = -g / np.where(norm > 0, norm, 1.0)
        div = G.T @ (Ad @ X.reshape(3 * m, s.size))  # (n_live, c): weak form of L phi = div X, with L = G^T A G
        phi = poisson.solve(div)
        phi -= phi[at[s], np.arange(s.size)][None, :]
        d = phi[at].T + offset[None, :] + offset[s][:, None]  # vertices off the solves: their proxy's, + offsets
        d[np.arange(s.size), s] = 0.0
        out[s0:s0 + s.size] = d
    return np.maximum(out, 0.0)


def geodesic_distances(mesh: SpectralMesh, sources) -> np.ndarray:
    """Geodesic distances ``(s, n)`` from each vertex in ``sources``, by potpourri3d's heat method (one solve each)."""
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    return np.stack([mesh.geodesics_from(int(s)) for s in src]) if src.size else np.zeros((0, mesh.n))
