"""Figures for variance studies and for the one-slice explainer (Plotly, no streamlit).

* :func:`error_curves_figure`: RMSE (or standard deviation) against ``L``, log-log, with a
  band over repeats and the ``L^{-1/2}`` Monte Carlo slope;
* :func:`error_time_figure`: the same error against the wall time of one estimate (the
  median of repeated timings where the study has it);
* :func:`coincident_groups`, :func:`coincidence_note`: estimators whose curves are the same
  to 1e-12 relative, and a sentence saying why;

Every estimator has its own dash and marker (:func:`estimator_styles`; open markers for
deterministic direction sets), so curves that coincide stay visible, and the figures say so
in a subtitle. Log axes are labelled by decades (:func:`swviz.figures.log_axis`).
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

from . import SOURCE_COLOR, TARGET_COLOR, clouds_figure, log_axis

__all__ = ["COINCIDENCE_REASONS", "coincidence_note", "coincident_groups", "distances_figure", "error_curves_figure",
           "error_time_figure", "estimator_colors", "estimator_styles", "slice_figures"]

_PALETTE = qualitative.D3 + qualitative.Set2 + qualitative.Dark2
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star", "pentagon")

#: Why an estimator can give exactly the curve of plain Monte Carlo (Nguyen & Ho, ICLR 2024).
COINCIDENCE_REASONS = {
    "lcv": "the lower control variate (θ'Δm)² is zero in every direction when both means are at the same point "
           "(e.g. two centred shapes), so LCV has nothing to correct and is plain MC",
    "ucv": "the upper control variate (θ'Δm)² + θ'(Σ_x + Σ_y)θ takes the same value in every direction when the "
           "means meet and the covariances add up to a multiple of the identity, so UCV is plain MC",
}


def estimator_styles(names, random: dict | None = None) -> dict[str, dict]:
    """A distinct dash and marker per estimator name, in the order given.

    random : name -> bool, optional; deterministic direction sets get open markers.
    Returns name -> ``{"dash": str, "symbol": str}``; (dash, symbol) pairs differ for up to
    54 names.
    """
    out = {}
    for i, name in enumerate(dict.fromkeys(names)):
        q, r = divmod(i, len(_SYMBOLS))
        symbol = _SYMBOLS[r]
        if random is not None and not random.get(name, True):
            symbol += "-open"
        out[name] = {"dash": _DASHES[(r + q) % len(_DASHES)], "symbol": symbol}  # pairs unique for 54 names
    return out


def coincident_groups(frame: pd.DataFrame, metric: str = "rmse", rtol: float = 1e-12) -> list[list[str]]:
    """Estimators whose ``metric`` curves are equal at every ``L``, to ``rtol`` relative.

    Returns groups of two or more estimator names (frame order), e.g. ``[["mc", "lcv", "ucv"]]``
    on a centred pair; curves must share their ``L`` values to coincide.
    """
    curves = {}
    for name, rows in frame.groupby("estimator", sort=False):
        rows = rows.sort_values("L")
        curves[name] = (tuple(rows["L"]), rows[metric].to_numpy(dtype=np.float64))
    groups: list[list[str]] = []
    for name, (Ls, vals) in curves.items():
        for g in groups:
            L0, v0 = curves[g[0]]
            if Ls == L0 and np.all(np.isfinite(vals)) and np.allclose(vals, v0, rtol=rtol, atol=0.0):
                g.append(name)
                break
        else:
            groups.append([name])
    return [g for g in groups if len(g) > 1]


def coincidence_note(frame: pd.DataFrame, metric: str = "rmse", reasons: dict | None = None) -> str | None:
    """A sentence naming the estimators whose curves coincide and why, or None when none do.

    reasons : estimator name -> why it can equal the others; :data:`COINCIDENCE_REASONS` by default.
    """
    reasons = COINCIDENCE_REASONS if reasons is None else reasons
    labels = dict(zip(frame["estimator"], frame["label"] if "label" in frame else frame["estimator"]))
    parts = []
    for g in coincident_groups(frame, metric):
        names = [labels.get(n, n) for n in g]
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        why = [f"{labels.get(n, n)}: {reasons[n]}" for n in g if n in reasons]
        parts.append(f"{listed} give the same curve (equal to 1e-12), drawn on top of each other"
                     + (" — " + "; ".join(why) if why else "") + ".")
    return " ".join(parts) or None


def _wrap(text: str, width: int = 110) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join(lines + [line])


def _note_subtitle(fig: go.Figure, note: str | None) -> None:
    if note:
        title = fig.layout.title.text or ""
        wrapped = _wrap(note)
        lines = wrapped.count("<br>") + 1
        # a fixed top margin: the title's automargin does not make room for a multi-line subtitle
        fig.update_layout(title_text=f"{title}<br><sup>{wrapped}</sup>", title_automargin=False,
                          margin_t=50 + 18 * lines)


def _group_widths(frame: pd.DataFrame, metric: str) -> dict[str, float]:
    """Line widths: within a group of coinciding curves the first is widest, so each stays visible."""
    widths = {}
    for g in coincident_groups(frame, metric):
        for i, name in enumerate(g):
            widths[name] = max(1.2, 5.0 - 1.6 * i)
    return widths


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
    styles = estimator_styles(frame["estimator"], dict(zip(frame["estimator"], frame["random"])))
    fig = go.Figure()
    ok = frame[np.isfinite(frame[metric]) & (frame[metric] > 0)]
    widths = _group_widths(ok, metric)
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
            line=dict(color=color, width=widths.get(name, 2.0), dash=styles[name]["dash"]),
            marker=dict(size=8 if name in widths else 6, symbol=styles[name]["symbol"], line=dict(width=1.5,
                                                                                            color=color)),
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
    if len(Ls) <= 12:
        fig.update_xaxes(type="log", tickmode="array", tickvals=Ls, ticktext=[f"{v:g}" for v in Ls])
    else:
        fig.update_xaxes(**log_axis(Ls))
    fig.update_yaxes(**log_axis(ok[metric]))
    _note_subtitle(fig, coincidence_note(ok, metric))
    return fig


def error_time_figure(frame: pd.DataFrame, metric: str = "rmse", *, colors: dict | None = None,
                      height: int = 400) -> go.Figure:
    """Error against the wall time of one estimate (log-log): who is cheapest at a given error.

    The time is the study's ``seconds_median`` (median of repeated timings, robust to noise,
    so a curve does not double back in time) where the frame has it for every row, else its
    ``seconds`` (mean); the axis title says which.
    """
    colors = colors or estimator_colors(frame["estimator"])
    styles = estimator_styles(frame["estimator"], dict(zip(frame["estimator"], frame["random"])))
    robust = "seconds_median" in frame and bool(np.all(np.isfinite(frame["seconds_median"])))
    t_col = "seconds_median" if robust else "seconds"
    fig = go.Figure()
    ok = frame[np.isfinite(frame[metric]) & (frame[metric] > 0) & (frame[t_col] > 0)]
    widths = _group_widths(ok, metric)
    for name, rows in ok.groupby("estimator", sort=False):
        rows = rows.sort_values("L")
        label = rows["label"].iloc[0]
        color = colors.get(name, "#444")
        fig.add_trace(go.Scatter(
            x=rows[t_col] * 1e3, y=rows[metric], mode="lines+markers", name=label,
            line=dict(color=color, width=widths.get(name, 2.0), dash=styles[name]["dash"]),
            marker=dict(size=8 if name in widths else 6, symbol=styles[name]["symbol"],
                        line=dict(width=1.5, color=color)),
            text=rows["L"], hovertemplate=f"<b>{label}</b><br>L = %{{text}}<br>%{{x:.2f}} ms<br>{metric} = %{{y:.3g}}"
                                          "<extra></extra>"))
    xtitle = "milliseconds per estimate (median of repeated timings)" if robust else "milliseconds per estimate (mean)"
    _layout(fig, f"{'RMSE' if metric == 'rmse' else 'std'} vs wall time of one estimate", xtitle,
            "RMSE of SW_p^p" if metric == "rmse" else "std of the estimate", height)
    fig.update_xaxes(**log_axis(ok[t_col] * 1e3))
    fig.update_yaxes(**log_axis(ok[metric]))
    _note_subtitle(fig, coincidence_note(ok, metric))
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
