"""The differentiable engine: the slice op's closed-form backward, every estimator through autograd, sw_loss."""

import numpy as np
import pytest

import swviz
from swviz.autodiff import slice_wpp, sw_loss
from swviz.estimators import registered
from swviz.slices import slice_costs, sliced_wpp

torch = pytest.importorskip("torch")

CASES = ("equal", "unequal", "weighted")
POWERS = (1.5, 2.0, 3.0)


def _unit(rng, L, d=3):
    g = rng.normal(size=(L, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _pair(case, seed=0, n=11, d=3):
    rng = np.random.default_rng(seed)
    m = n if case == "equal" else n + 6
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * np.linspace(0.5, 2.0, d) + np.linspace(1.0, -0.5, d)
    a = b = None
    if case == "weighted":
        a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
        a, b = a / a.sum(), b / b.sum()
    return x, y, a, b


def _t(v, grad=False):
    return None if v is None else torch.tensor(v, dtype=torch.float64, requires_grad=grad)


def _directional_fd(f, z, v, h=1e-6):
    return (f(z + h * v) - f(z - h * v)) / (2 * h)


# --------------------------------------------------------------------------- the slice op


@pytest.mark.parametrize("p", POWERS)
@pytest.mark.parametrize("case", CASES)
def test_the_slice_op_passes_gradcheck_in_points_and_directions(case, p):
    x, y, a, b = _pair(case, seed=1, n=7)
    theta = _unit(np.random.default_rng(2), 5)
    args = (_t(x, True), _t(y, True), _t(theta, True))
    a_t, b_t = _t(a), _t(b)
    assert torch.autograd.gradcheck(lambda u, v, t: slice_wpp(u, v, t, a_t, b_t, p), args, eps=1e-6, atol=1e-7,
                                    rtol=1e-5)


def test_the_slice_op_forward_is_the_numpy_engine():
    for case in CASES:
        x, y, a, b = _pair(case, seed=3, n=40)
        theta = _unit(np.random.default_rng(4), 30)
        for p in POWERS:
            w = slice_wpp(_t(x), _t(y), _t(theta), _t(a), _t(b), p).numpy()
            np.testing.assert_array_equal(w, sliced_wpp(x, y, theta, a, b, p))


def test_one_slice_gradient_is_the_sorting_formula():
    """dW_2^2(theta)/dx_i = (2/n)(theta'x_i - theta'y_(rank of i)) theta for equal sizes."""
    rng = np.random.default_rng(1)
    n = 50
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) + 2.0
    theta = _unit(rng, 1)
    xt = _t(x, True)
    slice_wpp(xt, _t(y), _t(theta)).sum().backward()
    xp, yp = x @ theta[0], np.sort(y @ theta[0])
    rank = np.argsort(np.argsort(xp))
    np.testing.assert_allclose(xt.grad.numpy(), (2.0 / n) * (xp - yp[rank])[:, None] * theta[0], atol=1e-14)


def test_slopes_in_the_projections_sum_to_zero_between_the_clouds():
    """Translating both clouds along theta leaves each slice unchanged: the slopes of x and y cancel."""
    for case in CASES:
        x, y, a, b = _pair(case, seed=5, n=30)
        theta = _unit(np.random.default_rng(6), 8)
        _, gx, gy = slice_costs(x, y, theta, a, b, 2.5, grad_x=True, grad_y=True)
        np.testing.assert_allclose(gx.sum(1) + gy.sum(1), 0.0, atol=1e-12)


# --------------------------------------------------------------------------- every estimator


def _estimators_3d():
    return [e for e in registered() if e.dims is None or 3 in e.dims]


@pytest.mark.parametrize("est", _estimators_3d(), ids=lambda e: e.name)
def test_every_estimator_has_its_exact_gradient_by_autograd(est):
    """Autograd of sw_loss equals central differences of the float64 numpy estimate (same directions).

    Iterates over the registry: a new estimator is covered the day it is registered. Directional
    derivatives along random perturbations of x and of y, for equal and unequal sizes, with and
    without weights, for p = 1.5, 2 and 3.
    """
    rng = np.random.default_rng(11)
    L = max(40, est.min_projections(3) + 8)
    for case in CASES:
        x, y, a, b = _pair(case, seed=7)
        theta = est.directions(L, 3, np.random.default_rng(3))
        for p in POWERS:
            xt, yt = _t(x, True), _t(y, True)
            value = sw_loss(xt, yt, _t(a), _t(b), estimator=est.name, p=p, directions=theta)
            value.backward()

            def f_x(z, y=y, a=a, b=b, p=p, theta=theta):
                return swviz.sliced_wasserstein(z, y, a, b, estimator=est.name, p=p, directions=theta).value

            def f_y(z, x=x, a=a, b=b, p=p, theta=theta):
                return swviz.sliced_wasserstein(x, z, a, b, estimator=est.name, p=p, directions=theta).value

            assert value.item() == pytest.approx(f_x(x), rel=1e-12)
            for z, f, grad in ((x, f_x, xt.grad), (y, f_y, yt.grad)):
                v = rng.normal(size=z.shape)
                fd = _directional_fd(f, z, v)
                exact = float((grad.numpy() * v).sum())
                assert exact == pytest.approx(fd, rel=1e-6, abs=1e-9), (est.name, case, p)


@pytest.mark.parametrize("est", _estimators_3d(), ids=lambda e: e.name)
def test_sw_loss_equals_sliced_wasserstein_for_the_same_seed(est):
    L = max(64, est.min_projections(3))
    for case in CASES:
        x, y, a, b = _pair(case, seed=13, n=50)
        for seed in (0, 1):
            ref = swviz.sliced_wasserstein(x, y, a, b, estimator=est.name, n_projections=L, seed=seed).value
            got = sw_loss(_t(x), _t(y), _t(a), _t(b), estimator=est.name, n_projections=L, seed=seed).item()
            assert got == pytest.approx(ref, rel=1e-12, abs=1e-15)


def test_gradients_reach_the_directions_through_an_estimate():
    """A model predicting where to slice gets d(estimate)/d(theta): checked against finite differences."""
    x, y, _, _ = _pair("unequal", seed=17, n=25)
    theta = _unit(np.random.default_rng(2), 6)
    tt = _t(theta, True)
    sw_loss(_t(x), _t(y), directions=tt, p=2).backward()
    v = np.random.default_rng(3).normal(size=theta.shape)
    fd = _directional_fd(lambda t: float(sliced_wpp(x, y, t, p=2).mean()), theta, v)
    assert float((tt.grad.numpy() * v).sum()) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("est", _estimators_3d(), ids=lambda e: e.name)
def test_every_estimator_differentiates_in_its_directions(est):
    """Directions that require grad take the torch side of the direction-only algebra (control-variate
    features, harmonic regression): autograd in theta equals central differences of the numpy estimate."""
    x, y, _, _ = _pair("unequal", seed=19, n=25)
    theta = est.directions(max(40, est.min_projections(3) + 8), 3, np.random.default_rng(5))
    tt = _t(theta, True)
    value = sw_loss(_t(x), _t(y), estimator=est.name, directions=tt)
    value.backward()

    def f(t):
        unit = t / np.linalg.norm(t, axis=1)[:, None]
        return swviz.sliced_wasserstein(x, y, estimator=est.name, directions=unit).value

    v = np.random.default_rng(6).normal(size=theta.shape)
    v -= (v * theta).sum(1, keepdims=True) * theta  # tangent to the sphere: the normalisation does not matter
    fd = _directional_fd(f, theta, v, h=1e-7)  # small: a symmetric set can hold near-tied projections
    assert float((tt.grad.numpy() * v).sum()) == pytest.approx(fd, rel=1e-5, abs=1e-9), est.name


@pytest.mark.parametrize("estimator", ["lcv", "ucv", "rqmc-spiral+lcv"])
def test_a_zero_spread_control_variate_gives_a_finite_gradient_equal_to_monte_carlos(estimator):
    """Both clouds centred: the lower CV is identically 0, the estimate falls back to MC, and so does the gradient."""
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) * [2.0, 1.0, 0.5]
    x -= x.mean(0)
    y -= y.mean(0)
    theta = swviz.get_estimator(estimator).directions(40, 3, np.random.default_rng(0))
    grads = {}
    for name in (estimator, "mc"):
        xt = _t(x, True)
        sw_loss(xt, _t(y), estimator=name, directions=theta).backward()
        grads[name] = xt.grad.numpy()
    assert np.isfinite(grads[estimator]).all()
    if estimator != "ucv":  # the upper CV keeps its covariance part: a real control variate
        np.testing.assert_allclose(grads[estimator], grads["mc"], rtol=1e-12, atol=1e-15)
    # identical clouds: every slice and control term is 0; the gradient is 0, not NaN
    xt = _t(y, True)
    sw_loss(xt, _t(y), estimator=estimator, directions=theta).backward()
    assert torch.equal(xt.grad, torch.zeros_like(xt.grad))


def test_float32_inputs_are_computed_in_float64_and_returned_in_float32():
    x, y, _, _ = _pair("equal", seed=1, n=20)
    v32 = sw_loss(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), seed=0)
    assert v32.dtype == torch.float32
    ref = swviz.sliced_wasserstein(x.astype(np.float32), y.astype(np.float32), seed=0).value
    assert v32.item() == pytest.approx(ref, rel=1e-6)


def test_an_optimisation_loop_through_sw_loss_moves_a_cloud_onto_its_target():
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.normal(size=(200, 3)) * [1.0, 0.5, 0.2] + 3.0)
    x = torch.tensor(rng.normal(size=(200, 3)), requires_grad=True)
    opt = torch.optim.SGD([x], lr=50.0)
    first = None
    for step in range(150):
        opt.zero_grad()
        loss = sw_loss(x, y, estimator="ucv", n_projections=32, seed=step)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    final = swviz.reference_sw(x.detach().numpy(), y.numpy()).value
    assert final < 1e-3 * first


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_a_clear_error_before_any_work():
    x = torch.zeros(5, 3, dtype=torch.float64)
    y = torch.ones(4, 3, dtype=torch.float64)
    bad = [
        (dict(x=np.zeros((5, 3))), "must be a torch tensor"),
        (dict(x=torch.zeros(5)), r"shape \(n, d\)"),
        (dict(x=torch.zeros(5, 3, dtype=torch.int64)), "float32 or float64"),
        (dict(y=torch.ones(4, 2, dtype=torch.float64)), "same dimension"),
        (dict(x=torch.tensor([[0.0, float("nan"), 0.0]] * 5, dtype=torch.float64)), "NaN or infinite"),
        (dict(y=torch.tensor([[float("inf"), 0.0, 0.0]] * 4, dtype=torch.float64)), "NaN or infinite"),
        (dict(a=torch.tensor([0.5, 0.5, -0.2, 0.1, 0.1], dtype=torch.float64)), "negative weights"),
        (dict(a=torch.full((5,), 0.2, dtype=torch.float64, requires_grad=True)), "requires grad"),
        (dict(a=torch.full((4,), 0.25, dtype=torch.float64)), "4 weights but there are 5 points"),
        (dict(a=torch.zeros(5, dtype=torch.float64)), "sums to zero"),
        (dict(y=torch.ones(4, 3, dtype=torch.float64, device="meta")), "same device"),
        (dict(directions=torch.ones(3, 3, dtype=torch.float64)), "unit vectors"),
        (dict(estimator="nope"), "unknown estimator"),
        (dict(p=0.5), "p must be"),
        (dict(estimator="shcv-4", n_projections=10), "n_projections >= 16"),
        (dict(cv_ridge=-1.0), "cv_ridge"),
    ]
    for override, message in bad:
        kw = dict(x=x, y=y)
        kw.update(override)
        with pytest.raises(ValueError, match=message):
            sw_loss(kw.pop("x"), kw.pop("y"), **kw)


# --------------------------------------------------------------------------- GPU


@pytest.mark.parametrize("p", POWERS)
@pytest.mark.parametrize("case", CASES)
def test_the_torch_engine_of_the_gpu_path_matches_numpy_on_cpu_tensors(case, p):
    """The code a CUDA device runs (the slice engine on tensors, torch's sort) checked where there is no GPU."""
    x, y, a, b = _pair(case, seed=5, n=37)
    theta = _unit(np.random.default_rng(6), 9)
    ref = slice_costs(x, y, theta, a, b, p, grad_x=True, grad_y=True)
    got = slice_costs(_t(x), _t(y), _t(theta), _t(a), _t(b), p, grad_x=True, grad_y=True, chunk_bytes=4000)
    for r, g in zip(ref, got):
        assert isinstance(g, torch.Tensor)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-10, atol=1e-14)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@cuda
@pytest.mark.parametrize("case", CASES)
def test_the_cuda_path_matches_the_cpu(case):
    x, y, a, b = _pair(case, seed=4, n=300)
    for name in ("mc", "ucv", "shcv-4"):
        out = {}
        for dev in ("cpu", "cuda"):
            xt = torch.tensor(x, device=dev, requires_grad=True)
            yt = torch.tensor(y, device=dev, requires_grad=True)
            aa = None if a is None else torch.tensor(a, device=dev)
            bb = None if b is None else torch.tensor(b, device=dev)
            v = sw_loss(xt, yt, aa, bb, estimator=name, n_projections=64, seed=0)
            v.backward()
            out[dev] = (v.item(), xt.grad.cpu().numpy(), yt.grad.cpu().numpy())
        assert out["cuda"][0] == pytest.approx(out["cpu"][0], rel=1e-10)
        np.testing.assert_allclose(out["cuda"][1], out["cpu"][1], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(out["cuda"][2], out["cpu"][2], rtol=1e-8, atol=1e-12)


@cuda
def test_a_flow_on_cuda_matches_the_cpu():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(256, 3)), rng.normal(size=(256, 3)) + 2.0
    kw = dict(estimator="ucv", n_projections=16, step_size=0.2, n_steps=20, record_every=20, seed=1, w2_steps=[20])
    a = swviz.gradient_flow(x, y, **kw)
    b = swviz.gradient_flow(x, y, device="cuda", **kw)
    np.testing.assert_allclose(b.final, a.final, atol=1e-8)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-10)


@cuda
@pytest.mark.parametrize("measure", ["vertices", "surface"])
def test_a_mesh_flow_on_cuda_matches_the_cpu(measure):
    """The carriers (surface samples, Laplacian smoothing) on the device give the CPU's run."""
    from swviz.flows import mesh_flow
    from swviz.shapes import library_shape, sample_shape

    mesh = library_shape("cube")
    y = sample_shape("sphere", 200, 1) * 1.3
    kw = dict(measure=measure, n_samples=300, smoothing=5.0, estimator="ucv", n_projections=16, step_size=0.3,
              n_steps=20, record_every=10, seed=0, w2_steps=[20])
    a = mesh_flow(mesh.vertices, mesh.faces, y, **kw)
    b = mesh_flow(mesh.vertices, mesh.faces, y, device="cuda", **kw)
    np.testing.assert_allclose(b.frames, a.frames, atol=1e-8)
    np.testing.assert_allclose(b.w2, a.w2, rtol=1e-8)
