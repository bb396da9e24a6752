"""AppTest of the Gradient flow page: defaults, URL parameters, estimators, presets, mesh mode."""

import json

import pytest
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
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("Trajectory (NPY)") == 3 and labels.count("Final state (PLY)") == 3  # per estimator
    assert labels.count("Figure as HTML") == 2  # one per figure
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


def test_the_paper_preset_sets_its_widgets_and_waits_for_a_click():
    at = _flow_page({"fest": "mc", "fsteps": "20", "fn": "64", "n": "96"})  # 96 atoms: at most 96 particles
    at.selectbox(key="w_fpreset").select("paper").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.number_input(key="w_fL").value == 10
    assert at.number_input(key="w_fh").value == 0.01
    assert at.number_input(key="w_fsteps").value == 8000
    assert at.selectbox(key="w_floss").value == "sw"
    assert at.multiselect(key="w_fest").value == ["mc", "lcv", "ucv"]
    assert at.number_input(key="w_fn").value == 96  # the preset's 512, capped at what the pair has
    assert _qp(at, "fsteps") == "8000" and _qp(at, "fL") == "10"
    assert any("Run these flows" in b.label for b in at.button) and not at.dataframe  # 24,000 steps wait
    at.number_input(key="w_fsteps").set_value(40).run()  # one edit: the other preset values stay, and it runs
    assert at.number_input(key="w_fL").value == 10 and at.number_input(key="w_fh").value == 0.01
    assert _qp(at, "fsteps") == "40" and _qp(at, "fL") == "10" and _qp(at, "floss") == "sw"
    table = at.dataframe[0].value
    assert list(table.columns) == ["MC", "Lower CV", "Upper CV"] and 40 in list(table.index)
    assert table.iloc[0].min() > 1000  # the preset's shift: the shapes start about |dm|^2 = 1200 apart
    assert any("shifted" in c.value for c in at.caption)


@pytest.mark.slow
def test_the_paper_preset_brings_every_estimator_to_the_target():
    at = _flow_page({"fpreset": "paper", "fest": "mc,lcv,ucv", "fL": "10", "fsteps": "8000", "fh": "0.01",
                     "floss": "sw", "ftable": "1, 3000, 4000, 5000, 6000, 8000", "fn": "96", "n": "96"})
    at.button(key="w__run_flows").click().run()
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    assert list(table.index) == [1, 3000, 4000, 5000, 6000, 8000]
    assert table.iloc[0].min() > 1000  # the shapes start about |dm|^2 = 1200 apart
    assert (table.loc[8000] < 1.0).all()


def test_mesh_mode_renders_mesh3d_frames():
    at = _flow_page({"fmode": "mesh", "fest": "ucv", "fsteps": "20", "fn": "128", "fL": "8"})
    assert not at.error, [e.value for e in at.error]
    spec = _animation(at)
    assert any(t["type"] == "mesh3d" for t in spec["data"])
    assert spec["frames"][1]["data"][0]["type"] == "mesh3d"
    assert at.slider(key="w_fsmooth").value == 10.0
