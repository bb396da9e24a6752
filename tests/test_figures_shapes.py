"""Shape figures: the Measures view's colours, discrepancy maps on the surface, colour transfer on meshes."""

import numpy as np
import plotly.graph_objects as go
import pytest

from swviz.discrepancy import shape_discrepancy
from swviz.figures.correspondence import colour_transfer_figure, mesh_vertex_colors, position_colors
from swviz.figures.shapes import (
    cluster_mean,
    discrepancy_figure,
    measure_figure,
    simplify_with_clusters,
    weights_caption,
)
from swviz.shapes import Measure, library_shape, make_pair, to_measure


def _colour_bar(fig) -> bool:
    return bool(fig.data[0].marker.showscale)


def test_colour_bar_iff_weights_are_unequal():
    pts = np.random.default_rng(0).standard_normal((50, 3))
    equal = [Measure(pts, None, "a"), Measure(pts, np.full(50, 0.02), "b")]  # None and explicitly equal
    for m in equal:
        fig = measure_figure(m)
        assert not _colour_bar(fig) and isinstance(fig.data[0].marker.color, str)
        assert "equal weights" in fig.layout.title.text and "one colour" in weights_caption(m)
    w = np.linspace(1, 2, 50)
    m = Measure(pts, w / w.sum(), "c")
    fig = measure_figure(m)
    assert _colour_bar(fig) and fig.data[0].marker.colorbar.title.text == "n·w"
    assert "n·w" in weights_caption(m) and "equal" not in weights_caption(m)
    cone = to_measure(library_shape("cone"), "vertices")  # area weights vary
    assert _colour_bar(measure_figure(cone))


def test_discrepancy_figure_draws_intensity_on_both_surfaces_with_one_colour_bar():
    s, t = library_shape("bar"), library_shape("bar (bent)")
    D = shape_discrepancy(s, t, n_projections=64)
    fig = discrepancy_figure(s, t, D.source, D.target)
    meshes = [tr for tr in fig.data if isinstance(tr, go.Mesh3d)]
    assert len(meshes) == 2
    for tr, vals in zip(meshes, (D.source, D.target)):
        assert tr.intensitymode == "vertex" and len(tr.intensity) == len(tr.x) == len(vals)
        np.testing.assert_allclose(tr.intensity, vals.astype(np.float32))
        assert tr.cmin == 0 and tr.cmax == meshes[0].cmax  # one shared scale
    assert [bool(tr.showscale) for tr in meshes] == [False, True]
    with pytest.raises(ValueError, match="one value per vertex"):
        discrepancy_figure(s, t, D.source[:-1], D.target)


def test_discrepancy_figure_on_clouds_and_simplified_meshes():
    a, b = library_shape("gaussian mixture", 300, 0), library_shape("gaussian mixture", 300, 1)
    D = shape_discrepancy(a, b, n_projections=32)
    fig = discrepancy_figure(a, b, D.source, D.target)
    assert all(isinstance(tr, go.Scatter3d) for tr in fig.data)
    assert fig.data[1].marker.showscale and not fig.data[0].marker.showscale
    s = library_shape("sphere")
    vals = s.vertices[:, 2] ** 2
    fig = discrepancy_figure(s, s, vals, vals, max_faces=1000)  # drawn coarser: values averaged per cluster
    v, f, cluster = simplify_with_clusters(s.vertices, s.faces, 1000)
    assert cluster is not None and len(fig.data[0].intensity) == len(v) and len(f) <= 1000
    np.testing.assert_allclose(fig.data[0].intensity, cluster_mean(vals, cluster), rtol=1e-6)
    assert abs(np.mean(fig.data[0].intensity) - vals.mean()) < 0.1  # a mean, not a pick


def test_colour_transfer_on_the_mesh_surface():
    s, t = library_shape("bar"), library_shape("bar (twisted)")
    idx = np.sort(np.random.default_rng(0).choice(s.n_vertices, 400, replace=False))
    x, y = s.vertices[idx], t.vertices[idx]
    fig = colour_transfer_figure(x, y, np.arange(400), source_shape=s, target_shape=t)
    assert [type(tr) for tr in fig.data] == [go.Mesh3d, go.Mesh3d]
    src, tgt = fig.data
    assert len(src.vertexcolor) == s.n_vertices and len(tgt.vertexcolor) == t.n_vertices
    # the identity map carries each vertex's colour: the sampled target vertices show their source colour
    rgb = position_colors(x, (s.vertices.min(0), s.vertices.max(0)))
    expect = [f"rgb({r},{g},{b})" for r, g, b in np.clip(np.round(rgb * 255), 0, 255).astype(int)]
    assert [tgt.vertexcolor[i] for i in idx] == expect
    assert [src.vertexcolor[i] for i in idx] == expect  # atoms and surface share one colouring
    # clouds keep markers
    pts = colour_transfer_figure(x, y, np.arange(400))
    assert all(isinstance(tr, go.Scatter3d) for tr in pts.data)
    cloud = library_shape("helix", 400)
    assert all(isinstance(tr, go.Scatter3d) for tr in colour_transfer_figure(
        x, y, np.arange(400), source_shape=cloud, target_shape=t).data)


def test_mesh_vertex_colors_take_the_nearest_atom():
    atoms = np.array([[0.0, 0, 0], [10.0, 0, 0]])
    rgb = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    out = mesh_vertex_colors(np.array([[1.0, 0, 0], [9.0, 1, 0], [4.9, 0, 0]]), atoms, rgb)
    np.testing.assert_array_equal(out, rgb[[0, 1, 0]])


def test_aligned_overlay_is_the_aligned_pair():
    from swviz.figures.shapes import pair_figure

    a, b = make_pair(library_shape("cone"), library_shape("cone"), "vertices", 256, 0, "align")
    fig = pair_figure(a.shape, b.shape, "overlay")
    np.testing.assert_allclose(np.asarray(fig.data[1].x, dtype=np.float64), b.shape.vertices[:, 0], atol=1e-5)
