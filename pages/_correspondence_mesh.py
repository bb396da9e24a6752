"""The Correspondence page's mesh mode: intrinsic maps (functional maps, + SW alignment) against extrinsic ones.

Called by ``pages/correspondence.py`` with the pair's two shapes; widgets -> swviz calls -> figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages import ui
from swviz.correspondence import (
    GROUND_TRUTH_DEFORMATIONS,
    MESH_METHODS,
    bijectivity,
    correspond_meshes,
    deformed_copy,
    dirichlet_smoothness,
    geodesic_error,
    pck,
    prepare_mesh,
    read_labels_csv,
    spectral_segments,
    transfer_labels,
)
from swviz.figures.correspondence import pck_figure
from swviz.figures.spectral import (
    error_on_target,
    geodesic_error_figure,
    mesh_colour_transfer_figure,
    segmentation_figure,
    stage_times_figure,
)
from swviz.shapes import Shape, same_connectivity
from swviz.spectral import mesh_report

MAX_MESH_VERTICES = 8000  # fmap-sw takes ~10 s at 7k vertices on two cores
MAX_ASSIGNMENT_VERTICES = 3100  # the exact assignment grows as n^3 (the library bars have 3,074 vertices)
DEFAULT_MESH_METHODS = ["fmap", "fmap-sw", "assignment"]
THRESHOLDS = np.linspace(0.0, 0.25, 51)
_HASH = {Shape: lambda s: s.key}


@st.cache_resource(show_spinner="Laplacian and eigenbasis…", max_entries=8, hash_funcs=_HASH)
def _prepared(shape: Shape):
    return prepare_mesh(shape, shape.name)


@st.cache_data(show_spinner=False, max_entries=32, hash_funcs=_HASH)
def _map(source: Shape, target: Shape, method: str, k: int, seed: int):
    opts = {"k": k} if MESH_METHODS[method].intrinsic else {}
    s = _prepared(source) if MESH_METHODS[method].intrinsic else source
    t = _prepared(target) if MESH_METHODS[method].intrinsic else target
    return correspond_meshes(s, t, method=method, seed=seed, **opts)


@st.cache_data(show_spinner="Geodesic errors…", max_entries=32, hash_funcs=_HASH)
def _errors(target: Shape, predicted: np.ndarray, true: np.ndarray):
    return geodesic_error(_prepared(target), predicted, true)


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs=_HASH)
def _deformed(source: Shape, kind: str, seed: int):
    return deformed_copy(source, kind, seed=seed)


def mesh_mode(source: Shape | None, target: Shape | None) -> None:
    """The mesh section of the page for the pair's shapes (``None`` when a side is not a shape)."""
    st.header("Meshes: intrinsic maps")
    st.markdown(
        "Extrinsic maps match positions, so a bent arm goes to whatever is nearby. **Functional maps** match "
        "functions instead: a map C between the Laplace-Beltrami eigenbases, fitted so that descriptors (wave and "
        "heat kernel signatures) are preserved and C commutes with the Laplacians; **fmap-sw** adds a sliced "
        "Wasserstein alignment of the two area-weighted spectral embeddings and an entropic-OT refinement "
        "(Le et al., CVPR 2024). Errors are geodesic, divided by √area of the target.")
    intrinsic = [m for m, spec in MESH_METHODS.items() if spec.intrinsic]
    if source is None or target is None or not (source.is_mesh and target.is_mesh) or source.dim != 3 \
            or target.dim != 3:
        st.info(f"This pair is not two 3D triangle meshes: the intrinsic methods ({', '.join(intrinsic)}) need a "
                "connected triangle mesh on both sides; the extrinsic methods above still run on point clouds.",
                icon=":material/info:")
        return
    for side, shape in (("source", source), ("target", target)):
        rep = mesh_report(shape.vertices, shape.faces, side)
        if rep.problems:
            st.warning(f"The {side} ({shape.name}) has {'; '.join(rep.problems)}. The intrinsic methods "
                       f"({', '.join(intrinsic)}) need one connected surface without isolated vertices; the "
                       "extrinsic methods above still run.", icon=":material/warning:")
            return
        if rep.notes:
            st.caption(f"{side.capitalize()}: " + "; ".join(rep.notes) + ".")
    big = max(source.n_vertices, target.n_vertices)
    if big > MAX_MESH_VERTICES:
        st.info(f"These meshes have up to {big:,} vertices; the mesh mode runs up to {MAX_MESH_VERTICES:,} here "
                "(use `swviz.correspond_meshes` from Python for larger ones).", icon=":material/info:")
        return

    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([2.4, 1.2, 0.8, 0.8])
        with c1:
            methods = ui.multiselect("Mesh methods", list(MESH_METHODS), "mmeth", DEFAULT_MESH_METHODS,
                                     format_func=lambda m: MESH_METHODS[m].title, max_selections=4)
        truth_kinds = (["vertex order"] if same_connectivity(source, target) else []) + list(GROUND_TRUTH_DEFORMATIONS)
        with c2:
            truth = ui.select("Ground truth", truth_kinds, "mgt", truth_kinds[0],
                              help="The pair's shared vertex order, or a deformed copy of the source (vertices "
                                   "shuffled) used as the target.")
        with c3:
            k = ui.number("Basis size k", "mk", 40, 10, 100, step=10)
        with c4:
            n_seg = ui.number("Segments", "mseg", 6, 2, 10)
        labels_file = st.file_uploader("Source labels (CSV, one integer per vertex)", type=["csv", "txt"],
                                       key="w_mlabels")
        run = ui.toggle("Compute the mesh maps", "mrun", False,
                        help="Off by default: the spectral methods take seconds per mesh.")
    if not run or not methods:
        st.caption("Switch on *Compute the mesh maps* to run the selected methods.")
        return

    if truth == "vertex order":
        tgt, true = target, np.arange(target.n_vertices)
    else:
        tgt, true = _deformed(source, truth, 0)
        st.info(f"Target replaced by the source {GROUND_TRUTH_DEFORMATIONS[truth]}, with its vertices shuffled "
                "(seed 0), so every method is scored against the known map.", icon=":material/swap_horiz:")
    results, errors = {}, {}
    with st.spinner("Matching the meshes…"):
        for m in methods:
            if m == "assignment" and big > MAX_ASSIGNMENT_VERTICES:
                st.warning(f"Exact assignment skipped: {big:,} vertices (it runs up to {MAX_ASSIGNMENT_VERTICES:,}).")
                continue
            try:
                results[m] = _map(source, tgt, m, int(k), 0)
                errors[m] = _errors(tgt, results[m].target_index, true)
            except ValueError as exc:
                ui.show_error(exc, MESH_METHODS[m].title)
            except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
                ui.show_error(exc, MESH_METHODS[m].title)
    if not results:
        return
    if labels_file is not None:
        try:
            labels = read_labels_csv(labels_file.getvalue(), source.n_vertices)
        except ValueError as exc:
            ui.show_error(exc, "Labels")
            labels = spectral_segments(_prepared(source), int(n_seg))
    else:
        labels = spectral_segments(_prepared(source), int(n_seg))
    truth_labels = transfer_labels(labels, true, tgt)
    rows, curves, moved = {}, {}, {}
    for m, r in results.items():
        title = MESH_METHODS[m].title
        moved[m] = transfer_labels(labels, r.target_index, tgt)
        rows[title] = {"mean geodesic error / √area": float(errors[m].mean()),
                       "exact": float(np.mean(r.target_index == true)),
                       "coverage": bijectivity(r.target_index, tgt.n_vertices),
                       "smoothness (1 = isometry)": dirichlet_smoothness(_prepared(source), _prepared(tgt),
                                                                         r.target_index),
                       "segment accuracy": float(np.mean(moved[m] == truth_labels)),
                       "seconds": r.seconds}
        curves[title] = (THRESHOLDS, pck(errors[m], THRESHOLDS))
    st.dataframe(pd.DataFrame.from_dict(rows, orient="index"), column_config={
        "mean geodesic error / √area": st.column_config.NumberColumn(format="%.4f"),
        "exact": st.column_config.NumberColumn(format="percent"),
        "coverage": st.column_config.NumberColumn(format="percent",
                                                  help="Fraction of target vertices reached (1: a bijection)"),
        "smoothness (1 = isometry)": st.column_config.NumberColumn(format="%.2f",
                                                                   help="Dirichlet energy of the transferred "
                                                                        "coordinates"),
        "segment accuracy": st.column_config.NumberColumn(format="percent"),
        "seconds": st.column_config.NumberColumn(format="%.2f"),
    })
    ui.chart(pck_figure(curves, normalised_by="√area, geodesic"), "mesh_pck")
    shown = ui.select("Show the mesh map of", list(results), "mview", next(iter(results)),
                      format_func=lambda m: MESH_METHODS[m].title)
    r = results[shown]
    st.subheader("Colour transfer on the surfaces")
    ui.chart(mesh_colour_transfer_figure(source.vertices, source.faces, tgt.vertices, tgt.faces, r.target_index),
             "mesh_colour")
    st.subheader("Geodesic error on the target")
    ui.chart(geodesic_error_figure(tgt.vertices, tgt.faces, error_on_target(errors[shown], true, tgt.n_vertices),
                                   cmax=0.25), "mesh_error")
    st.subheader("Segmentation transfer")
    what = "Uploaded labels" if labels_file is not None else f"{int(n_seg)} clusters of the spectral embedding"
    st.caption(f"{what}, carried by the map; accuracy {rows[MESH_METHODS[shown].title]['segment accuracy']:.1%} "
               "against "
               "the transfer by the true map.")
    ui.chart(segmentation_figure(source.vertices, source.faces, labels, tgt.vertices, tgt.faces, moved[shown],
                                 truth_labels), "mesh_segments")
    st.subheader("Time per stage")
    st.caption("The Laplacian and eigenpairs are computed once per mesh and shared by the spectral methods.")
    ui.chart(stage_times_figure({MESH_METHODS[m].title: dict(x.stages) for m, x in results.items()}), "mesh_stages")
