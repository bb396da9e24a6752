"""Small UI helpers shared by every page: widgets bound to the URL, notices, figures, errors.

Widget values live in the URL (``st.query_params``) so a view can be shared: each helper
reads its initial value from the URL, writes the chosen value back on every run, and when
the URL's value cannot be used (unknown, out of range, not a number) it says so in a
visible notice at the top of the page, naming the value it used instead. Nothing falls
back silently.

``app.py`` brackets every page with :func:`begin_page` and :func:`end_page`: the first opens
the notice area, the second draws the sidebar's "Share this view" section (the link, the
view archive download and "Open a view"). Pages end early with :func:`stop` (not
``st.stop``) so that section is still drawn.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

import swviz

NOTICES = "_swviz_notices"
#: URL keys of the pair, shared by every page: their notices stay when the page changes.
PAIR_KEYS = frozenset({"src", "tgt", "n", "seed", "measure", "norm", "nw"})
_local = threading.local()  # per script thread: this run's notice area and settings

#: The modebar's camera button: a PNG of a good size for papers and slides.
IMAGE_SIZE = {"width": 1600, "height": 1000, "scale": 2}


class PageEnd(Exception):
    """Raised by :func:`stop`; ``app.py`` catches it and still draws the end of the page."""


def stop() -> None:
    """End the page here (like ``st.stop``, but the sidebar's share section is still drawn).

    Outside ``app.py``'s bracket (a page run on its own, as some tests do) it is ``st.stop``.
    """
    if getattr(_local, "bracket", False):
        raise PageEnd
    st.stop()


def close_bracket() -> None:
    """Called by ``app.py`` once the page has run (or failed): :func:`stop` is ``st.stop`` again."""
    _local.bracket = False


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


# --------------------------------------------------------------------------- page bracket and notices


def begin_page(name: str) -> None:
    """Open this run's notice area at the top of page ``name`` and redraw its standing notices."""
    _local.page = name
    _local.bracket = True
    _local.settings = {}
    _local.area = st.container()
    _local.button = False
    stored = st.session_state.get(NOTICES)
    if stored is not None and stored.get("page") != name:  # another page: keep only the pair's notices
        stored["page"] = name
        stored["items"] = {k: v for k, v in stored["items"].items() if k in PAIR_KEYS}
    for message in (stored or {}).get("items", {}).values():
        _draw_notice(message)


def _dismiss() -> None:
    st.session_state.pop(NOTICES, None)


def _draw_notice(message: str) -> None:
    area = getattr(_local, "area", None)
    if area is None:
        st.warning(message, icon=":material/link_off:")
        return
    area.warning(message, icon=":material/link_off:")
    if not _local.button:
        _local.button = True
        area.button("Dismiss these notices", key="w__dismiss_notices", on_click=_dismiss, type="tertiary",
                    icon=":material/close:")


def notice(key: str, message: str) -> None:
    """Show ``message`` at the top of the page (once per URL key) and keep it until dismissed or the page changes."""
    page = getattr(_local, "page", None)
    stored = st.session_state.setdefault(NOTICES, {"page": page, "items": {}})
    if key in stored["items"]:  # one notice per URL key: the first says what the link asked for
        return
    stored["items"][key] = message
    _draw_notice(message)


def page_settings() -> dict:
    """The URL parameters written in this run so far (key -> string)."""
    return dict(getattr(_local, "settings", {}))


def put_param(key: str, value) -> None:
    """Write one URL parameter (and remember it as a setting of this run's view).

    Also ends a ``reset_to`` of that widget: from now on it is built from the URL again.
    """
    reset = st.session_state.get(RESET)
    if reset:
        reset.discard(key)
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    if st.query_params.get(key) != text:  # each write is a message to the browser
        st.query_params[key] = text
    if hasattr(_local, "settings"):
        _local.settings[key] = text


def drop_param(key: str) -> None:
    if key in st.query_params:
        del st.query_params[key]
    getattr(_local, "settings", {}).pop(key, None)


def end_page() -> None:
    """Draw the sidebar's share section (called by ``app.py`` after the page)."""
    from pages import pair  # here: pair imports this module

    # the live dict: a fragment's rerun keeps writing into it, and the archive is built on click
    pair.share_section(getattr(_local, "settings", {}), getattr(_local, "page", ""))


# --------------------------------------------------------------------------- widgets bound to the URL


def _qp(key):
    return st.query_params.get(key)


def _label_of(label: str) -> str:
    return label.split("(")[0].strip().rstrip(":") or label


RESET = "_swviz_reset"


def _has_state(key: str) -> bool:
    """Whether ``reset_to`` set this widget's value through session state (then no default may be passed).

    Otherwise every helper passes the URL's value (the URL mirrors the widget on every run).
    """
    return key in st.session_state.get(RESET, ()) and f"w_{key}" in st.session_state


def select(label, options, key, default, format_func=str, quiet=False, **kw):
    """A selectbox bound to URL parameter ``key``; an unknown value in the URL is a notice.

    ``quiet=True`` skips the notice (when the page knows the URL holds something else there,
    e.g. an upload's hash instead of a library name).
    """
    options = list(options)
    if default not in options:
        default = options[0]
    raw = _qp(key)
    initial = default
    if raw is not None:
        match = [o for o in options if str(o) == raw]
        if match:
            initial = match[0]
        elif not quiet:
            notice(key, f"The link's {_label_of(label)} `{key}={raw}` is not one of the choices; showing "
                        f"**{format_func(default)}** instead.")
    if not _has_state(key):
        kw["index"] = options.index(initial)
    value = st.selectbox(label, options, key=f"w_{key}", format_func=format_func, **kw)
    put_param(key, value)
    return value


def multiselect(label, options, key, default, format_func=str, max_selections=None, **kw):
    """A multiselect bound to ``key`` (comma-separated); unknown or surplus entries in the URL are a notice."""
    options = list(options)
    raw = _qp(key)
    if raw is None:
        initial = [o for o in default if o in options]
    else:
        asked = [s for s in raw.split(",") if s]
        initial = list(dict.fromkeys(o for s in asked for o in options if str(o) == s))
        if asked and not initial:  # nothing usable: the defaults (and the notice says so)
            initial = [o for o in default if o in options]
        unknown = [s for s in asked if s not in map(str, options)]
        dropped = initial[max_selections:] if max_selections is not None else []
        initial = initial[:max_selections] if max_selections is not None else initial
        if unknown or dropped:
            parts = []
            if unknown:
                parts.append(f"left out {', '.join(f'`{u}`' for u in unknown)} (not among the choices)")
            if dropped:
                parts.append(f"kept the first {max_selections} and left out {', '.join(map(str, dropped))}")
            shown = ", ".join(format_func(o) for o in initial) or "nothing"
            notice(key, f"The link's {_label_of(label)}: {'; '.join(parts)}; showing {shown}.")
    if not _has_state(key):
        kw["default"] = initial
    value = st.multiselect(label, options, key=f"w_{key}", format_func=format_func, max_selections=max_selections,
                           **kw)
    put_param(key, ",".join(map(str, value)))
    return value


def url_number(key, default, min_value, max_value, cast=int, label=None, quiet=False):
    """The URL's value for ``key`` when it parses and lies in range, else ``default`` (with a notice)."""
    raw = _qp(key)
    if raw is None:
        return default
    name = _label_of(label or key)
    what = "a whole number" if cast is int else "a number"
    try:
        f = float(raw)
        v = cast(f)
    except (TypeError, ValueError, OverflowError):
        problem = f"is not {what}"
    else:
        if f != f:  # NaN
            problem = f"is not {what}"
        elif not min_value <= f <= max_value:
            problem = f"lies outside {cast(min_value):,} to {cast(max_value):,}"
        elif cast is int and v != f:
            problem = "is not a whole number"
        else:
            return v
    if not quiet:
        notice(key, f"The link's {name} `{key}={raw}` {problem}; using **{cast(default):g}** instead."
               if cast is float else f"The link's {name} `{key}={raw}` {problem}; using **{cast(default):,}** instead.")
    return default


def _numeric(widget, label, key, default, min_value, max_value, step, cast, **kw):
    default = min(max(cast(default), cast(min_value)), cast(max_value))
    if not _has_state(key):
        kw["value"] = cast(url_number(key, default, min_value, max_value, cast, label))
    value = widget(label, min_value=cast(min_value), max_value=cast(max_value),
                   step=cast(step) if step is not None else None, key=f"w_{key}", **kw)
    put_param(key, value)
    return value


def number(label, key, default, min_value, max_value, step=None, cast=int, **kw):
    return _numeric(st.number_input, label, key, default, min_value, max_value, step, cast, **kw)


def slider(label, key, default, min_value, max_value, step=None, cast=int, **kw):
    return _numeric(st.slider, label, key, default, min_value, max_value, step, cast, **kw)


def toggle(label, key, default=False, **kw):
    """A toggle bound to ``key`` ("1" / "0" in the URL)."""
    raw = _qp(key)
    initial = default
    if raw is not None:
        if raw in ("1", "0"):
            initial = raw == "1"
        else:
            notice(key, f"The link's {_label_of(label)} `{key}={raw}` is not 0 or 1; using "
                        f"**{'on' if default else 'off'}** instead.")
    if not _has_state(key):
        kw["value"] = initial
    value = st.toggle(label, key=f"w_{key}", **kw)
    put_param(key, "1" if value else "0")
    return value


def tabs(labels: dict, key: str, default: str | None = None):
    """Tabs bound to URL parameter ``key`` whose content runs lazily.

    labels : dict
        Slug (what the URL holds) -> tab title.

    Returns ``(containers, open_slug)``: a dict slug -> tab container, and the open tab's slug.
    Draw only the open tab's content (the others cost nothing); choosing a tab reruns the
    script, or only the enclosing ``st.fragment``.
    """
    slugs = list(labels)
    initial = default if default in labels else slugs[0]
    raw = _qp(key)
    if raw is not None:
        if raw in labels:
            initial = raw
        else:
            notice(key, f"The link's tab `{key}={raw}` is not one of {', '.join(slugs)}; showing "
                        f"**{labels[initial]}** instead.")
    # the default is the tab the session opened with, kept fixed: a changing default would make a new widget
    # (and lose the browser's choice); a run without the browser's tab state (AppTest) still opens the link's tab
    first = st.session_state.setdefault("_swviz_tab_default", {}).setdefault(key, initial)
    containers = st.tabs([labels[s] for s in slugs], key=f"w_{key}", on_change="rerun", default=labels[first])
    open_slug = next((s for s, c in zip(slugs, containers) if getattr(c, "open", False)), initial)
    put_param(key, open_slug)
    return dict(zip(slugs, containers)), open_slug


def text(label, key, default, **kw):
    """A text input bound to the URL (any string is accepted; the page parses it)."""
    raw = _qp(key)
    if not _has_state(key):
        kw["value"] = default if raw is None else str(raw)
    value = st.text_input(label, key=f"w_{key}", **kw)
    put_param(key, value)
    return value


def reset_to(values: dict) -> None:
    """Set URL-bound widgets to ``values`` (URL key -> value of the widget's type), e.g. from a preset.

    Call it from a widget callback. It writes both the URL and the widgets' session state, so
    the browser shows the new values too (the helpers then pass no default of their own).
    """
    reset = st.session_state.setdefault(RESET, set())
    for key, value in values.items():
        st.query_params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        st.session_state[f"w_{key}"] = list(value) if isinstance(value, tuple) else value
        reset.add(key)


# --------------------------------------------------------------------------- figures


def figure_html(fig) -> str:
    """A standalone HTML page of ``fig`` with plotly.js embedded (no network needed to open it)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def chart(fig, key: str, name: str | None = None, *, html: bool = True, container=None, **kw) -> None:
    """``st.plotly_chart`` with the modebar's camera set to a large PNG, and a standalone HTML download.

    The HTML embeds plotly.js (it opens offline) and is only built when the button is clicked.
    """
    target = st if container is None else container
    name = name or key
    config = {"displaylogo": False,
              "toImageButtonOptions": {"format": "png", "filename": f"swviz_{name}", **IMAGE_SIZE}}
    target.plotly_chart(fig, width=kw.pop("width", "stretch"), key=key, config=config, **kw)
    if html:
        target.download_button("Figure as HTML", data=lambda: figure_html(fig),
                               file_name=f"swviz_{name}.html", mime="text/html", key=f"dl_html_{key}",
                               type="tertiary", icon=":material/download:", on_click="ignore",
                               help="A standalone page with this interactive figure (opens offline). The camera "
                                    "icon in the figure's toolbar saves a 3200 × 2000 PNG.")


# --------------------------------------------------------------------------- long runs on a worker thread


class StopRun(Exception):
    """Raised by a step of :func:`run_steps` to end the run there, quietly (the finished steps are returned)."""


def run_steps(steps, *, text: str, cancelled: type[BaseException], name: str = "swviz-worker",
              worker_key: str | None = None, poll_s: float = 0.12) -> dict:
    """Run ``steps`` one after another on a worker thread, with a progress bar drawn from the script thread.

    steps : list of (key, step)
        ``step(progress)`` computes one result; ``progress(frac, message)`` reports its own
        fraction in [0, 1] and raises ``cancelled()`` once the script run has been stopped
        (a widget changed, or a Stop button was pressed), so the worker gives up at its next
        report. A step may raise :class:`StopRun` to end the run with what is finished.

    Returns a dict key -> result of the steps that finished. An error in a step is raised
    here, in the script thread. The bar appears only while the worker is still busy (a
    cached result draws nothing), and ``st.session_state[worker_key]`` holds the thread
    when given (a later run can join it).
    """
    results: dict = {}
    state = {"frac": 0.0, "text": text, "cancel": False, "error": None}

    def work():
        try:
            for i, (key, step) in enumerate(steps):
                def progress(frac, msg, i=i):
                    if state["cancel"]:
                        raise cancelled()
                    state["frac"], state["text"] = (i + frac) / len(steps), msg

                results[key] = step(progress)
        except StopRun:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed back to the script thread
            state["error"] = exc

    worker = threading.Thread(target=work, name=name, daemon=True)
    add_script_run_ctx(worker, get_script_run_ctx())
    if worker_key is not None:
        st.session_state[worker_key] = worker
    worker.start()
    bar = None
    try:
        while worker.is_alive():
            worker.join(poll_s)
            if worker.is_alive():
                bar = bar or st.progress(0.0, text=text)
                bar.progress(min(max(state["frac"], 0.0), 1.0), text=state["text"])
    finally:
        if worker.is_alive():  # the run was stopped: the worker gives up at its next progress report
            state["cancel"] = True
    if bar is not None:
        bar.empty()
    if state["error"] is not None:
        raise state["error"]
    return results


# --------------------------------------------------------------------------- computations and text


def shape_notes(shape, container=None) -> None:
    """The loader's notes on ``shape`` (a header line skipped, STL corners merged...) as visible info boxes."""
    target = st if container is None else container
    for note in getattr(shape, "notes", ()) or ():
        target.info(f"**{shape.name}**: {note}", icon=":material/info:")


def array_digest(a: np.ndarray) -> str:
    """A hash of every entry of ``a`` (with its shape and dtype), for ``st.cache_data``'s ``hash_funcs``.

    Streamlit's own hash of an array of 500,000 entries or more reads a random sample of
    100,000 of them, so two large measures that differ elsewhere (a deformed region, an
    aligned copy) would share one cache entry, across sessions too. Every cached function of
    arrays in the pages passes ``hash_funcs=ARRAY_HASH``.
    """
    a = np.ascontiguousarray(a)
    h = hashlib.sha1(f"{a.shape}|{a.dtype.str}".encode())
    h.update(a.tobytes() if a.dtype.hasobject else memoryview(a).cast("B"))
    return h.hexdigest()


ARRAY_HASH = {np.ndarray: array_digest}


@st.cache_data(show_spinner="Computing the reference value…", max_entries=32, hash_funcs=ARRAY_HASH)
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


def estimator_fact(name: str, fact: str):
    """A declared fact of an estimator's record (``degree``, ``sobol``...): a field, or an entry of ``extra``."""
    spec = swviz.get_estimator(name)
    if hasattr(spec, fact):
        return getattr(spec, fact)
    return (getattr(spec, "extra", None) or {}).get(fact)


def estimator_label(name: str) -> str:
    try:
        return swviz.get_estimator(name).title
    except ValueError:
        return name


class SharedResults:
    """Results kept for every session of this server: the ``size`` most recently used, by key."""

    def __init__(self, size: int = 16):
        self.size = int(size)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The result stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, result) -> None:
        """Store ``result`` under ``key``, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def shared_results(name: str, size: int = 16) -> SharedResults:
    """The server-wide :class:`SharedResults` called ``name`` (one per page that keeps results)."""
    return SharedResults(size)
