"""Upload a mesh through the Shapes page's file input in Chromium, see it drawn, keep a screenshot."""

import numpy as np
import pytest
import trimesh

from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e


def _plot_types(page):
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => (el.data || []).map(d => d.type))"
    )


def test_upload_a_mesh_and_see_it(app_url, page, artifacts):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)  # the app first, so its navigation decides the pages
    settle(page)
    page.locator("[data-testid='stSidebarNavLink']", has_text="Shapes").click()
    settle(page)
    assert page.locator("h1", has_text="Shapes").count() == 1

    page.get_by_role("radiogroup", name="Target from").get_by_text("Upload").click()
    settle(page)
    mesh = trimesh.creation.capsule(height=1.0, radius=0.4, count=[16, 16])
    mesh.apply_translation([0.5, 0.0, 0.0])
    data = mesh.export(file_type="ply")
    uploader = page.locator("[data-testid='stFileUploader']").filter(has_text="Target file")
    uploader.locator("input[type='file']").set_input_files(
        files=[{"name": "capsule_upload.ply", "mimeType": "application/octet-stream", "buffer": data}]
    )
    settle(page)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stSidebar\"]').innerText.includes('capsule_upload.ply')",
        timeout=60000,
    )
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0

    # the side-by-side figure holds two shaded meshes, the uploaded one with the file's vertex count
    page.wait_for_function(
        "() => { const el = document.querySelector('.js-plotly-plot');"
        " return el && el.data && el.data.length === 2 && el.data.every(d => d.type === 'mesh3d'); }",
        timeout=60000,
    )
    drawn = page.evaluate("() => { const t = document.querySelector('.js-plotly-plot')._fullData[1];"
                          " return [t.name, t.x.length, t.i.length]; }")
    assert drawn == ["target: capsule_upload.ply", len(mesh.vertices), len(mesh.faces)]
    first = page.locator(".js-plotly-plot").first
    first.scroll_into_view_if_needed()
    assert first.locator("canvas").count() > 0  # WebGL drew the scene
    box = first.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 300
    assert np.isclose(box["height"], 520, atol=40)

    page.screenshot(path=str(artifacts / "shapes_upload.png"), full_page=True)
    first.screenshot(path=str(artifacts / "shapes_upload_figure.png"))
    assert not errors, errors
    assert ["mesh3d", "mesh3d"] in _plot_types(page)
