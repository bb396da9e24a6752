"""Diffeomorphic mesh deformation (swviz.deformation): losses against references, gradients, the ODE map."""

import numpy as np
import pytest
import torch
import trimesh

import swviz
from swviz import deformation as D
from swviz.shapes import Shape, surface_samples, varifold_atoms, vertex_weights


def _sphere(sub=2):
    s = trimesh.creation.icosphere(sub)
    return np.array(s.vertices), np.array(s.faces)


def _ellipsoid(sub=3):
    v, f = _sphere(sub)
    return v * [1.3, 1.0, 0.75], f


def _dented(sub=3):
    """A sphere with a deep dent at each pole: two concave pits three quarters of the radius deep."""
    v, f = _sphere(sub)
    r = 1 - 0.75 * sum(np.exp(-((v - pole) ** 2).sum(1) / 0.15) for pole in ([0, 0, 1], [0, 0, -1]))
    return v * r[:, None], f


def _diag(v):
    return float(np.linalg.norm(v.max(0) - v.min(0)))


@pytest.fixture(scope="module")
def ellipsoid_run():
    v, f = _sphere()
    return D.deform((v, f), _ellipsoid(), loss="sw-varifold", field="ode", steps=60, seed=0, time_steps=4,
                    hidden=32, record_every=30)


# ------------------------------------------------------------------------------- the ODE map


def test_the_ode_map_is_invertible_and_its_trajectory_ends_at_the_result(ellipsoid_run):
    r = ellipsoid_run
    v0, _ = _sphere()
    assert np.abs(r.final - v0).max() > 0.05  # it did move
    np.testing.assert_allclose(r.trajectory[0], v0, atol=1e-12)
    np.testing.assert_allclose(r.trajectory[-1], r.final, atol=1e-12)
    np.testing.assert_allclose(r.flow(v0)[-1], r.final, atol=1e-12)
    back = r.flow(r.final, reverse=True)[-1]
    assert np.abs(back - v0).max() < 1e-4 * _diag(v0)
    # and the field is defined off the mesh: points inside the sphere come back too
    inner = 0.5 * v0
    assert np.abs(r.flow(r.flow(inner)[-1], reverse=True)[-1] - inner).max() < 1e-4 * _diag(v0)


@pytest.mark.parametrize("field", list(D.FIELDS))
@pytest.mark.parametrize("loss", ["sw-varifold", "sw-vertices"])
def test_source_equal_to_target_stays_put(loss, field):
    v, f = _sphere(1)
    r = D.deform((v, f), (v, f), loss=loss, field=field, steps=15, seed=3, time_steps=4, metrics=False)
    assert np.abs(r.vertices - v[None]).max() < 1e-9 * _diag(v)
    assert np.all(r.loss < 1e-20)


def test_sphere_onto_ellipsoid_is_close_and_clean(ellipsoid_run):
    m = ellipsoid_run.metrics
    assert list(m.index) == [0, 30, 60]
    last = m.iloc[-1]
    assert last.chamfer_normalised < 1e-3
    assert m.iloc[0].chamfer_normalised > 10 * last.chamfer_normalised  # it came from far
    assert last.flipped_faces == 0 and last.self_intersections == 0 and last.degenerate_faces == 0
    assert last.normal_consistency > 0.99


@pytest.mark.slow
def test_on_a_concave_target_the_free_flow_flips_more_faces_than_the_ode():
    # under Chamfer each vertex chases its nearest target point: free vertices crowd and fold in the pits
    v, f = _sphere()
    common = dict(loss="chamfer", steps=100, seed=0, time_steps=4, hidden=32, record_every=100)
    ode = D.deform((v, f), _dented(), field="ode", **common)
    free = D.deform((v, f), _dented(), field="free", **common)
    assert ode.metrics.iloc[-1].flipped_faces == 0
    assert free.metrics.iloc[-1].flipped_faces > ode.metrics.iloc[-1].flipped_faces
    # a fair budget: the free flow got as close as the ODE (its Chamfer came down as much)
    for m in (ode.metrics, free.metrics):
        assert m.iloc[-1].chamfer_normalised < 0.6 * m.iloc[0].chamfer_normalised


# ------------------------------------------------------------------------------- losses against references


def _mesh_pair(sub=1):
    v, f = _sphere(sub)
    rng = np.random.default_rng(5)
    return v + 0.05 * rng.standard_normal(v.shape), f, *_ellipsoid(2)


@pytest.mark.parametrize("loss", ["sw-varifold", "sw-vertices", "sw-surface"])
def test_sw_losses_equal_the_numpy_engine(loss):
    v, f, tv, tf = _mesh_pair()
    term = D.make_loss(loss, f, (tv, tf), n_projections=40, normal_weight=0.7, n_samples=300)
    got = term(torch.tensor(v), np.random.default_rng(11)).item()
    rng = np.random.default_rng(11)
    seed = int(rng.integers(2**31 - 1))  # the term draws its SW seed first, then any samples
    if loss == "sw-varifold":
        (x, a, _), (y, b, _) = varifold_atoms(v, f, 0.7), varifold_atoms(tv, tf, 0.7)
    elif loss == "sw-vertices":
        x, a, y, b = v, vertex_weights(v, f), tv, vertex_weights(tv, tf)
    else:
        x, y, a, b = surface_samples(v, f, 300, rng)[0], surface_samples(tv, tf, 300, rng)[0], None, None
    ref = swviz.sliced_wasserstein(x, y, a, b, n_projections=40, seed=seed).value
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("nn", D.NN_METHODS)
def test_chamfer_equals_brute_force(nn, monkeypatch):
    monkeypatch.setattr(D._run, "_CHUNK_ELEMENTS", 1000)  # several uneven chunks for the torch search
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((130, 3)), rng.standard_normal((71, 3)) + 0.3
    d2 = ((x[:, None] - y[None]) ** 2).sum(-1)
    ref = d2.min(1).mean() + d2.min(0).mean()
    assert D.chamfer(torch.tensor(x), torch.tensor(y), nn).item() == pytest.approx(ref, rel=1e-12)
    # the mesh loss is that of its surface samples
    v, f, tv, tf = _mesh_pair()
    term = D.make_loss("chamfer", f, (tv, tf), n_samples=200, chamfer_nn=nn)
    got = term(torch.tensor(v), np.random.default_rng(4)).item()
    rng = np.random.default_rng(4)
    p, q = surface_samples(v, f, 200, rng)[0], surface_samples(tv, tf, 200, rng)[0]
    d2 = ((p[:, None] - q[None]) ** 2).sum(-1)
    assert got == pytest.approx(d2.min(1).mean() + d2.min(0).mean(), rel=1e-12)


def test_a_cloud_target_is_used_as_uniform_points():
    v, f, tv, _ = _mesh_pair()
    term = D.make_loss("sw-vertices", f, (tv, None), n_projections=30)
    got = term(torch.tensor(v), np.random.default_rng(1)).item()
    seed = int(np.random.default_rng(1).integers(2**31 - 1))
    ref = swviz.sliced_wasserstein(v, tv, vertex_weights(v, f), None, n_projections=30, seed=seed).value
    assert got == pytest.approx(ref, rel=1e-10)


# ------------------------------------------------------------------------------- gradients


def test_gradients_pass_finite_differences():
    v, f, tv, tf = _mesh_pair(0)
    x = torch.tensor(v, requires_grad=True)
    # the varifold atoms (centroids and unit normals) of the mesh, in the vertices
    assert torch.autograd.gradcheck(lambda z: D.varifold_measure(z, torch.as_tensor(f), 0.7)[0], (x,))
    # whole losses whose weights do not depend on the vertices: surface samples (SW and Chamfer)
    for name in ("sw-surface", "chamfer"):
        term = D.make_loss(name, f, (tv, tf), n_projections=20, n_samples=150)
        assert torch.autograd.gradcheck(lambda z, term=term: term(z, np.random.default_rng(9)), (x,), atol=1e-7)
    # through the RK4 solver into the MLP's last layer
    model = D.VelocityField(3, 8, 1, seed=0)
    w = (0.3 * torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))).requires_grad_()
    term = D.make_loss("sw-surface", f, (tv, tf), n_projections=20, n_samples=100)
    x0 = torch.tensor(v)
    assert torch.autograd.gradcheck(
        lambda w: term(D.integrate(_with_weight(model, w), x0, 3)[-1], np.random.default_rng(2)), (w,), atol=1e-7)


def _with_weight(model, w):
    """``model`` with its last layer's weight replaced by the tensor ``w`` (functional, for gradcheck)."""

    def field(t, x):
        h = model.net[:-1](torch.cat([x, t.reshape(1, 1).expand(x.shape[0], 1)], 1))
        return h @ w.T + model.net[-1].bias

    return field


# ------------------------------------------------------------------------------- metrics


def test_metrics_of_a_mesh_against_itself_and_a_larger_copy():
    v, f = _sphere(3)
    m = D.mesh_metrics(v, f, (v, f), source_vertices=v, n_eval=1000)
    assert m["chamfer"] < 1e-20 and m["hausdorff"] < 1e-9
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-12)
    assert m["flipped_faces"] == m["degenerate_faces"] == m["self_intersections"] == 0
    big = D.mesh_metrics(v, f, (1.1 * v, f), n_eval=2000)
    assert 0.09 < big["hausdorff"] < 0.11  # the shells are 0.1 apart, up to the facets' sag
    assert 2 * 0.08**2 < big["chamfer"] < 2 * 0.11**2
    assert big["hausdorff_normalised"] == pytest.approx(big["hausdorff"] / _diag(1.1 * v))


def test_flipped_degenerate_and_self_intersecting_faces():
    g = trimesh.creation.box().subdivide().subdivide()
    v, f = np.array(g.vertices), np.array(g.faces)
    up = v[:, 2] > 0.49  # the top of the box, its normals +z
    top = f[up[f].all(1)]
    assert len(top) > 10
    assert D.flipped_faces(v, v * [-1, 1, 1], top) == len(top)  # a mirror image turns a flat patch over
    assert D.flipped_faces(v, v * [-1, 1, 1], f) == len(f) - 2 * (len(f) // 6)  # but not the faces facing x
    flat = v.copy()
    flat[f[0]] = [[0, 0, 0], [1, 0, 0], [2, 0, 0]]  # three collinear corners
    assert D.degenerate_faces(flat, f) >= 1 and D.degenerate_faces(v, f) == 0
    s, sf = _sphere(3)
    assert len(D.self_intersections(s, sf)) == 0
    pushed = s.copy()
    pushed[pushed[:, 2] > 0, 2] -= 0.5  # the top cap sinks through the bottom one
    pairs = D.self_intersections(pushed, sf)
    assert pairs.shape[1] == 2 and len(pairs) > 50
    # every reported pair really is two faces with no shared corner or with a crossing
    assert np.all(pairs[:, 0] != pairs[:, 1])


# ------------------------------------------------------------------------------- control and bad input


def test_progress_can_stop_the_run_and_keeps_what_it_has():
    v, f = _sphere(1)
    seen = []

    def progress(frac, msg):
        seen.append(frac)
        if len(seen) == 7:
            raise D.StopDeformation

    r = D.deform((v, f), _ellipsoid(1), field="free", steps=50, record_every=5, progress=progress, n_eval=200)
    assert r.stopped and len(r.loss) == 7
    assert list(r.steps) == [0, 5, 7] and list(r.metrics.index) == [0, 7]
    with pytest.raises(KeyError):
        D.deform((v, f), _ellipsoid(1), steps=5, progress=lambda frac, msg: {}["other errors propagate"])


def test_same_seed_same_run_and_the_free_flow_has_no_field():
    v, f = _sphere(1)
    a = D.deform((v, f), _ellipsoid(1), steps=6, seed=4, time_steps=3, metrics=False)
    b = D.deform(Shape("s", v, f), Shape("e", *_ellipsoid(1)), steps=6, seed=4, time_steps=3, metrics=False)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    free = D.deform((v, f), _ellipsoid(1), field="free", steps=3, metrics=False)
    with pytest.raises(ValueError, match="free flow has no velocity field"):
        free.flow(v)
    np.testing.assert_allclose(free.trajectory[-1], free.final)


@pytest.mark.parametrize("source, target, match", [
    (np.zeros((10, 3)) + np.arange(10)[:, None], _sphere(1), "point cloud"),
    (Shape("helix", np.random.default_rng(0).standard_normal((20, 3))), _sphere(1), "point cloud"),
    (_sphere(1), np.random.default_rng(0).standard_normal((30, 2)), "3D"),
    ((np.full((12, 3), np.nan), _sphere(0)[1]), _sphere(1), "NaN"),
    (_sphere(1), (np.full((12, 3), np.nan), _sphere(0)[1]), "NaN"),
    ((_sphere(0)[0], _sphere(0)[1] + 100), _sphere(1), "faces index"),
])
def test_bad_input_is_a_clear_value_error(source, target, match):
    with pytest.raises(swviz.InputError, match=match):
        D.deform(source, target, steps=2)


def test_bad_options_are_clear_value_errors():
    v, f = _sphere(0)
    for kw, match in [(dict(loss="emd"), "unknown loss"), (dict(field="spline"), "unknown field"),
                      (dict(bogus=1), "unknown option"), (dict(lr=-1.0), "lr"), (dict(steps=0), "steps"),
                      (dict(chamfer_nn="ball"), "chamfer_nn"), (dict(normal_weight=float("nan")), "normal_weight"),
                      (dict(seed=-2), "seed")]:
        with pytest.raises(swviz.InputError, match=match):
            D.deform((v, f), (v, f), **kw)
    with pytest.raises(swviz.InputError, match="needs a target mesh"):
        D.deform((v, f), v, loss="sw-varifold", steps=1)
