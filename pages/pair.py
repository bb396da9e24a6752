"""The pair of shapes every page works on, kept in session state.

``current_pair()`` returns ``(source, target)`` as :class:`swviz.shapes.Measure`; the Home
and Shapes pages change it with ``set_library_pair``. Library choices are mirrored in the
URL (``src``, ``tgt``, ``n``, ``seed``) so a view can be shared; the pair survives errors
and page switches because it lives in ``st.session_state``.
"""

from __future__ import annotations

import streamlit as st

from swviz.shapes import SHAPES, Measure, sample_shape

KEY = "swviz_pair"
DEFAULT = {"src": "sphere", "tgt": "torus", "n": 1024, "seed": 0}


@st.cache_data(show_spinner=False, max_entries=64)
def _library_measure(name: str, n: int, seed: int) -> Measure:
    return Measure(sample_shape(name, n, seed), None, name, None, "library samples")


def _spec_from_url() -> dict:
    spec = dict(DEFAULT)
    qp = st.query_params
    for k in ("src", "tgt"):
        if qp.get(k) in SHAPES:
            spec[k] = qp.get(k)
    for k, lo, hi in (("n", 16, 20000), ("seed", 0, 2**31 - 1)):
        try:
            v = int(qp.get(k, spec[k]))
            if lo <= v <= hi:
                spec[k] = v
        except (TypeError, ValueError):
            pass
    if SHAPES[spec["src"]].dim != SHAPES[spec["tgt"]].dim:
        spec["tgt"] = next(k for k, s in SHAPES.items() if s.dim == SHAPES[spec["src"]].dim and k != spec["src"])
    return spec


def set_library_pair(src: str, tgt: str, n: int, seed: int) -> None:
    """Make two library shapes the current pair (and record them in the URL)."""
    source = _library_measure(src, n, seed)
    target = _library_measure(tgt, n, seed + 1)
    st.session_state[KEY] = {"source": source, "target": target,
                             "spec": {"src": src, "tgt": tgt, "n": n, "seed": seed}}
    for k, v in (("src", src), ("tgt", tgt), ("n", n), ("seed", seed)):
        st.query_params[k] = str(v)


def current_spec() -> dict | None:
    """The library spec of the current pair, or None when it holds uploads."""
    state = st.session_state.get(KEY)
    if state is None:
        return _spec_from_url()
    return state.get("spec")


def current_pair() -> tuple[Measure, Measure]:
    """The pair every page works on: from session state, else from the URL or defaults."""
    state = st.session_state.get(KEY)
    if state is None:
        spec = _spec_from_url()
        set_library_pair(spec["src"], spec["tgt"], spec["n"], spec["seed"])
        state = st.session_state[KEY]
    return state["source"], state["target"]


def sidebar_summary() -> None:
    """A compact line per shape in the sidebar of every page."""
    source, target = current_pair()
    with st.sidebar:
        st.caption("Current pair")
        st.markdown(
            f":blue[**source**] {source.name} · {source.n:,} pts · {source.dim}D  \n"
            f":red[**target**] {target.name} · {target.n:,} pts · {target.dim}D"
        )
