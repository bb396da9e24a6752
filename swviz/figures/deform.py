"""Figures of mesh deformation (:func:`swviz.deformation.deform`): animations, loss curves, defects, metrics.

* :func:`steps_animation`: the deformations side by side along the optimisation steps (one
  panel per run, one Play button and slider), through :func:`~swviz.figures.flows.flow_animation`;
* :func:`time_animation`: one run's mesh carried along ODE time t in [0, 1] by the final field;
* :func:`loss_figure`: the loss against the iteration, one line per run, on a log axis;
* :func:`defects_figure`: the final meshes with their flipped and self-intersecting faces coloured;
* :func:`metrics_table`: the final metrics of several runs as one table (rows: runs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import TARGET_COLOR, log_axis
from .flows import FLOW_COLORS, flow_animation

__all__ = ["DEFECT_COLORS", "METRIC_LABELS", "defects_figure", "loss_figure", "metrics_table", "steps_animation",
           "time_animation"]

#: Face colours of :func:`defects_figure`: a sound face, a flipped one, one in a self-intersecting pair.
DEFECT_COLORS = {"ok": "#c7d5e8", "flipped": "#ff7f0e", "intersecting": TARGET_COLOR}

#: Column name -> label of :func:`metrics_table`, in display order.
METRIC_LABELS = {
    "chamfer_normalised": "Chamfer / diag²",
    "hausdorff_normalised": "Hausdorff / diag",
    "sw2": "SW₂",
    "normal_consistency": "normal consistency",
    "flipped_faces": "flipped faces",
    "degenerate_faces": "degenerate faces",
    "self_intersections": "self-intersecting pairs",
    "loss": "final loss",
    "seconds": "seconds",
}


def steps_animation(panels: list[tuple[str, np.ndarray]], steps, target: np.ndarray, faces: np.ndarray,
                    **kw) -> go.Figure:
    """Deforming meshes side by side along the optimisation steps.

    panels : list of (title, vertices (T, n, 3) float), the same T recorded steps for all
    steps : (T,) int
    target : (m, 3) float, drawn faintly (a target mesh's vertices, or a cloud)
    faces : (F, 3) int, the deforming meshes' faces
    """
    return flow_animation(panels, np.asarray(steps), target, faces, **kw)


def time_animation(title: str, trajectory: np.ndarray, times, target: np.ndarray, faces: np.ndarray,
                   **kw) -> go.Figure:
    """One mesh carried along ODE time by the final field; the slider reads t.

    trajectory : (K + 1, n, 3) float at ``times`` (K + 1,) in [0, 1]
    """
    times = np.asarray(times, dtype=np.float64)
    fig = flow_animation([(title, trajectory)], np.arange(len(times)), target, faces, **kw)
    slider = fig.layout.sliders[0]
    for s in slider.steps:
        s.label = f"{times[int(s.args[0][0])]:.2f}"
    slider.currentvalue.prefix = "t = "
    return fig


def loss_figure(curves: list[tuple[str, np.ndarray]], loss_label: str = "loss", height: int = 360,
                colors: tuple[str, ...] = FLOW_COLORS) -> go.Figure:
    """The loss against the iteration, one line per run, on a log axis labelled by decades.

    curves : list of (label, loss (S,) float), the loss at iterations 0..S-1
    """
    fig = go.Figure()
    values = []
    for p, (label, loss) in enumerate(curves):
        loss = np.asarray(loss, dtype=np.float64)
        values.append(loss)
        line = dict(color=colors[p % len(colors)], width=2, dash=("solid", "dash", "dot")[p % 3])
        fig.add_trace(go.Scatter(x=np.arange(len(loss)), y=loss, mode="lines", name=label, line=line))
    allv = np.concatenate(values) if values else np.array([1.0])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), title=f"{loss_label} per iteration",
                      xaxis_title="iteration", yaxis_title=loss_label, legend=dict(orientation="h", y=1.02, x=0,
                                                                                   yanchor="bottom"))
    fig.update_yaxes(**log_axis(allv))
    return fig


def _face_colors(n_faces: int, flipped: np.ndarray, intersecting: np.ndarray) -> np.ndarray:
    c = np.full(n_faces, DEFECT_COLORS["ok"], dtype=object)
    c[np.asarray(flipped, dtype=bool)] = DEFECT_COLORS["flipped"]
    c[np.asarray(intersecting, dtype=np.int64).ravel()] = DEFECT_COLORS["intersecting"]
    return c


def defects_figure(panels: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                   height: int = 430) -> go.Figure:
    """Final meshes side by side with their defects coloured.

    panels : list of (title, vertices (n, 3) float, faces (F, 3) int, flipped (F,) bool,
        intersecting pairs (k, 2) int). Flipped faces are orange, faces of a self-intersecting
        pair red (red wins), the rest pale blue.
    """
    k = len(panels)
    if k == 0:
        raise ValueError("defects_figure needs at least one panel")
    fig = make_subplots(rows=1, cols=k, specs=[[{"type": "scene"}] * k], horizontal_spacing=0.02,
                        subplot_titles=[p[0] for p in panels])
    allp = np.concatenate([np.asarray(p[1]) for p in panels])
    lo, hi = allp.min(0), allp.max(0)
    c, r = (lo + hi) / 2, (hi - lo).max() / 2 * 1.05 + 1e-9
    axis = dict(showbackground=False, showgrid=True, zeroline=False, showticklabels=False, title="")
    for p, (title, v, f, flipped, pairs) in enumerate(panels):
        v32 = np.asarray(v, dtype=np.float32)
        f = np.asarray(f, dtype=np.int32)
        fig.add_trace(go.Mesh3d(x=v32[:, 0], y=v32[:, 1], z=v32[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                                facecolor=_face_colors(len(f), flipped, pairs), flatshading=True, name=title,
                                lighting=dict(ambient=0.5, diffuse=0.8, specular=0.1), hoverinfo="skip"),
                      row=1, col=p + 1)
        name = "scene" if p == 0 else f"scene{p + 1}"
        fig.layout[name].update(**{a: dict(range=[float(c[i] - r), float(c[i] + r)], **axis)
                                   for i, a in enumerate(("xaxis", "yaxis", "zaxis"))},
                                aspectmode="cube", camera=dict(eye=dict(x=1.15, y=1.15, z=1.45)))
    # a legend by colour: invisible markers
    for label, key in (("flipped face", "flipped"), ("self-intersecting face", "intersecting")):
        fig.add_trace(go.Scatter3d(x=[None], y=[None], z=[None], mode="markers", name=label,
                                   marker=dict(size=8, color=DEFECT_COLORS[key], symbol="square")))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0),
                      legend=dict(orientation="h", yanchor="bottom", y=1.04, x=0))
    return fig


def metrics_table(results: dict) -> pd.DataFrame:
    """The final metrics of several runs: one row per run (the dict's keys), columns of :data:`METRIC_LABELS`.

    results : dict label -> :class:`swviz.deformation.DeformResult` (with metrics)
    """
    rows = {}
    for label, r in results.items():
        last = r.metrics.iloc[-1].to_dict() if len(r.metrics.columns) else {}
        last.update(loss=float(r.loss[-1]) if len(r.loss) else float("nan"), seconds=float(r.seconds))
        rows[label] = {METRIC_LABELS[k]: last.get(k, np.nan) for k in METRIC_LABELS}
    return pd.DataFrame.from_dict(rows, orient="index")
