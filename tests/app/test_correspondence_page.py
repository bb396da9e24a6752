"""AppTest of the Correspondences page: defaults, the deformed-pair shortcut, methods, garbage URLs."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "correspondence.py")


def _page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if params:
        at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _qp(at, key):
    v = at.query_params.get(key)
    return v[0] if isinstance(v, list) else v


def test_default_page_and_the_deformed_pair_shortcut():
    at = _page({"cn": "300"})
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table.index) == ["Exact assignment", "BSP-OT bijection", "min-SWGG (best slice)"]
    assert table["× optimal"].iloc[0] == 1 and (table["× optimal"] >= 1 - 1e-12).all()
    assert "mean error / √area" not in table.columns  # sphere -> torus: no ground truth
    assert [c.key for c in at.get("plotly_chart")] == ["corr_lines"]  # the open view only
    at.button(key="w_cuse").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert "mean error / √area" in table.columns and (table["mean error / √area"] < 0.3).all()
    assert [c.key for c in at.get("plotly_chart")] == ["corr_pck", "corr_lines"]  # and the PCK curves
    assert _qp(at, "src") == "bar" and _qp(at, "tgt") == "bar (bent)"


def test_changing_methods_changes_the_table():
    at = _page({"cn": "200", "src": "bar", "tgt": "bar (twisted)"})
    before = at.dataframe[0].value
    at.multiselect(key="w_cmeth").unselect("bspot").select("sinkhorn").run()
    assert not at.exception and not at.error
    after = at.dataframe[0].value
    assert list(after.index) == ["Exact assignment", "min-SWGG (best slice)", "Sinkhorn (argmax)"]
    assert list(after.index) != list(before.index)
    assert _qp(at, "cmeth") == "assignment,min-swgg,sinkhorn"
    at.number_input(key="w_ceps").set_value(0.5).run()
    assert at.dataframe[0].value.loc["Sinkhorn (argmax)", "× optimal"] != after.loc["Sinkhorn (argmax)", "× optimal"]
    at.selectbox(key="w_cview").set_value("sinkhorn").run()
    assert not at.exception and _qp(at, "cview") == "sinkhorn"


def test_garbage_url_parameters_fall_back_to_defaults():
    at = _page({"cmeth": "bogus,,;drop", "cn": "1e12", "cseed": "junk", "clines": "-5", "ceps": "nan",
                "cview": "nope", "src": "???", "n": "abc"})
    assert not at.error, [e.value for e in at.error]
    assert at.multiselect(key="w_cmeth").value == ["assignment", "bspot", "min-swgg"]
    assert at.number_input(key="w_cn").value == 1000 and at.number_input(key="w_cseed").value == 0
    assert at.number_input(key="w_clines").value == 150
    assert len(at.dataframe[0].value) == 3


def test_no_method_asks_for_one():
    at = _page({"cn": "100"})
    at.multiselect(key="w_cmeth").set_value([]).run()
    assert not at.exception and at.info and not at.dataframe


def test_the_colour_transfer_view_opens_from_the_url():
    at = _page({"cn": "100", "cmeth": "bspot", "cmap": "colour"})
    assert [c.key for c in at.get("plotly_chart")] == ["corr_colour"] and _qp(at, "cmap") == "colour"
