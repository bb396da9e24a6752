"""Variance: which estimator of SW wins on the current pair, by how much, at what cost.

Widgets -> one ``swviz.variance_study`` call -> figures. The study's result is kept in a small
global store (``st.cache_resource``) rather than ``st.cache_data`` because the study draws its
own progress bar and first curves while it runs, and a ``st.cache_data`` function may not
write into elements created outside it; everything else here is ``st.cache_data``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

import numpy as np
import pandas as pd
import streamlit as st

import swviz
from pages import pair, ui
from swviz.figures.variance import (
    distances_figure,
    error_curves_figure,
    error_time_figure,
    estimator_colors,
    slice_figures,
)
from swviz.study import DEFAULT_ESTIMATORS, DEFAULT_L_GRID

#: Study sizes that run without a click (estimated seconds on two cores).
AUTO_RUN_SECONDS = 20.0
#: Largest (atoms x slices) for which Max-SW / v-DSW / energy-SW run without a click.
OTHER_AUTO_WORK = 1_200_000
#: Rough cost of one slice per point of the pair, in seconds (measured on two cores).
SECONDS_PER_POINT_SLICE = 7e-9


# --------------------------------------------------------------------------- cached computations


def _fingerprint(m) -> str:
    h = hashlib.sha1(np.ascontiguousarray(m.points).tobytes())
    if m.weights is not None:
        h.update(np.ascontiguousarray(m.weights).tobytes())
    return h.hexdigest()


@st.cache_data(show_spinner="Explaining the slice…", max_entries=64, hash_funcs=ui.ARRAY_HASH)
def _slice(x, y, a, b, theta, p):
    return swviz.explain_slice(x, y, a, b, theta, p)


@st.cache_data(show_spinner="Ascending to Max-SW and v-DSW…", max_entries=16, hash_funcs=ui.ARRAY_HASH)
def _distances(x, y, a, b, p, kappa, L, seed, energy):
    ebsw = swviz.energy_sw(x, y, a, b, p=p, n_projections=L, seed=seed, energy=energy)
    msw = swviz.max_sw(x, y, a, b, p=p, seed=seed)
    vdsw = swviz.vmf_dsw(x, y, a, b, p=p, kappa=kappa, n_projections=L, seed=seed, init=msw.direction)
    return ebsw, vdsw, msw


# --------------------------------------------------------------------------- helpers


def _grid(spacing: str, lo: int, hi: int, count: int) -> list[int]:
    lo, hi = min(lo, hi), max(lo, hi)
    if spacing == "powers of 2":
        ks = range(math.ceil(math.log2(lo)), math.floor(math.log2(hi)) + 1)
        grid = [2**k for k in ks]
        return grid or [2 ** round(math.log2(lo))]
    return sorted({int(round(v)) for v in np.geomspace(lo, hi, count)})


def _fmt_factor(v: float) -> str:
    if not np.isfinite(v):
        return "—"
    return f"×{v:.3g}" if v < 1e4 else f"×{v:.1e}"


def _direction_from_angles(d: int, azimuth: float, polar: float) -> np.ndarray:
    a, t = np.radians(azimuth), np.radians(polar)
    if d == 2:
        return np.array([np.cos(a), np.sin(a)])
    theta = np.zeros(d)
    theta[:3] = [np.sin(t) * np.cos(a), np.sin(t) * np.sin(a), np.cos(t)]
    return theta


def _labels(names):
    return [ui.estimator_label(n) for n in names]


#: SHCV's fit needs many more directions than parameters: below this many per parameter it loses to MC.
SHCV_DIRECTIONS_PER_PARAMETER = 4


def _shcv_warning(names, grid) -> None:
    """Warn when an SHCV estimator runs at L close to its basis size, where it is far worse than MC.

    Leluc et al. (ICML 2024) fit ``K`` harmonics plus an intercept by least squares; with L
    only a little above ``K + 1`` the fit's noise dominates (degree 4 in 3D, K = 14: at L = 16
    its variance was 10 to 100 times MC's on the library's pairs).
    """
    from swviz.shcv import n_harmonics

    for name in names:
        degree = ui.estimator_fact(name, "degree")
        if not degree:
            continue
        k = n_harmonics(d, int(degree))
        limit = SHCV_DIRECTIONS_PER_PARAMETER * (k + 1)
        small = [L for L in grid if L < limit]
        if small:
            st.warning(f"{ui.estimator_label(name)} fits {k} harmonics and an intercept: at L = "
                       f"{', '.join(map(str, small))} (below about {limit} = {SHCV_DIRECTIONS_PER_PARAMETER} × "
                       f"{k + 1} parameters) its error is usually far worse than Monte Carlo's, often 10 to 100 "
                       "times the variance just above the basis size. Compare from a larger L, or use a lower degree.",
                       icon=":material/warning:")


# --------------------------------------------------------------------------- page

ui.ensure_app_navigation()
st.title("Variance of sliced Wasserstein estimators")
st.markdown(
    "Every estimator below targets the same number, $SW_p^p(\\mu,\\nu)$. They differ in **how the $L$ "
    "directions are chosen** (i.i.d. uniform, or a low-discrepancy set on the sphere) and **how the $L$ "
    "one-dimensional costs are combined** (a plain mean, or a regression on control variates whose mean "
    "is known exactly). A study repeats each estimator many times at each $L$ and measures its error "
    "against a near-exact reference: the lower the curve, the fewer slices you need."
)
with st.expander("The estimators in formulas", icon=":material/function:"):
    st.markdown("**Monte Carlo** (error $\\propto L^{-1/2}$), with $\\theta_l$ i.i.d. uniform on $S^{d-1}$:")
    st.latex(r"\widehat{SW}_p^p=\frac1L\sum_{l=1}^L W_l,\qquad W_l=W_p^p(\theta_{l\#}\mu,\theta_{l\#}\nu)")
    st.markdown(
        "**Control variates** (Nguyen & Ho 2024, $p=2$): fit a Gaussian to each measure; its projected "
        "closed forms $C(\\theta)$ have exact means, and $\\gamma$ is the least-squares slope of $W$ on $C$:")
    st.latex(r"C_{low}=(\theta^\top\Delta m)^2,\quad C_{up}=C_{low}+\theta^\top(\Sigma_\mu+\Sigma_\nu)\theta,\quad"
             r"\widehat{SW}=\overline W-\gamma\,(\overline C-\mathbb E\,C)")
    st.markdown(
        "**Spherical-harmonics control variates** (Leluc et al. 2024): regress $W_l$ on all even harmonics "
        "up to a degree; the intercept is the estimate (degree 2 contains both Gaussian control variates).")
    st.latex(r"\widehat{SW}=\hat\beta_0,\qquad (\hat\beta_0,\hat\beta)=\arg\min\sum_l"
             r"\Bigl(W_l-\beta_0-\sum_k\beta_k\varphi_k(\theta_l)\Bigr)^2")
    st.markdown(
        "**Quasi-Monte Carlo** (Nguyen, Bariletto & Ho 2024, $d=3$): replace random directions by a "
        "low-discrepancy set (generalized spiral, equal-area or Gaussian Sobol, maximal distance, Coulomb "
        "energy). Randomised QMC rotates the whole set at random (or scrambles Sobol) and stays unbiased. "
        "Dotted curves are deterministic sets (no variance, only bias).")

pair.sidebar_summary()
source, target = pair.current_pair()
x, y, a, b = source.points, target.points, source.weights, target.weights
d = source.dim
available = [n for n in swviz.ESTIMATORS if (swviz.get_estimator(n).dims is None or d in swviz.get_estimator(n).dims)]
# the default study is for 3D; elsewhere swap the 3D-only sets for Gaussian Sobol and keep SHCV small
defaults = (list(DEFAULT_ESTIMATORS) if d == 3
            else ["mc", "lcv", "ucv", "shcv-4" if d <= 3 else "shcv-2", "rqmc-gaussian"])
defaults = [n for n in defaults if n in available] or ["mc"]


def study_tab(ref, p, seed) -> None:
    names = ui.multiselect("Estimators", available, "v_est", defaults, format_func=ui.estimator_label,
                           help="Estimators of SW itself. Those that exist only in 3D are hidden for other d.")
    c2, c3, c4, c5 = st.columns(4, gap="medium")
    with c2:
        spacing = ui.select("L grid", ["powers of 2", "log-spaced"], "v_grid", "powers of 2")
        count = ui.slider("values of L (log-spaced)", "v_Ln", 7, 2, 12, disabled=spacing == "powers of 2")
    with c3:
        L_lo = ui.number("smallest L", "v_Lmin", DEFAULT_L_GRID[0], 2, 100_000)
        L_hi = ui.number("largest L", "v_Lmax", DEFAULT_L_GRID[-1], 2, 100_000)
    with c4:
        repeats = ui.number("repeats", "v_R", 100, 2, 2000, step=10)
    with c5:
        metric = ui.select("curve", ["rmse", "std"], "v_metric", "rmse",
                           format_func=lambda m: "RMSE vs reference" if m == "rmse" else "std over repeats")
    grid = _grid(spacing, int(L_lo), int(L_hi), int(count))
    st.caption(f"L grid: {', '.join(map(str, grid))} · pair: {source.n:,} + {target.n:,} atoms in {d}D")

    if not names:
        st.info("Pick at least one estimator.", icon=":material/info:")
        return
    if p != 2 and any(n in ("lcv", "ucv") or "cv" in n for n in names):
        st.caption("The Gaussian control variates are built for p = 2; for other p they remain valid "
                   "(unbiased up to O(1/L)) but reduce the variance less.")
    _shcv_warning(names, grid)
    sobol = [n for n in names if ui.estimator_fact(n, "sobol")]
    off = [L for L in grid if L & (L - 1)]
    if sobol and off:
        st.warning(f"{', '.join(_labels(sobol))}: Sobol points keep their balance only when L is a power of 2; "
                   f"{', '.join(map(str, off))} are not.", icon=":material/warning:")

    key = (_fingerprint(source), _fingerprint(target), tuple(names), tuple(grid), int(repeats), p, int(seed))
    result = ui.shared_results("variance").get(key)
    slices = sum(int(repeats) * (max(grid) if swviz.get_estimator(n).nested else sum(grid)) for n in names)
    general = a is not None or b is not None or source.n != target.n  # the merged-quantile path costs more
    estimate = slices * (source.n + target.n) * SECONDS_PER_POINT_SLICE * (6 if general else 1)
    colors = estimator_colors(names)
    if result is None:
        run = estimate <= AUTO_RUN_SECONDS or st.button(
            f"Run this study (about {estimate:.0f} s)", type="primary", icon=":material/play_arrow:")
        if not run:
            st.info(f"This study slices the pair up to {slices:,} times; it starts when you click.",
                    icon=":material/hourglass_top:")
            return
        bar = st.progress(0.0, text="Starting the study…")
        live = st.empty()
        t0 = time.perf_counter()
        last = [0.0]

        def progress(fraction: float, frame: pd.DataFrame) -> None:
            bar.progress(fraction, text=f"Slicing… {fraction:.0%} · {time.perf_counter() - t0:.1f} s")
            now = time.perf_counter()
            if frame["L"].nunique() >= 2 and now - last[0] > 0.4:  # a curve needs two points
                last[0] = now
                live.plotly_chart(error_curves_figure(frame, metric, colors=colors,
                                                      title="first curves (the study is running)"))

        try:
            frame = swviz.variance_study(x, y, a, b, estimators=names, L_grid=grid, n_repeats=int(repeats), p=p,
                                         seed=int(seed), reference=ref, progress=progress)
        except Exception as exc:  # noqa: BLE001 - any failure becomes a message
            bar.empty()
            live.empty()
            ui.show_error(exc, "Could not run the study")
            return
        result = {"frame": frame, "seconds": time.perf_counter() - t0}
        ui.shared_results("variance").put(key, result)
        bar.empty()
        live.empty()

    frame = result["frame"]
    sw = ui.sw_symbol(p)
    m1, m2, m3, m4 = st.columns([1.1, 1, 1, 1])
    m1.metric(f"Reference {sw}", f"{ref.value:.6g}", help=ref.method)
    m1.caption(f"{ref.method} (error estimate {ref.stderr:.1g})")
    at_max = frame[frame["L"] == max(grid)].dropna(subset=[metric])
    if not at_max.empty:
        best = at_max.loc[at_max[metric].idxmin()]
        m2.metric(f"Lowest {'RMSE' if metric == 'rmse' else 'std'} at L = {max(grid)}", f"{best[metric]:.2g}")
        m2.caption(f"by {best['label']}")
        mc_rows = frame[(frame["estimator"] == "mc") & (frame["L"] == max(grid))]
        if not mc_rows.empty and best[metric] > 0:
            m3.metric("Its error² vs MC's", _fmt_factor((mc_rows[metric].iloc[0] / best[metric]) ** 2))
            m3.caption(f"MC needs that many times more slices for the same {metric.upper()}")
    m4.metric("Study time", f"{result['seconds']:.1f} s")
    m4.caption(f"{int(repeats)} repeats × {len(grid)} values of L · {len(names)} estimators")

    left, right = st.columns([1.45, 1], gap="medium")
    with left:
        ui.chart(error_curves_figure(frame, metric, colors=colors), "v_curves")
        st.caption("Bands: " + ("10%–90% of |estimate − reference| over the repeats." if metric == "rmse"
                                else "90% chi-square interval of the standard deviation.")
                   + " Dashed grey: the Monte Carlo rate L^(-1/2). Dotted curves: deterministic sets.")
    with right:
        ui.chart(error_time_figure(frame, metric, colors=colors), "v_time")
        st.caption("Seconds per estimate include drawing and slicing its L directions (the real cost of "
                   "running it alone) and its combination step.")

    by = frame.set_index(["estimator", "L"])
    if {"mc", "lcv"} <= set(names) and np.allclose(by.loc["mc", "std"], by.loc["lcv", "std"], rtol=1e-9):
        st.caption("Lower CV coincides with MC here: both clouds are centred, so C_low = (θᵀΔm)² is identically 0 "
                   "and the estimator falls back to the plain mean.")
    notes = frame[frame["note"] != ""].drop_duplicates("estimator")
    for _, row in notes.iterrows():
        skipped = frame[(frame["estimator"] == row["estimator"]) & (frame["note"] != "")]["L"].tolist()
        st.info(f"{row['label']} skipped at L = {', '.join(map(str, skipped))}: {row['note']}",
                icon=":material/info:")

    baseline = "mc" if "mc" in names else names[0]
    st.subheader("Variance-reduction factors against "
                 + ("Monte Carlo" if baseline == "mc" else ui.estimator_label(baseline)))
    table = swviz.reduction_table(frame, baseline=baseline)
    st.dataframe(table.map(_fmt_factor), width="stretch")
    st.caption(f"Var[{ui.estimator_label(baseline)}] / Var[estimator] at equal L for random estimators; "
               "MSE ratio for deterministic sets (they have no variance). Above ×1 the estimator wins.")

    params = {"source": source.name, "target": target.name, "n_source": source.n, "n_target": target.n, "d": d,
              "estimators": names, "L_grid": grid, "n_repeats": int(repeats), "p": p, "seed": int(seed),
              "reference": {"value": ref.value, "method": ref.method, "error_estimate": ref.stderr}}
    e1, e2, _ = st.columns([1, 1, 2])
    e1.download_button("Study as CSV", frame.to_csv(index=False), "swviz_variance_study.csv", "text/csv",
                       icon=":material/download:")
    e2.download_button("Study as JSON", json.dumps({"params": params, "rows": json.loads(frame.to_json(
        orient="records"))}, indent=1), "swviz_variance_study.json", "application/json", icon=":material/download:")



def slice_tab(ref, p) -> None:
    st.markdown(
        "One slice is a one-dimensional optimal transport problem: project both shapes on $\\theta$, sort, and "
        "match rank by rank. Its cost $W_p^p(\\theta)$ is one sample of every estimator above; the control "
        "variates are cheap closed forms that move with it.")
    s1, s2, s3 = st.columns([1.1, 1, 1.6], gap="medium")
    with s1:
        if d == 1:
            st.info("In one dimension there is only one slice: SW is the exact 1D distance.")
            theta = np.ones(1)
        else:
            azimuth = ui.slider("azimuth φ (degrees)", "v_phi", 30, 0, 360 if d > 2 else 180)
            polar = ui.slider("polar angle (degrees, from +z)", "v_pol", 60, 0, 180) if d >= 3 else 90
            theta = _direction_from_angles(d, azimuth, polar)
            if d > 3:
                st.caption(f"d = {d}: the angles move θ within the first three coordinates.")
    try:
        view = _slice(x, y, a, b, theta, p)
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc, "Could not explain this slice")
        return
    sw = ui.sw_symbol(p)
    with s2:
        st.metric(f"W{sw[2:]}(θ) on this slice", f"{view.value:.5g}",
                  f"{view.value / ref.value:.2f} × {sw}" if ref.value else None, delta_color="off")
        st.caption(f"θ = ({', '.join(f'{v:+.3f}' for v in view.theta[:6])}{', …' if d > 6 else ''})")
    with s3:
        st.markdown(
            f"| | at θ | mean over θ (exact) |\n|---|---|---|\n"
            f"| W{sw[2:]}(θ) | {view.value:.5g} | {ref.value:.5g} ({sw}, reference) |\n"
            f"| C_low = (θᵀΔm)² | {view.c_low:.5g} | {view.mean_c_low:.5g} |\n"
            f"| C_up = C_low + θᵀ(Σμ+Σν)θ | {view.c_up:.5g} | {view.mean_c_up:.5g} |")
        if p == 2:
            ok = view.c_low - 1e-12 <= view.value <= view.c_up + 1e-12
            st.caption(("✓ " if ok else "✗ ") + "C_low ≤ W₂²(θ) ≤ C_up holds slice by slice (p = 2).")
    figs = slice_figures(view, x, y, (f"source: {source.name}", f"target: {target.name}"))
    r1, r2 = st.columns(2)
    with r1:
        ui.chart(figs["shapes"], "v_slice_shapes")
        st.caption("The direction θ (black) through the centre of the pair.")
    with r2:
        ui.chart(figs["histograms"], "v_slice_hist")
    r3, r4 = st.columns(2)
    with r3:
        ui.chart(figs["quantiles"], "v_slice_quant")
        st.caption(f"W{sw[2:]}(θ) = ∫₀¹ |F⁻¹(q) − G⁻¹(q)|^p dq: the grey gap, raised to the power p.")
    with r4:
        ui.chart(figs["matching"], "v_slice_match")
        st.caption("On a line the optimal plan is monotone: the i-th smallest source projection goes to the "
                   "i-th smallest target projection (a sample of the pairs is drawn).")


def other_tab(ref, p, seed) -> None:
    st.markdown(
        "These are **different distances**, not estimators of SW: they replace the uniform law of $\\theta$ by "
        "one that favours informative slices, so their values sit above SW. Max-SW keeps only the best slice "
        "(projected gradient ascent); v-DSW averages over a von Mises-Fisher cap of concentration $\\kappa$ around "
        "the best location ($\\kappa=0$ gives SW, $\\kappa\\to\\infty$ Max-SW); energy-SW reweights uniform slices "
        "by $f(W_l)$, $f = \\exp$ (softmax) or the identity.")
    o1, o2, o3, o4 = st.columns([1, 1, 1, 1.4])
    with o1:
        kappa = ui.number("κ (vMF concentration)", "v_kappa", 10.0, 0.0, 1000.0, step=1.0, cast=float)
    with o2:
        L_other = ui.number("slices for v-DSW and energy-SW", "v_Lo", 256, 8, 4096, step=64)
    with o3:
        energy = ui.select("energy f", ["exp", "identity"], "v_energy", "exp",
                           format_func=lambda e: "exp (softmax)" if e == "exp" else "identity (∝ W)")
    with o4:
        st.caption("All values are p-th powers, comparable with the SW estimates of the study. With f = exp the "
                   "weights depend on the scale of W: when W is small they are nearly uniform.")
    if d < 2:
        st.info("In one dimension every slicing distribution gives the same 1D distance.")
        return
    work = (source.n + target.n) * int(L_other)
    if work > OTHER_AUTO_WORK and not st.toggle(
            f"Compute them ({source.n + target.n:,} atoms × {int(L_other)} slices per ascent step: may take a while)",
            key="v_other_go"):
        st.info("Large pair: switch the toggle on to run the ascents.", icon=":material/hourglass_top:")
        return
    try:
        ebsw, vdsw, msw = _distances(x, y, a, b, p, float(kappa), int(L_other), int(seed), energy)
    except Exception as exc:  # noqa: BLE001
        ui.show_error(exc, "Could not compute the other distances")
        return
    sw = ui.sw_symbol(p)
    same = float(ebsw.per_slice.mean())
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(f"{sw} (reference)", f"{ref.value:.5g}")
    k2.metric(f"energy-{sw}", f"{ebsw.value:.5g}", f"{ebsw.value / same:.3f} × mean of its slices",
              delta_color="off")
    k3.metric(f"v-D{sw} (κ = {kappa:g})", f"{vdsw.value:.5g}", f"{vdsw.value / ref.value:.2f} × SW", delta_color="off")
    k4.metric(f"Max-{sw}", f"{msw.value:.5g}", f"{msw.value / ref.value:.2f} × SW", delta_color="off")
    values = {"SW": ref.value, "energy-SW": ebsw.value, "v-DSW": vdsw.value, "Max-SW": msw.value}
    bars, dirs = distances_figure(values, {"energy-SW (heaviest slice)": ebsw, "v-DSW location": vdsw,
                                           "Max-SW direction": msw}, x, y,
                                  (f"source: {source.name}", f"target: {target.name}"))
    q1, q2 = st.columns([1, 1.3])
    ui.chart(bars, "v_other_bars", container=q1)
    ui.chart(dirs, "v_other_dirs", container=q2)
    q2.caption("The directions found, drawn through the centre of the pair.")
    st.caption(f"Max-SW: {len(msw.history)} ascent steps from the best of {msw.params['n_candidates']} "
               f"random directions · v-DSW: {len(vdsw.history)} steps over the location with "
               f"{vdsw.directions.shape[0]} vMF samples (standard error {vdsw.params['stderr']:.2g}) · energy-SW: "
               f"{ebsw.directions.shape[0]} uniform slices whose plain mean is {same:.5g}.")


st.markdown("")
top1, top2, _ = st.columns([1, 1, 4])
with top1:
    p = ui.select("p (ground cost exponent)", [1, 2, 3], "v_p", 2)
with top2:
    seed = ui.number("seed", "v_seed", 0, 0, 2**31 - 1)
try:
    reference = ui.reference(x, y, a, b, p)
except Exception as exc:  # noqa: BLE001 - any failure becomes a message
    ui.show_error(exc, "Could not compute the reference")
    st.stop()

TABS = {"study": "Variance study", "slice": "One slice, explained", "other": "Other slicing distributions"}


@st.fragment
def tabs() -> None:
    """Only the open tab runs; choosing a tab, or a widget inside one, reruns only this part."""
    containers, shown = ui.tabs(TABS, "v_tab")
    with containers[shown]:
        {"study": lambda: study_tab(reference, p, seed), "slice": lambda: slice_tab(reference, p),
         "other": lambda: other_tab(reference, p, seed)}[shown]()


tabs()
