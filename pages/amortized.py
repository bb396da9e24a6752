"""Amortized slicing: a model predicts where to slice; the slicing sphere; the autoencoder study.

Widgets -> one call into ``swviz.amortized`` / ``swviz.sphere`` -> figures. The autoencoder's
results are read from the small file shipped in ``swviz/data`` (so the tab opens at once); a
short retraining of one loss runs on demand with a progress bar.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import swviz
from pages import pair, ui
from swviz import amortized
from swviz.amortized.autoencoder import LOSSES, load_results, score, train_autoencoder
from swviz.figures.sphere import curves_figure, reconstructions_figure, sphere_figures
from swviz.figures.variance import slice_figures
from swviz.sphere import direction_from_angles, estimator_directions, sphere_map

#: Most atoms of a pair for which the per-pair ascents run without a click.
AUTO_ATOMS = 6000


@st.cache_resource(show_spinner="Loading the direction model…")
def _model():
    model = amortized.load_default()
    # one prediction builds the model's kept float32 copy, so the page's timings are the predictions'
    model.direction(swviz.shapes.sample_shape("sphere", 64, 0), swviz.shapes.sample_shape("torus", 64, 1))
    return model


@st.cache_data(show_spinner="Predicting and ascending…", max_entries=16, hash_funcs=ui.ARRAY_HASH)
def _compare(x, y, a, b, kappa, L, p, seed):
    return amortized.compare_with_ascent(x, y, a, b, model=_model(), kappa=kappa, n_projections=L, p=p, seed=seed)


@st.cache_data(show_spinner="Slicing the whole sphere…", max_entries=16, hash_funcs=ui.ARRAY_HASH)
def _sphere(x, y, a, b, p, n_lat):
    return sphere_map(x, y, a, b, p=p, n_lattice=2048 if x.shape[1] == 3 else 1024, n_latitude=n_lat)


@st.cache_data(show_spinner="Explaining the slice…", max_entries=64, hash_funcs=ui.ARRAY_HASH)
def _slice(x, y, a, b, theta, p):
    return swviz.explain_slice(x, y, a, b, theta, p)


@st.cache_data(show_spinner=False)
def _results():
    return load_results()


ui.ensure_app_navigation()
st.title("Amortized slicing")
st.markdown(
    "Max-SW and v-DSW search, for every pair, for the most informative slice (a projected gradient ascent). "
    "**Amortized projection optimisation** (Nguyen, Nguyen & Ho, ICML 2023) trains one model "
    "$f_\\psi(X, Y)\\in S^{d-1}$ over many pairs and *predicts* the direction in one forward pass. The model "
    "here is efficient (linear) attention over both clouds' points (at most 64 of each, chosen by rank along a "
    "fixed axis so their order does not matter), symmetric in the pair, trained on library shapes with random "
    "rotations, scalings and deformations. It scores a fixed grid of directions: a learned score plus a closed-form "
    "Gaussian prior (the $W_2^2$ between Gaussians with each projection's mean and variance), smoothed over the "
    "sphere with the κ = 10 it was trained for, and predicts where the smoothed score peaks. On the library's pairs "
    "the prior does most of the work; where two clouds share their mean and covariance it is flat and the "
    "prediction is close to a random direction.")
st.latex(r"\text{A-v-DSW}_p^p(\mu,\nu)=\mathbb E_{\theta\sim\mathrm{vMF}(f_\psi(X,Y),\kappa)}"
         r"W_p^p(\theta_\#\mu,\theta_\#\nu)\ \le\ \max_{\epsilon}\mathbb E_{\theta\sim\mathrm{vMF}(\epsilon,\kappa)}"
         r"W_p^p(\theta_\#\mu,\theta_\#\nu)=\text{v-DSW}_p^p")

pair.sidebar_summary()
source, target = pair.current_pair()
x, y, a, b = source.points, target.points, source.weights, target.weights
d = source.dim

c1, c2, c3, c4 = st.columns(4)
with c1:
    p = ui.select("p (ground cost exponent)", [1, 2, 3], "am_p", 2)
with c2:
    kappa = ui.number("κ (vMF concentration)", "am_kappa", 10.0, 0.0, 1000.0, step=1.0, cast=float)
with c3:
    L = ui.number("vMF samples L", "am_L", 100, 2, 4096, step=50)
with c4:
    seed = ui.number("seed", "am_seed", 0, 0, 2**31 - 1)
sw = ui.sw_symbol(p)


def direction_tab() -> None:
    model = _model()
    try:
        model.check_pair(x, y)
    except ValueError as exc:
        ui.show_error(exc, "The direction model cannot read this pair")
        st.info("The pair stays as loaded; pick a 3D pair on the Shapes page for the amortized values. The "
                "slicing sphere works for 2D pairs too.", icon=":material/info:")
        return
    if source.n + target.n > AUTO_ATOMS and not st.toggle(
            f"Run the per-pair ascents ({source.n + target.n:,} atoms)", key="am_go"):
        st.info("Large pair: switch the toggle on to run Max-SW and v-DSW by ascent.", icon=":material/hourglass_top:")
        return
    try:
        r = _compare(x, y, a, b, float(kappa), int(L), p, int(seed))
    except ValueError as exc:
        ui.show_error(exc, "Could not compare")
        return
    t = r["seconds"]
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(f"amortized v-D{sw}", f"{r['amortized_vdsw'].value:.5g}",
              f"{r['amortized_vdsw'].value / r['vdsw'].value:.1%} of the ascent's" if r["vdsw"].value else None,
              delta_color="off")
    k2.metric(f"v-D{sw} by ascent", f"{r['vdsw'].value:.5g}", f"gap {r['gap_vdsw']:.3g}", delta_color="off")
    k3.metric(f"amortized Max-{sw}", f"{r['amortized_max_sw'].value:.5g}",
              f"{r['amortized_max_sw'].value / r['max_sw'].value:.1%} of the ascent's" if r["max_sw"].value else None,
              delta_color="off")
    k4.metric(f"Max-{sw} by ascent", f"{r['max_sw'].value:.5g}", f"gap {r['gap_max_sw']:.3g}", delta_color="off")
    speed = pd.DataFrame({
        "distance": ["v-DSW", "Max-SW"],
        "amortized (s)": [t["amortized_vdsw"], t["amortized_max_sw"]],
        "of which the prediction (s)": [r["amortized_vdsw"].params["model_seconds"],
                                        r["amortized_max_sw"].params["model_seconds"]],
        "ascent (s)": [t["vdsw"], t["max_sw"]],
        "amortization gap": [r["gap_vdsw"], r["gap_max_sw"]],
    })
    speed["speed-up"] = speed["ascent (s)"] / speed["amortized (s)"]
    st.dataframe(speed.style.format({c: "{:.3g}" for c in speed.columns if c != "distance"}), hide_index=True)
    st.caption(f"The predicted direction is {r['angle_max_sw']:.1f}° from the Max-SW ascent's (sign-free). The gap "
               "is the ascent's value minus the amortized one; it can be negative when the ascent stops at a local "
               "maximum. Times are wall times of this run, on a machine that also serves this page.")
    st.subheader("Metricity, live")
    m1, m2 = st.columns(2)
    s = r["self_vdsw"]
    m1.metric(f"amortized v-D{sw}(X, X)", f"{s.value:.3g}", f"MC error {s.params['stderr']:.2g}", delta_color="off")
    m1.caption("Every slice of a measure against itself costs 0, wherever the model points.")
    sw_ = r["swapped_vdsw"]
    rel = abs(sw_.value - r["amortized_vdsw"].value) / max(abs(r["amortized_vdsw"].value), 1e-300)
    m2.metric(f"amortized v-D{sw}(Y, X)", f"{sw_.value:.5g}", f"relative difference {rel:.1e}", delta_color="off")
    m2.caption("The model is symmetric in the pair by construction: swapping gives the same location, so the "
               "same value for the same seed.")


OVERLAYS = {"mc": "Monte Carlo directions", "qmc": "a QMC set", "max": "Max-SW (ascent)",
            "vdsw": "v-DSW location (ascent)", "vmf": "vMF samples around it", "amortized": "amortized prediction"}


def sphere_tab() -> None:
    if d not in (2, 3):
        st.info(f"The slicing sphere is drawn for 2D and 3D pairs; this pair is {d}D.", icon=":material/info:")
        return
    st.markdown(f"Each point of the sphere is one slice $\\theta$, coloured by its cost $W_p^p(\\theta)$: "
                f"{sw} is the mean of this map, Max-SW its top, v-DSW the best vMF cap. A smooth map is why "
                "QMC sets and control variates beat random directions.")
    s1, s2 = st.columns([2, 1])
    with s1:
        chosen = ui.multiselect("Overlays", list(OVERLAYS), "am_over", ["max", "amortized"],
                                format_func=OVERLAYS.get)
    with s2:
        n_over = ui.number("directions per estimator overlay", "am_nover", 64, 4, 1024, step=16)
    try:
        smap = _sphere(x, y, a, b, p, 48)
    except ValueError as exc:
        ui.show_error(exc, "Could not slice the sphere")
        return
    overlays = {}
    try:
        if "mc" in chosen:
            overlays["MC"] = estimator_directions("mc", int(n_over), d, seed=int(seed))
        if "qmc" in chosen:
            name = "qmc-spiral" if d == 3 else "qmc-gaussian"
            name = name if name in swviz.ESTIMATORS else "mc"
            overlays[ui.estimator_label(name)] = estimator_directions(name, int(n_over), d, seed=int(seed))
        need_ascent = {"max", "vdsw", "vmf"} & set(chosen)
        if need_ascent or "amortized" in chosen:
            if need_ascent:
                msw = swviz.max_sw(x, y, a, b, p=p, seed=int(seed))
                if "max" in chosen:
                    overlays["Max-SW"] = msw.direction
                if {"vdsw", "vmf"} & set(chosen):
                    v = swviz.vmf_dsw(x, y, a, b, p=p, kappa=float(kappa), n_projections=int(L), seed=int(seed),
                                      init=msw.direction)
                    if "vdsw" in chosen:
                        overlays["v-DSW location"] = v.direction
                    if "vmf" in chosen:
                        overlays["vMF samples"] = v.directions
            if "amortized" in chosen:
                try:
                    overlays["amortized"] = _model().direction(x, y)
                except ValueError as exc:
                    st.caption(f"No amortized prediction: {exc}")
    except ValueError as exc:
        ui.show_error(exc, "Could not draw an overlay")
    p1, p2, p3 = st.columns([1, 1, 1.4])
    with p1:
        az = ui.slider("pick: azimuth φ (degrees)", "am_phi", 30, 0, 360 if d == 3 else 180)
    with p2:
        polar = ui.slider("pick: polar angle (degrees)", "am_pol", 60, 0, 180) if d == 3 else 90
    theta = direction_from_angles(az, polar, d)
    view = _slice(x, y, a, b, theta, p)
    with p3:
        st.metric(f"W{sw[2:]}(θ) at the picked slice", f"{view.value:.5g}",
                  f"{view.value / smap.mean:.2f} × the map's mean" if smap.mean else None, delta_color="off")
        st.caption(f"map mean {smap.mean:.5g} (= {sw} by the midpoint rule) · map max {smap.max:.5g}")
    symbol = f"W{sw[2:]}(θ)"
    fig3d, fig_map = sphere_figures(smap, overlays, theta, symbol=symbol)
    if fig_map is None:
        ui.chart(fig3d, "am_circle")
        st.caption("In 2D the sphere is the circle; θ and −θ give the same slice, so the curve repeats.")
    else:
        q1, q2 = st.columns([1, 1.3])
        ui.chart(fig3d, "am_sphere", container=q1)
        ui.chart(fig_map, "am_map", container=q2)
        q2.caption("Equirectangular map (azimuth by latitude). Each direction shows twice: filled at θ, open at "
                   "−θ (the same slice).")
    figs = slice_figures(view, x, y, (f"source: {source.name}", f"target: {target.name}"))
    r1, r2 = st.columns(2)
    ui.chart(figs["shapes"], "am_slice_shapes", container=r1)
    ui.chart(figs["quantiles"], "am_slice_quant", container=r2)


def autoencoder_tab() -> None:
    try:
        res = _results()
    except ValueError as exc:
        ui.show_error(exc, "Could not read the shipped autoencoder results")
        return
    prm = res["params"]
    st.markdown(
        f"A PointNet-style autoencoder ({prm['n_points']} points, a {prm['latent']}-dimensional code; the paper "
        "uses 2,048 points on ShapeNet, this is the CPU-sized version) trained for "
        f"{prm['steps']} steps on {len(prm['shapes'])} library shapes under each loss, then asked to reconstruct "
        f"shapes it never saw: {', '.join(res['held_out'])}. Lower is better in every column.")
    rows = []
    for k in res["losses"]:
        sc = res["scores"][k].mean(0)
        rows.append({"loss": LOSSES[k], "Chamfer": sc[0], "exact W₂²": sc[1], "SW₂²": sc[2],
                     "training (s)": res["seconds"][k]})
    table = pd.DataFrame(rows)
    st.dataframe(table.style.format({c: "{:.4g}" for c in table.columns if c != "loss"}), hide_index=True)
    st.caption("Scores averaged over the held-out shapes: Chamfer, the exact W₂² by optimal assignment, and SW₂² "
               "(a 4,096-direction reference). Each loss wins its own metric; the sliced losses transport mass "
               "(low W₂²), Chamfer only covers the shape.")
    chosen = ui.multiselect("Losses to show", list(res["losses"]), "am_losses",
                            ["sw-mc", "max-sw", "a-v-dsw", "chamfer"], format_func=LOSSES.get)
    curves = {LOSSES[k]: (res["curves"][k][0], res["curves"][k][1]) for k in chosen}
    ui.chart(curves_figure(curves), "am_curves")
    shapes = ui.multiselect("Held-out shapes", list(res["held_out"]), "am_shapes", list(res["held_out"])[:2])
    if shapes and chosen:
        idx = [list(res["held_out"]).index(s) for s in shapes]
        outs = {LOSSES[k]: res["outputs"][k][idx] for k in chosen}
        ui.chart(reconstructions_figure(res["inputs"][idx], outs, shapes, height=260), "am_recon", html=False)
    with st.expander("Train one loss again here (small run)", icon=":material/model_training:"):
        t1, t2 = st.columns(2)
        with t1:
            loss = ui.select("loss", list(LOSSES), "am_tloss", "sw-mc", format_func=LOSSES.get)
        with t2:
            steps = ui.number("steps", "am_tsteps", 30, 5, 300, step=5)
        if st.button("Train", key="am_train", icon=":material/play_arrow:"):
            bar = st.progress(0.0, text="Training…")
            st.button("Stop", key="am_stop", icon=":material/stop:", help="Ends the run (the page reruns).")

            def progress(name, step, total, value):
                bar.progress(step / total, text=f"{LOSSES[name]}: step {step}/{total}, loss {value:.4g}")

            try:
                run = train_autoencoder(loss, steps=int(steps), n_points=int(prm["n_points"]), seed=int(seed),
                                        eval_every=max(1, int(steps) // 10), progress=progress)
            except ValueError as exc:
                ui.show_error(exc, "Could not train")
                return
            _, sc = score(run.model, res["inputs"])
            st.session_state["_am_run"] = (loss, run.steps, run.val_chamfer, sc.mean(0))
        got = st.session_state.get("_am_run")
        if got:
            loss_k, steps_k, val_k, sc = got
            st.metric(f"{LOSSES[loss_k]}: held-out Chamfer after {steps_k[-1]} steps", f"{val_k[-1]:.4g}",
                      f"from {val_k[0]:.4g}", delta_color="off")
            st.caption(f"Exact W₂² {sc[1]:.4g} · SW₂² {sc[2]:.4g} on the held-out shapes.")


TABS = {"direction": "Amortized vs ascent", "sphere": "The slicing sphere", "autoencoder": "Autoencoder"}


@st.fragment
def tabs() -> None:
    containers, shown = ui.tabs(TABS, "am_tab")
    with containers[shown]:
        {"direction": direction_tab, "sphere": sphere_tab, "autoencoder": autoencoder_tab}[shown]()


tabs()
