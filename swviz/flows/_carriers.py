"""Carriers: how the flowing measure's atoms hang on the moving points.

A cloud carries itself: its atoms are its points. A mesh carries the atoms of one of its
measures (:mod:`swviz.shapes.measures`): its vertices with area weights, or area-uniform
surface samples held by barycentric coordinates, ``P = B V`` with ``B : (k, nv)`` sparse, so
the samples follow the vertices. Gradients reach the vertices through ``B`` by autograd
(``dF/dV = B' dF/dP``); a vertex moves with velocity ``(dF/dV_i) / m_i``, ``m = B' w`` its mass
(the mass-weighted mean velocity of the atoms it carries). Vertices that carry no mass take
their neighbours' velocity, and an optional implicit Laplacian smoothing ``(I + lambda L) u' = u``
(Desbrun, Meyer, Schroeder & Barr, "Implicit fairing of irregular meshes", SIGGRAPH 1999)
keeps neighbours moving alike.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import InputError, as_points, check_count, rng_from
from ..shapes.measures import surface_barycentric, vertex_weights
from ..shapes.shape import face_areas

__all__ = ["Carrier", "check_mesh", "mesh_adjacency", "surface_matrix"]


def check_mesh(vertices, faces):
    """Validated ``(vertices (nv, 3) float64, faces (F, 3) int64)``, or an :class:`InputError`."""
    V = as_points(vertices, "vertices")
    if V.shape[1] != 3:
        raise InputError(f"vertices must have shape (n, 3); got {V.shape}")
    try:
        F = np.asarray(faces)
    except (TypeError, ValueError):
        raise InputError("faces must be an integer array of shape (F, 3)") from None
    if F.ndim != 2 or F.shape[1] != 3 or F.shape[0] == 0:
        raise InputError(f"faces must have shape (F, 3) with F >= 1; got {F.shape}")
    if not np.issubdtype(F.dtype, np.integer):
        if not np.all(np.isfinite(F)) or np.any(F != np.round(F)):
            raise InputError("faces must hold whole vertex indices")
        F = F.astype(np.int64)
    if F.min() < 0 or F.max() >= V.shape[0]:
        raise InputError(f"faces index vertices 0..{V.shape[0] - 1}; got indices {F.min()}..{F.max()}")
    F = np.ascontiguousarray(F, dtype=np.int64)
    if not face_areas(V, F).sum() > 0:
        raise InputError("the mesh has zero total area: every face is degenerate")
    return V, F


def mesh_adjacency(F: np.ndarray, nv: int) -> sp.csr_matrix:
    """Vertex adjacency of a triangle mesh: symmetric (nv, nv) with ones on the edges."""
    i = np.concatenate([F[:, 0], F[:, 1], F[:, 2], F[:, 1], F[:, 2], F[:, 0]])
    j = np.concatenate([F[:, 1], F[:, 2], F[:, 0], F[:, 0], F[:, 1], F[:, 2]])
    A = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(nv, nv))
    A.data[:] = 1.0  # an edge shared by two faces counts once
    A.setdiag(0.0)  # degenerate faces repeating a vertex add no self-loops
    A.eliminate_zeros()
    return A


def surface_matrix(vertices, faces, n_samples: int, seed=0) -> sp.csr_matrix:
    """Barycentric matrix ``B : (n_samples, nv)`` of area-uniform surface samples.

    ``B @ vertices`` are the samples of :func:`swviz.shapes.measures.surface_barycentric`.
    """
    V, F = vertices, faces
    k = check_count(n_samples, "n_samples")
    face, uv = surface_barycentric(V, F, k, rng_from(seed))
    bary = np.column_stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]])
    rows = np.repeat(np.arange(k), 3)
    return sp.csr_matrix((bary.ravel(), (rows, F[face].ravel())), shape=(k, V.shape[0]))


class Carrier:
    """Atoms of the flowing measure as a function of the moving points, and back.

    Parameters
    ----------
    n_points : int
        Number of moving points (particles or vertices).
    atom_weights : (k,) float or None
        Weights of the atoms (uniform if None); ``k = n_points`` without ``B``.
    B : (k, n_points) sparse or None
        Atoms ``P = B V``; None: the atoms are the points.
    adjacency : (n_points, n_points) sparse or None
        Mesh edges, for massless vertices and smoothing.
    smoothing : float
        ``lambda`` of the implicit smoothing of the velocity (0: none).
    """

    def __init__(self, n_points: int, atom_weights=None, B=None, adjacency=None, smoothing: float = 0.0):
        from scipy.sparse.linalg import splu

        k = n_points if B is None else B.shape[0]
        aw = np.full(k, 1.0 / k) if atom_weights is None else np.asarray(atom_weights, dtype=np.float64)
        self.uniform = atom_weights is None
        self.atom_weights = aw
        self.B = B
        mass = aw if B is None else np.asarray(B.T @ aw).ravel()  # (n_points,)
        known = mass > 0
        self.inv_mass = np.where(known, 1.0 / np.where(known, mass, 1.0), 0.0)
        self.fill = self._fill_plan(adjacency, known) if (adjacency is not None and not known.all()) else []
        self.smooth = None
        if adjacency is not None and smoothing > 0:
            deg = np.asarray(adjacency.sum(1)).ravel()
            lap = (sp.diags(deg) - adjacency) / max(deg.mean(), 1.0)
            self.smooth = splu((sp.identity(n_points) + float(smoothing) * lap).tocsc())
        self._torch = {}

    @staticmethod
    def _fill_plan(adjacency, known):
        """Rounds of (rows to fill, averaging matrix) from vertices that have velocities."""
        plan = []
        binary = adjacency.tocsr()
        known = known.copy()
        for _ in range(64):
            if known.all():
                break
            cnt = binary @ known.astype(np.float64)
            new = (~known) & (cnt > 0)
            if not new.any():
                break
            rows = np.flatnonzero(new)
            avg = sp.diags(1.0 / cnt[rows]) @ binary[rows].multiply(known[None, :].astype(np.float64))
            plan.append((rows, sp.csr_matrix(avg)))
            known |= new
        return plan

    def tensors(self, device):
        """``(B or None, atom weights or None, inverse mass (n, 1))`` as torch tensors on ``device``."""
        key = str(device)
        if key not in self._torch:
            import torch

            B = None
            if self.B is not None:
                coo = self.B.tocoo()
                idx = torch.as_tensor(np.vstack([coo.row, coo.col]).astype(np.int64))
                B = torch.sparse_coo_tensor(idx, torch.as_tensor(coo.data), size=coo.shape, check_invariants=True,
                                            dtype=torch.float64).coalesce().to(device)
            aw = None if self.uniform else torch.as_tensor(self.atom_weights, device=device)
            inv = torch.as_tensor(self.inv_mass[:, None], device=device)
            self._torch[key] = (B, aw, inv)
        return self._torch[key]

    def atoms(self, V, B):
        """The atoms ``B V`` (or ``V``) of the moving points ``V : (n, d)`` tensor."""
        if B is None:
            return V
        import torch

        return torch.sparse.mm(B, V)

    def finish(self, u):
        """Fill massless points from their neighbours and smooth: (n, d) numpy -> (n, d) numpy."""
        for rows, avg in self.fill:
            u[rows] = avg @ u
        if self.smooth is not None:
            u = self.smooth.solve(u)
        return u

    @property
    def post_processes(self) -> bool:
        return bool(self.fill) or self.smooth is not None


def mesh_carrier(V, F, measure: str, n_samples: int, smoothing: float, rng) -> tuple[Carrier, np.ndarray | None]:
    """The carrier of a mesh measure and the atoms' weights (None for uniform samples)."""
    A = mesh_adjacency(F, V.shape[0])
    if measure == "vertices":
        a = vertex_weights(V, F)
        return Carrier(V.shape[0], atom_weights=a, adjacency=A, smoothing=smoothing), a
    B = surface_matrix(V, F, n_samples, seed=rng)
    return Carrier(V.shape[0], B=B, adjacency=A, smoothing=smoothing), None
