"""Gradient flows: a cloud or a mesh carried onto a target by Euler steps on an estimated SW loss.

* :mod:`swviz.flows._loop`: the one loop for every estimator (velocities by autograd through
  :func:`swviz.sw_loss`), :func:`gradient_flow`, :func:`mesh_flow`, :func:`flow_velocity`, the presets;
* :mod:`swviz.flows._w2`: ``W_2^2`` to the target by exact optimal transport, which scores a flow;
* :mod:`swviz.flows._carriers`: how a mesh's measure (vertices, or surface samples held by
  barycentric coordinates) hangs on its moving vertices.
"""

from ._carriers import Carrier, check_mesh, mesh_adjacency, surface_matrix
from ._loop import (
    LOSSES,
    MESH_MEASURES,
    PRESETS,
    FlowPreset,
    FlowResult,
    flow_velocity,
    gradient_flow,
    mesh_flow,
)
from ._w2 import ASSIGNMENT_MAX, EXACT_OT_MAX, SLICED_REFERENCE_DIRECTIONS, w2_squared

__all__ = [
    "ASSIGNMENT_MAX",
    "EXACT_OT_MAX",
    "LOSSES",
    "MESH_MEASURES",
    "PRESETS",
    "SLICED_REFERENCE_DIRECTIONS",
    "Carrier",
    "FlowPreset",
    "FlowResult",
    "check_mesh",
    "flow_velocity",
    "gradient_flow",
    "mesh_adjacency",
    "mesh_flow",
    "surface_matrix",
    "w2_squared",
]
