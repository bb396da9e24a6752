"""The pair of shapes every page works on, kept in session state and mirrored in the URL.

``current_pair()`` returns ``(source, target)`` as :class:`swviz.shapes.Measure`. A side is a
library shape or an upload; the pair also carries how the shapes become measures (mode,
points, seed, normalisation, varifold normal weight). The Shapes page sets it with
``set_pair``, the Home page with ``set_library_pair``.

Every run writes the whole pair into the URL (``src``, ``tgt``, ``n``, ``seed``, ``measure``,
``norm``, ``nw``), on every page, so a link reopens the same pair. An upload cannot travel in
a URL: its bytes go to the server's :class:`swviz.store.ShapeStore` (one for all sessions)
and the URL names it as ``@`` + its content key. A link whose value cannot be used (an
unknown shape, an upload the server no longer holds, a number out of range) opens with a
notice that says what was shown instead.

The pair lives in ``st.session_state``: it survives page switches, and a failed change (bad
upload, 2D against 3D...) raises before anything is stored, so the previous pair stays.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st

from pages import ui
from swviz.shapes import (
    MODES,
    NORMALISATIONS,
    SHAPES,
    Measure,
    Shape,
    library_shape,
    load_shape,
    make_pair,
    points_to_npy,
    shape_to_ply,
)
from swviz.store import ShapeStore, is_key
from swviz.view import View, ViewSide, view_from_zip, view_to_zip

KEY = "swviz_pair"
UPLOAD_KEY = "swviz_upload_{side}"
OPENED_KEY = "_swviz_opened_view"
DEFAULT = {"src": "sphere", "tgt": "torus", "n": 1024, "seed": 0}
DEFAULT_OPTIONS = {"mode": "surface", "norm": "none", "nw": 1.0}
N_RANGE = (16, 20000)
NW_RANGE = (0.0, 10.0)
SEED_RANGE = (0, 2**31 - 1)
PAIR_PARAMS = ("src", "tgt", "n", "seed", "measure", "norm", "nw")
UPLOAD_PREFIX = "upload:@"  # Shape.key of a shape read from the store: this + its store key
ROOT = Path(__file__).resolve().parents[1]


@st.cache_resource(show_spinner=False)
def upload_store() -> ShapeStore:
    """The server's one store of uploaded files (see :mod:`swviz.store` for its lifetime)."""
    return ShapeStore()


@st.cache_data(show_spinner=False, max_entries=64)
def _library_shape(name: str, n: int, seed: int) -> Shape:
    return library_shape(name, n, seed)


@st.cache_data(show_spinner="Building the measures…", max_entries=32, hash_funcs={Shape: lambda s: s.key})
def _measures(source: Shape, target: Shape, mode: str, n: int, seed: int, norm: str, nw: float):
    return make_pair(source, target, mode, n, seed, norm, nw)


@st.cache_data(show_spinner="Reading the upload…", max_entries=16)
def _parse_stored(key: str) -> Shape | None:
    item = upload_store().get(key)
    if item is None:
        return None
    shape = load_shape(item.data, item.filename)
    return dataclasses.replace(shape, key=UPLOAD_PREFIX + key)


def stored_shape(key: str) -> Shape | None:
    """The upload held under store ``key``, parsed (None when the server no longer holds it)."""
    if not is_key(key) or upload_store().get(key) is None:  # get() also marks it used
        return None
    return _parse_stored(key)


def store_key_of(shape: Shape | None) -> str | None:
    """The store key of an upload read through the store, else None."""
    if shape is None or not shape.key.startswith(UPLOAD_PREFIX):
        return None
    return shape.key[len(UPLOAD_PREFIX):]


def keep_upload(data: bytes, filename: str) -> Shape:
    """Parse an upload (raising the loader's ``ValueError``), keep its bytes in the store, return its shape."""
    shape = load_shape(data, filename)  # raises before anything is stored
    ext = filename.rsplit(".", 1)[-1].lower()
    key = upload_store().put(data, ext, shape.name)
    return _parse_stored(key) or dataclasses.replace(shape, key=UPLOAD_PREFIX + key)


def library_side(name: str, n: int, seed: int, side: str) -> Shape:
    """The library shape for one side (clouds are drawn with ``seed`` for the source, ``seed + 1`` for the target)."""
    return _library_shape(name, int(n), int(seed) + (side == "target"))


# --------------------------------------------------------------------------- the pair from the URL


def _options_from_url() -> dict:
    opts = dict(DEFAULT_OPTIONS)
    qp = st.query_params
    for key, opt, choices in (("measure", "mode", MODES), ("norm", "norm", NORMALISATIONS)):
        raw = qp.get(key)
        if raw is None:
            continue
        if raw in choices:
            opts[opt] = raw
        else:
            ui.notice(key, f"The link's {'measure' if key == 'measure' else 'normalisation'} `{key}={raw}` is not "
                           f"one of {', '.join(choices)}; using **{opts[opt]}** ({choices[opts[opt]]}) instead.")
    opts["nw"] = ui.url_number("nw", opts["nw"], *NW_RANGE, cast=float, label="normal weight")
    return opts


def _side_from_url(url_key: str, fallback: str, n: int, seed: int, side: str) -> tuple[Shape, str]:
    """The shape a link names for one side, and the library name shown if it cannot be used (with a notice)."""
    raw = st.query_params.get(url_key)
    if raw is None or raw in SHAPES:
        return library_side(raw or fallback, n, seed, side), raw or fallback
    if raw.startswith("@"):
        shape = stored_shape(raw[1:])
        if shape is not None:
            return shape, ""
        ui.notice(url_key, f"The link's {side} is an uploaded shape (`{raw[:14]}…`) that this server no longer "
                           f"holds, so the library's **{fallback}** is shown instead; upload the file again on "
                           f"the Shapes page. {upload_store().lifetime()}")
    else:
        ui.notice(url_key, f"The link's {side} shape `{url_key}={raw}` is not in the library; showing "
                           f"**{fallback}** instead.")
    return library_side(fallback, n, seed, side), fallback


def _pair_from_url():
    n = ui.url_number("n", DEFAULT["n"], *N_RANGE, label="points per shape")
    seed = ui.url_number("seed", DEFAULT["seed"], *SEED_RANGE, label="seed")
    opts = _options_from_url()
    source, src_name = _side_from_url("src", DEFAULT["src"], n, seed, "source")
    target, tgt_name = _side_from_url("tgt", DEFAULT["tgt"], n, seed, "target")
    if target.dim != source.dim:
        new = next(k for k, s in SHAPES.items() if s.dim == source.dim and k != src_name)
        ui.notice("tgt", f"The link's target **{target.name}** is {target.dim}D but the source **{source.name}** "
                         f"is {source.dim}D; showing the target **{new}** instead.")
        target = library_side(new, n, seed, "target")
    if opts["mode"] == "varifold" and not (source.is_mesh and target.is_mesh):
        ui.notice("measure", "The link asks for the oriented varifold, which needs two meshes, but "
                             f"{'the source' if not source.is_mesh else 'the target'} is a point cloud; using "
                             "**uniform surface samples** instead.")
        opts["mode"] = "surface"
    return source, target, n, seed, opts


def write_url(config: dict) -> None:
    """The pair's settings into the URL (an upload as ``@`` + its store key)."""
    for url_key in ("src", "tgt"):
        name, key = config[url_key], config.get(url_key + "_key")
        if name is not None:
            ui.put_param(url_key, name)
        elif key is not None:
            ui.put_param(url_key, "@" + key)
        else:
            ui.drop_param(url_key)
    ui.put_param("n", int(config["n"]))
    ui.put_param("seed", int(config["seed"]))
    ui.put_param("measure", config["mode"])
    ui.put_param("norm", config["norm"])
    ui.put_param("nw", f"{config['nw']:g}")


# --------------------------------------------------------------------------- setting and reading the pair


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
              "src_key": store_key_of(source), "tgt_key": store_key_of(target),
              "n": int(n), "seed": int(seed), "mode": mode, "norm": norm, "nw": nw}
    st.session_state[KEY] = {"source": src_m, "target": tgt_m, "shapes": (source, target), "config": config}
    write_url(config)


def set_library_pair(src: str, tgt: str, n: int, seed: int) -> None:
    """Make two library shapes the current pair (and record them in the URL), keeping the measure options.

    A varifold needs meshes: with a point cloud on either side the mode becomes surface samples,
    and a notice says so.
    """
    source = library_side(src, n, seed, "source")
    target = library_side(tgt, n, seed, "target")
    mode = current_options()["mode"]
    if mode == "varifold" and not (source.is_mesh and target.is_mesh):
        mode = "surface"
        ui.notice("measure", f"The oriented varifold needs two meshes and {src if not source.is_mesh else tgt} is "
                             "a point cloud; the measures are **uniform surface samples** instead.")
    set_pair(source, target, n, seed, mode=mode)


def current_config() -> dict:
    """The current pair's settings: src, tgt (None for an upload), src_key, tgt_key, n, seed, mode, norm, nw."""
    current_pair()
    return dict(st.session_state[KEY]["config"])


def current_options() -> dict:
    """How the shapes become measures: mode (a key of MODES), norm (of NORMALISATIONS), nw."""
    state = st.session_state.get(KEY)
    if state is None:
        return dict(DEFAULT_OPTIONS)
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
    """The pair every page works on: from session state, else from the URL (with notices) or defaults.

    Every call also writes the pair into the URL, so each page's link holds it.
    """
    state = st.session_state.get(KEY)
    if state is None:
        source, target, n, seed, opts = _pair_from_url()
        try:
            set_pair(source, target, n, seed, opts["mode"], opts["norm"], opts["nw"])
        except ValueError as exc:  # e.g. an upload the loader reads but the mode cannot use
            ui.notice("src", f"The link's pair could not be built ({exc}); showing the default pair instead.")
            source = library_side(DEFAULT["src"], DEFAULT["n"], DEFAULT["seed"], "source")
            target = library_side(DEFAULT["tgt"], DEFAULT["n"], DEFAULT["seed"], "target")
            set_pair(source, target, DEFAULT["n"], DEFAULT["seed"], "surface", "none", 1.0)
        state = st.session_state[KEY]
    else:
        write_url(state["config"])
    return state["source"], state["target"]


def read_upload(side: str, uploaded) -> Shape | None:
    """The shape in a ``st.file_uploader`` value for ``side`` ("source" or "target"), parsed once per file.

    The file's bytes go to the server's upload store, so the URL can name it. Returns the
    last good upload for that side when ``uploaded`` is None (or None if there was none);
    raises the loader's ``ValueError`` for a bad file, keeping the last good one.
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
        shape = keep_upload(uploaded.getvalue(), uploaded.name)
    except ValueError as exc:
        store.update(file_id=file_id, error=exc)
        raise
    store.update(file_id=file_id, shape=shape, error=None)
    return shape


def last_upload(side: str) -> Shape | None:
    """The last good upload for ``side``, or None."""
    return st.session_state.get(UPLOAD_KEY.format(side=side), {}).get("shape")


def sidebar_summary(notes: bool = True) -> None:
    """A compact line per shape in the sidebar of every page, and the loader's notes on an upload.

    ``notes=False`` where the page shows those notes itself, next to the shapes (Shapes, Home).
    """
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
    if notes:
        for shape in current_shapes():
            ui.shape_notes(shape, st.sidebar)


# --------------------------------------------------------------------------- views: download and open


def current_view(settings: dict, page: str, state: dict | None = None) -> View:
    """The pair (``state``, the current one by default) and ``settings`` (URL parameters) as a view of ``page``.

    Library sides are named in the settings; an upload's shape travels in the archive.
    """
    state = st.session_state[KEY] if state is None else state
    sides = []
    for m, shape in zip((state["source"], state["target"]), state["shapes"]):
        keep = shape.origin != "library"
        sides.append(ViewSide(m.name, m.points, m.weights, shape.vertices if keep else None,
                              shape.faces if keep else None))
    return View(page, dict(settings), *sides)


def _shape_from_view(side: ViewSide) -> Shape:
    """An archived upload back into the store (a mesh as PLY, a cloud as NPY) and read through it."""
    shape = Shape(side.name, side.vertices, side.faces, origin="upload")
    data, ext = (shape_to_ply(shape), "ply") if shape.is_mesh else (points_to_npy(shape.vertices), "npy")
    stem = side.name.rsplit(".", 1)[0] if "." in side.name else side.name
    key = upload_store().put(data, ext, f"{stem}.{ext}")
    got = _parse_stored(key)
    return dataclasses.replace(got, name=side.name)


def restore_view(view: View) -> None:
    """Make ``view`` the current pair and page settings, then switch to its page (raises ``ValueError``)."""
    page = view.page if (ROOT / "pages" / f"{view.page}.py").is_file() and view.page.isidentifier() else "home"
    s = view.settings
    shapes = []
    for url_key, side, vs in (("src", "source", view.source), ("tgt", "target", view.target)):
        name = s.get(url_key, "")
        if vs.vertices is not None:
            shapes.append(_shape_from_view(vs))
        elif name in SHAPES:
            shapes.append(None)
        else:
            raise ValueError(f"the archive's {side} {name!r} is neither a library shape nor stored in the archive")

    def num(key, default, lo, hi, cast):
        try:
            v = cast(float(s.get(key, default)))
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"the archive's setting {key}={s.get(key)!r} is not a number") from None
        if not lo <= v <= hi:
            raise ValueError(f"the archive's setting {key}={v} lies outside {lo} to {hi}")
        return v

    n, seed = num("n", DEFAULT["n"], *N_RANGE, int), num("seed", 0, *SEED_RANGE, int)
    nw = num("nw", 1.0, *NW_RANGE, float)
    mode, norm = s.get("measure", "surface"), s.get("norm", "none")
    if mode not in MODES or norm not in NORMALISATIONS:
        raise ValueError(f"the archive's measure {mode!r} or normalisation {norm!r} is unknown here")
    source = shapes[0] or library_side(s["src"], n, seed, "source")
    target = shapes[1] or library_side(s["tgt"], n, seed, "target")
    set_pair(source, target, n, seed, mode, norm, nw)
    rebuilt = st.session_state[KEY]
    for label, vs, m in (("source", view.source, rebuilt["source"]), ("target", view.target, rebuilt["target"])):
        if vs.points.shape != m.points.shape or not np.allclose(vs.points, m.points, rtol=1e-9, atol=1e-9):
            st.session_state[OPENED_KEY + "_note"] = (
                f"The archive's {label} measure differs from the one rebuilt from its settings (this swviz builds "
                "it differently); the page shows the rebuilt one.")
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith("w_") and not k.startswith("w__")]:
        del st.session_state[k]
    params = {k: v for k, v in s.items() if k not in PAIR_PARAMS}
    st.switch_page(f"pages/{page}.py", query_params={**params, **{k: st.query_params[k] for k in PAIR_PARAMS
                                                                 if k in st.query_params}})


def share_section(settings: dict, page: str) -> None:
    """The sidebar's "Share this view": how links work, the view archive, and opening one."""
    if KEY not in st.session_state:
        return
    config = st.session_state[KEY]["config"]
    note = st.session_state.pop(OPENED_KEY + "_note", None)
    if note:
        st.sidebar.warning(note, icon=":material/info:")
    with st.sidebar.expander("Share this view", icon=":material/share:"):
        st.caption("The address bar holds every setting of this page: copy it to share this view.")
        if config["src"] is None or config["tgt"] is None:
            st.caption("The link names uploads by their content hash. " + upload_store().lifetime()
                       + " The view archive below carries the shapes themselves.")
        state = st.session_state[KEY]
        st.download_button("Download this view", data=lambda: view_to_zip(current_view(settings, page, state)),
                           file_name=f"swviz_view_{page}.zip",
                           mime="application/zip", key="w__dl_view", on_click="ignore", icon=":material/download:",
                           help="Both measures (NPY) and every setting (JSON) in one small .zip; uploads travel "
                                "with their shapes.")
        opened = st.file_uploader("Open a view", type=["zip"], key="w__open_view",
                                  help="A .zip from 'Download this view': restores the pair, page and settings.")
        if opened is None:
            return
        file_id = getattr(opened, "file_id", None) or f"{opened.name}:{opened.size}"
        done = st.session_state.get(OPENED_KEY)
        if done is not None and done[0] == file_id:
            if done[1]:
                ui.show_error(ValueError(done[1]), f"Could not open {opened.name}")
            return
        try:
            view_in = view_from_zip(opened.getvalue())
        except ValueError as exc:
            st.session_state[OPENED_KEY] = (file_id, str(exc))
            ui.show_error(exc, f"Could not open {opened.name}")
            return
        st.session_state[OPENED_KEY] = (file_id, None)
        try:
            restore_view(view_in)
        except ValueError as exc:
            st.session_state[OPENED_KEY] = (file_id, str(exc))
            ui.show_error(exc, f"Could not open {opened.name}")
