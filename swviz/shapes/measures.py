"""Shapes as discrete measures: points, weights and (for surfaces) the mesh they came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Measure"]


@dataclass(frozen=True)
class Measure:
    """A discrete measure ``sum_i w_i delta_{x_i}`` ready for the estimators.

    points : (n, d) float
    weights : (n,) float summing to 1, or None for uniform
    name : str
        What a page shows ("sphere", "teapot.obj"...).
    mesh : trimesh.Trimesh or None
        The mesh the measure was built from, when it is a surface.
    mode : str
        How the measure was built ("raw points", "uniform surface samples"...).
    """

    points: np.ndarray
    weights: np.ndarray | None = None
    name: str = ""
    mesh: object | None = field(default=None, repr=False, compare=False)
    mode: str = "raw points"

    @property
    def n(self) -> int:
        return int(self.points.shape[0])

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])
