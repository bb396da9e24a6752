"""Amortized projection optimisation: a model that predicts where to slice a pair.

Nguyen, Nguyen & Ho, "Self-Attention Amortized Distributional Projection Optimization for Sliced
Wasserstein Point-Cloud Reconstruction", ICML 2023. Max-SW and v-DSW need an ascent for every
pair; an amortized model ``f_psi(X, Y) in S^{d-1}`` is trained once over many pairs and then
predicts the direction (Max-SW) or the vMF location (v-DSW) in one forward pass.

* :mod:`~swviz.amortized.models`: the self-attention and efficient-attention models and the
  paper's linear baseline (:class:`AttentionDirection`, :class:`LinearDirection`);
* :mod:`~swviz.amortized.core`: :func:`amortized_vdsw`, :func:`amortized_max_sw`, reparameterised
  vMF sampling (:func:`vmf_rsample`);
* :mod:`~swviz.amortized.training`: library pairs with augmentation, :func:`train_direction_model`,
  :func:`train_default` (the shipped weights' recipe);
* :mod:`~swviz.amortized.weights`: weights files (``.npz``, never unpickled), :func:`load_default`;
* :mod:`~swviz.amortized.autoencoder`: the point-cloud autoencoder trained under each sliced loss.

``python -m swviz.amortized train-default`` rebuilds the default weights from their fixed seed;
``python -m swviz.amortized autoencoder-results`` rebuilds the autoencoder results the page shows.
"""

from .core import (
    amortized_max_sw,
    amortized_objective,
    amortized_vdsw,
    compare_with_ascent,
    householder_onto,
    vmf_rsample,
)
from .models import KINDS, MIN_POINTS, AttentionDirection, DirectionModel, LinearDirection, build_model
from .training import (
    DEFAULT_RECIPE,
    HELD_OUT_SHAPES,
    TRAIN_SHAPES,
    PairSampler,
    StopTraining,
    TrainResult,
    evaluate,
    train_default,
    train_direction_model,
)
from .weights import DEFAULT_WEIGHTS, default_meta, load_default, load_model, save_model, weights_bytes

__all__ = [
    "DEFAULT_RECIPE",
    "DEFAULT_WEIGHTS",
    "HELD_OUT_SHAPES",
    "KINDS",
    "MIN_POINTS",
    "TRAIN_SHAPES",
    "AttentionDirection",
    "DirectionModel",
    "LinearDirection",
    "PairSampler",
    "StopTraining",
    "TrainResult",
    "amortized_max_sw",
    "amortized_objective",
    "amortized_vdsw",
    "build_model",
    "compare_with_ascent",
    "default_meta",
    "evaluate",
    "householder_onto",
    "load_default",
    "load_model",
    "save_model",
    "train_default",
    "train_direction_model",
    "vmf_rsample",
    "weights_bytes",
]
