"""AppTest: the Variance page runs a small study, keeps its parameters in the URL, and explains a slice."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "variance.py")
SMALL = {"n": "128", "v_R": "6", "v_Lmin": "16", "v_Lmax": "64", "v_Lo": "32"}


def _run(params: dict) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _qp(at, key):
    v = at.query_params[key]
    return v[0] if isinstance(v, list) else v


@pytest.fixture(scope="module")
def small():
    return _run(SMALL)


def test_a_small_study_shows_curves_table_reference_and_exports(small):
    at = small
    assert not at.error, [e.value for e in at.error]
    assert at.multiselect(key="w_v_est").value == ["mc", "lcv", "ucv", "shcv-4", "rqmc-spiral", "rqmc-equal-area"]
    labels = [m.label for m in at.metric]
    assert any(lbl.startswith("Reference SW") for lbl in labels)
    assert not any(lbl.startswith("Max-SW") for lbl in labels)  # the other tabs run only when opened
    table = at.dataframe[0].value
    assert list(table.index) == [16, 32, 64] and "MC" in table.columns
    labels = [b.label for b in at.get("download_button")]
    assert "Study as CSV" in labels and "Study as JSON" in labels
    assert labels.count("Figure as HTML") == len(at.get("plotly_chart"))
    assert len(at.get("plotly_chart")) == 2  # the study's curves against L and against time
    assert _qp(at, "v_Lmax") == "64" and _qp(at, "v_tab") == "study"


def test_the_other_distances_tab_opens_from_the_url():
    at = _run({**SMALL, "v_tab": "other"})
    labels = [m.label for m in at.metric]
    assert any(lbl.startswith("Max-SW") for lbl in labels) and any(lbl.startswith("v-DSW") for lbl in labels)
    assert len(at.get("plotly_chart")) == 2 and not at.dataframe  # no study ran


def test_changing_the_estimators_updates_the_url_and_the_table(small):
    at = small
    at.multiselect(key="w_v_est").set_value(["mc", "ucv", "qmc-spiral"]).run()
    assert not at.exception
    assert _qp(at, "v_est") == "mc,ucv,qmc-spiral"
    assert list(at.dataframe[0].value.columns) == ["MC", "Upper CV", "QMC spiral"]


def test_the_slice_explainer_follows_the_angles():
    at = _run({**SMALL, "v_tab": "slice"})
    assert len(at.get("plotly_chart")) == 4

    def slice_value():
        return next(m.value for m in at.metric if "on this slice" in m.label)

    before = slice_value()
    at.slider(key="w_v_phi").set_value(120).run()
    assert not at.exception
    assert slice_value() != before and _qp(at, "v_phi") == "120"


def test_a_2d_pair_hides_the_3d_only_estimators_and_garbage_urls_fall_back():
    at = _run({**SMALL, "src": "circle", "tgt": "square", "v_est": "mc,rqmc-spiral,junk", "v_p": "7",
               "v_grid": "nonsense"})
    assert not at.error, [e.value for e in at.error]
    options = at.multiselect(key="w_v_est").options  # as labels
    assert "RQMC spiral" not in options and "SHCV deg ≤ 2" in options and "RQMC Gaussian Sobol" in options
    assert at.multiselect(key="w_v_est").value == ["mc"]
    assert at.selectbox(key="w_v_p").value == 2
    assert at.selectbox(key="w_v_grid").value == "powers of 2"


def test_a_heavy_study_waits_for_a_click_and_sobol_warns_off_powers_of_two():
    at = _run({"n": "256", "v_R": "2000", "v_Lmin": "10", "v_Lmax": "5000", "v_grid": "log-spaced", "v_Ln": "5",
               "v_Lo": "32"})
    assert any("Run this study" in b.label for b in at.button)
    assert any("Sobol" in w.value for w in at.warning)
    assert not at.dataframe  # nothing computed yet


def test_shcv_warns_when_its_L_grid_comes_close_to_its_basis_size():
    at = _run({**SMALL, "v_est": "mc,shcv-4", "v_Lmin": "16", "v_Lmax": "64"})
    text = " ".join(w.value for w in at.warning)
    assert "14 harmonics" in text and "L = 16, 32" in text and "64" not in text.split("L = ")[1].split("(")[0]
    at = _run({**SMALL, "v_est": "mc,shcv-4", "v_Lmin": "64", "v_Lmax": "128"})
    assert not any("harmonics" in w.value for w in at.warning)  # 64 >= 4 x 15
    at = _run({**SMALL, "v_est": "mc,ucv", "v_Lmin": "16", "v_Lmax": "32"})
    assert not any("harmonics" in w.value for w in at.warning)
