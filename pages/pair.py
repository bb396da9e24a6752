"""The pair of shapes every page works on, kept in session state.

``current_pair()`` returns ``(source, target)`` as :class:`swviz.shapes.Measure`. A side is a
library shape or an upload; the pair also carries how the shapes become measures (mode,
points, seed, normalisation, varifold normal weight). The Shapes page sets it with
``set_pair``, the Home page with ``set_library_pair``. Library choices and the measure
options are mirrored in the URL (``src``, ``tgt``, ``n``, ``seed``, ``measure``, ``norm``,
``nw``) so a view can be shared; uploads cannot be, so their side is left out of the URL.
The pair lives in ``st.session_state``: it survives page switches, and a failed change
(bad upload, 2D against 3D...) raises before anything is stored, so the previous pair stays.
"""

from __future__ import annotations

import streamlit as st

from swviz.shapes import (
    MODES,
    NORMALISATIONS,
    SHAPES,
    Measure,
    Shape,
    library_shape,
    load_shape,
    make_pair,
)

KEY = "swviz_pair"
UPLOAD_KEY = "swviz_upload_{side}"
DEFAULT = {"src": "sphere", "tgt": "torus", "n": 1024, "seed": 0}
DEFAULT_OPTIONS = {"mode": "surface", "norm": "none", "nw": 1.0}
N_RANGE = (16, 20000)
NW_RANGE = (0.0, 10.0)


@st.cache_data(show_spinner=False, max_entries=64)
def _library_shape(name: str, n: int, seed: int) -> Shape:
    return library_shape(name, n, seed)


@st.cache_data(show_spinner="Building the measures…", max_entries=32, hash_funcs={Shape: lambda s: s.key})
def _measures(source: Shape, target: Shape, mode: str, n: int, seed: int, norm: str, nw: float):
    return make_pair(source, target, mode, n, seed, norm, nw)


def library_side(name: str, n: int, seed: int, side: str) -> Shape:
    """The library shape for one side (clouds are drawn with ``seed`` for the source, ``seed + 1`` for the target)."""
    return _library_shape(name, int(n), int(seed) + (side == "target"))


def _options_from_url() -> dict:
    opts = dict(DEFAULT_OPTIONS)
    qp = st.query_params
    if qp.get("measure") in MODES:
        opts["mode"] = qp.get("measure")
    if qp.get("norm") in NORMALISATIONS:
        opts["norm"] = qp.get("norm")
    try:
        nw = float(qp.get("nw", opts["nw"]))
        if NW_RANGE[0] <= nw <= NW_RANGE[1]:
            opts["nw"] = nw
    except (TypeError, ValueError):
        pass
    return opts


def _spec_from_url() -> dict:
    spec = dict(DEFAULT)
    qp = st.query_params
    for k in ("src", "tgt"):
        if qp.get(k) in SHAPES:
            spec[k] = qp.get(k)
    for k, (lo, hi) in (("n", N_RANGE), ("seed", (0, 2**31 - 1))):
        try:
            v = int(qp.get(k, spec[k]))
            if lo <= v <= hi:
                spec[k] = v
        except (TypeError, ValueError):
            pass
    if SHAPES[spec["src"]].dim != SHAPES[spec["tgt"]].dim:
        spec["tgt"] = next(k for k, s in SHAPES.items() if s.dim == SHAPES[spec["src"]].dim and k != spec["src"])
    return spec


def set_pair(source: Shape, target: Shape, n: int, seed: int, mode: str | None = None, norm: str | None = None,
             nw: float | None = None) -> None:
    """Make ``(source, target)`` the current pair; options left as None keep their current values.

    Raises a ``ValueError`` (and changes nothing) when the shapes cannot form a pair in this
    mode: different dimensions, a varifold of a point cloud...
    """
    opts = current_options()
    mode = opts["mode"] if mode is None else mode
    norm = opts["norm"] if norm is None else norm
    nw = opts["nw"] if nw is None else float(nw)
    src_m, tgt_m = _measures(source, target, mode, int(n), int(seed), norm, nw)  # raises before any change
    config = {"src": source.name if source.origin == "library" else None,
              "tgt": target.name if target.origin == "library" else None,
              "n": int(n), "seed": int(seed), "mode": mode, "norm": norm, "nw": nw}
    st.session_state[KEY] = {"source": src_m, "target": tgt_m, "shapes": (source, target), "config": config}
    qp = st.query_params
    for side_key in ("src", "tgt"):
        if config[side_key] is not None:
            qp[side_key] = config[side_key]
        elif side_key in qp:
            del qp[side_key]
    qp["n"], qp["seed"] = str(int(n)), str(int(seed))
    qp["measure"], qp["norm"], qp["nw"] = mode, norm, f"{nw:g}"


def set_library_pair(src: str, tgt: str, n: int, seed: int) -> None:
    """Make two library shapes the current pair (and record them in the URL), keeping the measure options.

    A varifold needs meshes: with a point cloud on either side the mode falls back to surface samples.
    """
    source = library_side(src, n, seed, "source")
    target = library_side(tgt, n, seed, "target")
    mode = current_options()["mode"]
    if mode == "varifold" and not (source.is_mesh and target.is_mesh):
        mode = "surface"
    set_pair(source, target, n, seed, mode=mode)


def current_config() -> dict:
    """The current pair's settings: src, tgt (None for an upload), n, seed, mode, norm, nw."""
    state = st.session_state.get(KEY)
    if state is None:
        return {**_spec_from_url(), **_options_from_url()}
    return dict(state["config"])


def current_options() -> dict:
    """How the shapes become measures: mode (a key of MODES), norm (of NORMALISATIONS), nw."""
    state = st.session_state.get(KEY)
    if state is None:
        return _options_from_url()
    return {k: state["config"][k] for k in DEFAULT_OPTIONS}


def current_spec() -> dict | None:
    """The library spec of the current pair (src, tgt, n, seed and the options), or None when it holds an upload."""
    config = current_config()
    if config["src"] is None or config["tgt"] is None:
        return None
    return config


def current_shapes() -> tuple[Shape, Shape]:
    """The shapes of the current pair, as chosen (before normalisation)."""
    current_pair()
    return st.session_state[KEY]["shapes"]


def current_pair() -> tuple[Measure, Measure]:
    """The pair every page works on: from session state, else from the URL or defaults."""
    state = st.session_state.get(KEY)
    if state is None:
        spec = _spec_from_url()
        opts = _options_from_url()
        source = library_side(spec["src"], spec["n"], spec["seed"], "source")
        target = library_side(spec["tgt"], spec["n"], spec["seed"], "target")
        if opts["mode"] == "varifold" and not (source.is_mesh and target.is_mesh):
            opts["mode"] = "surface"
        set_pair(source, target, spec["n"], spec["seed"], opts["mode"], opts["norm"], opts["nw"])
        state = st.session_state[KEY]
    return state["source"], state["target"]


def read_upload(side: str, uploaded) -> Shape | None:
    """The shape in a ``st.file_uploader`` value for ``side`` ("source" or "target"), parsed once per file.

    Returns the last good upload for that side when ``uploaded`` is None (or None if there
    was none); raises the loader's ``ValueError`` for a bad file, keeping the last good one.
    """
    store = st.session_state.setdefault(UPLOAD_KEY.format(side=side), {"file_id": None, "shape": None})
    if uploaded is None:
        return store["shape"]
    file_id = getattr(uploaded, "file_id", None) or f"{uploaded.name}:{uploaded.size}"
    if file_id == store["file_id"] and store.get("error") is None:
        return store["shape"]
    if file_id == store["file_id"]:
        raise store["error"]
    try:
        shape = load_shape(uploaded.getvalue(), uploaded.name)
    except ValueError as exc:
        store.update(file_id=file_id, error=exc)
        raise
    store.update(file_id=file_id, shape=shape, error=None)
    return shape


def last_upload(side: str) -> Shape | None:
    """The last good upload for ``side``, or None."""
    return st.session_state.get(UPLOAD_KEY.format(side=side), {}).get("shape")


def sidebar_summary() -> None:
    """A compact line per shape in the sidebar of every page."""
    source, target = current_pair()
    config = current_config()
    with st.sidebar:
        st.caption("Current pair")

        def line(colour, label, m, side_key):
            where = "upload" if config[side_key] is None else "library"
            return f":{colour}[**{label}**] {m.name} · {m.n:,} atoms · {m.dim}D · {where}"

        st.markdown(line("blue", "source", source, "src") + "  \n" + line("red", "target", target, "tgt"))
        st.caption(f"{MODES[config['mode']]} · {NORMALISATIONS[config['norm']]}"
                   + (f" · normal weight {config['nw']:g}" if config["mode"] == "varifold" else ""))
