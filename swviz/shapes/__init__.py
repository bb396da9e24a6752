"""Shapes: the built-in library, uploads, deformed copies, and shapes as measures.

* :mod:`~swviz.shapes.library`: :data:`SHAPES`, :func:`library_shape`, :func:`sample_shape`;
* :mod:`~swviz.shapes.io`: :func:`load_shape` (bytes + file name -> :class:`Shape`) and writers;
* :mod:`~swviz.shapes.measures`: :func:`to_measure`, :func:`make_pair`, :func:`normalise`;
* :mod:`~swviz.shapes.deform`: deformed copies keeping vertex order, :func:`ground_truth`.
"""

from .deform import DEFORMATIONS, deform, deformed_shape, ground_truth, same_connectivity
from .io import (
    CLOUD_FORMATS,
    FORMATS,
    MAX_FACES,
    MAX_FILE_BYTES,
    MAX_FILE_MB,
    MAX_VERTICES,
    MESH_FORMATS,
    ShapeLoadError,
    load_measure,
    load_shape,
    merge_coincident,
    points_to_csv,
    points_to_npy,
    shape_to_ply,
)
from .library import (
    SHAPES,
    ShapeSpec,
    deformation_pairs,
    library_mesh,
    library_pair,
    library_shape,
    sample_shape,
    shape_names,
)
from .measures import (
    MODES,
    NORMALISATIONS,
    PAIR_NORMALISATIONS,
    Measure,
    Normalisation,
    make_pair,
    normalise,
    rms_radius,
    surface_centroid,
    surface_samples,
    to_measure,
    varifold_atoms,
    vertex_weights,
)
from .shape import Shape, ShapeInfo, describe, face_areas

__all__ = [
    "CLOUD_FORMATS",
    "DEFORMATIONS",
    "FORMATS",
    "MAX_FACES",
    "MAX_FILE_BYTES",
    "MAX_FILE_MB",
    "MAX_VERTICES",
    "MESH_FORMATS",
    "MODES",
    "NORMALISATIONS",
    "PAIR_NORMALISATIONS",
    "SHAPES",
    "Measure",
    "Normalisation",
    "Shape",
    "ShapeInfo",
    "ShapeLoadError",
    "ShapeSpec",
    "deform",
    "deformation_pairs",
    "deformed_shape",
    "describe",
    "face_areas",
    "ground_truth",
    "library_mesh",
    "library_pair",
    "library_shape",
    "load_measure",
    "load_shape",
    "make_pair",
    "merge_coincident",
    "normalise",
    "points_to_csv",
    "points_to_npy",
    "rms_radius",
    "same_connectivity",
    "sample_shape",
    "shape_names",
    "shape_to_ply",
    "surface_centroid",
    "surface_samples",
    "to_measure",
    "varifold_atoms",
    "vertex_weights",
]
