"""Figures of gradient flows: animated clouds or meshes side by side, and the W_2^2 curves.

:func:`flow_animation` draws one panel per flow, all driven by one Play/Pause button and
one step slider; the axes are fixed to a cube around every frame and the target (equal
aspect, nothing jumps), the target is drawn faintly, at most :data:`MAX_FRAMES` frames are
sent and every coordinate travels as float32. :func:`w2_figure` puts ``W_2^2`` against the
step for several flows on one log-scale plot.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import SOURCE_COLOR, TARGET_COLOR, log_axis

__all__ = ["MAX_FRAMES", "FLOW_COLORS", "flow_animation", "frame_indices", "w2_figure"]

#: Most frames an animation sends to the browser.
MAX_FRAMES = 60
#: One colour per flow (estimator), in order.
FLOW_COLORS = (SOURCE_COLOR, "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def frame_indices(T: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """At most ``max_frames`` evenly spread indices into ``T`` frames, first and last included."""
    if T <= max_frames:
        return np.arange(T)
    return np.unique(np.round(np.linspace(0, T - 1, max_frames)).astype(int))


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _moving_trace(pts, faces, color, name, marker_size, show_legend):
    pts = _f32(pts)
    if faces is not None:
        return go.Mesh3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
                         color=color, opacity=1.0, flatshading=True, name=name, showlegend=show_legend,
                         lighting=dict(ambient=0.45, diffuse=0.8, specular=0.15), hoverinfo="skip")
    if pts.shape[1] == 3:
        return go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", name=name,
                            showlegend=show_legend, marker=dict(size=marker_size, color=color, opacity=0.9),
                            hoverinfo="skip")
    y = pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts), np.float32)
    return go.Scatter(x=pts[:, 0], y=y, mode="markers", name=name, showlegend=show_legend,
                      marker=dict(size=marker_size + 2, color=color, opacity=0.85), hoverinfo="skip")


def _frame_data(pts, faces):
    """Only the coordinates change between frames (faces and styling stay)."""
    pts = _f32(pts)
    if faces is not None:
        return go.Mesh3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2])
    if pts.shape[1] == 3:
        return go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2])
    y = pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts), np.float32)
    return go.Scatter(x=pts[:, 0], y=y)


def flow_animation(
    panels: list[tuple[str, np.ndarray]],
    steps: np.ndarray,
    target: np.ndarray,
    faces: np.ndarray | None = None,
    *,
    max_frames: int = MAX_FRAMES,
    height: int | None = None,
    marker_size: float = 2.5,
    frame_ms: int = 90,
    colors: tuple[str, ...] = FLOW_COLORS,
) -> go.Figure:
    """Animated flows side by side, driven by one Play/Pause button and one step slider.

    Parameters
    ----------
    panels : list of (title, frames)
        ``frames : (T, n, d)`` float, d in {1, 2, 3}, the same ``T`` recorded steps for all.
        In mesh mode, the vertices.
    steps : (T,) int
        The step number of each frame.
    target : (m, d) float
        Drawn faintly in every panel.
    faces : (F, 3) int, optional
        Mesh mode: each frame is a ``Mesh3d`` with these faces.
    max_frames : int
        At most this many frames are sent (evenly spread, first and last kept).

    Returns
    -------
    plotly.graph_objects.Figure with ``frames``, a Play/Pause menu and a slider.
    """
    k = len(panels)
    if k == 0:
        raise ValueError("flow_animation needs at least one panel")
    steps = np.asarray(steps)
    target = np.asarray(target, dtype=np.float64)
    d = target.shape[1]
    T = panels[0][1].shape[0]
    if any(fr.shape[0] != T for _, fr in panels) or steps.shape[0] != T:
        raise ValueError("every panel needs the same number of frames as there are steps")
    keep = frame_indices(T, max_frames)
    faces = None if faces is None else np.ascontiguousarray(faces, dtype=np.int32)
    three_d = d == 3
    cols = k if k <= 3 else 2
    rows = -(-k // cols)
    spec = {"type": "scene"} if three_d else {"type": "xy"}
    fig = make_subplots(rows=rows, cols=cols, specs=[[spec] * cols for _ in range(rows)],
                        subplot_titles=[t for t, _ in panels], horizontal_spacing=0.02, vertical_spacing=0.06)

    # one cube (or square) around every frame and the target: fixed axes, equal aspect
    allp = np.concatenate([target] + [fr[keep].reshape(-1, d) for _, fr in panels])
    lo, hi = allp.min(0), allp.max(0)
    c, r = (lo + hi) / 2, (hi - lo).max() / 2 * 1.05 + 1e-9
    ranges = [[float(c[i] - r), float(c[i] + r)] for i in range(d)]

    moving = []  # trace indices that animate
    t32 = _f32(target)
    for p, (title, fr) in enumerate(panels):
        row, col = p // cols + 1, p % cols + 1
        color = colors[p % len(colors)]
        if three_d:
            fig.add_trace(go.Scatter3d(x=t32[:, 0], y=t32[:, 1], z=t32[:, 2], mode="markers", name="target",
                                       showlegend=p == 0, legendgroup="target",
                                       marker=dict(size=max(1.0, marker_size - 0.5), color=TARGET_COLOR,
                                                   opacity=0.12), hoverinfo="skip"), row=row, col=col)
        else:
            ty = t32[:, 1] if d > 1 else np.zeros(len(t32), np.float32)
            fig.add_trace(go.Scatter(x=t32[:, 0], y=ty, mode="markers", name="target", showlegend=p == 0,
                                     legendgroup="target", marker=dict(size=marker_size + 2, color=TARGET_COLOR,
                                                                       opacity=0.15), hoverinfo="skip"),
                          row=row, col=col)
        fig.add_trace(_moving_trace(fr[keep[0]], faces, color, title, marker_size, True), row=row, col=col)
        moving.append(len(fig.data) - 1)

    fig.frames = [
        go.Frame(data=[_frame_data(fr[i], faces) for _, fr in panels], traces=moving, name=str(int(steps[i])))
        for i in keep
    ]

    axis = dict(showbackground=False, showgrid=True, zeroline=False, showticklabels=False, title="")
    if three_d:
        for p in range(rows * cols):
            name = "scene" if p == 0 else f"scene{p + 1}"
            fig.layout[name].update(xaxis=dict(range=ranges[0], **axis), yaxis=dict(range=ranges[1], **axis),
                                    zaxis=dict(range=ranges[2], **axis), aspectmode="cube",
                                    camera=dict(eye=dict(x=1.15, y=1.15, z=1.45)))
    else:
        yr = ranges[1] if d > 1 else [-r, r]
        for p in range(rows * cols):
            sx = "x" if p == 0 else f"x{p + 1}"
            fig.layout["xaxis" if p == 0 else f"xaxis{p + 1}"].update(range=ranges[0], showticklabels=False)
            fig.layout["yaxis" if p == 0 else f"yaxis{p + 1}"].update(range=yr, scaleanchor=sx, scaleratio=1,
                                                                      showticklabels=False)

    redraw = three_d  # 3D scenes only update on a redraw
    play = dict(label="▶ Play", method="animate",
                args=[None, {"frame": {"duration": frame_ms, "redraw": redraw}, "fromcurrent": True,
                             "transition": {"duration": 0}, "mode": "immediate"}])
    pause = dict(label="❚❚ Pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": redraw}, "mode": "immediate",
                                "transition": {"duration": 0}}])
    slider_steps = [dict(label=str(int(steps[i])), method="animate",
                         args=[[str(int(steps[i]))], {"frame": {"duration": 0, "redraw": redraw},
                                                      "mode": "immediate", "transition": {"duration": 0}}])
                    for i in keep]
    per_row = 430 if three_d else 380
    fig.update_layout(
        height=height or (per_row * rows + 110),
        margin=dict(l=0, r=0, t=40, b=0),
        legend=dict(orientation="h", yanchor="bottom", y=1.04, x=0),
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.0, y=-0.02, xanchor="left",
                          yanchor="top", pad=dict(t=6, r=8), buttons=[play, pause])],
        sliders=[dict(active=0, x=0.16, len=0.84, y=-0.02, yanchor="top", pad=dict(t=6),
                      currentvalue=dict(prefix="step ", visible=True, xanchor="right"),
                      transition=dict(duration=0), steps=slider_steps)],
    )
    return fig


def w2_figure(curves: list[tuple[str, np.ndarray, np.ndarray]], method: str = "", height: int = 380,
              colors: tuple[str, ...] = FLOW_COLORS) -> go.Figure:
    """``W_2^2`` to the target against the step, one line per flow, on a log axis labelled by decades.

    curves : list of (label, steps (K,) int, w2 (K,) float)
    method : str
        How ``W_2^2`` was computed, shown under the title.

    Each flow has its own dash and marker, so flows whose curves coincide (LCV and MC on a
    centred pair) stay visible, and the subtitle names them.
    """
    from .variance import estimator_styles

    styles = estimator_styles([label for label, _, _ in curves])
    fig = go.Figure()
    values = []
    for p, (label, steps, w2) in enumerate(curves):
        w2 = np.asarray(w2, dtype=np.float64)
        values.append(w2)
        color = colors[p % len(colors)]
        fig.add_trace(go.Scatter(x=np.asarray(steps), y=w2, mode="lines+markers", name=label,
                                 line=dict(color=color, width=max(1.2, 3.5 - 0.8 * p), dash=styles[label]["dash"]),
                                 marker=dict(size=6, symbol=styles[label]["symbol"], line=dict(width=1, color=color))))
    same = [label for (label, steps, w2), v in zip(curves[1:], values[1:])
            if len(v) == len(values[0]) and np.allclose(v, values[0], rtol=1e-12, atol=0.0)]
    sub = method
    if same:
        sub = (f"{sub} · " if sub else "") + f"{', '.join(same)} coincide with {curves[0][0]} (drawn on top)"
    title = "W<sub>2</sub><sup>2</sup> to the target" + (f"<br><sup>{sub}</sup>" if sub else "")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=60, b=10), title=dict(text=title, x=0, y=0.97),
                      xaxis_title="step", yaxis_title="W<sub>2</sub><sup>2</sup>",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    fig.update_yaxes(**log_axis(np.concatenate(values) if values else []))
    return fig
