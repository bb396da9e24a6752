"""AppTest of the Gradient flow page: defaults, URL parameters, estimators, presets, mesh mode."""

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def _flow_page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if params:
        at.query_params.update(params)
    at.run()
    at.switch_page("pages/flow.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _qp(at, key):
    v = at.query_params.get(key)
    return v[0] if isinstance(v, list) else v


def _animation(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_default_page_runs_the_fast_preset_for_three_estimators():
    at = _flow_page()
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table.columns) == ["MC", "Lower CV", "Upper CV"]
    assert list(table.index) == [0, 10, 50, 100, 200]
    assert (table.iloc[-1] < 0.2 * table.iloc[0]).all()  # W_2^2 came down
    spec = _animation(at)
    assert 2 <= len(spec["frames"]) <= 60
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"
    assert len(at.get("plotly_chart")) == 2  # the animation and the W_2^2 curves
    assert len(at.get("download_button")) == 6  # trajectory and final state per estimator
    assert _qp(at, "fpreset") == "fast" and _qp(at, "fest") == "mc,lcv,ucv" and _qp(at, "fL") == "32"


def test_url_parameters_restore_a_view_and_garbage_falls_back():
    at = _flow_page({"fest": "mc,ucv,bogus", "fL": "16", "fsteps": "40", "fh": "0.2", "floss": "sw", "fn": "128",
                     "ftable": "0, 20, 40", "fseed": "junk"})
    assert at.multiselect(key="w_fest").value == ["mc", "ucv"]
    assert at.number_input(key="w_fL").value == 16
    assert at.number_input(key="w_fh").value == 0.2
    assert at.selectbox(key="w_floss").value == "sw"
    assert at.number_input(key="w_fseed").value == 0  # garbage -> default
    table = at.dataframe[0].value
    assert list(table.columns) == ["MC", "Upper CV"] and list(table.index) == [0, 20, 40]


def test_changing_estimators_and_a_bad_table_step_list():
    at = _flow_page({"fsteps": "30", "fn": "96", "fL": "8"})
    at.multiselect(key="w_fest").unselect("lcv").run()
    assert not at.exception
    assert list(at.dataframe[0].value.columns) == ["MC", "Upper CV"]
    assert _qp(at, "fest") == "mc,ucv"
    at.text_input(key="w_ftable").input("five, six").run()
    assert not at.exception
    assert list(at.dataframe[0].value.index) == [30]  # falls back to the last step, and says so
    assert any("could not read table steps" in c.value for c in at.caption)


def test_the_paper_preset_sets_its_parameters_and_shifts_the_shapes():
    at = _flow_page({"fest": "mc", "fsteps": "20", "fn": "64"})
    at.selectbox(key="w_fpreset").select("paper").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.number_input(key="w_fL").value == 10
    assert at.number_input(key="w_fh").value == 0.01
    assert at.number_input(key="w_fsteps").value == 8000
    assert at.selectbox(key="w_floss").value == "sw"
    assert at.multiselect(key="w_fest").value == ["mc", "lcv", "ucv"]
    assert _qp(at, "fsteps") == "8000"
    table = at.dataframe[0].value
    assert list(table.index) == [1, 3000, 4000, 5000, 6000, 8000]
    assert table.iloc[0].min() > 1000  # the shapes start about |dm|^2 = 1200 apart
    assert (table.loc[8000] < 1.0).all()
    assert any("shifted" in c.value for c in at.caption)


def test_mesh_mode_renders_mesh3d_frames():
    at = _flow_page({"fmode": "mesh", "fest": "ucv", "fsteps": "20", "fn": "128", "fL": "8"})
    assert not at.error, [e.value for e in at.error]
    spec = _animation(at)
    assert any(t["type"] == "mesh3d" for t in spec["data"])
    assert spec["frames"][1]["data"][0]["type"] == "mesh3d"
    assert at.slider(key="w_fsmooth").value == 10.0
