"""Home: what sliced Wasserstein is, and one estimate against the reference."""

import time

import numpy as np
import streamlit as st

import swviz
from pages import pair, ui
from swviz.figures import clouds_figure, slices_figure
from swviz.shapes import SHAPES, shape_names

ui.ensure_app_navigation()


st.title("swviz · sliced Wasserstein, explored")
st.markdown(
    "The **sliced Wasserstein distance** compares two shapes by projecting them on random lines: "
    "on a line, optimal transport is just sorting. Averaging the one-dimensional costs over all "
    "directions gives"
)
st.latex(r"SW_p^p(\mu,\nu)=\mathbb{E}_{\theta\sim\mathcal{U}(S^{d-1})}\,W_p^p(\theta_\#\mu,\theta_\#\nu),"
         r"\qquad W_p^p=\frac1n\sum_{i=1}^n\bigl|\langle\theta,x\rangle_{(i)}-\langle\theta,y\rangle_{(i)}\bigr|^p")
st.markdown(
    "An estimator draws $L$ directions and combines the per-slice costs. Plain Monte Carlo averages "
    "them (error $\\propto L^{-1/2}$); the **control variates** of Nguyen & Ho subtract a Gaussian "
    "closed form that moves with the slices, which cuts the variance for free."
)

config = pair.current_config()


def _library_changed() -> None:
    """Only a change of one of these widgets replaces the pair (an upload stays otherwise)."""
    ss = st.session_state
    src, tgt = ss["w_src"], ss["w_tgt"]
    if SHAPES[tgt].dim != SHAPES[src].dim:
        tgt = next(s for s in shape_names(SHAPES[src].dim) if s != src)
    try:
        pair.set_library_pair(src, tgt, int(ss["w_n"]), int(ss["w_seed"]))
    except ValueError as exc:
        ss["home_pair_error"] = str(exc)


def _upload_options_changed() -> None:
    """Points and seed of a pair holding an upload: the same shapes, measured again."""
    ss = st.session_state
    source, target = pair.current_shapes()
    try:
        pair.set_pair(source, target, int(ss["w_n"]), int(ss["w_seed"]))
    except ValueError as exc:
        ss["home_pair_error"] = str(exc)


def _use_library() -> None:
    pair.set_library_pair(pair.DEFAULT["src"], pair.DEFAULT["tgt"], int(config["n"]), int(config["seed"]))


left, right = st.columns([1, 2.4], gap="large")
with left:
    st.subheader("Settings")
    uploaded = config["src"] is None or config["tgt"] is None
    if uploaded:  # show the pair in use, not library choices it does not hold
        shapes = pair.current_shapes()
        with st.container(border=True):
            st.markdown("**The pair in use**  \n" + "  \n".join(
                f":{c}[**{side}**] {s.name} · {'upload' if s.origin != 'library' else 'library'}"
                for c, side, s in (("blue", "source", shapes[0]), ("red", "target", shapes[1]))))
            st.caption("Chosen on the Shapes page (uploads are changed there).")
            for s in shapes:
                ui.shape_notes(s)
            st.button("Use library shapes instead", on_click=_use_library, key="w_home_library",
                      icon=":material/category:")
        on_change = _upload_options_changed
    else:
        names = shape_names()
        src0 = config["src"] if config["src"] in names else pair.DEFAULT["src"]
        src = st.selectbox("Source shape", names, index=names.index(src0), key="w_src", on_change=_library_changed)
        same_dim = shape_names(SHAPES[src].dim)
        tgt0 = config["tgt"] if config["tgt"] in same_dim else next(s for s in same_dim if s != src)
        st.selectbox("Target shape", same_dim, index=same_dim.index(tgt0), key="w_tgt", on_change=_library_changed)
        on_change = _library_changed
    st.number_input("Points per shape", *pair.N_RANGE, value=int(config["n"]), step=256, key="w_n",
                    on_change=on_change)
    seed = st.number_input("Seed", *pair.SEED_RANGE, value=int(config["seed"]), key="w_seed", on_change=on_change,
                           help="Draws the shapes' samples and the estimator's directions.")
    if "home_pair_error" in st.session_state:
        st.error(f"Could not change the pair: {st.session_state.pop('home_pair_error')}")
    estimator = ui.select("Estimator", list(swviz.ESTIMATORS), "est", "ucv", format_func=ui.estimator_label,
                          help="Estimators of SW itself; the Variance page compares the whole family.")
    L = ui.number("Projections L", "L", 100, 1, 100000, step=10)
    p = ui.select("p", [1, 2, 3], "p", 2)
    st.caption(swviz.ESTIMATORS[estimator])
    if ui.estimator_fact(estimator, "sobol") and int(L) & (int(L) - 1):
        st.warning(f"Sobol sets keep their balance only when L is a power of 2 (L = {int(L)}).",
                   icon=":material/warning:")

pair.sidebar_summary(notes=False)  # the notes stand next to the shapes here
source, target = pair.current_pair()

with right:
    results = st.container()  # filled after the shapes are drawn: they need no computation
    shown = [m.points[:, :3] for m in (source, target)]  # varifold atoms: drawn at their centroids
    ui.chart(clouds_figure(shown, [f"source: {source.name} ({source.mode})", f"target: {target.name} ({target.mode})"]),
             "home_shapes")

with results:
    try:
        t0 = time.perf_counter()
        res = swviz.sliced_wasserstein(source.points, target.points, source.weights, target.weights,
                                       estimator=estimator, n_projections=int(L), p=p, seed=int(seed))
        elapsed = time.perf_counter() - t0
        ref = ui.reference(source.points, target.points, source.weights, target.weights, p)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a traceback
        ui.show_error(exc, "Could not estimate")
    else:
        c1, c2, c3 = st.columns(3)
        se = "" if np.isnan(res.stderr) else f" ± {res.stderr:.3g}"
        sw = ui.sw_symbol(p)
        c1.metric(f"Estimate of {sw} ({ui.estimator_label(estimator)})", f"{res.value:.6g}",
                  help=f"± one standard error{se}")
        c1.caption(f"estimate {res.value:.6g}{se} · {ui.sw_symbol(p, power=False)} = {res.distance:.5g}")
        rel = (res.value - ref.value) / ref.value if ref.value else float("nan")
        c2.metric(f"Reference {sw}", f"{ref.value:.6g}", delta=f"{rel:+.2%} error of the estimate",
                  delta_color="off")
        c2.caption(f"{ref.method} (± {ref.stderr:.1g})")
        c3.metric("Time for the estimate", f"{elapsed * 1e3:.1f} ms")
        c3.caption(f"L = {int(L)} directions, {source.n:,} + {target.n:,} points")
        ui.chart(slices_figure(res.per_slice, res.value, ref.value, symbol=sw, height=220), "home_slices")
        st.caption("Each direction gives one 1D transport cost (the histogram); MC averages them, a control variate "
                   "shifts the average by what its Gaussian closed form says the sample of directions missed.")
