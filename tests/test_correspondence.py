"""Correspondences: exact assignment against POT, known permutations, sliced and entropic maps, scores."""

import numpy as np
import ot
import pytest

import swviz
from swviz.correspondence import METHODS, correspond, map_cost, pck, score
from swviz.figures.correspondence import colour_transfer_figure, lines_figure, pck_figure, transferred_colors


def _clouds(n=120, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5


def test_assignment_cost_equals_exact_ot():
    x, y = _clouds()
    c = correspond(x, y, method="assignment")
    u = np.full(len(x), 1 / len(x))
    w2 = ot.emd2(u, u, ot.dist(x, y))
    assert c.bijective and np.array_equal(np.sort(c.target_index), np.arange(len(x)))
    total = ((x - y[c.target_index]) ** 2).sum()
    assert total == pytest.approx(w2 * len(x), rel=1e-9)
    assert c.cost == pytest.approx(w2, rel=1e-9)
    assert correspond(x, y, method="emd").cost == pytest.approx(w2, rel=1e-9)


def test_assignment_recovers_a_known_permutation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    perm = rng.permutation(200)
    y = x[perm] + 1e-4 * rng.normal(size=x.shape)  # y[j] is x[perm[j]]
    c = correspond(x, y, method="assignment")
    assert np.array_equal(perm[c.target_index], np.arange(200))


@pytest.mark.parametrize("method", [m for m in ("min-swgg", "bspot") if m in METHODS])
def test_sliced_bijections_cost_at_least_the_optimum(method):
    x, y = _clouds(150)
    best = correspond(x, y, method="assignment").cost
    c = correspond(x, y, method=method, seed=1)
    assert c.bijective and c.cost >= best - 1e-12
    assert c.cost == pytest.approx(map_cost(x, y, c.target_index))


def test_min_swgg_is_exact_in_one_dimension_and_seeded():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 1)), rng.normal(size=(80, 1))
    assert correspond(x, y, method="min-swgg").cost == pytest.approx(correspond(x, y).cost)
    x3, y3 = _clouds(60)
    a = correspond(x3, y3, method="min-swgg", seed=5).target_index
    assert np.array_equal(a, correspond(x3, y3, method="min-swgg", seed=5).target_index)


def test_sinkhorn_argmax_approaches_assignment_for_small_epsilon():
    rng = np.random.default_rng(1)
    centres = rng.uniform(-10, 10, size=(40, 2))  # well separated points, a small shift: the map is clear
    x, y = centres, centres[::-1] + 0.05 * rng.normal(size=centres.shape)
    exact = correspond(x, y).target_index
    small = correspond(x, y, method="sinkhorn", epsilon=0.005)
    assert np.mean(small.target_index == exact) >= 0.95
    assert small.plan is None and correspond(x, y, method="sinkhorn", return_plan=True).plan.shape == (40, 40)


def test_flow_then_nearest_neighbour_is_close_to_optimal():
    x, y = _clouds(100, seed=2)
    c = correspond(x, y, method="flow-nn", n_steps=60, seed=0)
    assert c.target_index.shape == (100,) and c.cost < 1.5 * correspond(x, y).cost


def test_emd_handles_unequal_sizes_and_weights():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(45, 2))
    c = correspond(x, y, rng.uniform(1, 2, 30), None, method="emd")
    assert c.target_index.shape == (30,) and c.target_index.max() < 45 and not c.bijective


def test_identity_scores_zero_error_and_full_pck():
    x, y = _clouds(50)
    s = score(x, y, np.arange(50), np.arange(50), area=4.0)
    assert s["mean_error"] == 0 and s["exact"] == 1 and s["normalised_by"] == "sqrt(area)"
    assert np.all(pck(s["errors"], [0.0, 0.1]) == 1)
    s2 = score(x, y, np.roll(np.arange(50), 1), np.arange(50))
    assert s2["mean_error"] > 0 and s2["normalised_by"] == "bbox diagonal"
    assert s2["errors"] == pytest.approx(np.linalg.norm(y[np.roll(np.arange(50), 1)] - y, axis=1) / s2["scale"])


def test_pck_is_monotone_in_the_threshold():
    errors = np.random.default_rng(0).exponential(size=500)
    t = np.linspace(0, 5, 40)
    f = pck(errors, t)
    assert np.all(np.diff(f) >= 0) and f[0] == 0 and 0.99 < f[-1] <= 1


@pytest.mark.parametrize("call, match", [
    (lambda x, y: correspond(x, y, method="hungarian"), "assignment, emd, sinkhorn"),
    (lambda x, y: correspond(x, y[:, :2]), "same dimension"),
    (lambda x, y: correspond(np.where(np.eye(len(x), 3) > 0, np.nan, x), y), "NaN"),
    (lambda x, y: correspond(x, y[:-1]), "as many source as target"),
    (lambda x, y: correspond(x, y, np.arange(1, len(x) + 1), method="min-swgg"), "uniform weights"),
    (lambda x, y: correspond(x, y, method="assignment", epsilon=0.1), "no option"),
    (lambda x, y: correspond(x, y, method="sinkhorn", epsilon=-1), "epsilon"),
    (lambda x, y: score(x, y, np.arange(len(x)) + 1, np.arange(len(x))), "must index"),
    (lambda x, y: score(x, y, np.arange(len(x)), np.arange(len(x)), area=0), "area"),
    (lambda x, y: pck([np.nan], [0.1]), "finite"),
])
def test_bad_input_raises_value_error(call, match):
    x, y = _clouds(20)
    with pytest.raises(ValueError, match=match):
        call(x, y)


def test_public_api_and_figures():
    assert swviz.correspond is correspond and swviz.correspondence_score is score and "bspot" in METHODS
    x, y = _clouds(40)
    idx = correspond(x, y).target_index
    fig = lines_figure(x, y, idx, n_lines=10)
    lines = [t for t in fig.data if t.mode == "lines"][0]
    assert len(lines.x) == 30  # 10 segments and their gaps
    assert len(colour_transfer_figure(x, y, idx).data) == 2
    assert len(pck_figure({"a": (np.linspace(0, 1, 5), np.linspace(0, 1, 5))}).data) == 1
    grey = transferred_colors(np.ones((3, 3)), np.array([0, 0, 1]), 3)
    assert np.allclose(grey[:2], 1) and np.allclose(grey[2], 0.8)
    two_d = lines_figure(x[:, :2], y[:, :2], idx, n_lines=5)
    assert sum(t.mode == "lines" for t in two_d.data) == 5
