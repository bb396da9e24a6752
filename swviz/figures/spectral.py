"""Figures of maps between meshes: colour transfer on surfaces, geodesic error maps, segments, stage times.

Meshes are ``vertices : (n, 3) float`` and ``faces : (m, 3) int``; a map is
``target_index : (n,) int`` (source vertex -> target vertex). No streamlit here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .correspondence import position_colors, transferred_colors

__all__ = ["error_on_target", "geodesic_error_figure", "mesh_colour_transfer_figure", "mesh_pair_figure",
           "segmentation_figure", "stage_times_figure"]

SEGMENT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf"]


def _css(rgb):
    c = np.clip(np.round(np.asarray(rgb) * 255), 0, 255).astype(int)
    return [f"rgb({r},{g},{b})" for r, g, b in c]


def _mesh(v, f, **kw):
    v = np.asarray(v, dtype=np.float32)
    f = np.asarray(f)
    return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], flatshading=False,
                     lighting=dict(ambient=0.55, diffuse=0.7, specular=0.1), hoverinfo="skip", **kw)


def _scene(v):
    lo, hi = v.min(0), v.max(0)
    c, r = (lo + hi) / 2, (hi - lo).max() / 2 * 1.05 + 1e-12
    axis = dict(showbackground=False, showgrid=False, zeroline=False, showticklabels=False, title=dict(text=""))
    return dict(xaxis=dict(range=[c[0] - r, c[0] + r], **axis), yaxis=dict(range=[c[1] - r, c[1] + r], **axis),
                zaxis=dict(range=[c[2] - r, c[2] + r], **axis), aspectmode="cube",
                camera=dict(eye=dict(x=1.3, y=-1.3, z=0.8)))


def mesh_pair_figure(meshes: list[tuple[np.ndarray, np.ndarray, dict]], titles: list[str], *,
                     height: int = 440) -> go.Figure:
    """Meshes side by side, one 3D scene each; ``meshes`` holds ``(vertices, faces, Mesh3d keyword arguments)``."""
    fig = make_subplots(rows=1, cols=len(meshes), specs=[[{"type": "scene"}] * len(meshes)],
                        subplot_titles=titles, horizontal_spacing=0.01)
    for col, (v, f, kw) in enumerate(meshes, start=1):
        fig.add_trace(_mesh(v, f, **kw), row=1, col=col)
        fig.update_layout({f"scene{'' if col == 1 else col}": _scene(np.asarray(v))})
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), showlegend=False,
                      uirevision="swviz-mesh-pair")
    return fig


def mesh_colour_transfer_figure(source_vertices, source_faces, target_vertices, target_faces, target_index, *,
                                height: int = 440) -> go.Figure:
    """Source surface coloured by position; the target surface in the colours the map carries (grey: unreached)."""
    src = position_colors(source_vertices)
    tgt = transferred_colors(src, np.asarray(target_index), len(target_vertices))
    return mesh_pair_figure([(source_vertices, source_faces, dict(vertexcolor=_css(src))),
                             (target_vertices, target_faces, dict(vertexcolor=_css(tgt)))],
                            ["source: colour by position", "target: colour received"], height=height)


def error_on_target(errors: np.ndarray, true_index: np.ndarray, n_target: int) -> np.ndarray:
    """Per-target-vertex error: each source vertex's error placed at its true target vertex (NaN if none). ``(m,)``."""
    out = np.full(int(n_target), np.nan)
    out[np.asarray(true_index)] = np.asarray(errors, dtype=np.float64)
    return out


def geodesic_error_figure(target_vertices, target_faces, error_per_vertex, *, title: str = "",
                          cmax: float | None = None, height: int = 440) -> go.Figure:
    """The target surface coloured by the geodesic error (/ sqrt(area)) of the match at each vertex."""
    e = np.nan_to_num(np.asarray(error_per_vertex, dtype=np.float64), nan=0.0)
    top = float(cmax) if cmax is not None else float(max(np.quantile(e, 0.98), 1e-6))
    fig = mesh_pair_figure([(target_vertices, target_faces,
                             dict(intensity=e, colorscale="Inferno", cmin=0.0, cmax=top,
                                  colorbar=dict(title=dict(text="error / √area"), len=0.8)))],
                           [title or "geodesic error on the target"], height=height)
    return fig


def segmentation_figure(source_vertices, source_faces, source_labels, target_vertices, target_faces,
                        target_labels, truth_labels=None, *, height: int = 420) -> go.Figure:
    """Source segments, the segments carried by the map, and (if given) those carried by the true map."""
    def colors(lab):
        return [SEGMENT_COLORS[int(i) % len(SEGMENT_COLORS)] for i in np.asarray(lab)]

    meshes = [(source_vertices, source_faces, dict(vertexcolor=colors(source_labels))),
              (target_vertices, target_faces, dict(vertexcolor=colors(target_labels)))]
    titles = ["source segments", "transferred by the map"]
    if truth_labels is not None:
        meshes.append((target_vertices, target_faces, dict(vertexcolor=colors(truth_labels))))
        titles.append("transferred by the true map")
    return mesh_pair_figure(meshes, titles, height=height)


def stage_times_figure(stages: dict[str, dict[str, float]], *, height: int = 300) -> go.Figure:
    """Seconds per stage for each method, as stacked horizontal bars. ``stages``: method -> stage -> seconds."""
    names = list(stages)
    all_stages = list(dict.fromkeys(s for d in stages.values() for s in d))
    fig = go.Figure()
    for st in all_stages:
        fig.add_trace(go.Bar(y=names, x=[stages[m].get(st, 0.0) for m in names], name=st, orientation="h",
                             hovertemplate=f"{st}: %{{x:.3f}} s<extra></extra>"))
    fig.update_layout(barmode="stack", height=height, margin=dict(l=0, r=0, t=30, b=0),
                      xaxis_title="seconds", legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig
