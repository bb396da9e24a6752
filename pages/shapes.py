"""Shapes: choose the source and target (library or upload), how they become measures, and look at them."""

import pandas as pd
import streamlit as st

from pages import pair, ui
from swviz.discrepancy import shape_discrepancy
from swviz.figures.shapes import discrepancy_figure, measure_figure, pair_figure, weights_caption
from swviz.shapes import (
    FORMATS,
    MAX_FILE_MB,
    MODES,
    NORMALISATIONS,
    SHAPES,
    describe,
    points_to_csv,
    points_to_npy,
    shape_names,
    shape_to_ply,
)

ui.ensure_app_navigation()

SIDES = (("source", "src", "Source"), ("target", "tgt", "Target"))


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs={pair.Shape: lambda s: s.key})
def _info(shape):
    return describe(shape).as_dict()


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs={pair.Shape: lambda s: s.key})
def _ply(shape):
    return shape_to_ply(shape)


@st.cache_data(show_spinner="Mapping where the shapes differ…", max_entries=8, hash_funcs={pair.Shape: lambda s: s.key})
def _discrepancy(source, target):
    return shape_discrepancy(source, target)


def _label(name: str) -> str:
    spec = SHAPES[name]
    return f"{name}  ·  {spec.dim}D {spec.kind}"


def choose_side(side: str, url_key: str, title: str, current, config: dict, dim: int | None, n: int, seed: int):
    """Widgets for one side; returns the chosen Shape (or None when nothing usable is chosen yet)."""
    st.markdown(f"**{title}**")
    was_upload = config[url_key] is None
    origin = st.radio(f"{title} from", ["Library", "Upload"], index=int(was_upload), horizontal=True,
                      key=f"origin_{side}", label_visibility="collapsed")
    if origin == "Library":
        names = shape_names(dim)
        default = config[url_key] if config[url_key] in names else pair.DEFAULT[url_key]
        default = default if default in names else names[0]
        name = ui.select(f"{title} shape", names, url_key, default, format_func=_label,
                         help=SHAPES[default].description, quiet=was_upload)
        st.caption(SHAPES[name].description)
        return pair.library_side(name, n, seed, side)
    uploaded = st.file_uploader(
        f"{title} file", type=list(FORMATS), key=f"up_{side}", max_upload_size=MAX_FILE_MB,
        help="Meshes: OBJ, PLY, STL, OFF, GLB. Point clouds: XYZ, TXT, CSV (2 or 3 columns), NPY, PLY without faces.",
    )
    try:
        shape = pair.read_upload(side, uploaded)
    except ValueError as exc:
        ui.show_error(exc, f"Could not use this {side} file (the previous pair is kept)")
        return None
    if shape is None:
        st.info(f"Upload a mesh or point cloud; until then the {side} stays **{current.name}**.",
                icon=":material/upload_file:")
        if current.origin != "library":  # an upload from a link or a view: what its loader said still holds
            ui.shape_notes(current)
    else:
        st.caption(f"{shape.name}: {shape.n_vertices:,} vertices" + (f", {shape.n_faces:,} faces" if shape.is_mesh
                                                                       else " (point cloud)"))
        ui.shape_notes(shape)
    return shape


st.title("Shapes")
st.markdown(
    "Pick the **source** and **target** shapes from the library or upload your own, and choose how they "
    "become discrete measures. Every other page works on this pair (summarised in the sidebar)."
)

config = pair.current_config()
cur_source, cur_target = pair.current_shapes()

left, mid, right = st.columns([1, 1, 1.05], gap="medium")
with right, st.container(border=True):  # filled first: library point clouds are drawn with n and seed
    st.markdown("**Measure**")
    mode = ui.select("Mode", list(MODES), "measure", config["mode"], format_func=MODES.get,
                     help="How a shape becomes weighted points: see 'What am I looking at' below.")
    c1, c2 = st.columns(2)
    with c1:
        n = ui.number("Surface samples n", "n", config["n"], *pair.N_RANGE, step=256,
                      help="Points per shape in the uniform-surface mode, and for library point clouds.")
    with c2:
        seed = ui.number("Seed", "seed", config["seed"], 0, 2**31 - 1)
    norm = ui.select("Normalisation", list(NORMALISATIONS), "norm", config["norm"], format_func=NORMALISATIONS.get)
    nw = config["nw"]
    if mode == "varifold":
        nw = ui.slider("Normal weight λ", "nw", config["nw"], *pair.NW_RANGE, step=0.1, cast=float,
                       help="Atoms are (centroid, λ·normal): λ trades orientation against position.")
with left, st.container(border=True):
    src_shape = choose_side("source", "src", "Source", cur_source, config, None, int(n), int(seed))
with mid, st.container(border=True):
    dim = (src_shape or cur_source).dim
    tgt_shape = choose_side("target", "tgt", "Target", cur_target, config, dim, int(n), int(seed))
want_source, want_target = src_shape or cur_source, tgt_shape or cur_target
wanted = (want_source.key, want_target.key, int(n), int(seed), mode, norm, float(nw))
current = (cur_source.key, cur_target.key, config["n"], config["seed"], config["mode"], config["norm"], config["nw"])
if wanted != current:
    try:
        pair.set_pair(want_source, want_target, int(n), int(seed), mode, norm, float(nw))
    except ValueError as exc:
        ui.show_error(exc, "Kept the previous pair")

pair.sidebar_summary(notes=False)  # the notes stand next to the shapes here
source, target = pair.current_pair()
config = pair.current_config()
shown_source, shown_target = source.shape, target.shape
if target.alignment is not None:
    st.info(target.alignment.describe("SW₂²") + " The overlay and every page use the aligned pair.",
            icon=":material/3d_rotation:")

VIEWS = {"side": "Side by side", "overlay": "Overlay", "measures": "Measures", "discrepancy": "Discrepancy map"}


@st.fragment
def views() -> None:
    """The figures: only the open tab is drawn, and choosing a tab reruns only this part."""
    tabs, shown = ui.tabs(VIEWS, "sview")
    if shown == "side":
        with tabs["side"]:
            ui.chart(pair_figure(shown_source, shown_target, "side"), "shapes_side")
    elif shown == "overlay":
        with tabs["overlay"]:
            ui.chart(pair_figure(shown_source, shown_target, "overlay"), "shapes_overlay")
    elif shown == "measures":
        with tabs["measures"]:
            m1, m2 = st.columns(2)
            for col, side, m in ((m1, "source", source), (m2, "target", target)):
                with col:
                    st.caption(f"**{side.capitalize()}.** {weights_caption(m)}")
                    ui.chart(measure_figure(m, seed=int(seed), caption=False), f"shapes_measure_{side}")
    elif shown == "discrepancy":
        with tabs["discrepancy"]:
            dmap = _discrepancy(shown_source, shown_target)
            st.caption(f"Each vertex (or point) coloured by its mean squared sliced displacement over "
                       f"{dmap.n_projections} directions: how far, along a typical direction, the optimal 1D plan "
                       "moves it. Bright parts must travel most to turn one shape into the other.")
            ui.chart(discrepancy_figure(shown_source, shown_target, dmap.source, dmap.target), "shapes_discrepancy")


views()

st.subheader("The pair")
info = pd.DataFrame({f"source: {source.name}": _info(shown_source), f"target: {target.name}": _info(shown_target)})
info.loc["measure"] = [f"{m.mode}: {m.n:,} atoms in {m.dim}D" for m in (source, target)]
st.dataframe(info, width="stretch")
st.caption(f"Shapes after normalisation ({NORMALISATIONS[config['norm']]}); watertight is judged after merging "
           "coincident vertices.")

dl = st.columns(2)
for col, (side, _, _), m in zip(dl, SIDES, (source, target)):
    stem = m.name.rsplit(".", 1)[0].replace(" ", "_") or side
    with col:
        st.markdown(f"**Download the {side}**")
        b1, b2, b3 = st.columns(3)
        b1.download_button("Mesh (PLY)" if m.shape.is_mesh else "Points (PLY)", _ply(m.shape),
                           f"{stem}_normalised.ply", "application/octet-stream", key=f"dl_ply_{side}",
                           on_click="ignore", icon=":material/download:")
        b2.download_button("Atoms (NPY)", points_to_npy(m.points), f"{stem}_atoms.npy", "application/octet-stream",
                           key=f"dl_npy_{side}", on_click="ignore", icon=":material/download:")
        b3.download_button("Atoms (CSV)", points_to_csv(m.points, m.weights), f"{stem}_atoms.csv", "text/csv",
                           key=f"dl_csv_{side}", on_click="ignore", icon=":material/download:")

with st.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "A shape becomes a discrete measure $\\mu=\\sum_i w_i\\,\\delta_{x_i}$ (weights sum to 1). "
        "For a mesh with triangles $T_f$ of area $|T_f|$:"
    )
    st.markdown("- **Uniform surface samples**: draw a face with probability $|T_f|/\\sum_g|T_g|$, then a "
                "uniform point in it, $x=a+u(b-a)+v(c-a)$ with $(u,v)$ uniform on the unit triangle; "
                "$n$ points of weight $1/n$.")
    st.latex(r"\text{vertices: } w_i=\frac{\tfrac13\sum_{f\ni i}|T_f|}{\sum_g|T_g|}"
             r"\qquad\text{varifold: } \mu=\sum_f \frac{|T_f|}{\sum_g|T_g|}\,\delta_{(c_f,\;\lambda n_f)}")
    st.markdown(
        "- **Oriented varifold**: one atom per face at its centroid $c_f$ and unit normal $n_f$, compared as "
        "6-D points, so the squared cost is $|c-c'|^2+\\lambda^2|n-n'|^2$.\n"
        "- **Raw points**: the vertices or points as given, each of weight $1/n$. Point clouds are always "
        "used as given (they have no surface).\n"
        "- **Normalisation** moves the shape first: centring at the centroid of its uniform measure, then "
        "scaling to a unit bounding-box diagonal or a unit RMS radius $\\sqrt{E|x-\\bar x|^2}$."
    )
    st.markdown(
        "Uploads keep the file's vertex order, so two meshes sharing connectivity correspond vertex by vertex "
        "(the library's *bar* family: a bar and its bent, twisted, tapered and perturbed copies). Files up to "
        f"{MAX_FILE_MB} MB; {', '.join('.' + e for e in FORMATS)}."
    )
