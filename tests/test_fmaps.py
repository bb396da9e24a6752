"""Functional maps on meshes: known permutations recovered, deformed bars, the SW term's gradient, scores."""

import numpy as np
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
from swviz.fmaps import fmap_least_squares, sw_alignment_loss, zoomout
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
        assert c.plan.sum() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow  # about 40 s each on two busy cores (fmap-sw and an exact assignment at 770 vertices)
@pytest.mark.parametrize("kind", ["bend", "twist"])
def test_fmap_sw_beats_the_extrinsic_assignment_on_deformed_bars(coarse_bar, kind):
    v, f = coarse_bar
    s, t = prepare_mesh((v, f)), prepare_mesh((deform(v, kind, 1.0), f))
    true = np.arange(len(v))
    extrinsic = geodesic_error(t, correspond_meshes(s, t, method="assignment").target_index, true).mean()
    ours = geodesic_error(t, correspond_meshes(s, t, method="fmap-sw", **FAST_SW).target_index, true).mean()
    assert ours < 0.9 * extrinsic


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
