"""Every figure can be saved: the modebar's camera gives a large PNG, and each chart has a standalone HTML download."""

import json
import re

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from pages.ui import IMAGE_SIZE, figure_html
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
SMALL = {"n": "128", "v_R": "3", "v_Lmax": "32", "fsteps": "10", "fn": "64", "cn": "100", "cmeth": "bspot"}


@pytest.mark.parametrize("page", ["pages/home.py", "pages/shapes.py", "pages/variance.py", "pages/flow.py",
                                  "pages/correspondence.py"])
def test_every_chart_has_a_large_image_button_and_an_html_download(page):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(SMALL)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    charts = at.get("plotly_chart")
    assert charts
    assert len([b for b in at.get("download_button") if b.label == "Figure as HTML"]) == len(charts)
    for c in charts:
        opts = json.loads(c.proto.config)["toImageButtonOptions"]
        assert opts["format"] == "png" and opts["width"] * opts["scale"] >= 3200 and opts["height"] >= 1000


def test_the_html_export_is_standalone():
    fig = go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[1, 0], mode="markers"))
    page = figure_html(fig)
    assert page.lstrip().lower().startswith(("<html", "<!doctype html"))
    tags = re.findall(r"<script[^>]*>", page)
    assert tags and not any("src=" in t for t in tags)  # every script is inline: nothing is fetched
    assert len(page) > 1_000_000  # plotly.js itself is inside
    assert IMAGE_SIZE["width"] >= 1600 and IMAGE_SIZE["scale"] >= 2
