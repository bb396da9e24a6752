"""swviz: sliced Wasserstein distances between shapes and meshes, estimated and explored.

The public API:

* :func:`sliced_wasserstein` estimates ``SW_p^p`` with any registered estimator;
* :data:`ESTIMATORS` maps estimator names to descriptions;
* :func:`reference_sw` gives a near-exact value to compare against;
* :mod:`swviz.shapes` holds the built-in shapes.
"""

from ._validation import InputError
from .estimators import ESTIMATORS, Estimator, SWResult, get_estimator, register, sliced_wasserstein
from .reference import Reference, reference_sw

__version__ = "0.1.0"

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "InputError",
    "Reference",
    "SWResult",
    "get_estimator",
    "reference_sw",
    "register",
    "sliced_wasserstein",
]
