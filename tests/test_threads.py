"""torch's intra-op thread count during swviz's runs of small tensor operations (swviz._threads)."""

import threading

import numpy as np
import pytest
import torch

import swviz
from swviz._threads import blas_threads, check_threads, torch_threads
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


def _overlapping_blocks(block, read) -> dict:
    """Thread A enters ``block()``, B enters, A leaves, B leaves; ``read()`` inside each, B's after A left."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with block():
            seen["a inside"] = read()
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with block():
            b_in.set()
            a_out.wait(5)
            seen["b inside, after a left"] = read()

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start(), tb.start()
    ta.join(10), tb.join(10)
    return seen


def test_overlapping_blocks_of_two_threads_restore_the_original_count(two_threads):
    # A enters, B enters, A leaves, B leaves: with save-and-restore per block, B would restore
    # the 1 it found and leave the process single-threaded for good
    seen = _overlapping_blocks(lambda: torch_threads(1), torch.get_num_threads)
    assert seen["b inside, after a left"] == 1
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


# --------------------------------------------------------------------------- BLAS threads beside the engine's pool


def _blas_counts() -> set:
    from threadpoolctl import threadpool_info

    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def blas_count():
    """BLAS's own thread count (one value for every BLAS library loaded); skips where it is one."""
    counts = _blas_counts()
    if len(counts) != 1 or counts == {1}:
        pytest.skip(f"needs BLAS libraries that thread (threadpoolctl sees counts {counts or 'none'})")
    return counts


def test_blas_count_is_one_inside_and_restored_after_even_across_threads(blas_count):
    with blas_threads(1):
        assert _blas_counts() == {1}
        with blas_threads(1):
            pass
        assert _blas_counts() == {1}  # the inner block does not restore early
    assert _blas_counts() == blas_count
    # overlapping blocks of two threads (A in, B in, A out, B out): one count throughout, and the
    # original count after (B, the last to leave, restores what A found)
    seen = _overlapping_blocks(lambda: blas_threads(1), _blas_counts)
    assert seen == {"a inside": {1}, "b inside, after a left": {1}}
    assert _blas_counts() == blas_count
    with pytest.raises(RuntimeError, match="boom"), blas_threads(1):
        raise RuntimeError("boom")
    assert _blas_counts() == blas_count


@pytest.mark.parametrize("n, one_thread", [(6000, True), (500, False)])
def test_the_pool_projects_on_one_blas_thread_where_blas_would_thread(blas_count, monkeypatch, n, one_thread):
    import swviz.slices as slices

    L = 100
    assert (L * 2 * n >= slices.BLAS_SPIN_VALUES) is one_thread
    seen = []
    real = slices._chunk

    def spy(*args, **kw):
        seen.append(_blas_counts())
        return real(*args, **kw)

    monkeypatch.setattr(slices, "_chunk", spy)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    theta = swviz.directions.uniform(L, 3, np.random.default_rng(1))
    pooled = slices.slice_costs(x, y, theta, grad_x=True, threads=True, parts=4)
    assert len(seen) >= 4 and all(c == ({1} if one_thread else blas_count) for c in seen)
    seen.clear()
    serial = slices.slice_costs(x, y, theta, grad_x=True, threads=False, parts=1)
    assert seen and all(c == blas_count for c in seen)  # chunks in the calling thread: BLAS as it was
    assert _blas_counts() == blas_count
    for u, v in zip(pooled[:2], serial[:2]):
        np.testing.assert_array_equal(u, v)
