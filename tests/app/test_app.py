"""AppTest: every registered page runs without exception; Home reacts to its widgets."""

import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")
REGISTERED = re.findall(r'st\.Page\("([^"]+)"', (ROOT / "app.py").read_text())


def test_every_page_file_is_registered_and_exists():
    assert "pages/home.py" in REGISTERED
    for path in REGISTERED:
        assert (ROOT / path).is_file(), path


@pytest.mark.parametrize("page", REGISTERED)
def test_page_runs_without_exception(page):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _estimate(at) -> str:
    return at.metric[0].value


def test_changing_the_estimator_changes_the_estimate():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    before = _estimate(at)
    at.selectbox(key="w_est").select("mc").run()
    assert not at.exception
    after = _estimate(at)
    assert before != after
    assert at.query_params["est"] == ["mc"] or at.query_params["est"] == "mc"


def test_url_parameters_restore_a_view_and_garbage_is_ignored():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"est": "lcv", "L": "37", "src": "cube", "tgt": "sphere", "p": "junk", "n": "-4"})
    at.run()
    assert not at.exception
    assert at.selectbox(key="w_est").value == "lcv"
    assert at.number_input(key="w_L").value == 37
    assert at.selectbox(key="w_src").value == "cube"
    assert at.selectbox(key="w_p").value == 2  # garbage falls back to the default
    assert at.number_input(key="w_n").value == 1024


def test_a_single_projection_still_gives_an_estimate():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.number_input(key="w_L").set_value(1).run()  # L = 1: no standard error, still a value
    assert not at.exception
    assert _estimate(at)


def test_sobol_estimators_warn_when_L_is_not_a_power_of_two():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"est": "rqmc-equal-area", "L": "100"})
    at.run()
    assert not at.exception
    assert any("power of 2" in w.value for w in at.warning)
    at.number_input(key="w_L").set_value(128).run()
    assert not any("power of 2" in w.value for w in at.warning)


GARBAGE = ["", "nan", "-1e309", "999999999999", "%00<script>", "a,b,,c"]


@pytest.mark.parametrize("page", REGISTERED)
def test_every_url_parameter_survives_garbage(page):
    """Whatever a hand-edited URL holds, every page still runs (values fall back to defaults)."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    keys = sorted(at.query_params)
    assert keys, "the page keeps no state in the URL"
    for junk in GARBAGE:
        bad = AppTest.from_file(APP, default_timeout=120)
        bad.query_params.update({k: junk for k in keys})
        bad.run()
        bad.switch_page(page).run()
        assert not bad.exception, (page, junk, [e.message for e in bad.exception])
