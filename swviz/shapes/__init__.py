"""Shapes: the built-in library (and, later, uploads and measures)."""

from .library import SHAPES, ShapeSpec, sample_shape, shape_names
from .measures import Measure

__all__ = ["SHAPES", "Measure", "ShapeSpec", "sample_shape", "shape_names"]
