"""The slicing sphere: its quadrature against the reference, the antipodal mirror, angles, figures."""

import numpy as np
import pytest

import swviz
from swviz.figures.sphere import sphere_figure, sphere_figures, sphere_map_figure
from swviz.slices import sliced_wpp
from swviz.sphere import angles_of, direction_from_angles, estimator_directions, sphere_map


@pytest.fixture(scope="module")
def pair3():
    x = swviz.shapes.sample_shape("torus", 400, 0)
    y = swviz.shapes.sample_shape("cube", 350, 1) * 0.7 + [0.1, 0.0, -0.2]
    return x, y


def test_the_area_weighted_mean_is_the_reference_sw_to_the_quadrature_accuracy(pair3):
    x, y = pair3
    ref = swviz.reference_sw(x, y)
    fine, coarse = sphere_map(x, y, n_latitude=48), sphere_map(x, y, n_latitude=24)
    assert fine.grid_weights.sum() == pytest.approx(1.0, abs=1e-14)
    # the midpoint rule's error shrinks as h^2: the coarse grid's gap bounds the fine grid's error
    err = abs(fine.mean - ref.value)
    assert err <= abs(coarse.mean - fine.mean) + 3 * ref.stderr
    assert err < 1e-3 * ref.value
    assert abs(coarse.mean - ref.value) > 2 * err  # and it does shrink
    assert fine.lattice_mean == pytest.approx(ref.value, rel=2e-3)


def test_in_2d_the_map_is_the_reference_half_circle_rule():
    x = swviz.shapes.sample_shape("star", 300, 0)
    y = swviz.shapes.sample_shape("circle", 300, 1)
    m = sphere_map(x, y, n_lattice=4096)
    assert m.dim == 2 and m.grid.shape == (1, 4096)
    assert m.mean == pytest.approx(swviz.reference_sw(x, y).value, rel=1e-12)


def test_grid_cells_hold_the_slice_of_their_direction_antipodes_included(pair3):
    x, y = pair3
    m = sphere_map(x, y, n_latitude=12)
    rng = np.random.default_rng(0)
    for _ in range(6):  # cells on both halves of the grid (the second half is mirrored)
        i, j = rng.integers(m.grid.shape[0]), rng.integers(m.grid.shape[1])
        theta = direction_from_angles(m.azimuth[j], 90.0 - m.latitude[i], 3)
        assert m.grid[i, j] == pytest.approx(float(sliced_wpp(x, y, theta[None])[0]), rel=1e-10)
    theta = m.argmax()
    assert float(sliced_wpp(x, y, theta[None])[0]) == pytest.approx(m.max, rel=1e-10)


def test_angles_round_trip_and_bad_dimensions_are_errors():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(20, 3))
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    az, polar = angles_of(t)
    back = np.stack([direction_from_angles(a, p, 3) for a, p in zip(az, polar)])
    assert np.abs(back - t).max() < 1e-12
    assert np.allclose(direction_from_angles(90.0, 0.0, 2), [0.0, 1.0])
    with pytest.raises(swviz.InputError, match="d = 2 .* or d = 3"):
        sphere_map(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))
    with pytest.raises(swviz.InputError):
        estimator_directions("rqmc-spiral", 16, 2)  # a 3D-only set
    assert estimator_directions("mc", 16, 3, seed=0).shape == (16, 3)


def test_the_figures_colour_the_mesh_by_the_values_and_draw_each_overlay_with_its_antipode(pair3):
    x, y = pair3
    m = sphere_map(x, y, n_lattice=512, n_latitude=16)
    dirs = estimator_directions("mc", 5, 3, seed=0)
    fig = sphere_figure(m, {"MC": dirs}, picked=dirs[0])
    assert np.array_equal(np.asarray(fig.data[0].intensity), m.lattice_values)
    mp = sphere_map_figure(m, {"MC": dirs})
    on_map = [tr for tr in mp.data if tr.type == "scatter"]
    assert len(on_map) == 2  # theta and -theta
    az0, pol0 = angles_of(dirs)
    az1, pol1 = angles_of(-dirs)
    assert np.allclose(on_map[0].x, az0) and np.allclose(on_map[1].y, 90 - pol1)
    circle, none = sphere_figures(sphere_map(x[:, :2], y[:, :2], n_lattice=256), {"MC": dirs[:, :2]})
    assert none is None and circle.data[0].type == "scatterpolar"
