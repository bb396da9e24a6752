"""AppTest of the Deformation page: a small run of both fields, URL parameters, Stop, and a point-cloud source."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")
SMALL = {"dmesh": "sphere-peanut", "dsteps": "12", "dK": "2", "dL": "20"}


def _page(params: dict | None = None, run: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    if params:
        at.query_params.update(params)
    at.run()
    at.switch_page("pages/deformation.py").run()
    assert not at.exception, [e.message for e in at.exception]
    if run:
        at.button(key="drun").click().run()
        assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_page_shows_the_meshes_at_once_and_waits_for_a_click():
    at = _page(SMALL, run=False)
    assert not at.dataframe and len(at.get("plotly_chart")) == 1  # the source and target, no run yet
    assert "Deform" in at.button(key="drun").label


def _qp(at, key):
    v = at.query_params.get(key)
    return v[0] if isinstance(v, list) else v


def test_both_fields_run_side_by_side_with_metrics_and_exports():
    at = _page(SMALL)
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table.index) == ["neural ODE", "free flow"]
    assert {"flipped faces", "self-intersecting pairs", "Chamfer / diag²"} <= set(table.columns)
    assert (table["flipped faces"] >= 0).all()
    labels = [b.proto.label for b in at.get("download_button")]
    assert sum("Deformed mesh" in lab for lab in labels) == 4  # PLY and OBJ for each field
    assert len(at.get("plotly_chart")) == 4  # iterations, ODE time, loss, defects
    # the widgets are in the URL
    assert _qp(at, "dsteps") == "12" and _qp(at, "dloss") == "sw-varifold" and _qp(at, "dfield") == "ode"


def test_one_field_alone_and_garbage_in_the_url():
    at = _page({**SMALL, "dfield": "free", "dcompare": "0", "dloss": "nonsense"})
    assert at.selectbox(key="w_dloss").value == "sw-varifold"  # fell back, with a notice
    assert any("nonsense" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert list(table.index) == ["free flow"]
    assert len(at.get("plotly_chart")) == 3  # no ODE-time animation for a free flow


def test_stop_shows_what_was_kept():
    at = _page(SMALL)
    at.button(key="dstop").click().run()
    assert not at.exception
    assert any(w.value.startswith("Stopped") for w in at.warning)
    at.button(key="dresume").click().run()
    assert not at.exception and at.dataframe  # runs (from the cache) again


def test_a_point_cloud_source_is_a_clear_message_and_the_pair_is_kept():
    at = _page({"dmesh": "pair", "src": "helix", "tgt": "sphere"}, run=False)
    assert any("point cloud" in e.value for e in at.error)
    assert not at.dataframe
    assert _qp(at, "src") == "helix"  # the pair stays as loaded
