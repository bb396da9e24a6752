"""Correspondences: a point-to-point map between the two shapes, method against method, scored when truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import swviz
from pages import pair, ui
from swviz.figures.correspondence import colour_transfer_figure, lines_figure, pck_figure
from swviz.shapes import deformation_pairs, ground_truth, same_connectivity
from swviz.shapes.shape import face_areas

MAX_POINTS = 2000  # exact assignment takes about 1.3 s at 2,000 points (3 s in the worst case), and grows as n^3
MAX_METHODS = 3
DEFAULT_METHODS = [m for m in ("assignment", "bspot", "min-swgg") if m in swviz.CORRESPONDENCE_METHODS]
THRESHOLDS = np.linspace(0.0, 0.25, 51)


@st.cache_data(show_spinner=False, max_entries=48, hash_funcs=ui.ARRAY_HASH)
def _correspond(x, y, method: str, seed: int, options: tuple) -> swviz.Correspondence:
    return swviz.correspond(x, y, method=method, seed=seed, **dict(options))


def _atoms(source, target, n: int, seed: int):
    """``(x, y, true_index or None, area or None, note)``: equal-size uniform clouds for every method.

    With ground truth (meshes sharing vertex order) both sides take the same seeded subset of
    vertices, so source atom i truly corresponds to target atom i.
    """
    rng = np.random.default_rng(seed)
    s, t = source.shape, target.shape
    if s is not None and t is not None and same_connectivity(s, t):
        true = ground_truth(s, t)
        k = min(n, len(true))
        idx = np.sort(rng.choice(len(true), k, replace=False))
        area = float(face_areas(t.vertices, t.faces).sum())
        note = (f"Ground truth: the shapes share vertex order, so the map is scored against the identity on "
                f"{k:,} of their {len(true):,} vertices (seeded subset, uniform weights).")
        return s.vertices[idx], t.vertices[true[idx]], np.arange(k), area, note
    x, y = source.points[:, :3], target.points[:, :3]  # varifold atoms: their positions
    k = min(n, len(x), len(y))
    xi = np.sort(rng.choice(len(x), k, replace=False))
    yi = np.sort(rng.choice(len(y), k, replace=False))
    note = (f"{k:,} atoms from each side of the current pair (seeded subset, uniform weights); no ground truth, "
            "so the maps are compared by cost only.")
    return x[xi], y[yi], None, None, note


def _atom_cap(source, target) -> int:
    """How many atoms per shape ``_atoms`` can take on this pair (the widget's real maximum)."""
    s, t = source.shape, target.shape
    if s is not None and t is not None and same_connectivity(s, t):
        return min(MAX_POINTS, len(ground_truth(s, t)))
    return min(MAX_POINTS, source.n, target.n)


def _use_deformed_pair():
    base, deformed = st.session_state["w_cdeformed"].split("→")
    config = pair.current_config()
    try:
        pair.set_library_pair(base.strip(), deformed.strip(), int(config["n"]), int(config["seed"]))
    except ValueError as exc:
        st.session_state["corr_pair_error"] = str(exc)


# --------------------------------------------------------------------------- page

ui.ensure_app_navigation()
st.title("Correspondences")
st.markdown(
    "A **correspondence** sends every source point to a target point. For two clouds of the same size "
    "with equal weights, the best one in the sense of optimal transport is the permutation solving the "
    "**assignment problem**"
)
st.latex(r"\sigma^\star=\arg\min_{\sigma\in S_n}\ \frac1n\sum_{i=1}^n\bigl|x_i-y_{\sigma(i)}\bigr|^2,"
         r"\qquad \min = W_2^2(\mu,\nu)")
st.caption(
    "Exact solvers cost about n³; sliced methods sort along directions instead (min-SWGG keeps the single best "
    "slice; BSP-OT merges many into a near-optimal bijection); Sinkhorn and the end of a gradient flow give "
    "maps that need not be one-to-one. Where the truth is known (deformed copies sharing vertex order), "
    "the error of each match is the distance from the chosen target point to the true one, divided by √area."
)

pair.sidebar_summary()
source, target = pair.current_pair()
methods_all = list(swviz.CORRESPONDENCE_METHODS)

with st.container(border=True):
    c1, c2, c3, c4 = st.columns([3.4, 1, 1, 1])
    with c1:
        methods = ui.multiselect(f"Methods (up to {MAX_METHODS})", methods_all, "cmeth", DEFAULT_METHODS,
                                 format_func=lambda m: swviz.CORRESPONDENCE_METHODS[m].title,
                                 max_selections=MAX_METHODS)
        methods = methods[:MAX_METHODS]
    with c2:
        cap = _atom_cap(source, target)
        n = ui.number("Points per shape", "cn", min(1000, cap), min(50, cap), cap, step=250,
                      help=f"At most {cap:,} here: the pair's {'shared vertices' if cap < MAX_POINTS else 'atoms'} "
                           f"and at most {MAX_POINTS:,} (the exact assignment grows as n³, about 1.3 s at 2,000).")
    with c3:
        seed = ui.number("Seed", "cseed", 0, 0, 2**31 - 1, help="Subset of points, directions, lines shown.")
    with c4:
        n_lines = ui.number("Lines shown", "clines", min(150, int(n)), 0, min(600, int(n)), step=50,
                            help="Seeded matches drawn as lines (at most the points per shape, and 600).")
    if "sinkhorn" in methods:
        eps = ui.number("Sinkhorn ε (relative to the median squared distance)", "ceps", 0.02, 0.005, 1.0,
                        step=0.005, cast=float, format="%.3f")
    else:
        eps = 0.02

if source.shape is None or target.shape is None or not same_connectivity(source.shape, target.shape):
    with st.expander("No ground truth for this pair: use a deformed pair from the library", expanded=True):
        st.caption("The library's bar comes with deformed copies (bent, twisted, tapered, perturbed) that keep "
                   "its vertex order, so every match can be scored.")
        d1, d2 = st.columns([2, 1], vertical_alignment="bottom")
        with d1:
            choices = [f"{a} → {b}" for a, b in deformation_pairs()]
            ui.select("Deformed pair", choices, "cdeformed", choices[0])
        with d2:
            st.button("Use this pair", icon=":material/swap_horiz:", on_click=_use_deformed_pair, key="w_cuse")
if "corr_pair_error" in st.session_state:
    ui.show_error(ValueError(st.session_state.pop("corr_pair_error")), "Could not use that pair")

if not methods:
    st.info("Pick at least one method.", icon=":material/touch_app:")
    ui.stop()

x, y, true_index, area, note = _atoms(source, target, int(n), int(seed))
st.caption(note)

results: dict[str, swviz.Correspondence] = {}
with st.spinner("Matching the points…"):
    for m in methods:
        opts = (("epsilon", float(eps)),) if m == "sinkhorn" else ()
        try:
            results[m] = _correspond(x, y, m, int(seed), opts)
        except (ValueError, FloatingPointError) as exc:
            ui.show_error(exc if isinstance(exc, ValueError) else ValueError(str(exc)),
                          swviz.CORRESPONDENCE_METHODS[m].title)
        except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
            ui.show_error(exc, swviz.CORRESPONDENCE_METHODS[m].title)
if not results:
    ui.stop()

optimal = next((r.cost for k, r in results.items() if k == "assignment"), None)
rows, curves, errors = {}, {}, {}
for m, r in results.items():
    title = swviz.CORRESPONDENCE_METHODS[m].title
    row = {"cost (1/n)Σ|x−y|²": r.cost}
    if optimal is not None:
        row["× optimal"] = r.cost / optimal if optimal > 0 else np.nan
    row["seconds"] = r.seconds
    row["bijection"] = "yes" if r.bijective else "no"
    if true_index is not None:
        s = swviz.correspondence_score(x, y, r.target_index, true_index, area=area)
        row["mean error / √area"] = s["mean_error"]
        row["exact matches"] = s["exact"]
        curves[title] = (THRESHOLDS, swviz.pck(s["errors"], THRESHOLDS))
    rows[title] = row
table = pd.DataFrame.from_dict(rows, orient="index")
st.dataframe(table, column_config={
    "cost (1/n)Σ|x−y|²": st.column_config.NumberColumn(format="%.4g"),
    "× optimal": st.column_config.NumberColumn(format="%.3f"),
    "seconds": st.column_config.NumberColumn(format="%.3f"),
    "mean error / √area": st.column_config.NumberColumn(format="%.4f"),
    "exact matches": st.column_config.NumberColumn(format="percent"),
})
if curves:
    ui.chart(pck_figure(curves), "corr_pck")

MAP_VIEWS = {"matches": "Matches", "colour": "Colour transfer"}


@st.fragment
def map_views() -> None:
    """One map, one view at a time: changing the method shown, the view or its toggle reruns only this part."""
    shown = ui.select("Show the map of", list(results), "cview", next(iter(results)),
                      format_func=lambda m: swviz.CORRESPONDENCE_METHODS[m].title)
    r = results[shown]
    tabs, view = ui.tabs(MAP_VIEWS, "cmap")
    with tabs[view]:
        if view == "matches":
            st.caption(f"The target is shifted to the right of the source; {min(int(n_lines), len(x))} seeded "
                       f"matches of {len(x):,}, each line in the colour of its source point's position.")
            ui.chart(lines_figure(x, y, r.target_index, n_lines=int(n_lines), seed=int(seed)), "corr_lines")
        else:
            st.caption("Source points coloured by position (x, y, z → red, green, blue); each target point takes the "
                       "colour of the source point(s) sent to it (grey when none is). A good map carries the gradient "
                       "over smoothly.")
            meshes = (source.shape is not None and target.shape is not None and source.shape.is_mesh
                      and target.shape.is_mesh)
            on_surface = meshes and ui.toggle("Colour the surfaces", "csurf", True,
                                              help="Each mesh vertex takes the colour of its nearest matched point.")
            ui.chart(colour_transfer_figure(x, y, r.target_index, source_shape=source.shape if on_surface else None,
                                            target_shape=target.shape if on_surface else None), "corr_colour")


map_views()

from pages._correspondence_mesh import mesh_mode  # noqa: E402 - the mesh mode, after the point maps

mesh_mode(source.shape, target.shape)
