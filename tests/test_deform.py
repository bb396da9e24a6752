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
    monkeypatch.setattr(D._losses, "_CHUNK_ELEMENTS", 1000)  # several uneven chunks for the torch search
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
    # every reported pair is two distinct faces, listed once, smaller index first
    assert np.all(pairs[:, 0] < pairs[:, 1]) and len(np.unique(pairs, axis=0)) == len(pairs)


def _orient(p, q, r, s):
    """Sign of det[q - p, r - p, s - p] for stacked points ``(k, 3)``: which side of plane pqr s lies on."""
    return np.sign(np.linalg.det(np.stack([q - p, r - p, s - p], axis=1)))


def _segment_hits_triangle(p, q, a, b, c):
    """Brute-force reference: the segment pq crosses the triangle abc (points in general position)."""
    sides = _orient(a, b, c, p) != _orient(a, b, c, q)
    turns = np.stack([_orient(p, q, a, b), _orient(p, q, b, c), _orient(p, q, c, a)])
    return sides & (np.all(turns > 0, axis=0) | np.all(turns < 0, axis=0))


def _reference_intersections(v, f):
    """Every pair of faces by edge-triangle tests, O(m^2): two faces with no shared corner meet iff an edge of
    one crosses the other; with one shared corner, iff the edge opposite it in one crosses the other."""
    i, j = np.triu_indices(len(f), 1)
    shared = (f[i][:, :, None] == f[j][:, None, :]).any(2)  # (c, 3): corner k of face i is in face j
    t, u = v[f[i]], v[f[j]]  # (c, 3, 3)
    hit = np.zeros(len(i), bool)
    for s, e in ((0, 1), (1, 2), (2, 0)):
        hit |= _segment_hits_triangle(t[:, s], t[:, e], *u.transpose(1, 0, 2)) & ~shared[:, s] & ~shared[:, e]
        shared_j = (f[j][:, [s, e]][:, :, None] == f[i][:, None, :]).any(2)
        hit |= _segment_hits_triangle(u[:, s], u[:, e], *t.transpose(1, 0, 2)) & ~shared_j.any(1)
    n_shared = shared.sum(1)
    keep = hit & (n_shared <= 1)
    return {(a, b) for a, b in zip(i[keep], j[keep])}, n_shared


def test_self_intersections_equal_a_brute_force_reference_on_random_soups():
    rng = np.random.default_rng(12)
    # separate triangles of sizes over a factor of 20 (several radius classes in the broad phase)
    m = 90
    centre = rng.uniform(0, 1, (m, 1, 3))
    size = np.exp(rng.uniform(np.log(0.03), np.log(0.6), (m, 1, 1)))
    v = (centre + size * rng.standard_normal((m, 3, 3))).reshape(-1, 3)
    f = np.arange(3 * m).reshape(m, 3)
    # and faces drawn from a few shared vertices: pairs sharing a corner, an edge, or none
    w = rng.uniform(0, 1, (30, 3))
    g = np.array([rng.choice(30, 3, replace=False) for _ in range(150)])
    for verts, faces in ((v, f), (w, g)):
        ref, n_shared = _reference_intersections(verts, faces)
        got = D.self_intersections(verts, faces)
        assert {tuple(p) for p in got.tolist()} == ref
        assert len(ref) > 20
    # the shared-vertex soup tests both rules: many corner pairs, some crossing and some not
    corner = n_shared == 1
    i, j = np.triu_indices(len(g), 1)
    crossing = np.array([(a, b) in ref for a, b in zip(i, j)])
    assert (corner & crossing).sum() > 10 and (corner & ~crossing).sum() > 100 and (n_shared == 2).sum() > 5


def _rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    return q


@pytest.mark.parametrize("seed", [None, 0, 1])  # as built (exact coordinates), then turned (rounded coordinates)
def test_self_intersections_of_known_pairs(seed):
    turn = np.eye(3) if seed is None else _rotation(seed)

    def count(v, f):
        return len(D.self_intersections(np.asarray(v, float) @ turn.T, np.asarray(f)))

    tri = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    # two triangles linked through each other, and the same moved apart
    assert count(tri + [[0.2, 0.2, -1], [0.2, 0.2, 1], [-1, -1, 0]], [[0, 1, 2], [3, 4, 5]]) == 1
    assert count(tri + [[1.2, 1.2, -1], [1.2, 1.2, 1], [2, 2, 0]], [[0, 1, 2], [3, 4, 5]]) == 0
    # coplanar, no shared corner: overlapping counts, side by side does not
    assert count(tri + [[0.2, 0.2, 0], [1.2, 0.2, 0], [0.2, 1.2, 0]], [[0, 1, 2], [3, 4, 5]]) == 1
    small = [[0.1, 0.1, 0], [0.3, 0.1, 0], [0.1, 0.3, 0]]  # inside tri: no edges cross
    assert count(small + tri, [[0, 1, 2], [3, 4, 5]]) == count(tri + small, [[0, 1, 2], [3, 4, 5]]) == 1
    assert count(tri + [[1, 1, 0], [0.6, 1, 0], [1, 0.6, 0]], [[0, 1, 2], [3, 4, 5]]) == 0
    # a flat fan of six faces round a vertex and a flat grid: neighbours touch, nothing crosses
    ring = [[np.cos(a), np.sin(a), 0] for a in np.arange(6) * np.pi / 3]
    assert count([[0, 0, 0]] + ring, [[0, k + 1, (k + 1) % 6 + 1] for k in range(6)]) == 0
    grid = trimesh.creation.box().subdivide().subdivide()  # its sides are flat grids of coplanar faces
    assert count(grid.vertices, grid.faces) == 0
    # one shared corner: a fin through the face counts, a fin pointing away does not, a coplanar overlap counts
    assert count(tri + [[0.5, 0.5, 1], [0.5, 0.5, -1]], [[0, 1, 2], [0, 3, 4]]) == 1
    assert count(tri + [[-0.5, -0.5, 1], [-0.5, -0.5, -1]], [[0, 1, 2], [0, 3, 4]]) == 0
    assert count(tri + [[1, 1, 0], [0.2, 1, 0]], [[0, 1, 2], [0, 3, 4]]) == 1
    assert count(tri + [[0.3, 0.1, 0], [0.1, 0.3, 0]], [[0, 1, 2], [0, 3, 4]]) == 1  # inside, no edges cross
    # a shared edge never counts, even folded flat onto the other face (flipped_faces reports that)
    assert count(tri + [[0.3, 0.3, 0]], [[0, 1, 2], [1, 0, 3]]) == 0
    assert count(tri + [[0.3, 0.3, 0.4]], [[0, 1, 2], [1, 0, 3]]) == 0
    # a face of zero area has no plane and never counts
    assert count(tri + [[0.2, 0.2, -1], [0.2, 0.2, 1], [0.2, 0.2, 0]], [[0, 1, 2], [3, 4, 5]]) == 0


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
                      (dict(seed=-2), "seed"), (dict(device="tpu"), "device"),
                      (dict(device="cuda:99"), "cuda")]:
        with pytest.raises(swviz.InputError, match=match):
            D.deform((v, f), (v, f), **kw)
    with pytest.raises(swviz.InputError, match="needs a target mesh"):
        D.deform((v, f), v, loss="sw-varifold", steps=1)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.mark.parametrize("loss", ["sw-varifold", "sw-surface", "chamfer"])
def test_an_explicit_cpu_device_is_the_default_run(loss):
    v, f = _sphere(1)
    a = D.deform((v, f), _ellipsoid(1), loss=loss, steps=4, seed=2, time_steps=2, metrics=False)
    b = D.deform((v, f), _ellipsoid(1), loss=loss, steps=4, seed=2, time_steps=2, metrics=False,
                 device=torch.device("cpu"))
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert b.options["device"] == "cpu"
    assert not np.allclose(a.final, v)  # it moved: the comparison is not between two idle runs


@CUDA
@pytest.mark.parametrize("loss, field", [("sw-varifold", "ode"), ("sw-vertices", "free"), ("sw-surface", "ode"),
                                         ("chamfer", "free")])
def test_a_cuda_run_follows_the_cpu_run(loss, field):
    v, f = _sphere(2)
    kw = dict(loss=loss, field=field, steps=10, seed=1, time_steps=3, hidden=32, metrics=False)
    cpu = D.deform((v, f), _ellipsoid(2), **kw)
    gpu = D.deform((v, f), _ellipsoid(2), device="cuda", **kw)
    np.testing.assert_allclose(gpu.vertices, cpu.vertices, rtol=0, atol=1e-8 * _diag(v))
    np.testing.assert_allclose(gpu.loss, cpu.loss, rtol=1e-8)
    if field == "ode":
        np.testing.assert_allclose(gpu.flow(v), cpu.flow(v), atol=1e-8 * _diag(v))
