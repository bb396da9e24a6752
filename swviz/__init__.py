"""swviz: sliced Wasserstein distances between shapes and meshes, estimated and explored.

The public API:

* :func:`sliced_wasserstein` estimates ``SW_p^p`` with any registered estimator;
* :func:`sw_loss` is the same estimate on torch tensors, differentiable by autograd
  (:mod:`swviz.autodiff`);
* :data:`ESTIMATORS` maps estimator names to descriptions;
* :func:`reference_sw` gives a near-exact value to compare against;
* :func:`variance_study` compares estimators over a grid of L (:mod:`swviz.study`);
* :func:`max_sw`, :func:`vmf_dsw`, :func:`energy_sw` are other sliced distances;
* :func:`align_rigid` moves one shape rigidly onto another under SW; :func:`discrepancy_map`
  colours each atom by its mean squared sliced displacement;
* :func:`correspond_meshes` maps meshes by functional maps with an SW alignment (Le et al., CVPR
  2024), scored by :func:`geodesic_error`;
* :func:`deform` fits a neural-ODE deformation of a mesh under SW (Le et al., ICLR 2024);
* :func:`gradient_flow` and :func:`mesh_flow` carry a cloud or a mesh onto a target
  (:class:`FlowResult`, :mod:`swviz.flows`);
* :func:`correspond` maps one cloud's points to another's (:data:`CORRESPONDENCE_METHODS`), scored
  against ground truth by :func:`correspondence_score` and :func:`pck` (:mod:`swviz.correspondence`);
* :mod:`swviz.shapes` holds the built-in shapes, uploads (:func:`load_shape`, a
  :class:`ShapeLoadError` for bad files) and shapes as measures (:func:`to_measure`, :func:`make_pair`).
"""

from . import qmc, shcv  # noqa: F401 - importing them registers the QMC and SHCV estimators
from ._validation import InputError
from .align import AlignResult, align_rigid
from .autodiff import sw_loss
from .correspondence import METHODS as CORRESPONDENCE_METHODS
from .correspondence import Correspondence, correspond, correspond_meshes, geodesic_error, pck
from .correspondence import score as correspondence_score
from .discrepancy import discrepancy_map, shape_discrepancy
from .distances import SlicedDistance, energy_sw, max_sw, sample_vmf, vmf_dsw
from .estimators import ESTIMATORS, Estimator, SWResult, get_estimator, register, sliced_wasserstein
from .flows import FlowResult, gradient_flow, mesh_flow
from .reference import Reference, reference_sw
from .shapes import Measure, Shape, ShapeLoadError, load_shape, make_pair, to_measure
from .study import explain_slice, reduction_table, variance_study

__version__ = "0.1.0"


def deform(source, target, **options):
    """Fit a diffeomorphic deformation of a mesh onto a target under sliced Wasserstein.

    :func:`swviz.deformation.deform` (Le et al., "Diffeomorphic Mesh Deformation via Efficient
    Optimal Transport for Cortical Surface Reconstruction", ICLR 2024); see there for the
    options. Torch is imported on first use, so ``import swviz`` stays light.
    """
    from .deformation import deform as _deform

    return _deform(source, target, **options)


def amortized_vdsw(x, y, a=None, b=None, **options):
    """Amortized v-DSW: the vMF location predicted by a self-attention model.

    :func:`swviz.amortized.amortized_vdsw` (Nguyen, Nguyen & Ho, "Self-Attention Amortized
    Distributional Projection Optimization for Sliced Wasserstein Point-Cloud Reconstruction",
    ICML 2023, eq. 9); see there for the options. Torch is imported on first use.
    """
    from .amortized import amortized_vdsw as _fn

    return _fn(x, y, a, b, **options)


def amortized_max_sw(x, y, a=None, b=None, **options):
    """Amortized Max-SW: ``W_p^p`` on the slice a model predicts (:func:`swviz.amortized.amortized_max_sw`)."""
    from .amortized import amortized_max_sw as _fn

    return _fn(x, y, a, b, **options)


def __getattr__(name):  # the result class, without importing torch at ``import swviz``
    if name == "DeformResult":
        from .deformation import DeformResult

        return DeformResult
    raise AttributeError(f"module 'swviz' has no attribute {name!r}")

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
    "AlignResult",
    "DeformResult",
    "align_rigid",
    "amortized_max_sw",
    "amortized_vdsw",
    "correspond_meshes",
    "deform",
    "discrepancy_map",
    "geodesic_error",
    "shape_discrepancy",
    "to_measure",
]
