"""Functional maps on meshes: known permutations recovered, deformed bars, the SW term's gradient, scores."""

import numpy as np
import ot
import pytest
import torch
import trimesh

from swviz.correspondence import (
    MESH_METHODS,
    bijectivity,
    correspond_meshes,
    deformed_copy,
    dirichlet_smoothness,
    geodesic_error,
    prepare_mesh,
    read_labels_csv,
    spectral_segments,
    transfer_labels,
)
from swviz.fmaps import (
    _sinkhorn_cost,
    fmap_least_squares,
    knn_support,
    sinkhorn_sparse,
    sw_align,
    sw_alignment_loss,
    zoomout,
)
from swviz.shapes import Shape
from swviz.shapes.deform import deform
from swviz.spectral import heat_geodesics_batch
from tests.test_spectral import blob

FAST_SW = dict(k=30, n_steps=30)


@pytest.fixture(scope="module")
def blob_pair():
    v, f = blob(3)
    source = Shape("blob", v, f)
    target, true = deformed_copy(source, "rigid", seed=4)
    return prepare_mesh(source), prepare_mesh(target), true


@pytest.fixture(scope="module")
def coarse_bar():
    m = trimesh.creation.box(extents=(0.6, 0.6, 3.0))  # the library's bar, coarser (770 vertices)
    return trimesh.remesh.subdivide_to_size(m.vertices, m.faces, max_edge=0.2)


@pytest.mark.parametrize("method, options", [("fmap", dict(k=30)), ("fmap-sw", FAST_SW)])
def test_rigid_permuted_copy_is_recovered(blob_pair, method, options):
    s, t, true = blob_pair
    assert not np.array_equal(true, np.arange(len(true)))  # the vertex order tells nothing
    c = correspond_meshes(s, t, method=method, **options)
    err = geodesic_error(t, c.target_index, true)
    assert err.mean() < 0.01 and np.mean(c.target_index == true) > 0.9
    assert set(c.stages) >= {"laplacian", "eigenpairs", "descriptors", "fmap", "zoomout"}
    if method == "fmap-sw":
        assert {"sw_align", "sinkhorn"} <= set(c.stages) and c.plan.shape == (s.n, t.n)
        # the source marginal of the relaxed plan is exact: each vertex sends its area
        assert np.allclose(np.asarray(c.plan.sum(1)).ravel(), s.mass / s.mass.sum(), rtol=1e-9, atol=0)


@pytest.mark.parametrize("kind", ["bend", "twist"])
def test_fmap_sw_beats_the_extrinsic_assignment_on_deformed_bars(coarse_bar, kind):
    v, f = coarse_bar
    s, t = prepare_mesh((v, f)), prepare_mesh((deform(v, kind, 1.0), f))
    true = np.arange(len(v))
    extrinsic = geodesic_error(t, correspond_meshes(s, t, method="assignment").target_index, true).mean()
    ours = geodesic_error(t, correspond_meshes(s, t, method="fmap-sw", **FAST_SW).target_index, true).mean()
    assert ours < 0.9 * extrinsic
    if kind == "bend":  # the alignment and refinement improve on the functional map they start from
        plain = geodesic_error(t, correspond_meshes(s, t, method="fmap", k=30).target_index, true).mean()
        assert ours < 0.9 * plain  # measured 0.0051 against 0.0077 (the dense-subsample refinement: 0.0125)


def _weighted_clouds(n=80, m=70, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.3
    a, b = rng.uniform(1, 2, n), rng.uniform(1, 2, m)
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("tau", [None, 1.0])
def test_sparse_sinkhorn_on_the_full_support_is_pots(tau):
    x, y, a, b = _weighted_clouds()
    rows, cols, cost = knn_support(x, y, len(y))  # every pair
    assert rows.size == len(x) * len(y)
    M = ot.dist(x, y) / ot.dist(x, y).mean()
    P, f, g, info = sinkhorn_sparse(a, b, rows, cols, cost / ot.dist(x, y).mean(), 0.05, tau=tau, tol=1e-12,
                                    max_iter=20000)
    if tau is None:
        Q = ot.sinkhorn(a, b, M, 0.05, stopThr=1e-12, numItermax=20000)
    else:
        Q = ot.unbalanced.sinkhorn_unbalanced(a, b, M, 0.05, (float("inf"), tau), reg_type="kl", stopThr=1e-12,
                                              numItermax=20000)
    assert info["converged"] and np.abs(P.toarray() - Q).max() < 1e-10 * Q.max() + 1e-14
    assert np.allclose(np.asarray(P.sum(1)).ravel(), a, rtol=1e-9)


def test_sparse_sinkhorn_on_a_knn_support_survives_small_epsilon_and_a_moved_support():
    x, y, a, b = _weighted_clouds(400, 300, 3, seed=2)
    rows, cols, cost = knn_support(x, y, 8)
    per_row, per_col = np.bincount(rows, minlength=400), np.bincount(cols, minlength=300)
    assert per_row.min() >= 8 and per_col.min() >= 8 and rows.size < 0.1 * 400 * 300
    d = ((x[rows] - y[cols]) ** 2).sum(1)
    assert np.allclose(cost, d)
    f = g = None
    for eps in (0.1, 0.01, 0.001):  # a schedule, each warm-started; the support moves halfway
        if eps == 0.01:
            x = x + 0.05
            rows, cols, cost = knn_support(x, y, 8)
        P, f, g, info = sinkhorn_sparse(a, b, rows, cols, cost / cost.mean(), eps, tau=1.0, f=f, g=g)
        assert np.all(np.isfinite(P.data)) and np.allclose(np.asarray(P.sum(1)).ravel(), a, rtol=1e-9)
    # cold at epsilon 1e-4, where the plain kernel exp(-c / eps) is zero on whole rows of the support
    c = cost / cost.mean()
    assert np.bincount(rows, weights=np.exp(-c / 1e-4), minlength=400).min() == 0.0
    P, _, _, info = sinkhorn_sparse(a, b, rows, cols, c, 1e-4, tau=1.0)
    assert info["absorptions"] >= 1 and np.allclose(np.asarray(P.sum(1)).ravel(), a, rtol=1e-9)
    assert np.all(np.isfinite(P.data))
    with pytest.raises(ValueError, match="without any entry"):
        sinkhorn_sparse(a, b, rows[rows != 3], cols[rows != 3], cost[rows != 3], 0.1, tau=1.0)


def test_dense_sinkhorn_cost_value_and_gradient():
    x, y, a, b = _weighted_clouds(40, 30, 3)
    T = torch.tensor
    reg = 0.3

    def value(xx, grad=False):
        X = T(xx, requires_grad=True)
        v = _sinkhorn_cost(X, T(y), T(a), T(b), reg, 5000)
        if grad:
            v.backward()
            return float(v.detach()), X.grad.numpy()
        return float(v.detach())

    v, g = value(x, True)
    M = ot.dist(x, y)
    P = ot.sinkhorn(a, b, M, reg, stopThr=1e-12, numItermax=5000)
    assert v == pytest.approx((M * P).sum() + reg * (P * np.log(P / np.outer(a, b))).sum(), rel=1e-6)
    h = 1e-6
    for i, j in [(0, 0), (5, 2), (17, 1)]:
        E = np.zeros_like(x)
        E[i, j] = h
        assert g[i, j] == pytest.approx((value(x + E) - value(x - E)) / (2 * h), rel=1e-3, abs=1e-7)


def test_sw_align_stops_once_converged_and_the_sinkhorn_baseline_runs(blob_pair):
    s, t, _ = blob_pair
    ex, px = s.eigenbasis(10)
    ey, py = t.eigenbasis(10)
    rng = np.random.default_rng(0)
    A_x = rng.normal(size=(10, 6))
    C0 = np.eye(10) + 0.1 * rng.normal(size=(10, 10))
    args = (C0, A_x, A_x, ex, ey, px, py, s.mass, t.mass)
    C, info = sw_align(*args, gamma=0.0, n_steps=3000, lr=0.05, tol=1e-4)
    assert 20 <= info["steps"] < 3000 and info["history"][-1] < 0.01 * info["history"][0]
    _, full = sw_align(*args, gamma=0.0, n_steps=50, lr=0.05, tol=0.0)
    assert full["steps"] == 50
    _, sk = sw_align(*args, n_steps=2, loss="sinkhorn")
    assert sk["steps"] == 2 and [d for _, d in sk["sinkhorn"]] == ["float64", "float64"]


def test_sw_alignment_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    n, m, k = 60, 50, 4
    ex, ey = rng.normal(size=(n, k)), rng.normal(size=(m, k))
    mx, my = rng.uniform(1, 2, n), rng.uniform(1, 2, m)
    mx, my = mx / mx.sum(), my / my.sum()
    theta = rng.normal(size=(16, k))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    T = {name: torch.tensor(a) for name, a in (("ex", ex), ("ey", ey), ("mx", mx), ("my", my), ("th", theta))}

    def loss(Cn):
        C = torch.tensor(Cn, requires_grad=True)
        val = sw_alignment_loss(C, T["ex"], T["ey"], T["mx"], T["my"], directions=T["th"])
        val.backward()
        return float(val.detach()), C.grad.numpy()

    C0 = np.eye(k) + 0.1 * rng.normal(size=(k, k))
    value, grad = loss(C0)
    assert value > 0
    h = 1e-6
    for i, j in [(0, 0), (1, 3), (3, 2), (2, 1)]:
        E = np.zeros((k, k))
        E[i, j] = h
        fd = (loss(C0 + E)[0] - loss(C0 - E)[0]) / (2 * h)
        assert grad[i, j] == pytest.approx(fd, rel=1e-4, abs=1e-8)


def test_least_squares_recovers_a_known_functional_map():
    rng = np.random.default_rng(1)
    k, q = 8, 20
    Q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    A_x = rng.normal(size=(k, q))
    lam = np.sort(rng.uniform(0, 10, k))
    assert np.allclose(fmap_least_squares(A_x, Q @ A_x, lam, lam, alpha=0.0), Q, atol=1e-6)
    # descriptors silent on eigenfunction 2 (a symmetry flips it): only the prior decides its sign
    A_x[2] = 0.0
    D = np.eye(k)
    for sign in (1.0, -1.0):
        D[2, 2] = sign
        C = fmap_least_squares(A_x, D @ A_x, lam, lam, alpha=1e-3, prior=D, rho=1e-2)
        assert C[2, 2] == pytest.approx(sign, abs=1e-6)
        assert np.allclose(np.delete(np.delete(C, 2, 0), 2, 1), np.eye(k - 1), atol=1e-2)


def test_zoomout_keeps_the_identity(blob_pair):
    s, _, _ = blob_pair
    _, phi = s.eigenbasis(30)
    C = zoomout(np.eye(8), phi, phi, s.mass, 30)
    assert C.shape == (30, 30) and np.allclose(C, np.eye(30), atol=1e-8)


def test_scores_of_the_true_map_and_of_a_shifted_one(blob_pair):
    s, t, true = blob_pair
    assert np.all(geodesic_error(t, true, true) == 0)
    assert dirichlet_smoothness(s, t, true) == pytest.approx(1.0, rel=1e-6)  # an isometry: energy 2 * area
    assert bijectivity(true, t.n) == 1.0 and bijectivity(np.zeros(s.n, int), t.n) == pytest.approx(1 / t.n)
    wrong = true[np.roll(np.arange(s.n), 1)]
    err = geodesic_error(t, wrong, true)
    d = heat_geodesics_batch(t, true[:5])
    assert err[:5] == pytest.approx(d[np.arange(5), wrong[:5]] / np.sqrt(t.area))
    assert dirichlet_smoothness(s, t, wrong) > 5


def test_isometric_bend_keeps_edge_lengths_and_the_ground_truth(coarse_bar):
    v, f = coarse_bar
    src = Shape("bar", v, f)
    tgt, true = deformed_copy(src, "isometric bend", seed=2, max_strain=0.03)
    assert np.array_equal(np.sort(true), np.arange(len(v)))
    e0 = np.linalg.norm(v[f[:, 0]] - v[f[:, 1]], axis=1)
    e1 = np.linalg.norm(tgt.vertices[true[f[:, 0]]] - tgt.vertices[true[f[:, 1]]], axis=1)
    ratio = e1 / e0
    assert ratio.max() < 1.031 and ratio.min() > 0.969 and np.ptp(ratio) > 0.02  # it did bend
    # the faces of the copy are the source's faces, renumbered
    assert np.array_equal(np.sort(np.sort(tgt.faces, 1), 0), np.sort(np.sort(true[f], 1), 0))


def test_segmentation_transfer_through_the_true_map_is_exact(blob_pair):
    s, t, true = blob_pair
    labels = spectral_segments(s, 5, seed=0)
    assert set(np.unique(labels)) == set(range(5))
    moved = transfer_labels(labels, true, t)
    assert np.array_equal(moved[true], labels)
    assert np.array_equal(spectral_segments(s, 5, seed=0), labels)  # seeded
    csv = "\n".join(str(x) for x in labels).encode()
    assert np.array_equal(read_labels_csv(csv, s.n), labels)
    with pytest.raises(ValueError, match="rows"):
        read_labels_csv(csv, s.n + 1)


def test_bad_input_names_the_problem(blob_pair):
    s, t, _ = blob_pair
    cloud = Shape("cloud", np.random.default_rng(0).normal(size=(100, 3)))
    with pytest.raises(ValueError, match="point cloud.*fmap, fmap-sw"):
        correspond_meshes(cloud, t, method="fmap")
    with pytest.raises(ValueError, match="no option"):
        correspond_meshes(s, t, method="fmap", gamma=3)
    with pytest.raises(ValueError, match="unknown mesh correspondence method"):
        correspond_meshes(s, t, method="nope")
    with pytest.raises(ValueError, match="k0 must be"):
        correspond_meshes(s, t, method="fmap", k=10, k0=20)
    v, f = blob(2)
    with pytest.raises(ValueError, match="connected components"):
        correspond_meshes((np.vstack([v, v + 5]), np.vstack([f, f + len(v)])), t, method="fmap")
    assert not MESH_METHODS["assignment"].intrinsic and MESH_METHODS["fmap-sw"].intrinsic
    # extrinsic methods still run on a point cloud
    assert correspond_meshes(cloud, cloud, method="assignment").target_index.shape == (100,)


def test_non_manifold_and_zero_area_meshes_are_matched_to_themselves():
    """The Bad-input cases the spectral methods handle rather than refuse, end to end."""
    v, f = blob(2)
    a, b = f[0, 0], f[0, 1]
    fin = (np.vstack([v, [(v[a] + v[b]) / 2 + 0.3 * (v[a] + v[b])]]), np.vstack([f, [[a, b, len(v)]]]))
    n = len(v)
    zero = (np.vstack([v, [v[a], v[a] + 1e-3 * (v[b] - v[a]), v[a] + 2e-3 * (v[b] - v[a])]]),
            np.vstack([f, [[n, n + 1, n + 2], [a, n, n + 1], [n + 1, n + 2, a]]]))
    for mesh in (fin, zero):
        c = correspond_meshes(mesh, mesh, method="fmap-sw", k=20, n_steps=10)
        err = geodesic_error(mesh, c.target_index, np.arange(len(mesh[0])))
        assert np.all(np.isfinite(err)) and err.mean() < 1e-3
        assert np.mean(c.target_index == np.arange(len(mesh[0]))) > 0.95
