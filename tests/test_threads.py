"""torch's intra-op thread count during swviz's runs of small tensor operations (swviz._threads)."""

import threading

import numpy as np
import pytest
import torch

import swviz
from swviz._threads import check_threads, torch_threads
from swviz.amortized import load_default


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_count_holds_inside_and_is_restored_after(two_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1  # the inner block does not restore early
    assert torch.get_num_threads() == 2
    with torch_threads(None):
        assert torch.get_num_threads() == 2


def test_the_count_is_restored_after_an_error(two_threads):
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_overlapping_blocks_of_two_threads_restore_the_original_count(two_threads):
    # A enters, B enters, A leaves, B leaves: with save-and-restore per block, B would restore
    # the 1 it found and leave the process single-threaded for good
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with torch_threads(1):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with torch_threads(1):
            b_in.set()
            a_out.wait(5)
            seen["b inside, after a left"] = torch.get_num_threads()

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start(), tb.start()
    ta.join(10), tb.join(10)
    assert seen == {"b inside, after a left": 1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_counts_are_clear_errors(bad):
    with pytest.raises(ValueError, match="threads must be a positive integer or None"):
        check_threads(bad)


def test_runs_leave_the_count_as_they_found_it_and_agree_with_the_threaded_run(two_threads):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) + 1.0
    kw = dict(estimator="ucv", n_projections=20, step_size=0.3, n_steps=10, record_every=10, seed=3, w2_steps=[])
    one = swviz.gradient_flow(x, y, **kw)
    assert torch.get_num_threads() == 2
    threaded = swviz.gradient_flow(x, y, threads=None, **kw)
    np.testing.assert_allclose(one.frames, threaded.frames, rtol=1e-10, atol=1e-12)
    model = load_default()
    u, v = model.direction(x, y), model.direction(x, y, threads=2)
    assert torch.get_num_threads() == 2
    assert abs(abs(float(u @ v)) - 1.0) < 1e-6


def test_the_flows_reject_a_bad_thread_count_before_any_work():
    x = np.random.default_rng(1).normal(size=(50, 3))
    with pytest.raises(ValueError, match="threads must be"):
        swviz.gradient_flow(x, x + 1, step_size=0.1, n_steps=5, record_every=5, threads=0)
    with pytest.raises(ValueError, match="threads must be"):
        load_default().direction(x, x + 1, threads=-2)


def test_the_op_gives_the_same_bits_on_the_engine_pool_as_in_one_chunk(two_threads):
    from swviz.autodiff import slice_wpp
    from swviz.slices import slice_costs

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(700, 3)), rng.normal(size=(500, 3)) * 1.5
    th = rng.normal(size=(64, 3))
    th /= np.linalg.norm(th, axis=1, keepdims=True)
    whole = slice_costs(x, y, th, grad_x=True, grad_y=True, threads=False, chunk_bytes=1 << 30)
    split = slice_costs(x, y, th, grad_x=True, grad_y=True, threads=True, parts=4, chunk_bytes=1 << 30)
    for u, v in zip(whole, split):
        np.testing.assert_array_equal(u, v)
    out = {}
    for threads in (1, 2):  # the op uses the pool only beside one torch thread
        torch.set_num_threads(threads)
        xt = torch.tensor(x, requires_grad=True)
        value = slice_wpp(xt, torch.tensor(y), torch.tensor(th)).square().sum()
        value.backward()
        out[threads] = (value.detach().numpy(), xt.grad.numpy())
    for u, v in zip(out[1], out[2]):
        np.testing.assert_array_equal(u, v)
