"""Diffeomorphic mesh deformation under sliced Wasserstein (Le et al., ICLR 2024): see :mod:`swviz.deformation._run`."""

from ._run import *  # noqa: F403
from ._run import __all__, NN_METHODS, DTYPE  # noqa: F401
