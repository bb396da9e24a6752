"""AppTest: the Amortized slicing page compares the prediction with the ascents, draws the slicing
sphere with its overlays and the one-slice explainer, shows the autoencoder study, and refuses a
2D pair for the 3D model with a message while keeping the pair."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "amortized.py")
SMALL = {"n": "256", "am_L": "32"}


def _run(params: dict) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at, start):
    return next(m for m in at.metric if m.label.startswith(start))


def test_the_prediction_against_the_ascent_with_live_metricity_checks():
    at = _run(SMALL)
    assert not at.error, [e.value for e in at.error]
    amortized = float(_metric(at, "amortized v-DSW₂²").value)
    ascent = float(_metric(at, "v-DSW₂² by ascent").value)
    assert 0 < amortized <= ascent * 1.05
    assert float(_metric(at, "amortized v-DSW₂²(X, X)").value) == 0.0
    swapped = float(_metric(at, "amortized v-DSW₂²(Y, X)").value)
    assert abs(swapped - amortized) <= 1e-3 * amortized  # the shown values agree to their printed digits
    table = at.dataframe[0].value
    assert list(table["distance"]) == ["v-DSW", "Max-SW"] and (table["speed-up"] > 0).all()


def test_the_slicing_sphere_draws_the_map_overlays_and_the_picked_slice():
    at = _run({**SMALL, "am_tab": "sphere", "am_over": "max,amortized,mc"})
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 4  # sphere, map, and the slice explainer's two figures
    before = _metric(at, "W₂²(θ) at the picked slice").value
    at.slider(key="w_am_phi").set_value(200).run()
    assert not at.exception and _metric(at, "W₂²(θ) at the picked slice").value != before


def test_the_autoencoder_tab_reads_the_shipped_results():
    at = _run({**SMALL, "am_tab": "autoencoder"})
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert len(table) == 7 and {"Chamfer", "exact W₂²", "SW₂²"} <= set(table.columns)
    # each metric's own loss wins it: Chamfer training gives the lowest Chamfer
    assert table.loc[table["Chamfer"].idxmin(), "loss"] == "Chamfer"
    assert len(at.get("plotly_chart")) == 2


def test_a_2d_pair_is_refused_by_the_3d_model_with_a_message_and_kept():
    at = _run({**SMALL, "src": "circle", "tgt": "square"})
    assert any("trained for d = 3" in e.value for e in at.error)
    assert at.query_params["src"] in ("circle", ["circle"])
    at2 = _run({**SMALL, "src": "circle", "tgt": "square", "am_tab": "sphere"})
    assert not at2.error and len(at2.get("plotly_chart")) == 3  # the circle and the explainer
