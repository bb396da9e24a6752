"""Figures of the slicing sphere (a :class:`swviz.sphere.SphereMap`) and of amortized slicing.

* :func:`sphere_figure`: the sphere mesh (the convex hull of the Fibonacci lattice) coloured by
  ``W_p^p(theta)``, with chosen directions as markers just outside it;
* :func:`sphere_map_figure`: the same function on an equirectangular map (azimuth by latitude),
  each direction drawn with its antipode (open marker: the same slice);
* :func:`circle_figure`: the 2D case, ``W_p^p`` around the circle in polar form;
* :func:`sphere_figures`: the pair of views for any :class:`SphereMap`;
* :func:`curves_figure`, :func:`reconstructions_figure`: the autoencoder's training curves and
  its reconstructions beside their inputs.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ..sphere import SphereMap, angles_of
from . import SOURCE_COLOR, TARGET_COLOR, equal_axes_3d

__all__ = ["OVERLAY_COLORS", "circle_figure", "curves_figure", "reconstructions_figure", "sphere_figure",
           "sphere_figures", "sphere_map_figure"]

OVERLAY_COLORS = qualitative.Dark2 + qualitative.Set1
_SYMBOLS = ("circle", "diamond", "square", "cross", "x", "triangle-up", "star")
_SCALE = "Viridis"


def _colour(i: int) -> str:
    return OVERLAY_COLORS[i % len(OVERLAY_COLORS)]


def _as_rows(dirs) -> np.ndarray:
    return np.atleast_2d(np.asarray(dirs, dtype=float))


def sphere_figure(smap: SphereMap, overlays: dict | None = None, picked=None, *, symbol: str = "W₂²(θ)",
                  height: int = 520) -> go.Figure:
    """The slicing sphere in 3D: a mesh coloured by ``W_p^p(theta)`` and direction markers.

    smap : SphereMap with ``dim == 3``
    overlays : dict label -> (k, 3) float directions, optional
    picked : (3,) float, optional
        Drawn as a black arrow from the centre.
    """
    from scipy.spatial import ConvexHull

    pts = smap.lattice
    faces = ConvexHull(pts).simplices
    fig = go.Figure(go.Mesh3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
                              intensity=smap.lattice_values, colorscale=_SCALE, name=symbol, showscale=True,
                              colorbar=dict(title=symbol, len=0.7), flatshading=False,
                              hovertemplate=f"{symbol} = %{{intensity:.4g}}<extra></extra>"))
    for i, (label, dirs) in enumerate((overlays or {}).items()):
        d = _as_rows(dirs) * 1.04
        fig.add_trace(go.Scatter3d(x=d[:, 0], y=d[:, 1], z=d[:, 2], mode="markers", name=f"{label} ({len(d)})",
                                   marker=dict(size=4 if len(d) > 20 else 7, color=_colour(i),
                                               symbol=_SYMBOLS[i % 4], line=dict(width=1, color="white"))))
    if picked is not None:
        t = np.asarray(picked, dtype=float) * 1.35
        fig.add_trace(go.Scatter3d(x=[0, t[0]], y=[0, t[1]], z=[0, t[2]], mode="lines+markers", name="picked θ",
                                   line=dict(color="#111", width=6), marker=dict(size=[0, 6], color="#111")))
    equal_axes_3d(fig, [pts * 1.4])
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def sphere_map_figure(smap: SphereMap, overlays: dict | None = None, picked=None, *, symbol: str = "W₂²(θ)",
                      height: int = 420) -> go.Figure:
    """``W_p^p(theta)`` on an equirectangular map: azimuth (x) by latitude (y), in degrees.

    Every direction appears twice: filled at ``theta``, open at ``-theta`` (the same slice).
    """
    fig = go.Figure(go.Heatmap(x=smap.azimuth, y=smap.latitude, z=smap.grid, colorscale=_SCALE,
                               colorbar=dict(title=symbol), name=symbol,
                               hovertemplate="azimuth %{x:.1f}°, latitude %{y:.1f}°: %{z:.4g}<extra></extra>"))
    for i, (label, dirs) in enumerate((overlays or {}).items()):
        d = _as_rows(dirs)
        for sign, suffix, fill in ((1, "", ""), (-1, " (−θ)", "-open")):
            az, polar = angles_of(sign * d)
            fig.add_trace(go.Scatter(x=az, y=90.0 - polar, mode="markers", name=label + suffix,
                                     legendgroup=label, showlegend=sign == 1,
                                     marker=dict(size=5 if len(d) > 20 else 10, color=_colour(i),
                                                 symbol=_SYMBOLS[i % 4] + fill, line=dict(width=1, color="white"))))
    if picked is not None:
        az, polar = angles_of(np.asarray(picked, dtype=float))
        fig.add_trace(go.Scatter(x=az, y=90.0 - polar, mode="markers", name="picked θ",
                                 marker=dict(size=14, color="rgba(0,0,0,0)", symbol="circle",
                                             line=dict(width=3, color="#111"))))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(title="azimuth φ (degrees)", range=[0, 360], dtick=60),
                      yaxis=dict(title="latitude (degrees) = 90 − polar", range=[-90, 90], dtick=30),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def circle_figure(smap: SphereMap, overlays: dict | None = None, picked=None, *, symbol: str = "W₂²(θ)",
                  height: int = 440) -> go.Figure:
    """The 2D slicing "sphere": ``W_p^p`` around the circle (the half circle mirrored), polar form."""
    ang = np.concatenate([smap.azimuth, smap.azimuth + 180.0, smap.azimuth[:1] + 360.0])
    val = np.concatenate([smap.lattice_values, smap.lattice_values, smap.lattice_values[:1]])
    top = float(val.max()) * 1.1 if val.max() > 0 else 1.0
    fig = go.Figure(go.Scatterpolar(theta=ang, r=val, mode="lines", fill="toself", name=symbol,
                                    line=dict(color="#3b528b", width=2), fillcolor="rgba(59,82,139,0.15)"))
    for i, (label, dirs) in enumerate((overlays or {}).items()):
        d = _as_rows(dirs)
        az, _ = angles_of(d)
        rr = np.tile([0.0, top, np.nan], len(az))
        th = np.repeat(az, 3)
        fig.add_trace(go.Scatterpolar(theta=th, r=rr, mode="lines", name=f"{label} ({len(d)})",
                                      line=dict(color=_colour(i), width=1 if len(d) > 20 else 3)))
    if picked is not None:
        az, _ = angles_of(np.asarray(picked, dtype=float))
        fig.add_trace(go.Scatterpolar(theta=[az[0], az[0]], r=[0, top], mode="lines+markers", name="picked θ",
                                      line=dict(color="#111", width=3), marker=dict(size=[0, 8])))
    fig.update_layout(height=height, margin=dict(l=30, r=30, t=30, b=30),
                      polar=dict(radialaxis=dict(range=[0, top], title=symbol),
                                 angularaxis=dict(direction="counterclockwise")),
                      legend=dict(orientation="h", yanchor="bottom", y=1.05, x=0))
    return fig


def sphere_figures(smap: SphereMap, overlays: dict | None = None, picked=None, *, symbol: str = "W₂²(θ)"):
    """``(sphere, map)`` for d = 3, ``(circle, None)`` for d = 2."""
    if smap.dim == 2:
        return circle_figure(smap, overlays, picked, symbol=symbol), None
    return (sphere_figure(smap, overlays, picked, symbol=symbol),
            sphere_map_figure(smap, overlays, picked, symbol=symbol))


# --------------------------------------------------------------------------- the autoencoder's results


def curves_figure(curves: dict, *, ytitle: str = "validation Chamfer distance", height: int = 360) -> go.Figure:
    """Training curves: ``curves`` maps a loss label to ``(steps (k,), values (k,))``; log y axis."""
    fig = go.Figure()
    for i, (label, (steps, vals)) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=np.asarray(steps), y=np.asarray(vals), mode="lines+markers", name=label,
                                 line=dict(color=_colour(i), width=2), marker=dict(size=5)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="training step",
                      yaxis=dict(title=ytitle, type="log"), legend=dict(orientation="v"))
    return fig


def reconstructions_figure(inputs: np.ndarray, outputs: dict, names: list[str], *, height: int = 300,
                           marker_size: float = 1.6) -> go.Figure:
    """A grid of 3D scatters: one row per held-out shape, the input then one reconstruction per loss.

    inputs : (S, n, 3) float
    outputs : dict label -> (S, n, 3) float
    names : list of S shape names
    """
    from plotly.subplots import make_subplots

    cols = ["input"] + list(outputs)
    S = inputs.shape[0]
    fig = make_subplots(rows=S, cols=len(cols), specs=[[{"type": "scene"}] * len(cols) for _ in range(S)],
                        column_titles=cols, row_titles=list(names), horizontal_spacing=0.005,
                        vertical_spacing=0.02)
    for r in range(S):
        for c, label in enumerate(cols):
            pts = inputs[r] if c == 0 else outputs[label][r]
            fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", showlegend=False,
                                       name=f"{names[r]}: {label}",
                                       marker=dict(size=marker_size, color=SOURCE_COLOR if c == 0 else TARGET_COLOR,
                                                   opacity=0.8)), row=r + 1, col=c + 1)
    lim = float(np.abs(inputs).max()) * 1.1
    axis = dict(range=[-lim, lim], showticklabels=False, title="", showbackground=False)
    fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_layout(height=height * S, margin=dict(l=0, r=0, t=40, b=0))
    return fig
