"""Studies: every estimator on many pairs at once, in-process or on a Dask cluster.

Widgets -> one ``swviz.batch`` study -> a table (one row per pair) and a heat map, with the
TOML config that reproduces it. In-process by default; with a scheduler address in the
sidebar the study is submitted there (``swviz.batch.submit_study``) and a fragment polls its
progress every second without blocking the page. Worker processes are never started from
here (that fails inside ``streamlit run``): the cluster is started outside, see the README.
"""

from __future__ import annotations

import time

import streamlit as st

import swviz
from pages import ui
from swviz import batch
from swviz.figures.studies import study_heatmap

#: Studies that run in-process without a click (estimated seconds on one core).
AUTO_RUN_SECONDS = 20.0
#: How long the page waits for a scheduler to answer.
CONNECT_TIMEOUT_S = 3.0
#: Seconds between two looks at a study running on a cluster.
POLL_S = 1.0
PAIR_LABELS = {f"{s} / {t}": (s, t) for s, t in batch.LIBRARY_PAIRS}
L_CHOICES = [2**k for k in range(2, 13)]
RUN = "_studies_run"  # session state: the study in flight on a cluster {"key", "run", "address", "t0"}
CANCELLED = "_studies_cancelled"  # session state: the key of a study the user cancelled


class _Cancelled(Exception):
    """The script run that started an in-process study was stopped (a widget changed)."""


# --------------------------------------------------------------------------- stores


@st.cache_data(show_spinner="Building the pairs' measures…", max_entries=16)
def _plan(cfg: batch.StudyConfig) -> batch.Plan:
    return batch.plan_study(cfg)


@st.cache_resource(show_spinner=False, max_entries=4)
def _connection(address: str) -> dict:
    # in a dict: a Client is awaitable, and st.cache_resource refuses awaitables
    return {"client": batch.connect(scheduler=address, timeout=CONNECT_TIMEOUT_S)}


def _live_client(address: str):
    client = _connection(address)["client"]
    if client.status != "running":  # the scheduler went away since: connect again
        _connection.clear()
        client = _connection(address)["client"]
    return client


# --------------------------------------------------------------------------- page

ui.ensure_app_navigation()
st.title("Studies across the shape library")
st.markdown(
    "The Variance page compares estimators on **one** pair. Here the same study runs on **many** pairs at once: "
    "every estimator, at every $L$, repeated with independent directions on each pair, against each pair's "
    "near-exact reference. One row per pair says how many slices each estimator saves there.")
with st.expander("What the table measures", icon=":material/function:", expanded=True):
    st.markdown("The **variance-reduction factor** of an estimator at $L$ projections compares its spread over the "
                "repeats with Monte Carlo's (the baseline) at the **same** $L$:")
    st.latex(r"\mathrm{VRF}(L)=\frac{\operatorname{Var}\bigl[\widehat{SW}{}^{\,\mathrm{MC}}_L\bigr]}"
             r"{\operatorname{Var}\bigl[\widehat{SW}{}^{\,\mathrm{est}}_L\bigr]},\qquad"
             r"\mathrm{RMSE}(L)=\Bigl(\tfrac1R\sum_{r=1}^R\bigl(\widehat{SW}_{L,r}-SW_{\mathrm{ref}}\bigr)^2\Bigr)^{1/2}")
    st.markdown("Monte Carlo's variance falls like $1/L$, so a VRF of ×4 means MC needs about **4 times more "
                "slices** for the same accuracy; MC's own VRF is 1 by definition. Deterministic direction sets "
                "have no variance: their VRF is the ratio of mean squared errors. Every repeat draws its "
                "directions from the study seed and its own coordinates (pair, estimator's pool, $L$, repeat), "
                "so the table is the same in-process and on any cluster.")

with st.sidebar:
    st.subheader("Where it runs")
    address = ui.text("Dask scheduler", "st_sched", "", placeholder="tcp://host:8786",
                      help="Address of a running Dask scheduler (start one with `dask scheduler` and workers with "
                           "`dask worker tcp://HOST:8786`). Empty: the study runs in this process.").strip()
    st.caption("Studies run in this process unless a scheduler is given. The page does not start workers "
               "itself: see the README's *Studies on a Dask cluster*.")

c1, c2 = st.columns([2, 1], gap="medium")
with c1:
    pair_names = ui.multiselect("Pairs", list(PAIR_LABELS), "st_pairs", list(PAIR_LABELS),
                                help="Library pairs: 3D surfaces and 2D curves. Estimators that exist only in 3D "
                                     "are skipped on 2D pairs (listed below the table).")
    names = ui.multiselect("Estimators", list(swviz.ESTIMATORS), "st_est", ["mc", "lcv", "ucv"],
                           format_func=ui.estimator_label)
    grid = ui.multiselect("Numbers of projections L", L_CHOICES, "st_L", [16, 64, 256])
with c2:
    a1, a2 = st.columns(2)
    with a1:
        repeats = ui.number("repeats", "st_R", 20, 2, 500, step=5,
                            help="Independent estimates per pair, estimator and L (the variance is over these).")
        seed = ui.number("seed", "st_seed", 0, 0, 2**31 - 1)
    with a2:
        n = ui.number("points per shape", "st_n", 128, 16, 4096, step=64)
        metric = ui.select("heat map", ["vrf", "rmse"], "st_metric", "vrf",
                           format_func=str.upper)
    baseline = ui.select("baseline", names or ["mc"], "st_base", "mc" if "mc" in names else (names or ["mc"])[0],
                         format_func=ui.estimator_label, help="The estimator every VRF divides by.")

if not pair_names or not names or not grid:
    st.info("Pick at least one pair, one estimator and one value of L.", icon=":material/info:")
    ui.stop()

try:
    cfg = batch.config_from_dict({"name": "library", "seed": int(seed), "repeats": int(repeats),
                                  "pairs": [list(PAIR_LABELS[p]) for p in pair_names], "estimators": list(names),
                                  "baseline": baseline, "L": [int(L) for L in grid], "measure": {"n": int(n)}})
    plan = _plan(cfg)
except ValueError as exc:
    ui.show_error(exc, "This study cannot run")
    ui.stop()

estimates = sum(t.stop - t.start for t in plan.tasks if t.estimator is not None)
seconds = plan.work() * batch.SECONDS_PER_WORK
st.caption(f"{len(cfg.pairs)} pairs × {len(cfg.estimators)} estimators × L ∈ {{{', '.join(map(str, cfg.L))}}} × "
           f"{cfg.repeats} repeats: {estimates:,} estimates in {len(plan.tasks):,} tasks "
           f"(about {seconds:.0f} s on one core)")

key = (cfg, address)
result = ui.shared_results("studies").get(key)

if result is None and not address:
    if seconds > AUTO_RUN_SECONDS and not st.button(f"Run this study here (about {seconds:.0f} s)", type="primary",
                                                    icon=":material/play_arrow:"):
        st.info("This study is large; it starts when you click, or give a Dask scheduler in the sidebar to spread "
                "it over a cluster.", icon=":material/hourglass_top:")
        ui.stop()

    def study(progress):
        def report(done, total, left):
            progress(done / total, f"{done} of {total} tasks" + (f" · about {left:.0f} s left" if left else ""))
        return batch.run_study(plan, progress=report)

    t0 = time.perf_counter()
    try:
        result = ui.run_steps([("study", study)], text="Starting the study…", cancelled=_Cancelled)["study"]
    except Exception as exc:  # noqa: BLE001 - any failure becomes a message
        ui.show_error(exc, "Could not run the study")
        ui.stop()
    ui.shared_results("studies").put(key, result)

elif result is None:
    try:
        client = _live_client(address)
    except ValueError as exc:
        st.error(f"{exc}. Start one with `dask scheduler` (and workers with `dask worker {address}`), or clear the "
                 "address to run the study in this process.", icon=":material/cloud_off:")
        ui.stop()
    flight = st.session_state.get(RUN)
    if flight is not None and flight["key"] != key:  # the study changed: drop the old one
        flight["run"].cancel()
        st.session_state.pop(RUN, None)
        flight = None
    if flight is None:
        if st.session_state.get(CANCELLED) == key:
            st.info("Study cancelled.", icon=":material/stop_circle:")
            if not st.button("Submit it again", icon=":material/play_arrow:"):
                ui.stop()
            st.session_state.pop(CANCELLED, None)
        try:
            flight = {"key": key, "run": batch.submit_study(plan, client), "address": address,
                      "t0": time.perf_counter()}
        except Exception as exc:  # noqa: BLE001 - a broken connection or a scheduler refusing the tasks
            ui.show_error(exc, f"Could not submit the study to {address}")
            ui.stop()
        st.session_state[RUN] = flight
    run = flight["run"]
    if not run.done():
        if st.button("Cancel the study", icon=":material/stop_circle:"):
            run.cancel()
            st.session_state.pop(RUN, None)
            st.session_state[CANCELLED] = key
            st.rerun()

        @st.fragment(run_every=POLL_S)
        def poll() -> None:
            done, total = run.progress()
            workers = len(client.scheduler_info().get("workers", {}))
            st.progress(done / total, text=f"{done} of {total} tasks done on {address} · {workers} workers · "
                                           f"{time.perf_counter() - flight['t0']:.0f} s")
            if workers == 0:
                st.warning(f"The scheduler at {address} has no workers: start some with "
                           f"`dask worker {address} --nworkers N`.", icon=":material/warning:")
            if run.done():
                st.rerun()  # the whole page: the table and the figure

        poll()
        ui.stop()
    result = run.result()
    st.session_state.pop(RUN, None)
    ui.shared_results("studies").put(key, result)

# --------------------------------------------------------------------------- the study's results

summary = result.summary()
labels = {e: ui.estimator_label(e) for e in cfg.estimators}
m1, m2, m3, m4 = st.columns(4)
m1.metric("Pairs", len(cfg.pairs))
m2.metric("Estimates", f"{len(result.table):,}")
m3.metric("Study time", f"{result.meta['seconds']:.1f} s")
m4.metric("Ran", "in this process" if result.meta["runner"] == "in-process" else "on the cluster",
          help=result.meta["runner"])

failed = result.failures[result.failures["kind"] != "skipped"]
if len(failed):
    st.warning(f"{len(failed)} tasks failed; the table leaves them out.", icon=":material/warning:")
    st.dataframe(failed, hide_index=True)
skipped = result.failures[result.failures["kind"] == "skipped"]
for est, rows in skipped.groupby("estimator", sort=False):
    st.caption(f"{labels.get(est, est)} skipped on {', '.join(rows['pair'])}: {rows['message'].iloc[0]}")

ui.chart(study_heatmap(summary, metric, labels, cfg.baseline), "st_heat", "study_heatmap")
st.caption("Blue: the estimator needs fewer slices than " + labels.get(cfg.baseline, cfg.baseline)
           + " on that pair; red: more. A cell reads the factor; \"exact\": no spread at all over the repeats."
           if metric == "vrf" else "RMSE of the estimate against each pair's reference, over the repeats.")

st.subheader("One row per pair")
table = batch.pair_table(summary, result.references)
st.dataframe(table, width="stretch",
             column_config={c: st.column_config.NumberColumn(c, format="%.3g") for c in table.columns})
st.caption(f"VRF: Var[{labels.get(cfg.baseline, cfg.baseline)}] / Var[estimator] at equal L (above 1 the "
           f"estimator wins); RMSE against each pair's near-exact reference {ui.sw_symbol(cfg.p)} (first column: "
           + "; ".join(dict.fromkeys(result.references["method"])) + ").")

st.subheader("Reproduce it")
toml = batch.config_to_toml(cfg)
st.markdown("This config reruns the same study, to the last digit, from a terminal or on a cluster: "
            "`python -m swviz study swviz_study.toml [--workers N | --scheduler ADDRESS]`.")
st.code(toml, language="toml")
d1, d2, d3, _ = st.columns([1, 1, 1, 2])
d1.download_button("Config (TOML)", toml, "swviz_study.toml", "application/toml", icon=":material/download:")
d2.download_button("Results (CSV)", result.table.to_csv(index=False), "swviz_study_results.csv", "text/csv",
                   icon=":material/download:")
d3.download_button("Summary (CSV)", summary.to_csv(index=False), "swviz_study_summary.csv", "text/csv",
                   icon=":material/download:")
