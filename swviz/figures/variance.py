"""Figures for variance studies and for the one-slice explainer (Plotly, no streamlit).

* :func:`error_curves_figure`: RMSE (or standard deviation) against ``L``, log-log, with a
  band over repeats and the ``L^{-1/2}`` Monte Carlo slope;
* :func:`error_time_figure`: the same error against the wall time of one estimate;
* :func:`slice_figures`: one slice taught in four pictures (the direction over the shapes, the
  projected histograms, the quantile functions, the matching of sorted projections);
* :func:`distances_figure`: SW beside Max-SW, v-DSW and energy-SW, and the directions each found.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from scipy.stats import chi2

from . import SOURCE_COLOR, TARGET_COLOR, clouds_figure

__all__ = ["distances_figure", "error_curves_figure", "error_time_figure", "estimator_colors", "slice_figures"]

_PALETTE = qualitative.D3 + qualitative.Set2 + qualitative.Dark2


def estimator_colors(names) -> dict[str, str]:
    """A stable colour per estimator name, in the order given."""
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, xtitle: str, ytitle: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15)), height=height,
        margin=dict(l=10, r=10, t=45, b=10), hovermode="closest", title_automargin=True,
        legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0, font=dict(size=11)),
        xaxis_title=xtitle, yaxis_title=ytitle,
    )
    return fig


def _band(rows: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper band over repeats: quantiles of |error| (rmse), chi-square 90% CI (std)."""
    if metric == "rmse":
        return rows["abs_err_q10"].to_numpy(), rows["abs_err_q90"].to_numpy()
    k = rows["n_repeats"].to_numpy().astype(float)
    s = rows["std"].to_numpy()
    dof = np.maximum(k - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = s * np.sqrt(dof / chi2.ppf(0.95, dof))
        hi = s * np.sqrt(dof / chi2.ppf(0.05, dof))
    return lo, hi


def error_curves_figure(frame: pd.DataFrame, metric: str = "rmse", *, bands: bool = True,
                        colors: dict | None = None, height: int = 460, title: str | None = None) -> go.Figure:
    """Error against ``L`` on log-log axes, one curve per estimator.

    frame : a :func:`swviz.variance_study` table
    metric : "rmse" (against the reference; band: 10%-90% of |error| over repeats) or "std"
        (spread over repeats; band: 90% chi-square interval)
    """
    if metric not in ("rmse", "std"):
        raise ValueError(f"metric must be 'rmse' or 'std'; got {metric!r}")
    colors = colors or estimator_colors(frame["estimator"])
    fig = go.Figure()
    ok = frame[np.isfinite(frame[metric]) & (frame[metric] > 0)]
    for name, rows in ok.groupby("estimator", sort=False):
        rows = rows.sort_values("L")
        color = colors.get(name, "#444")
        label = rows["label"].iloc[0]
        if bands and bool(rows["random"].iloc[0]) and len(rows) > 1:
            lo, hi = _band(rows, metric)
            lo = np.where(lo > 0, lo, rows[metric].to_numpy() * 1e-3)
            fig.add_trace(go.Scatter(
                x=np.concatenate([rows["L"], rows["L"][::-1]]), y=np.concatenate([hi, lo[::-1]]),
                mode="lines", fill="toself", fillcolor=_rgba(color, 0.13), line=dict(width=0), hoverinfo="skip",
                showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(
            x=rows["L"], y=rows[metric], mode="lines+markers", name=label, legendgroup=name,
            line=dict(color=color, width=2, dash="solid" if rows["random"].iloc[0] else "dot"),
            marker=dict(size=6),
            customdata=np.stack([rows["mean"], rows["bias"], rows["seconds"] * 1e3], axis=1),
            hovertemplate=(f"<b>{label}</b><br>L = %{{x}}<br>{metric} = %{{y:.3g}}<br>mean = %{{customdata[0]:.6g}}"
                           "<br>bias = %{customdata[1]:.2g}<br>%{customdata[2]:.2f} ms per estimate<extra></extra>")))
    if len(ok):
        # the Monte Carlo rate, anchored at the first point of MC (or of the first random estimator)
        anchor_rows = ok[ok["estimator"] == "mc"]
        if anchor_rows.empty:
            anchor_rows = ok[ok["random"]]
        if not anchor_rows.empty:
            a = anchor_rows.sort_values("L").iloc[0]
            Ls = np.array([ok["L"].min(), ok["L"].max()], dtype=float)
            fig.add_trace(go.Scatter(x=Ls, y=a[metric] * np.sqrt(a["L"] / Ls), mode="lines", name="∝ L^(-1/2)",
                                     line=dict(color="#888", dash="dash", width=1.5), hoverinfo="skip"))
    what = "RMSE against the reference" if metric == "rmse" else "standard deviation over repeats"
    _layout(fig, title or f"{what} vs number of projections L", "number of projections L",
            "RMSE of SW_p^p" if metric == "rmse" else "std of the estimate", height)
    Ls = sorted(frame["L"].unique())
    fig.update_xaxes(type="log", tickvals=Ls if len(Ls) <= 12 else None)
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


def error_time_figure(frame: pd.DataFrame, metric: str = "rmse", *, colors: dict | None = None,
                      height: int = 400) -> go.Figure:
    """Error against the mean wall time of one estimate (log-log): who is cheapest at a given error."""
    colors = colors or estimator_colors(frame["estimator"])
    fig = go.Figure()
    ok = frame[np.isfinite(frame[metric]) & (frame[metric] > 0) & (frame["seconds"] > 0)]
    for name, rows in ok.groupby("estimator", sort=False):
        rows = rows.sort_values("L")
        label = rows["label"].iloc[0]
        fig.add_trace(go.Scatter(
            x=rows["seconds"] * 1e3, y=rows[metric], mode="lines+markers", name=label,
            line=dict(color=colors.get(name, "#444"), width=2, dash="solid" if rows["random"].iloc[0] else "dot"),
            text=rows["L"], hovertemplate=f"<b>{label}</b><br>L = %{{text}}<br>%{{x:.2f}} ms<br>{metric} = %{{y:.3g}}"
                                          "<extra></extra>"))
    _layout(fig, f"{'RMSE' if metric == 'rmse' else 'std'} vs wall time of one estimate", "milliseconds per estimate",
            "RMSE of SW_p^p" if metric == "rmse" else "std of the estimate", height)
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


# --------------------------------------------------------------------------- one slice


def _direction_line(center: np.ndarray, theta: np.ndarray, half: float) -> np.ndarray:
    return np.stack([center - half * theta, center + half * theta])


def slice_figures(view, x: np.ndarray, y: np.ndarray, names=("source", "target"), max_segments: int = 80,
                  height: int = 330) -> dict[str, go.Figure]:
    """Four figures for one slice (a :class:`swviz.study.SliceView`).

    Returns a dict with ``"shapes"`` (the clouds and the direction through their centre),
    ``"histograms"`` (the projected measures), ``"quantiles"`` (``F^{-1}`` and ``G^{-1}``, whose
    gap integrates to ``W_p^p``) and ``"matching"`` (sorted projections joined by the optimal
    monotone matching, on a sample of at most ``max_segments`` pieces).
    """
    theta = view.theta
    d = theta.shape[0]
    both = np.concatenate([x, y])
    center = both.mean(axis=0)
    half = 0.6 * float(np.ptp(both, axis=0).max())
    figs = {}
    shapes = clouds_figure([x, y], list(names), height=height + 90, marker_size=2)
    line = _direction_line(center, theta, half)
    if d == 3:
        shapes.add_trace(go.Scatter3d(x=line[:, 0], y=line[:, 1], z=line[:, 2], mode="lines+markers", name="θ",
                                      line=dict(color="#111", width=7), marker=dict(size=[0, 6], color="#111")))
    elif d == 2:
        shapes.add_trace(go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines+markers", name="θ",
                                    line=dict(color="#111", width=3), marker=dict(size=[0, 10], symbol="arrow",
                                                                                 angleref="previous")))
    shapes.update_layout(margin=dict(l=0, r=0, t=30, b=0))
    figs["shapes"] = shapes

    lo = min(view.x_proj.min(), view.y_proj.min())
    hi = max(view.x_proj.max(), view.y_proj.max())
    bins = dict(start=lo, end=hi + 1e-12, size=(hi - lo) / 50 if hi > lo else 1.0)
    hist = go.Figure()
    for proj, w, name, color in ((view.x_proj, view.x_weights, names[0], SOURCE_COLOR),
                                 (view.y_proj, view.y_weights, names[1], TARGET_COLOR)):
        hist.add_trace(go.Histogram(x=proj, y=w, histfunc="sum", xbins=bins, name=name, marker_color=color,
                                    opacity=0.55))
    hist.update_layout(barmode="overlay")
    figs["histograms"] = _layout(hist, "projected measures θ#μ and θ#ν", "<θ, x>", "mass", height)

    q0 = np.concatenate([[0.0], view.q])
    quant = go.Figure()
    for vals, name, color in ((view.x_quantile, names[0], SOURCE_COLOR), (view.y_quantile, names[1], TARGET_COLOR)):
        quant.add_trace(go.Scatter(x=np.repeat(q0, 2)[1:-1], y=np.repeat(vals, 2), mode="lines", name=f"{name}",
                                   line=dict(color=color, width=2)))
    quant.add_trace(go.Scatter(
        x=np.concatenate([np.repeat(q0, 2)[1:-1], np.repeat(q0, 2)[1:-1][::-1]]),
        y=np.concatenate([np.repeat(view.x_quantile, 2), np.repeat(view.y_quantile, 2)[::-1]]),
        mode="lines", fill="toself", fillcolor="rgba(120,120,120,0.18)", line=dict(width=0),
        name="gap |F⁻¹ − G⁻¹|",
        hoverinfo="skip"))
    figs["quantiles"] = _layout(quant, "quantile functions F⁻¹ and G⁻¹", "quantile level q", "projection", height)

    K = view.q.shape[0]
    pick = np.unique(np.linspace(0, K - 1, min(K, max_segments)).round().astype(int))
    xs, ys = view.x_quantile[pick], view.y_quantile[pick]
    seg_x = np.stack([xs, ys, np.full_like(xs, np.nan)], axis=1).ravel()
    seg_y = np.tile([1.0, 0.0, np.nan], pick.size)
    match = go.Figure()
    match.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color="rgba(80,80,80,0.45)", width=1),
                               name="matching", hoverinfo="skip"))
    match.add_trace(go.Scatter(x=view.x_proj, y=np.ones_like(view.x_proj), mode="markers", name=names[0],
                               marker=dict(color=SOURCE_COLOR, size=5, symbol="line-ns-open")))
    match.add_trace(go.Scatter(x=view.y_proj, y=np.zeros_like(view.y_proj), mode="markers", name=names[1],
                               marker=dict(color=TARGET_COLOR, size=5, symbol="line-ns-open")))
    match.update_yaxes(tickvals=[0, 1], ticktext=[names[1], names[0]], range=[-0.3, 1.3])
    figs["matching"] = _layout(match, f"matching of sorted projections ({pick.size} of {K} pairs)", "<θ, ·>", "",
                               height)
    return figs


# --------------------------------------------------------------------------- other distances


def distances_figure(values: dict[str, float], results: dict, x: np.ndarray, y: np.ndarray,
                     names=("source", "target"), height: int = 420) -> tuple[go.Figure, go.Figure]:
    """A bar chart of ``p``-th powers and the directions found, drawn over the shapes.

    values : label -> value (e.g. SW, energy-SW, v-DSW, Max-SW)
    results : label -> :class:`swviz.SlicedDistance`
    """
    colors = ["#7f7f7f", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"]
    bars = go.Figure(go.Bar(x=list(values), y=list(values.values()), marker_color=colors[: len(values)],
                            text=[f"{v:.4g}" for v in values.values()], textposition="outside"))
    _layout(bars, "p-th powers: SW ≤ v-DSW ≤ Max-SW", "", "value", height)
    bars.update_layout(showlegend=False)
    d = x.shape[1]
    shapes = clouds_figure([x, y], list(names), height=height + 60, marker_size=2)
    both = np.concatenate([x, y])
    center = both.mean(axis=0)
    half = 0.6 * float(np.ptp(both, axis=0).max())
    for (label, res), color in zip(results.items(), colors[1:]):
        line = _direction_line(center, res.direction, half)
        if d == 3:
            shapes.add_trace(go.Scatter3d(x=line[:, 0], y=line[:, 1], z=line[:, 2], mode="lines", name=label,
                                          line=dict(color=color, width=6)))
        elif d == 2:
            shapes.add_trace(go.Scatter(x=line[:, 0], y=line[:, 1], mode="lines", name=label,
                                        line=dict(color=color, width=3)))
    shapes.update_layout(margin=dict(l=0, r=0, t=30, b=0))
    return bars, shapes
