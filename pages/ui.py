"""Small UI helpers shared by every page: widgets bound to the URL, errors, timing.

Widget values live in the URL (``st.query_params``) so a view can be shared: each helper
reads its initial value from the URL when it is valid, falls back to the default otherwise
(a hand-edited URL never breaks a page), and writes the chosen value back.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

import swviz


def ensure_app_navigation() -> None:
    """Leave Streamlit's legacy ``pages/`` auto-discovery if this run is in it.

    A fresh server runs its very first script in the legacy multipage mode (there is a
    ``pages/`` folder), so a first visit straight to ``/shapes`` would run that page without
    ``app.py``'s configuration and navigation. Every page calls this first: it switches the
    legacy mode off and reruns, and ``app.py`` then routes the same URL through
    ``st.navigation``.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def _qp(key):
    return st.query_params.get(key)


def _store(key, value):
    st.query_params[key] = str(value)


def select(label, options, key, default, format_func=str, **kw):
    options = list(options)
    raw = _qp(key)
    initial = default
    for o in options:
        if str(o) == raw:
            initial = o
    value = st.selectbox(label, options, index=options.index(initial), key=f"w_{key}",
                         format_func=format_func, **kw)
    _store(key, value)
    return value


def multiselect(label, options, key, default, format_func=str, max_selections=None, **kw):
    options = list(options)
    raw = _qp(key)
    initial = [o for o in (raw.split(",") if raw else []) if o in options] or list(default)
    value = st.multiselect(label, options, default=initial, key=f"w_{key}", format_func=format_func,
                           max_selections=max_selections, **kw)
    _store(key, ",".join(value))
    return value


def _initial_number(key, default, min_value, max_value, cast):
    """The URL's value for ``key`` when it parses and lies in range, else ``default``."""
    raw = _qp(key)
    if raw is not None:
        try:
            v = cast(float(raw))
            if min_value <= v <= max_value:
                return v
        except (TypeError, ValueError, OverflowError):
            pass
    return default


def _numeric(widget, label, key, default, min_value, max_value, step, cast, **kw):
    initial = _initial_number(key, default, min_value, max_value, cast)
    value = widget(label, min_value=cast(min_value), max_value=cast(max_value), value=cast(initial),
                   step=cast(step) if step is not None else None, key=f"w_{key}", **kw)
    _store(key, value)
    return value


def number(label, key, default, min_value, max_value, step=None, cast=int, **kw):
    return _numeric(st.number_input, label, key, default, min_value, max_value, step, cast, **kw)


def slider(label, key, default, min_value, max_value, step=None, cast=int, **kw):
    return _numeric(st.slider, label, key, default, min_value, max_value, step, cast, **kw)


@st.cache_data(show_spinner="Computing the reference value…", max_entries=32)
def reference(x, y, a, b, p) -> swviz.Reference:
    """``swviz.reference_sw``, cached across pages and sessions for the same pair and p."""
    return swviz.reference_sw(x, y, a, b, p=p)


def show_error(exc: Exception, what: str = "That did not work") -> None:
    """A clear message in the page for bad input; unexpected errors say so too, no traceback."""
    if isinstance(exc, ValueError):
        st.error(f"{what}: {exc}", icon=":material/error:")
    else:
        st.error(f"{what}: unexpected {type(exc).__name__}: {exc}", icon=":material/error:")


_SUB = str.maketrans("0123456789.", "₀₁₂₃₄₅₆₇₈₉.")
_SUP = str.maketrans("0123456789.", "⁰¹²³⁴⁵⁶⁷⁸⁹·")


def sw_symbol(p, power: bool = True) -> str:
    """``SW₂²`` for p = 2 (``SW₂`` without the power)."""
    s = f"{float(p):g}"
    return "SW" + s.translate(_SUB) + (s.translate(_SUP) if power else "")


def estimator_label(name: str) -> str:
    try:
        return swviz.get_estimator(name).title
    except ValueError:
        return name


def text(label, key, default, **kw):
    """A text input bound to the URL (any string is accepted; the page parses it)."""
    raw = _qp(key)
    initial = default if raw is None else str(raw)
    value = st.text_input(label, value=initial, key=f"w_{key}", **kw)
    _store(key, value)
    return value


def reset_to(values: dict) -> None:
    """Set URL-bound widgets to ``values`` (URL key -> value) on the next run, e.g. from a preset.

    Call it from a widget callback: it writes the URL and drops the widgets' session state, so
    each helper rebuilds its widget from the URL without the "default and Session State" warning.
    """
    for key, value in values.items():
        st.query_params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        st.session_state.pop(f"w_{key}", None)
