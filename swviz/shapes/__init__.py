"""Shapes: the built-in library (and, later, uploads and measures)."""

from .library import SHAPES, ShapeSpec, sample_shape, shape_names

__all__ = ["SHAPES", "ShapeSpec", "sample_shape", "shape_names"]
