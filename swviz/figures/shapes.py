"""Figures of shapes and measures: shaded meshes, clouds, measure previews coloured by weight, discrepancy maps.

Meshes are drawn as ``Mesh3d`` with lighting, clouds as ``Scatter3d`` (``Scattergl`` in 2D),
always with equal aspect. Every figure sets ``uirevision`` so that a user's camera survives
reruns that change the data. Large meshes are simplified for display only (vertex clustering
down to ``max_faces``); the measures always use the full mesh.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..shapes.measures import Measure
from ..shapes.shape import Shape
from . import SOURCE_COLOR, TARGET_COLOR

__all__ = ["cluster_mean", "discrepancy_figure", "measure_figure", "pair_figure", "shape_traces",
           "simplify_for_display", "simplify_with_clusters", "weights_caption"]

LIGHTING = dict(ambient=0.35, diffuse=0.85, specular=0.25, roughness=0.55, fresnel=0.15)
LIGHT_POSITION = dict(x=1000, y=2000, z=3000)
UIREVISION = "swviz-shapes"  # constant: plotly keeps the user's camera across reruns


def simplify_for_display(vertices: np.ndarray, faces: np.ndarray, max_faces: int = 60000):
    """A coarser copy of a mesh for drawing: vertex clustering on a grid until ``<= max_faces`` faces.

    vertices : (v, 3) float; faces : (m, 3) int. Returns ``(vertices, faces)``, unchanged when
    the mesh is small enough. For display only: the clustering does not keep vertex order.
    """
    v, f, _ = simplify_with_clusters(vertices, faces, max_faces)
    return v, f


def simplify_with_clusters(vertices: np.ndarray, faces: np.ndarray, max_faces: int = 60000):
    """:func:`simplify_for_display`, and which drawn vertex each original vertex went to.

    Returns ``(vertices (k, 3) float, faces (m', 3) int, cluster (v,) int or None)``; ``cluster``
    is None when the mesh is drawn as it is. A per-vertex quantity ``q`` is drawn on the coarse
    mesh as ``np.bincount(cluster, q) / np.bincount(cluster)`` (the mean over each cluster).
    """
    if len(faces) <= max_faces:
        return vertices, faces, None
    lo, hi = vertices.min(0), vertices.max(0)
    size = float((hi - lo).max()) or 1.0
    cells = int(np.sqrt(max_faces / 2.0))  # a surface meets about cells^2 cells
    for _ in range(12):
        cell = np.minimum(np.floor((vertices - lo) / (size / cells)).astype(np.int64), cells)
        key = (cell[:, 0] * (cells + 1) + cell[:, 1]) * (cells + 1) + cell[:, 2]
        _, cluster = np.unique(key, return_inverse=True)
        f = cluster.ravel()[faces]
        f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]  # collapsed faces go
        _, first = np.unique(np.sort(f, axis=1), axis=0, return_index=True)  # and duplicated ones
        f = f[np.sort(first)]
        if len(f) <= max_faces:
            break
        cells = max(2, int(cells * 0.8))
    cluster = cluster.ravel()
    counts = np.bincount(cluster)
    v = np.zeros((counts.size, 3))
    np.add.at(v, cluster, vertices)
    v /= np.maximum(counts, 1)[:, None]
    return v, f, cluster


def cluster_mean(values: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Per-vertex ``values : (v, ...)`` averaged over the clusters of :func:`simplify_with_clusters`."""
    if cluster is None:
        return values
    counts = np.maximum(np.bincount(cluster), 1)
    if values.ndim == 1:
        return np.bincount(cluster, values, minlength=counts.size) / counts
    return np.stack([np.bincount(cluster, values[:, c], minlength=counts.size) / counts
                     for c in range(values.shape[1])], axis=1)


def shape_traces(shape: Shape, color: str, name: str, opacity: float = 1.0, max_faces: int = 60000,
                 scene: str = "scene", marker_size: float = 2.0) -> list:
    """Plotly traces of one shape: a lit ``Mesh3d`` for a mesh, markers for a cloud."""
    v = shape.vertices
    if shape.is_mesh:
        v, f = simplify_for_display(v, shape.faces, max_faces)
        v32 = v.astype(np.float32)
        return [go.Mesh3d(x=v32[:, 0], y=v32[:, 1], z=v32[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], color=color,
                          opacity=opacity, name=name, showlegend=True, flatshading=False, lighting=LIGHTING,
                          lightposition=LIGHT_POSITION, hoverinfo="name", scene=scene)]
    v32 = v.astype(np.float32)
    if shape.dim == 3:
        return [go.Scatter3d(x=v32[:, 0], y=v32[:, 1], z=v32[:, 2], mode="markers", name=name, scene=scene,
                             marker=dict(size=marker_size, color=color, opacity=0.8 * opacity))]
    return [go.Scattergl(x=v32[:, 0], y=v32[:, 1], mode="markers", name=name,
                         marker=dict(size=marker_size + 2.5, color=color, opacity=0.7 * opacity))]


def _scene_layout(points: list[np.ndarray], pad: float = 0.05) -> dict:
    allp = np.concatenate([p[:, :3] for p in points])
    lo, hi = allp.min(0), allp.max(0)
    c, r = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + pad) + 1e-12
    axis = dict(showbackground=False, showgrid=True, zeroline=False, title=dict(text=""))
    return dict(xaxis=dict(range=[c[0] - r, c[0] + r], **axis), yaxis=dict(range=[c[1] - r, c[1] + r], **axis),
                zaxis=dict(range=[c[2] - r, c[2] + r], **axis), aspectmode="cube", uirevision=UIREVISION)


def _side_by_side(source: Shape, target: Shape, names: tuple[str, str], traces) -> go.Figure:
    """Two panels, each with equal aspect: ``traces(col, shape, scene)`` gives the traces of panel ``col`` (1 or 2)."""
    three_d = source.dim == 3
    kind = "scene" if three_d else "xy"
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": kind}, {"type": kind}]], subplot_titles=names,
                        horizontal_spacing=0.02)
    for col, s in enumerate((source, target), start=1):
        for t in traces(col, s, "scene" if col == 1 else "scene2"):
            fig.add_trace(t, row=1, col=col)
    if three_d:
        fig.update_layout(scene=_scene_layout([source.vertices]), scene2=_scene_layout([target.vertices]))
    else:
        fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
        fig.update_yaxes(scaleanchor="x2", scaleratio=1, row=1, col=2)
    return fig


def pair_figure(source: Shape, target: Shape, layout: str = "side", height: int = 520,
                names: tuple[str, str] | None = None) -> go.Figure:
    """The pair side by side (``layout="side"``, two linked-size scenes) or overlaid (``"overlay"``)."""
    names = names or (f"source: {source.name}", f"target: {target.name}")
    colors = (SOURCE_COLOR, TARGET_COLOR)
    three_d = source.dim == 3
    if layout == "overlay":
        fig = go.Figure()
        for s, n, c in zip((source, target), names, colors):
            for t in shape_traces(s, c, n, opacity=0.55 if s.is_mesh else 1.0):
                fig.add_trace(t)
        if three_d:
            fig.update_layout(scene=_scene_layout([source.vertices, target.vertices]))
        else:
            fig.update_yaxes(scaleanchor="x", scaleratio=1)
    elif layout == "side":
        fig = _side_by_side(source, target, names,
                            lambda col, s, scene: shape_traces(s, colors[col - 1], names[col - 1], scene=scene))
        fig.update_layout(showlegend=False)  # the subplot titles name the shapes
    else:
        raise ValueError(f"layout must be 'side' or 'overlay'; got {layout!r}")
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), uirevision=UIREVISION,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def weights_caption(measure: Measure) -> str:
    """What the colours of :func:`measure_figure` mean for this measure: one sentence."""
    n = measure.n
    if _equal_weights(measure):
        return f"All {n:,} atoms weigh 1/{n:,} (equal weights), so they are drawn in one colour."
    rel = measure.weights * n
    return (f"Colour: n·wᵢ, each atom's weight against the uniform 1/{n:,} (1 is average), from {rel.min():.3g} "
            f"to {rel.max():.3g}.")


def _equal_weights(measure: Measure) -> bool:
    w = measure.weights
    return w is None or float(np.ptp(w)) <= 1e-12 * float(np.abs(w).max())


def measure_figure(measure: Measure, height: int = 420, max_points: int = 6000, seed: int = 0,
                   title: str | None = None, caption: bool = True) -> go.Figure:
    """The atoms of ``measure``: one colour when the weights are equal, else coloured by ``n * w_i`` with a colour bar.

    Varifold atoms (6-D) are drawn at their centroids with short segments along their normals.
    At most ``max_points`` atoms are drawn (a seeded subset), which the title says; the
    subtitle is :func:`weights_caption` (left out with ``caption=False``, when the page prints it).
    """
    pts = measure.points
    n = measure.n
    w = np.full(n, 1.0 / n) if measure.weights is None else measure.weights
    idx = np.arange(n)
    if n > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    p, rel = pts[idx].astype(np.float32), (w[idx] * n).astype(np.float32)
    shown = f"{len(idx):,} of {n:,} atoms" if len(idx) < n else f"{n:,} atoms"
    if _equal_weights(measure):  # one colour, no colour bar
        marker = dict(color="#440154")
    else:
        marker = dict(color=rel, colorscale="Viridis", showscale=True, cmin=float(rel.min()), cmax=float(rel.max()),
                      colorbar=dict(title=dict(text="n·w"), thickness=12))
    fig = go.Figure()
    if measure.dim >= 3:
        fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name="atoms",
                                   marker=dict(size=2.5, **marker)))
        if measure.dim == 6:
            span = float(np.ptp(p[:, :3], axis=0).max()) or 1.0
            nrm = p[:, 3:6] / np.maximum(np.linalg.norm(p[:, 3:6], axis=1, keepdims=True), 1e-12)
            tip = p[:, :3] + 0.04 * span * nrm
            seg = np.full((3 * len(p), 3), np.nan, dtype=np.float32)
            seg[0::3], seg[1::3] = p[:, :3], tip
            fig.add_trace(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", name="normals",
                                       line=dict(color="rgba(80,80,80,0.5)", width=2), hoverinfo="skip"))
        fig.update_layout(scene=_scene_layout([p[:, :3].astype(np.float64)]))
    else:
        fig.add_trace(go.Scattergl(x=p[:, 0], y=p[:, 1], mode="markers", name="atoms", marker=dict(size=5, **marker)))
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    head = title or f"{measure.name}: {measure.mode}, {shown}"
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=52, b=0), uirevision=UIREVISION, showlegend=False,
                      title=dict(text=f"{head}<br><sup>{weights_caption(measure)}</sup>" if caption else head,
                                 font=dict(size=13)))
    return fig


def _value_trace(shape: Shape, values: np.ndarray, scene: str, cmax: float, show_scale: bool, label: str,
                 max_faces: int, marker_size: float):
    v = shape.vertices
    common = dict(colorscale="Inferno", cmin=0.0, cmax=cmax, showscale=show_scale,
                  colorbar=dict(title=dict(text=label, side="right"), thickness=14, len=0.8))
    if shape.is_mesh:
        vd, f, cluster = simplify_with_clusters(v, shape.faces, max_faces)
        vals = cluster_mean(np.asarray(values, dtype=np.float64), cluster).astype(np.float32)
        v32 = vd.astype(np.float32)
        return go.Mesh3d(x=v32[:, 0], y=v32[:, 1], z=v32[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], intensity=vals,
                         intensitymode="vertex", name=shape.name, flatshading=False, lighting=LIGHTING,
                         lightposition=LIGHT_POSITION, scene=scene, hovertemplate="%{intensity:.3g}<extra></extra>",
                         **common)
    v32 = v.astype(np.float32)
    vals = np.asarray(values, dtype=np.float32)
    if shape.dim == 3:
        return go.Scatter3d(x=v32[:, 0], y=v32[:, 1], z=v32[:, 2], mode="markers", name=shape.name, scene=scene,
                            marker=dict(size=marker_size, color=vals, **common))
    return go.Scattergl(x=v32[:, 0], y=v32[:, 1], mode="markers", name=shape.name,
                        marker=dict(size=marker_size + 3, color=vals, **common))


def discrepancy_figure(source: Shape, target: Shape, source_values: np.ndarray, target_values: np.ndarray, *,
                       height: int = 480, max_faces: int = 60000, marker_size: float = 2.5,
                       label: str = "mean sq. sliced<br>displacement") -> go.Figure:
    """Each shape coloured by a per-vertex (per-point) value, side by side, on one colour scale with one colour bar.

    source, target : Shape; source_values : (n_vertices,) float; target_values : likewise.
    Meshes are drawn as ``Mesh3d`` with ``intensity`` per vertex (averaged over clusters when a
    large mesh is simplified for display), clouds as markers. The scale runs from 0 to the
    larger 99th percentile of the two, so one outlier does not wash out the rest.
    """
    sv, tv = np.asarray(source_values, dtype=np.float64), np.asarray(target_values, dtype=np.float64)
    if sv.shape != (source.n_vertices,) or tv.shape != (target.n_vertices,):
        raise ValueError(f"one value per vertex is needed: got {sv.shape} for {source.n_vertices:,} source and "
                         f"{tv.shape} for {target.n_vertices:,} target vertices")
    cmax = float(max(np.quantile(sv, 0.99), np.quantile(tv, 0.99))) or 1.0
    names = (f"source: {source.name}", f"target: {target.name}")
    fig = _side_by_side(source, target, names, lambda col, s, scene: [
        _value_trace(s, (sv, tv)[col - 1], scene, cmax, col == 2, label, max_faces, marker_size)])
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), showlegend=False, uirevision=UIREVISION)
    return fig
