"""Figures for batch studies (:mod:`swviz.batch`): a heat map of one row per pair (Plotly, no streamlit).

* :func:`study_heatmap`: pairs down, estimator and L across, coloured by the log of the
  variance-reduction factor (blue: fewer slices needed than the baseline, red: more) or of
  the RMSE against the reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = ["study_heatmap"]

#: Largest |log10 VRF| the colour scale spans; exact estimators (VRF = inf) sit at its end.
VRF_DECADES = 4.0


def _factor(v: float) -> str:
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "exact"
    return f"×{v:.3g}" if 1e-3 <= v < 1e4 else f"×{v:.1e}"


def study_heatmap(summary: pd.DataFrame, metric: str = "vrf", labels: dict | None = None,
                  baseline: str = "mc", title: str | None = None) -> go.Figure:
    """Heat map of :func:`swviz.batch.summary_table`: one row per pair, one column per estimator and L.

    metric : ``"vrf"`` (log10 of the variance-reduction factor, centred on 1, over the decades
        the factors reach, at most ``±VRF_DECADES``; an infinite factor, zero variance, reads
        "exact" and sits at the end of the scale; the baseline's own columns, 1 throughout, are
        left out) or
        ``"rmse"`` (log10 of the RMSE against each pair's reference).
    labels : estimator name -> display label, optional.
    A cell is blank where the estimator was skipped on that pair (another dimension).
    """
    if metric not in ("vrf", "rmse"):
        raise ValueError(f"metric must be 'vrf' or 'rmse'; got {metric!r}")
    labels = labels or {}
    if metric == "vrf" and (summary["estimator"] != baseline).any():  # the baseline's own column is 1 throughout
        summary = summary[summary["estimator"] != baseline]
    pairs = list(dict.fromkeys(summary["pair"]))
    cols = list(dict.fromkeys(zip(summary["estimator"], summary["L"])))
    vals = summary.set_index(["pair", "estimator", "L"])[metric]
    z = np.full((len(pairs), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in pairs]
    for i, p in enumerate(pairs):
        for j, (e, L) in enumerate(cols):
            if (p, e, L) not in vals.index:
                continue
            v = float(vals.loc[(p, e, L)])
            if metric == "vrf":
                text[i][j] = _factor(v)
                if not math.isnan(v):
                    z[i][j] = VRF_DECADES if math.isinf(v) else float(np.clip(np.log10(max(v, 1e-300)),
                                                                               -VRF_DECADES, VRF_DECADES))
            else:
                text[i][j] = f"{v:.2g}"
                if v > 0 and math.isfinite(v):
                    z[i][j] = math.log10(v)
    x = [f"{labels.get(e, e)} · L={L}" for e, L in cols]
    hover = "%{y}<br>%{x}<br>" + ("VRF %{text}" if metric == "vrf" else "RMSE %{text}") + "<extra></extra>"
    if metric == "vrf":
        # the scale spans the decades the finite factors reach (at least one, at most VRF_DECADES) either side of 1
        finite = np.abs(z[np.isfinite(z) & (np.abs(z) < VRF_DECADES)])
        span = float(min(VRF_DECADES, max(1.0, math.ceil(finite.max())))) if finite.size else 1.0
        z = np.clip(z, -span, span)
        ticks = list(range(-int(span), int(span) + 1))
        colorbar = {"title": {"text": f"Var {labels.get(baseline, baseline)} /<br>Var estimator"},
                    "tickvals": ticks, "ticktext": [f"×{10.0 ** k:g}" for k in ticks]}
        trace = go.Heatmap(z=z, x=x, y=pairs, text=text, texttemplate="%{text}", hovertemplate=hover,
                           colorscale="RdBu", zmid=0, zmin=-span, zmax=span, colorbar=colorbar,
                           xgap=2, ygap=2)
    else:
        finite = z[np.isfinite(z)]
        lo, hi = (math.floor(finite.min()), math.ceil(finite.max())) if finite.size else (-3, 0)
        ticks = list(range(lo, hi + 1))
        colorbar = {"title": {"text": "RMSE"}, "tickvals": ticks, "ticktext": [f"{10.0 ** k:g}" for k in ticks]}
        trace = go.Heatmap(z=z, x=x, y=pairs, text=text, texttemplate="%{text}", hovertemplate=hover,
                           colorscale="Viridis", reversescale=True, colorbar=colorbar, xgap=2, ygap=2)
    fig = go.Figure(trace)
    if title is None:
        title = ("Variance-reduction factor against " + labels.get(baseline, baseline) if metric == "vrf"
                 else "RMSE against the reference")
    fig.update_layout(title=title, height=max(320, 60 + 34 * len(pairs)), margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      template="plotly_white")
    fig.update_xaxes(tickangle=-30)
    fig.update_yaxes(autorange="reversed")
    return fig
