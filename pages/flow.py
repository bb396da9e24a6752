"""Gradient flow: the source carried onto the target by estimated SW gradients, estimator against estimator."""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import pandas as pd
import streamlit as st

import swviz
from pages import pair, ui
from swviz.figures.flows import flow_animation, w2_figure
from swviz.flows import LOSSES, MESH_MEASURES, PRESETS
from swviz.shapes import Shape, shape_to_ply, to_measure

MAX_ESTIMATORS = 4
MAX_PARTICLES = 4096
AUTO_RUN_STEPS = 2000  # steps summed over the estimators that run without a click (the fast preset: 600)
ANIMATION_FRAMES = 48  # evenly spread frames; the W_2^2 steps join them (at most 60 are sent)
CURVE_POINTS = 6  # log-spaced W_2^2 evaluations besides the table's steps
MODES = {"points": "point cloud", "mesh": "mesh (vertices flow, faces kept)"}


class _Cancelled(Exception):
    """Raised from the progress callback when the script run was stopped."""


@st.cache_data(show_spinner=False, max_entries=24, hash_funcs=ui.ARRAY_HASH)
def _flow(x0, y, a, b, faces, estimator, L, h, n_steps, seed, loss, record_every, w2_steps, measure, smoothing,
          n_samples, cv_ridge=0.0, _progress=None):
    common = dict(estimator=estimator, n_projections=L, step_size=h, n_steps=n_steps, seed=seed,
                  record_every=record_every, loss=loss, w2_steps=w2_steps, cv_ridge=cv_ridge, progress=_progress)
    if faces is None:
        return swviz.gradient_flow(x0, y, a, b, **common)
    return swviz.mesh_flow(x0, faces, y, b, measure=measure, n_samples=n_samples, smoothing=smoothing, **common)


def _run_all(jobs: list[dict]) -> list:
    """The flows, one after another on a worker thread, with a progress bar drawn from here.

    The cached function never touches an element (its messages would be replayed on a
    cache hit); the bar appears only when the results are not already cached, and a
    stopped run tells the worker to give up.
    """
    def step(job):
        return lambda progress: _flow(**job, _progress=progress)

    done = ui.run_steps([(i, step(job)) for i, job in enumerate(jobs)], text="Computing the flows…",
                        cancelled=_Cancelled, name="swviz-flow")
    return [done[i] for i in range(len(jobs))]


def _subsample(points, weights, n, seed):
    """At most ``n`` atoms, drawn without replacement (weights renormalised)."""
    if points.shape[0] <= n:
        return points, weights
    idx = np.sort(np.random.default_rng(seed).choice(points.shape[0], n, replace=False))
    return points[idx], None if weights is None else weights[idx] / weights[idx].sum()


def _curve_steps(n_steps: int, table: list[int]) -> list[int]:
    """The table's steps, 0 and the last, plus log-spaced steps not within 25 % of those."""
    steps = {0, n_steps, *table}
    for g in np.unique(np.round(np.geomspace(1, n_steps, CURVE_POINTS - 1)).astype(int)).tolist():
        if all(not (0.8 <= g / s <= 1.25) for s in steps if s > 0):
            steps.add(g)
    return sorted(steps)


def _parse_steps(text: str, n_steps: int, default: list[int]) -> tuple[list[int], str | None]:
    try:
        steps = sorted({int(float(s)) for s in text.replace(";", ",").split(",") if s.strip()})
    except (ValueError, OverflowError):  # words, or inf / nan
        return default, f"could not read table steps {text!r}; using {default}"
    kept = [s for s in steps if 0 <= s <= n_steps][:12]
    if not kept:
        return default, f"no table step lies in [0, {n_steps}]; using {default}"
    return sorted({*kept, n_steps}), None  # the last step always


@st.cache_resource(show_spinner=False)
def _flows_done() -> set:
    """Fingerprints of the flows computed on this server (their results are in ``_flow``'s cache)."""
    return set()


def _fingerprint(job: dict) -> str:
    h = hashlib.sha1()
    for k, v in sorted(job.items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    return h.hexdigest()


def _npy(frames) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(frames, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def _apply_preset():
    """Put the chosen preset's values into its widgets (and the URL): what runs is what they show."""
    p = PRESETS[st.session_state["w_fpreset"]]
    names = [e for e in p.estimators if e in swviz.ESTIMATORS]
    ui.reset_to({"fest": names, "fL": int(p.n_projections), "fsteps": int(p.n_steps), "fh": float(p.step_size),
                 "floss": p.loss, "fn": min(int(p.n_points), _particle_cap()),
                 "ftable": ", ".join(map(str, p.table_steps))})


def _particle_cap() -> int:
    """The most particles each side can have: the smaller measure's size, at most 4,096."""
    source, target = pair.current_pair()
    return max(16, min(MAX_PARTICLES, source.n, target.n))


# --------------------------------------------------------------------------- page

ui.ensure_app_navigation()
st.title("Gradient flow")
st.markdown(
    "The source's particles slide onto the target by Euler steps on an **estimated** sliced "
    "Wasserstein loss, with fresh directions at every step, one flow per estimator. A better "
    "estimate of the gradient (the control variates of Nguyen & Ho) brings the particles closer "
    "to the target for the same number of directions."
)
st.latex(r"z_i \leftarrow z_i - h\,\frac{1}{a_i}\nabla_{z_i}\widehat{SW}_2^2,\qquad "
         r"\nabla_{z_i} W_2^2(\theta) = \tfrac{2}{n}\bigl(\theta^\top z_i"
         r" - \theta^\top y_{\sigma_\theta(i)}\bigr)\,\theta")
st.caption(
    "σθ(i) is the rank of particle i on the line θ (quantile matching for unequal sizes or weights). "
    "An estimate that averages slices moves the particles by the same average of slice gradients; "
    "the control-variate estimates add the gradient of their control term, which depends on the "
    "source's mean and covariance (a 1 % ridge on their coefficient keeps it bounded as the means meet; "
    "never NaN). "
    "With the loss SW₂ the step is divided by 2 SW₂, so h = 0.01 is the paper's update on n SW₂."
)

pair.sidebar_summary()
source, target = pair.current_pair()
names = list(swviz.ESTIMATORS)

with st.container(border=True):
    c1, c2, c3, c4 = st.columns([1, 2.6, 1, 1.3])
    with c1:
        preset_name = ui.select("Preset", list(PRESETS), "fpreset", "fast", on_change=_apply_preset,
                                help="; ".join(f"{k}: {p.description}" for k, p in PRESETS.items()))
    preset = PRESETS[preset_name]
    with c2:
        chosen = ui.multiselect("Estimators (up to 4)", names, "fest", [e for e in preset.estimators if e in names],
                                format_func=ui.estimator_label, max_selections=MAX_ESTIMATORS)
    with c3:
        loss = ui.select("Loss", list(LOSSES), "floss", preset.loss,
                         format_func=lambda k: {"sw2": "SW₂²", "sw": "SW₂"}[k], help=" · ".join(LOSSES.values()))
    with c4:
        mode = ui.select("Flow", list(MODES), "fmode", "points", format_func=MODES.get)
    c1, c2, c3, c4, c5, c6 = st.columns(6)
    with c1:
        L = ui.number("Directions L", "fL", preset.n_projections, 1, 2000, step=1)
    with c2:
        n_steps = ui.number("Steps", "fsteps", preset.n_steps, 1, 20000, step=50)
    with c3:
        h = ui.number("Step size h", "fh", preset.step_size, 1e-4, 5.0, step=0.01, cast=float, format="%.4g")
    with c4:
        seed = ui.number("Seed", "fseed", 0, 0, 2**31 - 1)
    with c5:
        cap = _particle_cap()
        n_points = ui.number("Particles", "fn", min(preset.n_points, cap), min(16, cap), cap, step=128,
                             help=f"Atoms of each measure (subsampled from the pair); at most {cap:,} here, the "
                                  f"smaller measure's size (up to {MAX_PARTICLES:,}). W₂² is exact OT on them.")
    with c6:
        table_text = ui.text("Table steps", "ftable", ", ".join(map(str, preset.table_steps)),
                             help="Steps at which the table reports W₂² (comma-separated).")
    mesh_opts = {}
    if mode == "mesh":
        m1, m2, _ = st.columns([1, 1, 2])
        with m1:
            mesh_opts["measure"] = ui.select("Mesh measure", list(MESH_MEASURES), "fmeasure", "surface",
                                             help=" · ".join(f"{k}: {v}" for k, v in MESH_MEASURES.items()))
        with m2:
            mesh_opts["smoothing"] = ui.slider("Laplacian smoothing λ", "fsmooth", 10.0, 0.0, 50.0, step=1.0,
                                               cast=float, help="The vertex velocities u become the solution "
                                               "of (I + λ L) u' = u (L the mesh's graph Laplacian over its mean "
                                               "degree): neighbours move alike and the surface stays clean. "
                                               "0 turns it off.")

if not chosen:
    st.info("Pick at least one estimator.")
    ui.stop()
cv_ridge = 0.0
if any(swviz.get_estimator(e).control_variate for e in chosen):
    r1, _ = st.columns([1, 3])
    with r1:
        cv_ridge = ui.number(
            "CV coefficient ridge κ²", "fridge", 0.0, 0.0, 1.0, step=0.01, cast=float, format="%.3g",
            help="The control-variate estimators' coefficient γ = cov(W, C) / (var(C) + κ² var(W)). 0 is the "
                 "estimator of Nguyen & Ho; a small ridge (0.01) keeps the velocity bounded as the means meet, "
                 "where the plain coefficient's gradient grows like 1/|Δm|.")

# the flowing measure and the target ------------------------------------------------------
notes = []
src_shape = getattr(source, "shape", None)
tgt_shape = getattr(target, "shape", None)
x, a, y, b = source.points, source.weights, target.points, target.weights
if source.dim > 3:  # a 6-D varifold cannot be drawn: flow the surface samples instead
    notes.append("The pair is an oriented varifold (6-D atoms); the flow uses uniform surface samples instead.")
    sm = to_measure(src_shape, "surface", source.n, 0)
    tm = to_measure(tgt_shape, "surface", target.n, 1)
    x, a, y, b = sm.points, sm.weights, tm.points, tm.weights
faces = None
if mode == "mesh":
    if src_shape is None or not src_shape.is_mesh or src_shape.dim != 3:
        st.info(f"The source {source.name!r} is not a 3D mesh: mesh mode needs one (pick a mesh on the Shapes "
                "page, e.g. the sphere or an upload). Showing the point-cloud flow.")
        mode = "points"
    else:
        x, a, faces = src_shape.vertices, None, src_shape.faces
x, a = (x, a) if mode == "mesh" else _subsample(x, a, int(n_points), int(seed))
y, b = _subsample(y, b, int(n_points), int(seed) + 1)
if preset.scale != 1.0 or preset.shift != 0.0:
    x, y = preset.prepare(x, y)
    notes.append(f"Preset {preset.name!r}: shapes scaled ×{preset.scale:g}, source shifted by "
                 f"−{preset.shift:g} and target by +{preset.shift:g} on every coordinate.")

table_steps, warn = _parse_steps(table_text, int(n_steps), [int(n_steps)])
if warn:
    notes.append(warn)
w2_steps = _curve_steps(int(n_steps), table_steps)
record_every = max(1, math.ceil(int(n_steps) / ANIMATION_FRAMES))
mesh_measure = mesh_opts.get("measure", "surface")
jobs = [dict(x0=x, y=y, a=a, b=b, faces=faces, estimator=e, L=int(L), h=float(h), n_steps=int(n_steps),
             seed=int(seed), loss=loss, record_every=record_every, w2_steps=w2_steps, measure=mesh_measure,
             smoothing=float(mesh_opts.get("smoothing", 0.0)), n_samples=int(n_points),
             cv_ridge=float(cv_ridge) if swviz.get_estimator(e).control_variate else 0.0) for e in chosen]
for note in notes:
    st.caption(note)

work = int(n_steps) * len(chosen)
fingerprints = [_fingerprint(job) for job in jobs]
done = all(f in _flows_done() for f in fingerprints)
# the pair is drawn at once where the flows still have to run (or wait for a click); the animation takes its place
slot = st.empty()
if not done and x.shape[1] <= 3:
    with slot.container():
        ui.chart(flow_animation([("start: " + source.name, x[None].astype(np.float32))], np.array([0]), y, faces),
                 "flow_preview", html=False)
# a click is remembered in session state (a button's True lasts one run, and a rerun could drop it)
requested = st.session_state.setdefault("flows_requested", set())
if work > AUTO_RUN_STEPS and not done and tuple(fingerprints) not in requested:
    st.button(f"Run these flows ({len(chosen)} × {int(n_steps):,} steps)", type="primary",
              icon=":material/play_arrow:", key="w__run_flows", on_click=requested.add, args=(tuple(fingerprints),))
    st.info(f"{len(chosen)} flows of {int(n_steps):,} steps take a while on this machine; they start when you click "
            f"(up to {AUTO_RUN_STEPS:,} steps in all run at once).", icon=":material/hourglass_top:")
    ui.stop()

try:
    results = _run_all(jobs)
    _flows_done().update(fingerprints)
except _Cancelled:
    st.stop()
except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a traceback
    ui.show_error(exc, "Could not run the flow")
    ui.stop()

labels = [ui.estimator_label(e) for e in chosen]
flowing = (f"{x.shape[0]:,} vertices ({MESH_MEASURES[mesh_measure]})" if faces is not None
           else f"{x.shape[0]:,} particles")
dim = results[0].frames.shape[2]
if dim > 3:
    st.warning(f"These measures live in {dim}D and cannot be animated; the curves and the table still hold.")
else:
    with slot.container():
        ui.chart(flow_animation(list(zip(labels, [r.frames for r in results])), results[0].steps, y, faces),
                 "flow_animation")
    st.caption("Press ▶ Play or drag the slider; the target is drawn faintly. "
               + ("Mesh mode: the vertices flow and the faces are kept." if faces is not None else ""))

left, right = st.columns([1.3, 1], gap="large")
with left:
    ui.chart(w2_figure([(lab, r.w2_steps, r.w2) for lab, r in zip(labels, results)], results[0].w2_method), "flow_w2")
with right:
    st.subheader("W₂² at chosen steps")
    table = pd.DataFrame({lab: [r.w2_at(s) for s in table_steps] for lab, r in zip(labels, results)},
                         index=pd.Index(table_steps, name="step"))
    st.dataframe(table.style.format("{:.4g}"), width="stretch")
    st.caption(f"W₂² by {results[0].w2_method}; one run, seed {int(seed)}, L = {int(L)}, h = {float(h):g}, "
               f"loss {'SW₂²' if loss == 'sw2' else 'SW₂'}, {flowing} → {y.shape[0]:,} target atoms.")
    st.markdown("  \n".join(
        f"**{lab}**: flow {r.flow_seconds:.2f} s, W₂² {r.w2_seconds:.2f} s · {r.gradient}"
        for lab, r in zip(labels, results)))

st.subheader("Export")
cols = st.columns(len(results))
for col, lab, e, r in zip(cols, labels, chosen, results):
    with col:
        st.markdown(f"**{lab}**")
        st.download_button("Trajectory (NPY)", data=lambda r=r: _npy(r.frames), file_name=f"flow_{e}_trajectory.npy",
                           mime="application/octet-stream", key=f"dl_npy_{e}", on_click="ignore",
                           help=f"float32 array (frames, points, d) at steps {r.steps[0]}..{r.steps[-1]}")
        final = Shape(f"flow_{e}_final", r.final, r.faces, origin="upload")
        st.download_button("Final state (PLY)", data=lambda final=final: shape_to_ply(final),
                           file_name=f"flow_{e}_final.ply", mime="application/octet-stream", key=f"dl_ply_{e}",
                           on_click="ignore")
