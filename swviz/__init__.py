"""swviz: sliced Wasserstein distances between shapes and meshes, estimated and explored.

The public API:

* :func:`sliced_wasserstein` estimates ``SW_p^p`` with any registered estimator;
* :func:`sw_loss` is the same estimate on torch tensors, differentiable by autograd
  (:mod:`swviz.autodiff`);
* :data:`ESTIMATORS` maps estimator names to descriptions;
* :func:`reference_sw` gives a near-exact value to compare against;
* :func:`variance_study` compares estimators over a grid of L (:mod:`swviz.study`);
* :func:`max_sw`, :func:`vmf_dsw`, :func:`energy_sw` are other sliced distances;
* :func:`gradient_flow` and :func:`mesh_flow` carry a cloud or a mesh onto a target
  (:class:`FlowResult`, :mod:`swviz.flows`);
* :func:`correspond` maps one cloud's points to another's (:data:`CORRESPONDENCE_METHODS`), scored
  against ground truth by :func:`correspondence_score` and :func:`pck` (:mod:`swviz.correspondence`);
* :mod:`swviz.shapes` holds the built-in shapes, uploads (:func:`load_shape`, a
  :class:`ShapeLoadError` for bad files) and shapes as measures (:func:`to_measure`, :func:`make_pair`).
"""

from . import qmc, shcv  # noqa: F401 - importing them registers the QMC and SHCV estimators
from ._validation import InputError
from .autodiff import sw_loss
from .correspondence import METHODS as CORRESPONDENCE_METHODS
from .correspondence import Correspondence, correspond, pck
from .correspondence import score as correspondence_score
from .distances import SlicedDistance, energy_sw, max_sw, sample_vmf, vmf_dsw
from .estimators import ESTIMATORS, Estimator, SWResult, get_estimator, register, sliced_wasserstein
from .flows import FlowResult, gradient_flow, mesh_flow
from .reference import Reference, reference_sw
from .shapes import Measure, Shape, ShapeLoadError, load_shape, make_pair, to_measure
from .study import explain_slice, reduction_table, variance_study

__version__ = "0.1.0"

__all__ = [
    "CORRESPONDENCE_METHODS",
    "Correspondence",
    "ESTIMATORS",
    "Estimator",
    "FlowResult",
    "InputError",
    "Measure",
    "Reference",
    "SWResult",
    "Shape",
    "ShapeLoadError",
    "SlicedDistance",
    "correspond",
    "correspondence_score",
    "energy_sw",
    "explain_slice",
    "max_sw",
    "reduction_table",
    "sample_vmf",
    "variance_study",
    "vmf_dsw",
    "get_estimator",
    "gradient_flow",
    "load_shape",
    "make_pair",
    "mesh_flow",
    "pck",
    "reference_sw",
    "register",
    "sliced_wasserstein",
    "sw_loss",
    "to_measure",
]
