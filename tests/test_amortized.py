"""Amortized slicing: invariances of the direction models, metricity, reparameterised vMF,
training that helps on unseen shapes, the autoencoder, and the weights files."""

import copy
import io
import json
import math

import numpy as np
import pytest
import torch

import swviz
from swviz.amortized import (
    DEFAULT_RECIPE,
    DEFAULT_WEIGHTS,
    HELD_OUT_SHAPES,
    AttentionDirection,
    LinearDirection,
    PairSampler,
    StopTraining,
    amortized_max_sw,
    amortized_objective,
    amortized_vdsw,
    build_model,
    default_meta,
    evaluate,
    householder_onto,
    load_default,
    load_model,
    train_default,
    train_direction_model,
    vmf_rsample,
    weights_bytes,
)
from swviz.amortized.autoencoder import chamfer, exact_w2, train_autoencoder

SMALL = {"width": 16, "layers": 1, "channels": 2, "squarings": 3}


@pytest.fixture(autouse=True)
def one_thread():
    """Small models on busy cores: torch's thread pool made training ten times slower there."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _models():
    torch.manual_seed(3)
    return [load_default(), build_model({"kind": "attention", "dim": 3, **SMALL}),
            build_model({"kind": "efficient", "dim": 3, **SMALL})]


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x = swviz.shapes.sample_shape("torus", 300, 1)
    y = swviz.shapes.sample_shape("cube", 260, 2) @ np.linalg.qr(rng.normal(size=(3, 3)))[0] * 0.8 + 0.1
    return x, y


# --------------------------------------------------------------------------- the models' invariances


@pytest.mark.parametrize("which", [0, 1, 2], ids=["default", "attention", "efficient"])
def test_directions_are_unit_invariant_to_permutations_and_to_swapping(pair, which):
    model = _models()[which]
    x, y = pair
    rng = np.random.default_rng(1)
    theta = model.direction(x, y)
    assert theta.shape == (3,) and abs(np.linalg.norm(theta) - 1) < 1e-12
    for xp, yp in ((x[rng.permutation(len(x))], y), (x, y[rng.permutation(len(y))])):
        assert np.abs(model.direction(xp, yp) - theta).max() < 1e-6
    swapped = model.direction(y, x)
    assert min(np.abs(swapped - theta).max(), np.abs(swapped + theta).max()) < 1e-12


@pytest.mark.parametrize("precision, tol", [("float64", 1e-9), ("float32", 1e-5)])
def test_the_direction_ignores_a_common_translation_and_scaling(pair, precision, tol):
    model = load_default()
    x, y = pair
    theta = model.direction(x, y, precision=precision)
    moved = model.direction(3.0 * x + [1.0, -2.0, 5.0], 3.0 * y + [1.0, -2.0, 5.0], precision=precision)
    assert min(np.abs(moved - theta).max(), np.abs(moved + theta).max()) < tol


def test_the_float32_prediction_is_the_float64_one_to_its_precision(pair):
    """The default float32 copy predicts the float64 model's direction; a retrained model gets a fresh copy."""
    model = copy.deepcopy(load_default())  # its own: the parameters are changed below
    x, y = pair
    d64 = model.direction(x, y, precision="float64")
    assert np.abs(model.direction(x, y) - d64).max() < 1e-5
    copy32 = model.on(None, torch.float32)
    assert copy32.w0.dtype == torch.float32 and model.on(None, torch.float32) is copy32  # kept, not rebuilt
    with torch.no_grad():
        model.w0.mul_(-1.0)  # a new parameter version (the sign-free direction stays): the copy is remade
    assert model.on(None, torch.float32) is not copy32
    assert np.abs(np.abs(model.direction(x, y) @ d64) - 1) < 1e-9
    with pytest.raises(swviz.InputError, match="precision must be one of"):
        model.direction(x, y, precision="half")


def test_the_linear_baseline_is_declared_order_dependent_and_fixed_size(pair):
    torch.manual_seed(0)
    model = LinearDirection(3, n_points=64).double()
    assert not model.permutation_invariant and AttentionDirection.permutation_invariant
    x, y = pair[0][:64], pair[1][:64]
    theta = model.direction(x, y)
    assert abs(np.linalg.norm(theta) - 1) < 1e-12
    assert np.abs(model.direction(x[::-1], y) - theta).max() > 1e-6  # order matters for it
    with pytest.raises(swviz.InputError, match="exactly 64 points"):
        model.direction(pair[0], pair[1])


@pytest.mark.parametrize("bad, match", [
    (lambda x, y: (x[:, :2], y[:, :2]), "trained for d = 3"),
    (lambda x, y: (x[:3], y), "at least 4"),
    (lambda x, y: (np.where(np.arange(len(x))[:, None] == 5, np.nan, x), y), "NaN"),
    (lambda x, y: (x, y[:, :2]), "same dimension"),
])
def test_bad_pairs_are_clear_errors(pair, bad, match):
    x, y = bad(*pair)
    for fn in (load_default().direction, lambda a, b: amortized_vdsw(a, b), lambda a, b: amortized_max_sw(a, b)):
        with pytest.raises(swviz.InputError, match=match):
            fn(x, y)


def test_an_explicit_cpu_device_is_the_default_and_a_bad_device_is_named(pair):
    x, y = pair
    model = load_default()
    assert model.on("cpu") is model and model.on(None) is model
    np.testing.assert_array_equal(model.direction(x, y, device="cpu"), model.direction(x, y))
    assert amortized_vdsw(x, y, seed=3, device=torch.device("cpu")).value == amortized_vdsw(x, y, seed=3).value
    for bad, match in (("tpu", "device must be"), ("cuda:99", "cuda")):
        with pytest.raises(swviz.InputError, match=match):
            amortized_max_sw(x, y, device=bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_the_model_on_cuda_predicts_the_cpu_direction(pair):
    x, y = pair
    model = load_default()
    gpu = model.on("cuda")
    assert gpu is not model and next(model.parameters()).device.type == "cpu"  # the model itself stays
    # float64 predictions agree to rounding; float32 ones (the default) to float32's rounding,
    # which the two devices' kernels accumulate in different orders (6e-7 seen on an H200)
    np.testing.assert_allclose(model.direction(x, y, device="cuda", precision="float64"),
                               model.direction(x, y, precision="float64"), atol=1e-10)
    np.testing.assert_allclose(model.direction(x, y, device="cuda"), model.direction(x, y), atol=1e-5)
    a, b = amortized_vdsw(x, y, seed=3, device="cuda"), amortized_vdsw(x, y, seed=3)
    assert a.value == pytest.approx(b.value, rel=1e-5)


# --------------------------------------------------------------------------- values and metricity


def test_amortized_vdsw_of_a_measure_with_itself_is_zero_within_its_error(pair):
    x, _ = pair
    rng = np.random.default_rng(2)
    res = amortized_vdsw(x, x[rng.permutation(len(x))], kappa=10.0, n_projections=200, seed=0)
    assert res.name == "amortized-v-dsw" and res.directions.shape == (200, 3)
    assert abs(res.value) <= max(3 * res.params["stderr"], 1e-12)


def test_amortized_values_are_symmetric_and_below_the_per_pair_maxima(pair):
    x, y = pair
    a, b = amortized_vdsw(x, y, seed=4), amortized_vdsw(y, x, seed=4)
    assert abs(a.value - b.value) <= 1e-10 * a.value
    m = amortized_max_sw(x, y)
    assert m.value == pytest.approx(float(swviz.slices.sliced_wpp(x, y, m.direction[None])[0]), rel=1e-12)
    # the lattice maximum over the whole sphere bounds the value of any one slice (up to the lattice's resolution)
    from swviz.sphere import sphere_map

    top = sphere_map(x, y, n_lattice=4096, n_latitude=64).max
    assert m.value <= top * 1.02
    # the vMF average cannot exceed the best slice
    assert a.value <= top * 1.02


def test_householder_takes_e1_to_eps_orthogonally_on_both_branches():
    rng = np.random.default_rng(0)
    for sign in (1.0, -1.0):
        eps = rng.normal(size=3)
        eps[0] = sign * abs(eps[0])
        eps = torch.tensor(eps / np.linalg.norm(eps))
        Q = householder_onto(eps, torch.eye(3, dtype=torch.float64))  # rows are Q e_k
        assert torch.allclose(Q[0], eps, atol=1e-14)
        assert torch.allclose(Q @ Q.T, torch.eye(3, dtype=torch.float64), atol=1e-14)


def test_vmf_rsample_has_the_vmf_mean_cosine_and_passes_gradients():
    kappa = 5.0
    eps = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    eps = (eps / eps.norm()).requires_grad_(True)
    z = vmf_rsample(eps, kappa, 40_000, np.random.default_rng(0))
    cos = (z.detach() @ eps.detach()).numpy()
    expected = 1 / math.tanh(kappa) - 1 / kappa  # E[mu' theta] on S^2 (the Langevin function)
    assert abs(cos.mean() - expected) < 4 * cos.std() / math.sqrt(len(cos))
    # gradients of a smooth function of the samples, against finite differences (same draws)
    c = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)

    def f(e):
        return (vmf_rsample(e, kappa, 64, np.random.default_rng(1)) @ c).pow(2).mean()

    f(eps).backward()
    h = 1e-6
    for k in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[k] = h
        fd = (f(eps.detach() + step) - f(eps.detach() - step)) / (2 * h)
        assert abs(float(eps.grad[k]) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_the_objective_sends_gradients_to_every_parameter(pair):
    torch.manual_seed(0)
    model = build_model({"kind": "efficient", "dim": 3, **SMALL})
    x = torch.from_numpy(pair[0][:200])[None]
    y = torch.from_numpy(pair[1][:200])[None]
    for kind in ("v-dsw", "max-sw"):
        model.zero_grad()
        amortized_objective(model, x, y, kind=kind, rng=0).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


# --------------------------------------------------------------------------- training


def test_training_raises_the_objective_on_held_out_library_pairs():
    sampler = PairSampler(HELD_OUT_SHAPES, pool=1024, seed=99)
    pairs = [sampler.pair(128) for _ in range(10)]
    torch.manual_seed(5)
    fresh = build_model({"kind": "efficient", "dim": 3, **SMALL})
    before = evaluate(fresh, pairs, n_projections=128)
    res = train_direction_model(fresh, steps=40, batch=4, n_points=(64, 128), n_projections=16, lr=1e-2, seed=1)
    after = evaluate(res.model, pairs, n_projections=128)
    assert res.history.shape == (40, 2)
    assert after > 1.1 * before


def test_a_progress_callback_stops_training_with_the_result_so_far():
    seen = []

    def progress(step, total, value):
        seen.append((step, total))
        if step == 3:
            raise StopTraining

    res = train_direction_model({"kind": "efficient", "dim": 3, **SMALL}, steps=50, batch=2, n_points=(32, 48),
                                n_projections=8, seed=0, progress=progress)
    assert res.stopped and seen == [(1, 50), (2, 50), (3, 50)] and res.history.shape == (3, 2)


def test_the_default_recipe_is_deterministic_and_recorded_in_the_shipped_file():
    a = train_default(steps=2, batch=2, n_points=(32, 48))
    b = train_default(steps=2, batch=2, n_points=(32, 48))
    assert weights_bytes(a.model) == weights_bytes(b.model)  # the same bits from the same seed
    meta = default_meta()
    for key in ("steps", "batch", "objective", "kappa", "n_projections", "lr", "seed"):
        assert meta[key] == DEFAULT_RECIPE[key], key
    assert meta["n_points"] == list(DEFAULT_RECIPE["n_points"])
    assert load_default().config == DEFAULT_RECIPE["model"]
    assert DEFAULT_WEIGHTS.stat().st_size < 1_000_000


@pytest.mark.slow
def test_the_shipped_default_weights_reproduce_from_the_recipe():
    res = train_default()  # on one thread (the fixture), as the script runs
    shipped = load_default()
    # Not the same bits across machines: BLAS picks its kernels by CPU, and 300 Adam steps carry the
    # last-digit differences to about 1e-6 relative (measured between an AMD EPYC and the machine the
    # weights were made on). A changed recipe, seed or model moves the weights by 1e-2 or more.
    for k, v in res.model.state_dict().items():
        assert torch.allclose(v, shipped.state_dict()[k], rtol=1e-3, atol=1e-5), k
    sampler = PairSampler(HELD_OUT_SHAPES, pool=1024, seed=5)
    for x, y in (sampler.pair(512) for _ in range(3)):  # and the two predict the same directions
        u, v = res.model.direction(x, y, precision="float64"), shipped.direction(x, y, precision="float64")
        assert abs(abs(float(u @ v)) - 1.0) < 1e-8


def test_the_autoencoder_validation_loss_falls_under_sliced_and_amortized_losses():
    torch.manual_seed(0)
    small = build_model({"kind": "efficient", "dim": 3, **SMALL})
    for loss in ("sw-mc", "a-v-dsw"):
        res = train_autoencoder(loss, steps=12, batch=4, n_points=96, latent=16, n_projections=32, eval_every=6,
                                seed=0, direction_model=small, model_points=48,
                                shapes=("sphere", "cube", "torus", "cone"), held_out=("capsule", "cylinder"))
        assert list(res.steps) == [0, 6, 12]
        assert res.val_chamfer[-1] < 0.7 * res.val_chamfer[0], loss


def test_chamfer_and_exact_w2_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    shift = np.array([0.3, 0.0, 0.0])
    assert exact_w2(x, x + shift) == pytest.approx(0.09, rel=1e-12)  # a translation: W2^2 = |t|^2
    assert exact_w2(x, x[rng.permutation(40)]) == pytest.approx(0.0, abs=1e-15)
    xt = torch.from_numpy(x)
    assert float(chamfer(xt, xt)) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- weights files


def _good_bytes():
    return DEFAULT_WEIGHTS.read_bytes()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_the_default_file_round_trips():
    model, meta = load_model(_good_bytes())
    x, y = swviz.shapes.sample_shape("cone", 100, 0), swviz.shapes.sample_shape("sphere", 100, 1)
    assert np.array_equal(model.direction(x, y), load_default().direction(x, y))
    assert meta["seed"] == DEFAULT_RECIPE["seed"]


def _mutated(change):
    with np.load(io.BytesIO(_good_bytes()), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    return _npz(**arrays)


@pytest.mark.parametrize("data, match", [
    (lambda: _good_bytes()[: len(_good_bytes()) // 2], "corrupt or truncated"),
    (lambda: b"not a weights file at all", "corrupt or truncated"),
    (lambda: _npz(w=np.ones(3)), "not a swviz direction-model file"),
    (lambda: _mutated(lambda a: a.update(__format__=np.array("someone-else"))), "format 'someone-else'"),
    (lambda: _mutated(lambda a: a.update(__version__=np.array(99))), "version 99"),
    (lambda: _mutated(lambda a: a.update(__config__=np.array(json.dumps({"kind": "transformer"})))), "unknown"),
    (lambda: _mutated(lambda a: a.update(w0=np.ones(4))), "parameter w0 has shape"),
    (lambda: _mutated(lambda a: a.update(w0=np.array([np.nan, 0.0, 1.0]))), "NaN"),
    (lambda: _mutated(lambda a: a.pop("w0")), "missing"),
])
def test_corrupt_truncated_or_foreign_weights_are_clear_errors(data, match):
    with pytest.raises(swviz.InputError, match=match):
        load_model(data(), "weights.npz")


def test_a_torch_pickle_is_refused_without_being_unpickled(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w0": torch.ones(3)}, path)  # a zip holding a pickle
    with pytest.raises(swviz.InputError):
        load_model(path)


def test_the_top_level_names_are_the_amortized_functions(pair):
    x, y = pair
    assert swviz.amortized_vdsw(x, y, kappa=5.0, seed=7).value == amortized_vdsw(x, y, kappa=5.0, seed=7).value
    assert swviz.amortized_max_sw(x, y, p=3).value == amortized_max_sw(x, y, p=3).value
    assert {"amortized_vdsw", "amortized_max_sw"} <= set(swviz.__all__)
