r"""Diffeomorphic mesh deformation under sliced Wasserstein: a neural ODE carries a mesh onto a target.

Le et al., "Diffeomorphic Mesh Deformation via Efficient Optimal Transport for Cortical
Surface Reconstruction" (ICLR 2024) encode a mesh as a probability measure and compare two
meshes by sliced Wasserstein, whose cost is linear in the number of atoms (up to the sort)
and which is a metric, unlike the quadratic, set-based Chamfer distance. The source's
vertices move along the trajectories of a learned velocity field,

.. math::
    \frac{dx}{dt} = v_\psi(x, t), \quad t \in [0, 1], \qquad
    \phi_\psi(x_0) = x_0 + \int_0^1 v_\psi(x(t), t)\,dt,

with :math:`v_\psi` a small MLP. The flow of a Lipschitz field is a diffeomorphism of
:math:`\mathbb{R}^3`, so in the continuous limit faces neither flip nor cross; a coarse
fixed step can still fold, which the metrics check. :func:`deform` minimises

.. math::
    \min_\psi\ \mathcal{L}\bigl(\mu[\phi_\psi(V), F],\ \nu\bigr)

by Adam, with :math:`\mathcal{L}` one of :data:`LOSSES` and the field one of :data:`FIELDS`
(``"free"``, per-vertex displacements, is today's unconstrained flow, for comparison).

The pieces are public so they can be tested and measured alone: the measures of a mesh in
torch (:func:`varifold_measure`, :func:`surface_measure`, :func:`vertex_measure`), the
Chamfer loss (:func:`chamfer`, exact nearest neighbours without the full distance matrix),
the velocity field (:class:`VelocityField`, :func:`integrate`) and the metrics
(:func:`mesh_metrics`, :func:`self_intersections`, :func:`flipped_faces`,
:func:`degenerate_faces`). Every SW term goes through :func:`swviz.autodiff.sw_loss`.

The package's modules, by topic: ``_losses`` (the measures of a mesh, Chamfer,
:func:`make_loss`), ``_fields`` (:class:`VelocityField`, :func:`integrate`), ``_metrics``
(:func:`mesh_metrics` and the face counts), ``_intersections`` (:func:`self_intersections`)
and ``_run`` (:func:`deform`, :class:`DeformResult`).

The ODE is integrated by ``torchdiffeq.odeint`` (Chen et al., "Neural Ordinary Differential
Equations", NeurIPS 2018) with the fixed-step ``"rk4"`` method on a uniform grid of
``time_steps`` steps, and differentiated by plain backpropagation through the solver's steps
(discretise-then-optimise): the gradient is exactly that of the discrete map whose result is
shown, and at these sizes (a few thousand vertices, about ten steps) the memory is small, so
the adjoint method would only add a second, approximate backward integration.
"""

from __future__ import annotations

from ._fields import DTYPE, FIELDS, Field, VelocityField, integrate
from ._intersections import self_intersections
from ._losses import (
    LOSSES,
    NN_METHODS,
    LossTerm,
    chamfer,
    make_loss,
    nearest_index,
    surface_measure,
    varifold_measure,
    vertex_measure,
)
from ._metrics import degenerate_faces, face_normals, flipped_faces, mesh_metrics
from ._run import EXAMPLES, OPTIONS, DeformResult, StopDeformation, deform, example

__all__ = [
    "DTYPE",
    "Field",
    "NN_METHODS",
    "FIELDS",
    "LOSSES",
    "OPTIONS",
    "EXAMPLES",
    "DeformResult",
    "LossTerm",
    "StopDeformation",
    "VelocityField",
    "chamfer",
    "deform",
    "degenerate_faces",
    "example",
    "face_normals",
    "flipped_faces",
    "integrate",
    "make_loss",
    "mesh_metrics",
    "nearest_index",
    "self_intersections",
    "surface_measure",
    "varifold_measure",
    "vertex_measure",
]
