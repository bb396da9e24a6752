"""Deformation: a mesh carried onto a target by a neural ODE (diffeomorphic) or by free vertex moves, side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages import pair, ui
from swviz.deformation import (
    EXAMPLES,
    FIELDS,
    LOSSES,
    DeformResult,
    StopDeformation,
    deform,
    example,
    face_normals,
    self_intersections,
)
from swviz.figures.deform import defects_figure, loss_figure, metrics_table, steps_animation, time_animation
from swviz.shapes import Shape

PAIR_CHOICE = "pair"  # the current pair of the Shapes page
MESHES = {**EXAMPLES, PAIR_CHOICE: "the current pair (Shapes page)"}
FIELD_LABELS = {"ode": "neural ODE", "free": "free flow"}
MAX_TARGET_DRAWN = 3000  # target vertices drawn faintly in the animations
STOP_KEY = "_deform_stopped"  # run key -> True once its Stop button was pressed
PARTIAL_KEY = "_deform_partial"  # run key -> {field: stopped DeformResult}
WORKER_KEY = "_deform_worker"


class _Partial(Exception):
    """A stopped run: carries its result out of the cached function, so it is never cached."""

    def __init__(self, result):
        super().__init__("stopped")
        self.result = result


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs={Shape: lambda s: s.key})
def _deform(source: Shape, target: Shape, loss, field, L, steps, lr, seed, time_steps, normal_weight,
            _progress=None) -> DeformResult:
    r = deform(source, target, loss=loss, field=field, n_projections=L, steps=steps, lr=lr, seed=seed,
               time_steps=time_steps, normal_weight=normal_weight, progress=_progress)
    if r.stopped:
        raise _Partial(r)
    return r


def _run(jobs: dict, run_key: str) -> dict:
    """The runs on a worker thread with a progress bar; a pressed Stop leaves partial results in session state."""
    partial = st.session_state.setdefault(PARTIAL_KEY, {})
    done: dict = {}

    def step(field, job):
        def run(progress):
            try:
                done[field] = _deform(**job, _progress=progress)
            except _Partial as p:  # stopped: keep what is finished and this field's partial result
                partial.setdefault(run_key, {}).update(done)
                partial[run_key][field] = p.result
                raise ui.StopRun from None
            return done[field]

        return run

    return ui.run_steps([(f, step(f, job)) for f, job in jobs.items()], text="Deforming…",
                        cancelled=StopDeformation, name="swviz-deform", worker_key=WORKER_KEY, poll_s=0.15)


STARTED_KEY = "deform_started"


def _stop(run_key: str) -> None:
    st.session_state.setdefault(STOP_KEY, {})[run_key] = True


def _resume(run_key: str) -> None:
    st.session_state.get(STOP_KEY, {}).pop(run_key, None)
    st.session_state.get(PARTIAL_KEY, {}).pop(run_key, None)


# --------------------------------------------------------------------------- page

ui.ensure_app_navigation()
st.title("Deformation")
st.markdown(
    "The source mesh moves onto the target along the trajectories of a learned velocity field, as in "
    "Le et al., *Diffeomorphic Mesh Deformation via Efficient Optimal Transport for Cortical Surface "
    "Reconstruction* (ICLR 2024): the flow of a smooth field is a diffeomorphism, so faces neither flip nor "
    "cross, while free vertex moves (today's mesh flow) have nothing to stop them. Both minimise the same loss "
    "for the same number of iterations."
)
st.latex(r"\frac{dx}{dt} = v_\psi(x, t),\ t\in[0,1],\qquad "
         r"\min_\psi\ SW_2^2\bigl(\mu[\phi_\psi(V), F],\ \nu\bigr)")

with st.container(border=True):
    c1, c2, c3, c4 = st.columns([1.6, 1.2, 1, 1])
    with c1:
        meshes = ui.select("Meshes", list(MESHES), "dmesh", "sphere-jack", format_func=MESHES.get)
    with c2:
        loss = ui.select("Loss", list(LOSSES), "dloss", "sw-varifold", help=" · ".join(f"{k}: {v}" for k, v in
                                                                                      LOSSES.items()))
    with c3:
        field = ui.select("Field", list(FIELDS), "dfield", "ode", format_func=FIELD_LABELS.get,
                          help=" · ".join(f"{k}: {f.description}" for k, f in FIELDS.items()))
    with c4:
        compare = ui.toggle("Compare fields", "dcompare", True,
                            help="Run the other field too, at the same budget, seed, directions and samples.")
    c1, c2, c3, c4, c5, c6 = st.columns(6)
    with c1:
        steps = ui.number("Iterations", "dsteps", 100, 1, 2000, step=50)
    with c2:
        L = ui.number("Directions L", "dL", 100, 1, 1000, step=10)
    with c3:
        lr_ode = ui.number("ODE learning rate", "dlr", FIELDS["ode"].lr, 1e-5, 1.0, step=1e-3, cast=float,
                           format="%.4g")
    with c4:
        lr_free = ui.number("Free learning rate", "dlrf", FIELDS["free"].lr, 1e-5, 1.0, step=1e-3, cast=float,
                            format="%.4g")
    with c5:
        K = ui.number("RK4 steps", "dK", 6, 1, 40, help="Fixed steps of the ODE solver over t in [0, 1].")
    with c6:
        seed = ui.number("Seed", "dseed", 0, 0, 2**31 - 1)
    nw = ui.slider("Varifold normal weight λ", "dnw", 0.5, 0.0, 3.0, step=0.1, cast=float,
                   help="Atoms are (centroid, λ · normal): the squared cost is |c − c'|² + λ² |n − n'|².",
                   disabled=loss != "sw-varifold")

# the meshes ---------------------------------------------------------------------------------
if meshes == PAIR_CHOICE:
    pair.sidebar_summary()
    source, target = pair.current_shapes()
else:
    source, target = example(meshes)
if not source.is_mesh:
    ui.show_error(ValueError(f"the source {source.name!r} is a point cloud: deformation moves a mesh (its faces "
                             "give the varifold, the surface samples and the metrics). Pick a mesh on the Shapes "
                             "page, or one of the examples; the current pair is kept."), "Cannot deform")
    ui.stop()
st.caption(f"**{source.name}** ({source.n_vertices:,} vertices, {source.n_faces:,} faces) → **{target.name}** "
           f"({target.n_vertices:,} {'vertices' if target.is_mesh else 'points'}). "
           + MESHES[meshes].capitalize() + ".")

fields = [field] + ([f for f in FIELDS if f != field] if compare else [])
jobs = {f: dict(source=source, target=target, loss=loss, field=f, L=int(L), steps=int(steps),
                lr=float(lr_ode if f == "ode" else lr_free), seed=int(seed), time_steps=int(K), normal_weight=float(nw))
        for f in fields}
run_key = repr((source.key, target.key, loss, fields, int(L), int(steps), float(lr_ode), float(lr_free), int(seed),
                int(K), float(nw)))

started = st.session_state.setdefault(STARTED_KEY, set())
if run_key not in started:
    # a run takes tens of seconds on a laptop's CPU: the page shows the pair at once and waits for a click
    preview = [(f"source: {s.name}" if s is source else f"target: {s.name}", s.vertices, s.faces,
                np.zeros(s.n_faces, dtype=bool), np.zeros((0, 2), dtype=np.int64))
               for s in (source, target) if s.is_mesh]
    ui.chart(defects_figure(preview), "deform_preview")
    st.button(f"Deform ({int(steps):,} iterations × {len(fields)} field{'s' if len(fields) > 1 else ''})",
              key="drun", type="primary", icon=":material/play_arrow:", on_click=started.add, args=(run_key,))
    ui.stop()

stopped = st.session_state.get(STOP_KEY, {}).get(run_key, False)
if stopped:
    worker = st.session_state.get(WORKER_KEY)
    if worker is not None and worker.is_alive():
        worker.join(10.0)  # the worker finishes its iteration and leaves what it has
    results = dict(st.session_state.get(PARTIAL_KEY, {}).get(run_key, {}))
    st.warning("Stopped. " + (", ".join(f"{FIELD_LABELS[f]}: {len(r.loss):,} of {int(steps):,} iterations"
                                        for f, r in results.items()) or "Nothing was finished."),
               icon=":material/stop_circle:")
    st.button("Run to the end", key="dresume", on_click=_resume, args=(run_key,), icon=":material/play_arrow:")
    if not results:
        ui.stop()
else:
    st.button("Stop", key="dstop", on_click=_stop, args=(run_key,), icon=":material/stop:",
              help="Stop the run: what has been computed so far is shown.")
    try:
        results = _run(jobs, run_key)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a traceback
        ui.show_error(exc, "Could not deform")
        ui.stop()

labels = {f: FIELD_LABELS[f] for f in results}
first = next(iter(results.values()))
tv = target.vertices
if len(tv) > MAX_TARGET_DRAWN:
    tv = tv[:: -(-len(tv) // MAX_TARGET_DRAWN)]

# animations -------------------------------------------------------------------------------
T = min(len(r.steps) for r in results.values())
left, right = st.columns([1.6, 1], gap="medium") if "ode" in results else (st.container(), None)
with left:
    st.subheader("Along the iterations")
    ui.chart(steps_animation([(labels[f], r.vertices[:T]) for f, r in results.items()], first.steps[:T], tv,
                             first.faces), "deform_steps")
if right is not None:
    with right:
        st.subheader("Along ODE time")
        r = results["ode"]
        ui.chart(time_animation(f"{labels['ode']}: t from 0 to 1", r.trajectory, r.times, tv, r.faces),
                 "deform_time")
        st.caption("The final field carries the source from t = 0 to t = 1 in "
                   f"{len(r.times) - 1} fixed RK4 steps.")

# curves, defects, metrics -------------------------------------------------------------------
left, right = st.columns([1, 1.3], gap="large")
with left:
    ui.chart(loss_figure([(labels[f], r.loss) for f, r in results.items()], loss), "deform_loss")
with right:
    st.subheader("Final meshes and their defects")
    panels = []
    for f, r in results.items():
        flipped = (face_normals(r.final, r.faces) * face_normals(source.vertices, r.faces)).sum(1) < 0
        panels.append((labels[f], r.final, r.faces, flipped, self_intersections(r.final, r.faces)))
    ui.chart(defects_figure(panels), "deform_defects")

st.subheader("Metrics at the last iteration")
table = metrics_table({labels[f]: r for f, r in results.items()})
st.dataframe(table.style.format("{:.4g}"), width="stretch")
st.caption("Chamfer: mean squared point-to-surface distance both ways over 4,096 surface samples per mesh; "
           "Hausdorff: the largest such distance (samples and vertices); diag: the target's bounding-box "
           "diagonal. Flipped faces: normal reversed against the same face of the source. Self-intersecting "
           "pairs: libigl (exact predicates). Seconds: the optimisation alone.")
with st.expander("Metrics at every recorded step"):
    for f, r in results.items():
        st.markdown(f"**{labels[f]}**")
        st.dataframe(r.metrics.style.format("{:.4g}"), width="stretch")

st.subheader("Export")
cols = st.columns(len(results))
for col, (f, r) in zip(cols, results.items()):
    with col:
        st.markdown(f"**{labels[f]}**")
        for fmt in ("ply", "obj"):
            st.download_button(f"Deformed mesh ({fmt.upper()})", data=lambda r=r, fmt=fmt: r.export(fmt),
                               file_name=f"deformed_{f}.{fmt}", mime="application/octet-stream",
                               key=f"dl_{f}_{fmt}", on_click="ignore")
