"""Figures of shapes and measures: right trace kinds, equal aspect, camera kept, big meshes simplified."""

import numpy as np
import plotly.graph_objects as go

from swviz.figures.shapes import UIREVISION, measure_figure, pair_figure, simplify_for_display
from swviz.shapes import library_shape, make_pair, to_measure


def test_side_by_side_meshes_are_lit_mesh3d_with_equal_aspect():
    fig = pair_figure(library_shape("bar"), library_shape("torus"), "side")
    meshes = [t for t in fig.data if isinstance(t, go.Mesh3d)]
    assert len(meshes) == 2 and meshes[0].scene == "scene" and meshes[1].scene == "scene2"
    assert meshes[0].lighting.diffuse > 0 and meshes[0].lighting.specular > 0
    for scene in (fig.layout.scene, fig.layout.scene2):
        assert scene.aspectmode == "cube" and scene.uirevision == UIREVISION
        spans = [np.ptp(ax.range) for ax in (scene.xaxis, scene.yaxis, scene.zaxis)]
        np.testing.assert_allclose(spans, spans[0])
    assert fig.layout.uirevision == UIREVISION


def test_overlay_of_a_mesh_and_a_cloud():
    fig = pair_figure(library_shape("sphere"), library_shape("helix", 200), "overlay")
    kinds = sorted(type(t).__name__ for t in fig.data)
    assert kinds == ["Mesh3d", "Scatter3d"]
    assert fig.data[0].opacity < 1  # see-through so the other shape shows


def test_2d_pairs_use_equal_scale_scatter():
    fig = pair_figure(library_shape("star", 100), library_shape("spiral", 100), "side")
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"


def test_simplify_for_display_only_when_needed():
    s = library_shape("bumpy sphere")
    v, f = simplify_for_display(s.vertices, s.faces, max_faces=len(s.faces))
    assert v is s.vertices and f is s.faces
    v, f = simplify_for_display(s.vertices, s.faces, max_faces=4000)
    assert 500 < len(f) <= 4000 and f.max() < len(v)
    assert np.all(np.linalg.norm(v, axis=1) < 1.3)  # clustered vertices stay near the surface
    fig = pair_figure(s, s, "overlay")
    assert len(fig.data[0].i) == len(s.faces)


def test_measure_preview_colours_by_weight():
    m = to_measure(library_shape("cone"), "vertices")
    fig = measure_figure(m, max_points=500)
    pts = fig.data[0]
    assert len(pts.x) == 500 and "500 of" in fig.layout.title.text
    colours = np.asarray(pts.marker.color)
    assert colours.min() < 1 < colours.max()  # vertex weights vary around the uniform 1/n
    src, _ = make_pair(library_shape("cube"), library_shape("bar"), "varifold")
    fig = measure_figure(src)
    assert [t.name for t in fig.data] == ["atoms", "normals"]
    assert len(fig.data[1].x) == 3 * src.n  # one segment (and a gap) per atom
    flat = measure_figure(to_measure(library_shape("annulus", 300), "points"))
    assert isinstance(flat.data[0], go.Scattergl)
    assert "equal weights" in flat.layout.title.text and not flat.data[0].marker.showscale
