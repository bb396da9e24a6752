"""The slice engine: exact one-dimensional values, both paths, chunking, invariances."""

import numpy as np
import ot
import pytest
from scipy.stats import wasserstein_distance

from swviz.directions import uniform
from swviz.slices import sliced_wpp


def _brute_1d(u, v, a, b, p):
    """W_p^p in 1D by integrating the quantile functions on a fine midpoint grid of q."""
    q = (np.arange(200_000) + 0.5) / 200_000

    def quantile(z, w):
        o = np.argsort(z)
        c = np.cumsum(w[o])
        return z[o][np.minimum(np.searchsorted(c, q * c[-1]), len(z) - 1)]

    return np.mean(np.abs(quantile(u, a) - quantile(v, b)) ** p)


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("n,m", [(50, 50), (37, 61), (1, 9)])
def test_one_dimension_equals_exact_1d_distance(rng, p, n, m):
    u, v = rng.normal(size=n), rng.normal(1.0, 2.0, size=m)
    a, b = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m)
    a, b = a / a.sum(), b / b.sum()
    theta = np.ones((1, 1))
    got_w = sliced_wpp(u[:, None], v[:, None], theta, a, b, p)[0]
    assert got_w == pytest.approx(ot.wasserstein_1d(u, v, a, b, p=p), rel=1e-10)
    got_u = sliced_wpp(u[:, None], v[:, None], theta, None, None, p)[0]
    assert got_u == pytest.approx(ot.wasserstein_1d(u, v, p=p), rel=1e-10)
    if p == 1.0:
        assert got_w == pytest.approx(wasserstein_distance(u, v, a, b), rel=1e-10)


def test_general_path_matches_brute_force_quantiles(rng):
    u, v = rng.normal(size=13), rng.normal(size=7)
    a, b = rng.uniform(0, 1, 13), rng.uniform(0, 1, 7)
    a[3] = 0.0  # zero weights are allowed
    got = sliced_wpp(u[:, None], v[:, None], np.ones((1, 1)), a / a.sum(), b / b.sum(), 2.0)[0]
    assert got == pytest.approx(_brute_1d(u, v, a, b, 2.0), rel=1e-4)


@pytest.mark.parametrize("p", [1.0, 2.0, 2.5])
def test_weighted_path_equals_fast_path_for_uniform_equal_sizes(rng, p):
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3)) + 0.5
    theta = uniform(64, 3, rng)
    fast = sliced_wpp(x, y, theta, None, None, p)
    u = np.full(200, 1 / 200)
    general = sliced_wpp(x, y, theta, u, u, p)
    np.testing.assert_allclose(general, fast, rtol=1e-11, atol=1e-14)


def test_uniform_unequal_sizes_equals_weighted_path(rng):
    x, y = rng.normal(size=(120, 3)), rng.normal(size=(77, 3))
    theta = uniform(32, 3, rng)
    grid = sliced_wpp(x, y, theta)
    general = sliced_wpp(x, y, theta, np.full(120, 1 / 120), np.full(77, 1 / 77))
    np.testing.assert_allclose(grid, general, rtol=1e-11)


def test_duplicated_points_equal_doubled_weights(rng):
    """A point listed twice is the same measure as that point with twice the weight."""
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2))
    theta = uniform(16, 2, rng)
    x_dup = np.concatenate([x, x[:5]])
    a = np.ones(30)
    a[:5] = 2
    np.testing.assert_allclose(sliced_wpp(x_dup, y, theta), sliced_wpp(x, y, theta, a / a.sum(), None),
                               rtol=1e-11)


def test_chunking_and_threads_do_not_change_values(rng):
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(250, 3))
    theta = uniform(500, 3, rng)
    whole = sliced_wpp(x, y, theta, chunk_bytes=1 << 40, threads=False)
    tiny = sliced_wpp(x, y, theta, chunk_bytes=1, threads=True)  # one direction per chunk
    np.testing.assert_allclose(whole, tiny, rtol=1e-13)  # BLAS blocking may differ in the last bit


def test_antipodal_directions_give_equal_slices(rng):
    x, y = rng.normal(size=(100, 3)), rng.uniform(size=(100, 3))
    theta = uniform(20, 3, rng)
    np.testing.assert_allclose(sliced_wpp(x, y, theta), sliced_wpp(x, y, -theta), rtol=1e-12)


def test_permuting_points_changes_nothing(rng):
    x, y = rng.normal(size=(90, 3)), rng.normal(size=(60, 3))
    a, b = rng.uniform(size=90), rng.uniform(size=60)
    theta = uniform(10, 3, rng)
    px, py = rng.permutation(90), rng.permutation(60)
    base = sliced_wpp(x, y, theta, a / a.sum(), b / b.sum())
    perm = sliced_wpp(x[px], y[py], theta, (a / a.sum())[px], (b / b.sum())[py])
    np.testing.assert_allclose(perm, base, rtol=1e-11)


def test_large_L_times_n_runs_in_bounded_chunks(rng):
    """L x n = 2e7 values (160 MB as one array) runs in 4 MB chunks and matches a direct mean."""
    x, y = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3)) * 1.5
    theta = uniform(10_000, 3, rng)
    w = sliced_wpp(x, y, theta)
    assert w.shape == (10_000,) and np.all(w >= 0)
    # spot-check a few slices directly
    for l in (0, 4567, 9999):
        xs, ys = np.sort(x @ theta[l]), np.sort(y @ theta[l])
        assert w[l] == pytest.approx(np.mean((xs - ys) ** 2), rel=1e-12)


def test_flat_row_gathers_and_scatters_equal_numpys_along_axis(rng):
    """The engine's row-wise take and unsort (one flat index) equal take_along_axis / put_along_axis."""
    from swviz._xp import NUMPY

    for rows, cols, k in ((100, 1024, 1024), (7, 50, 80), (1, 5, 5)):
        v = rng.normal(size=(rows, cols))
        idx = rng.integers(0, cols, size=(rows, k))
        np.testing.assert_array_equal(NUMPY.take(v, idx), np.take_along_axis(v, idx, -1))
        perm = np.argsort(rng.normal(size=(rows, cols)), -1)
        ref = np.empty_like(v)
        np.put_along_axis(ref, perm, v, -1)
        np.testing.assert_array_equal(NUMPY.unsort(v, perm), ref)


def test_the_allocator_is_tuned_once_and_the_users_settings_stand():
    """swviz._malloc raises glibc's thresholds on the engine's first call, unless the user set them."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, swviz._malloc as m; from swviz.slices import sliced_wpp; "
            "before = m._DONE; sliced_wpp(np.zeros((3, 2)), np.ones((3, 2)), np.eye(2)); print(before, m._DONE)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "SWVIZ_MALLOC"))}
    glibc = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None

    def run(**extra):
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                             check=True)
        return out.stdout.split()

    assert run() == ["False", "True" if glibc else "None"]
    assert run(MALLOC_TRIM_THRESHOLD_="131072") == ["False", "None"]
    assert run(SWVIZ_MALLOC_TUNE="0") == ["False", "None"]
