"""Discrepancy maps: closed forms, invariances, and the deformed part of the library's bar pairs lighting up."""

import numpy as np
import pytest

import swviz
from swviz import InputError
from swviz.directions import fibonacci_sphere
from swviz.discrepancy import discrepancy_map, monotone_couplings, shape_discrepancy
from swviz.shapes import deformation_pairs, library_shape


def test_equal_sizes_the_weighted_mean_is_sw():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 3)), rng.standard_normal((300, 3)) * 1.5 + 1.0
    D = discrepancy_map(x, y, n_projections=200)
    ref = swviz.sliced_wasserstein(x, y, directions=D.directions).value
    # one partner per atom per slice: the mean displacement is exactly SW_2^2, on both sides
    assert D.source.mean() == pytest.approx(ref, rel=1e-12)
    assert D.target.mean() == pytest.approx(ref, rel=1e-12)
    assert D.sw == pytest.approx(ref, rel=1e-12)


def test_weighted_unequal_sizes_jensen_bound_and_sw():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((120, 3)), rng.standard_normal((77, 3)) + [0.5, 0, 0]
    a, b = rng.random(120), rng.random(77)
    a, b = a / a.sum(), b / b.sum()
    D = discrepancy_map(x, y, a, b, n_projections=100)
    ref = swviz.sliced_wasserstein(x, y, a, b, directions=D.directions).value
    assert D.sw == pytest.approx(ref, rel=1e-10)
    assert a @ D.source <= ref * (1 + 1e-12) and b @ D.target <= ref * (1 + 1e-12)  # squared barycentre <= mean
    assert a @ D.source > 0.5 * ref  # and not vacuous


def test_one_slice_by_hand():
    # 1D: x = (0, 1), y = (0, 0, 3) with uniform weights; the quantile plan splits x_1 between y_1 and y_2
    x, y = np.array([[0.0], [1.0]]), np.array([[0.0], [0.0], [3.0]])
    D = discrepancy_map(x, y, directions=np.ones((1, 1)))
    # x_0 (mass 1/2) goes to y_0 (1/3) and half of y_1 (1/6): image 0; x_1 goes to y_1 (1/6) and y_2 (1/3): image 2
    np.testing.assert_allclose(D.source, [0.0, (1.0 - 2.0) ** 2])
    # y_0 -> x_0, y_1 -> half x_0 half x_1 (image 0.5), y_2 -> x_1
    np.testing.assert_allclose(D.target, [0.0, 0.25, 4.0])
    I, J, W = monotone_couplings(x.T, y.T)
    assert W.sum() == pytest.approx(1.0)


def test_identical_measures_have_zero_discrepancy_and_a_moved_part_stands_out():
    x = np.random.default_rng(2).standard_normal((250, 3))
    D0 = discrepancy_map(x, x.copy())
    assert np.abs(D0.source).max() < 1e-24 and np.abs(D0.target).max() < 1e-24
    top = x[:, 2] > np.quantile(x[:, 2], 0.9)  # a local change: the top of the cloud pulled up
    y = x.copy()
    y[top] += [0.0, 0.0, 2.0]
    D = discrepancy_map(x, y)
    assert D.source[top].mean() > 5 * D.source[~top].mean()
    assert D.target[top].mean() > 5 * D.target[~top].mean()


def test_rotating_both_clouds_and_the_directions_changes_nothing():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((90, 3)), rng.standard_normal((110, 3)) * 0.7
    R = Rotation.random(random_state=4).as_matrix()
    theta = fibonacci_sphere(64)
    D = discrepancy_map(x, y, directions=theta)
    Dr = discrepancy_map(x @ R.T, y @ R.T, directions=theta @ R.T)
    np.testing.assert_allclose(Dr.source, D.source, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(Dr.target, D.target, rtol=1e-9, atol=1e-14)
    perm = rng.permutation(90)  # and permuting atoms permutes the map
    np.testing.assert_allclose(discrepancy_map(x[perm], y, directions=theta).source, D.source[perm], rtol=1e-9)


@pytest.mark.parametrize("base,deformed", deformation_pairs())
def test_the_deformed_part_of_each_bar_pair_lights_up(base, deformed):
    s, t = library_shape(base), library_shape(deformed)
    D = shape_discrepancy(s, t, n_projections=128)
    assert D.source.shape == (s.n_vertices,) and D.target.shape == (t.n_vertices,)
    # ground truth: the pairs share vertex order, so each vertex's true displacement is known
    moved = np.linalg.norm(t.vertices - s.vertices, axis=1)
    region = moved >= np.median(moved)  # the more deformed half of the bar
    for values in (D.source, D.target):
        assert values[region].mean() > values[~region].mean()
        assert np.corrcoef(moved, values)[0, 1] > 0.3


def test_bent_bar_lights_up_strongly():
    s, t = library_shape("bar"), library_shape("bar (bent)")
    D = shape_discrepancy(s, t, n_projections=128)
    moved = np.linalg.norm(t.vertices - s.vertices, axis=1)
    region = moved >= np.quantile(moved, 0.75)
    assert D.source[region].mean() > 1.8 * D.source[~region].mean()


def test_bad_input():
    with pytest.raises(InputError):
        discrepancy_map(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(InputError, match="2D"):
        shape_discrepancy(library_shape("sphere"), library_shape("circle", 50))
