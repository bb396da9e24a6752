"""Plotly figure builders shared by the pages and notebooks (no streamlit here).

Topic modules add their own builders: ``shapes`` (meshes and measures), ``variance``
(curves and explainers), ``flows`` (animations). This module holds the basics.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

__all__ = ["clouds_figure", "SOURCE_COLOR", "TARGET_COLOR", "decade_ticks", "equal_axes_3d", "log_axis",
           "slices_figure"]

SOURCE_COLOR = "#1f77b4"
TARGET_COLOR = "#d62728"


def _power_label(k: int) -> str:
    if -2 <= k <= 3:
        return f"{float(f'1e{k}'):g}"
    return f"10<sup>{k}</sup>".replace("-", "−")


def decade_ticks(values) -> tuple[list[float], list[str]]:
    """Tick positions and labels for a log axis over ``values``: the powers of ten they span.

    Labels read as decades (``0.01, 0.1, 1, 10, 100, 1000, 10^4``...), at most about eight,
    so no label sits on another. Where fewer than two powers of ten fall inside the data,
    2 and 5 times each power are added, labelled in full. Data spanning less than a factor of 10 get no
    explicit ticks (empty lists: plotly's own ticks read well there), nor do values with
    nothing positive and finite.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0 or v.max() < 10 * v.min():
        return [], []
    lo, hi = int(np.floor(np.log10(v.min()))), int(np.ceil(np.log10(v.max())))
    powers = np.arange(lo, hi + 1)
    inside = [k for k in powers if v.min() <= float(f"1e{k}") <= v.max()]
    if len(inside) >= 2:
        step = int(np.ceil(len(powers) / 8))
        keep = powers[::step]
        return [float(f"1e{k}") for k in keep], [_power_label(int(k)) for k in keep]
    vals, text = [], []
    for k in powers:
        for mult in (1, 2, 5):
            t = float(f"{mult}e{k}")
            vals.append(t)
            text.append(_power_label(int(k)) if mult == 1 else f"{t:g}")
    return vals, text


def log_axis(values, **extra) -> dict:
    """A log axis labelled by :func:`decade_ticks` of ``values`` (a dict for ``update_xaxes``/``update_yaxes``)."""
    vals, text = decade_ticks(values)
    axis = dict(type="log")
    if vals:
        axis.update(tickmode="array", tickvals=vals, ticktext=text)
    axis.update(extra)
    return axis


def equal_axes_3d(fig: go.Figure, points: list[np.ndarray], pad: float = 0.05) -> go.Figure:
    """Fix a 3D figure's axes to one cube around all ``points`` ((k, 3) arrays)."""
    allp = np.concatenate([p[:, :3] for p in points])
    lo, hi = allp.min(0), allp.max(0)
    c, r = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + pad) + 1e-12
    axis = dict(showbackground=False, showgrid=True, zeroline=False)
    fig.update_layout(scene=dict(
        xaxis=dict(range=[c[0] - r, c[0] + r], **axis),
        yaxis=dict(range=[c[1] - r, c[1] + r], **axis),
        zaxis=dict(range=[c[2] - r, c[2] + r], **axis),
        aspectmode="cube",
    ))
    return fig


def clouds_figure(
    clouds: list[np.ndarray],
    names: list[str],
    colors: list[str] | None = None,
    height: int = 520,
    marker_size: float = 2.5,
) -> go.Figure:
    """Point clouds in one figure: 3D with equal aspect, or 2D with equal scale.

    clouds : list of (n_k, d) float, d in {2, 3}
    """
    colors = colors or [SOURCE_COLOR, TARGET_COLOR, "#2ca02c", "#9467bd"]
    d = clouds[0].shape[1]
    fig = go.Figure()
    for pts, name, color in zip(clouds, names, colors):
        pts = np.asarray(pts, dtype=np.float32)
        if d == 3:
            fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", name=name,
                                       marker=dict(size=marker_size, color=color, opacity=0.8)))
        else:
            y = pts[:, 1] if d > 1 else np.zeros(len(pts))
            fig.add_trace(go.Scattergl(x=pts[:, 0], y=y, mode="markers", name=name,
                                       marker=dict(size=marker_size + 2, color=color, opacity=0.7)))
    if d == 3:
        equal_axes_3d(fig, [np.asarray(c) for c in clouds])
    else:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def slices_figure(per_slice: np.ndarray, estimate: float, reference: float | None = None,
                  symbol: str = "W_p^p", height: int = 260) -> go.Figure:
    """Histogram of the per-slice costs with the mean, the estimate and the reference as lines.

    per_slice : (L,) float
    """
    w = np.asarray(per_slice, dtype=np.float64)
    counts, edges = np.histogram(w, bins=min(60, max(10, len(w) // 4)))
    top = float(counts.max()) * 1.08
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges) * 0.95, name="slices",
                           marker=dict(color="#c6dbef"), hovertemplate="%{x:.4g}: %{y} slices<extra></extra>"))
    lines = [("mean of the slices", float(w.mean()), dict(color="#6baed6", dash="dot", width=2)),
             ("estimate", float(estimate), dict(color=SOURCE_COLOR, width=3))]
    if reference is not None:
        lines.append(("reference", float(reference), dict(color="#222", dash="dash", width=2)))
    for name, x, style in lines:
        fig.add_trace(go.Scatter(x=[x, x], y=[0, top], mode="lines", name=f"{name} {x:.4g}", line=style,
                                 hoverinfo="name"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), bargap=0,
                      xaxis_title=f"per-slice {symbol}", yaxis_title="slices", yaxis_range=[0, top],
                      legend=dict(orientation="v", x=1.0, xanchor="right", y=1.0, bgcolor="rgba(255,255,255,0.7)"))
    return fig
