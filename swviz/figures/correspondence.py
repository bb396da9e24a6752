"""Figures of correspondences: lines between two shapes side by side, colour transfer, PCK curves.

Points are ``(n, d)`` float with ``d`` in {2, 3}; a map is ``target_index : (n,) int``. Colour
transfer can be drawn on the meshes themselves (vertex colours on ``Mesh3d``): each mesh
vertex takes the colour of its nearest matched atom.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import SOURCE_COLOR, TARGET_COLOR
from .variance import estimator_colors

__all__ = ["colour_transfer_figure", "lines_figure", "mesh_vertex_colors", "offset_target", "pck_figure",
           "position_colors", "transferred_colors"]

UNMATCHED = np.array([0.8, 0.8, 0.8])  # target atoms that no source atom reaches


def position_colors(x: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A smooth colour per point: coordinates rescaled to [0, 1] per axis -> RGB. ``(n, d) -> (n, 3)`` in [0, 1].

    Axes beyond the third are ignored; a 2D cloud gets a constant blue channel. ``bounds``
    (lower corner, upper corner) fixes the rescaling, e.g. to a mesh's box so its vertices and
    atoms sampled on it share colours; by default the box of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)[:, :3]
    if bounds is None:
        lo, span = x.min(0), np.ptp(x, axis=0)
    else:
        lo = np.asarray(bounds[0], dtype=np.float64)[: x.shape[1]]
        span = np.asarray(bounds[1], dtype=np.float64)[: x.shape[1]] - lo
    rgb = np.clip((x - lo) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    if rgb.shape[1] < 3:
        rgb = np.column_stack([rgb, np.full((len(rgb), 3 - rgb.shape[1]), 0.6)])
    return 0.1 + 0.8 * rgb  # keep away from black and white


def transferred_colors(source_rgb: np.ndarray, target_index: np.ndarray, m: int) -> np.ndarray:
    """Colours of ``m`` target atoms: the mean colour of the source atoms sent to each (grey if none). ``(m, 3)``."""
    total = np.zeros((m, 3))
    count = np.zeros(m)
    np.add.at(total, target_index, source_rgb)
    np.add.at(count, target_index, 1.0)
    out = np.tile(UNMATCHED, (m, 1))
    hit = count > 0
    out[hit] = total[hit] / count[hit, None]
    return out


def _css(rgb: np.ndarray) -> list[str]:
    c = np.clip(np.round(rgb * 255), 0, 255).astype(int)
    return [f"rgb({r},{g},{b})" for r, g, b in c]


def offset_target(x: np.ndarray, y: np.ndarray, gap: float = 0.4) -> np.ndarray:
    """``y`` shifted along the first axis to the right of ``x``, with a gap of ``gap`` times the larger shape's size."""
    width = max(float(np.ptp(x, axis=0).max()), float(np.ptp(y, axis=0).max()), 1e-12)
    shift = x[:, 0].max() - y[:, 0].min() + gap * width
    out = np.array(y, dtype=np.float64)
    out[:, 0] += shift
    return out


def _markers(pts, name, color, size, opacity=0.9, showlegend=True):
    p = np.asarray(pts, dtype=np.float32)
    if p.shape[1] == 3:
        return go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name=name, showlegend=showlegend,
                            marker=dict(size=size, color=color, opacity=opacity), hoverinfo="name")
    return go.Scattergl(x=p[:, 0], y=p[:, 1], mode="markers", name=name, showlegend=showlegend,
                        marker=dict(size=size + 2, color=color, opacity=opacity), hoverinfo="name")


def lines_figure(x: np.ndarray, y: np.ndarray, target_index: np.ndarray, *, n_lines: int = 150, seed: int = 0,
                 height: int = 520, title: str = "") -> go.Figure:
    """The two clouds side by side and a seeded subset of ``n_lines`` correspondence lines.

    Each line ``x_i -> y_{target_index[i]}`` is drawn in the colour of ``x_i``'s position, so
    crossing bundles show where the map folds.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    y_shown = offset_target(x, y)
    n = len(x)
    pick = np.sort(np.random.default_rng(seed).choice(n, min(n_lines, n), replace=False))
    rgb = _css(position_colors(x)[pick])
    ends = np.stack([x[pick], y_shown[target_index[pick]]], 1)  # (k, 2, d)
    seg = np.concatenate([ends, np.full((len(pick), 1, x.shape[1]), np.nan)], 1).reshape(-1, x.shape[1])
    seg_colors = [c for c in rgb for _ in range(3)]
    fig = go.Figure([_markers(x, "source", SOURCE_COLOR, 2.0, 0.35),
                     _markers(y_shown, "target", TARGET_COLOR, 2.0, 0.35)])
    if x.shape[1] == 3:
        fig.add_trace(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", name=f"{len(pick)} matches",
                                   line=dict(color=seg_colors, width=2.5), hoverinfo="skip", connectgaps=False))
        # equal scale on a tight box: the pair side by side fills the width instead of one big cube
        axis = dict(showbackground=False, showgrid=False, zeroline=False, showticklabels=False, title=dict(text=""))
        fig.update_layout(scene=dict(aspectmode="data", xaxis=axis, yaxis=axis, zaxis=axis,
                                     camera=dict(eye=dict(x=0.0, y=-1.6, z=0.7))))
    else:
        for k in range(len(pick)):  # 2D lines take one colour per trace
            fig.add_trace(go.Scatter(x=seg[3 * k:3 * k + 2, 0], y=seg[3 * k:3 * k + 2, 1], mode="lines",
                                     line=dict(color=rgb[k], width=1.2), showlegend=False, hoverinfo="skip"))
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30 if title else 10, b=0), title=title or None,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), uirevision="swviz-corr")
    return fig


def mesh_vertex_colors(vertices: np.ndarray, atoms: np.ndarray, atom_rgb: np.ndarray) -> np.ndarray:
    """Each mesh vertex in the colour of its nearest atom: ``(v, 3)`` float in [0, 1].

    vertices : (v, 3) float; atoms : (k, 3) float on (or near) the mesh; atom_rgb : (k, 3).
    """
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(np.asarray(atoms, dtype=np.float64)[:, :3]).query(np.asarray(vertices, dtype=np.float64))
    return np.asarray(atom_rgb)[nearest]


def _mesh_trace(shape, rgb, scene, max_faces):
    from .shapes import LIGHT_POSITION, LIGHTING, cluster_mean, simplify_with_clusters

    v, f, cluster = simplify_with_clusters(shape.vertices, shape.faces, max_faces)
    rgb = cluster_mean(rgb, cluster)
    v32 = v.astype(np.float32)
    return go.Mesh3d(x=v32[:, 0], y=v32[:, 1], z=v32[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], vertexcolor=_css(rgb),
                     name=shape.name, flatshading=False, lighting=LIGHTING, lightposition=LIGHT_POSITION,
                     hoverinfo="skip", scene=scene)


def colour_transfer_figure(x: np.ndarray, y: np.ndarray, target_index: np.ndarray, *, height: int = 440,
                           names: tuple[str, str] = ("source: colour by position", "target: colour received"),
                           marker_size: float = 3.0, source_shape=None, target_shape=None,
                           max_faces: int = 60000) -> go.Figure:
    """Source coloured by position (left); each target atom in the colour its source atoms carry (right).

    A good map transfers a smooth gradient; a poor one shows speckle. Unreached target atoms are grey.

    source_shape, target_shape : :class:`swviz.shapes.Shape`, optional
        When both are 3D meshes in the coordinates of ``x`` and ``y``, the colours are drawn
        on their surfaces (``Mesh3d`` vertex colours): a source vertex is coloured by its
        position (the same colouring as the atoms), a target vertex takes the colour of its
        nearest target atom. Otherwise the atoms are drawn as markers.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    on_mesh = (source_shape is not None and target_shape is not None and source_shape.is_mesh
               and target_shape.is_mesh and source_shape.dim == 3 and x.shape[1] == 3)
    bounds = (source_shape.vertices.min(0), source_shape.vertices.max(0)) if on_mesh else None
    src = position_colors(x, bounds)
    tgt = transferred_colors(src, np.asarray(target_index), len(y))
    three_d = x.shape[1] == 3
    kind = "scene" if three_d else "xy"
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": kind}, {"type": kind}]], subplot_titles=names,
                        horizontal_spacing=0.02)
    if on_mesh:
        fig.add_trace(_mesh_trace(source_shape, position_colors(source_shape.vertices, bounds), "scene", max_faces),
                      row=1, col=1)
        fig.add_trace(_mesh_trace(target_shape, mesh_vertex_colors(target_shape.vertices, y, tgt), "scene2",
                                  max_faces), row=1, col=2)
    else:
        fig.add_trace(_markers(x, "source", _css(src), marker_size, 1.0, False), row=1, col=1)
        fig.add_trace(_markers(y, "target", _css(tgt), marker_size, 1.0, False), row=1, col=2)
    if three_d:
        for scene, pts in (("scene", x), ("scene2", y)):
            if on_mesh:
                pts = (source_shape if scene == "scene" else target_shape).vertices
            lo, hi = pts.min(0), pts.max(0)
            c, r = (lo + hi) / 2, (hi - lo).max() / 2 * 1.05 + 1e-12
            axis = dict(showbackground=False, showgrid=True, zeroline=False, title=dict(text=""))
            fig.update_layout({scene: dict(xaxis=dict(range=[c[0] - r, c[0] + r], **axis),
                                           yaxis=dict(range=[c[1] - r, c[1] + r], **axis),
                                           zaxis=dict(range=[c[2] - r, c[2] + r], **axis), aspectmode="cube",
                                           camera=dict(eye=dict(x=1.3, y=-1.3, z=0.8)))})
    else:
        fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
        fig.update_yaxes(scaleanchor="x2", scaleratio=1, row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), showlegend=False,
                      uirevision="swviz-corr-colour")
    return fig


def pck_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, normalised_by: str = "sqrt(area)",
               height: int = 340) -> go.Figure:
    """PCK curves: for each method, the fraction of matches within each error threshold.

    curves : name -> (thresholds (k,), fractions (k,))
    """
    colors = estimator_colors(list(curves))
    fig = go.Figure()
    for name, (t, f) in curves.items():
        fig.add_trace(go.Scatter(x=np.asarray(t), y=np.asarray(f), mode="lines", name=name,
                                 line=dict(color=colors[name], width=2.5)))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=60, b=0),
                      title=dict(text="Correct matches within a threshold (PCK)", y=0.98, yanchor="top"),
                      xaxis_title=f"error threshold (distance to the true point / {normalised_by})",
                      yaxis_title="fraction of matches", yaxis=dict(range=[0, 1.02]),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig
