"""torch's intra-op thread count for runs of many small tensor operations.

torch splits an operation over its intra-op threads (by default one per core) and waits for all
of them at the end of it. The tensors of a flow step, a direction model's prediction, an
alignment's evaluation or a deformation's ODE step are small (thousands of values), so the split
saves little; and on a busy machine (a Streamlit server drawing in a browser on the same cores,
other sessions) the wait for a descheduled thread costs milliseconds per operation. Measured on
2 cores: 100 UCV flow steps at n = 1,024, L = 100 took 2.5 s with 2 threads against 0.95 s with
one on an idle machine, and 5.7 s against 1.2 s with both cores busy; a direction prediction took
120 ms with 2 threads on busy cores against 1 ms with one.

:func:`torch_threads` sets the count for the length of a block and restores it after. The count
is process-wide in torch; the context is shared by the threads that enter it together (a server's
sessions): the first to enter saves the count, the last to leave restores it, so concurrent runs
never leave the process with another count than it had.

:func:`blas_threads` does the same for the BLAS library under numpy (through ``threadpoolctl``),
for the slice engine's own thread pool: OpenBLAS's threads keep spinning after a threaded product,
and on 2 cores that spin took the core our second sorting thread needed. Measured: two threads
each projecting and sorting 50 of 100 directions at n = 8,192 took 43 ms with a threaded BLAS
(no faster than one thread, 42 ms) and 22 ms with a one-thread BLAS.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from ._validation import InputError

__all__ = ["blas_threads", "check_threads", "torch_threads"]

_lock = threading.Lock()
_state = {"depth": 0, "saved": None}
_blas_lock = threading.Lock()
_blas_state = {"depth": 0, "limiter": None, "controller": None, "executor": None}


def check_threads(n) -> int | None:
    """``n`` as a positive int (or None, which leaves torch's setting alone), or an :class:`InputError`."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"threads must be a positive integer or None; got {n!r}")
    return int(n)


@contextmanager
def torch_threads(n: int | None = 1):
    """Run the block with ``n`` torch intra-op threads (``None``: leave torch's setting alone).

    Nested and concurrent uses share one saved count; the last block to end restores it.
    """
    if n is None:
        yield
        return
    import torch

    n = check_threads(n)
    with _lock:
        if _state["depth"] == 0:
            _state["saved"] = torch.get_num_threads()
        _state["depth"] += 1
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and torch.get_num_threads() != _state["saved"]:
                torch.set_num_threads(_state["saved"])


def _blas_call(fn):
    """Run ``fn`` on the one thread that sets BLAS thread counts (threadpoolctl lets only the
    first thread that set OpenBLAS's count set it again; a server's sessions are many threads)."""
    if _blas_state["executor"] is None:
        from concurrent.futures import ThreadPoolExecutor

        _blas_state["executor"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swviz-blas")
    return _blas_state["executor"].submit(fn).result()


def _limit(n):
    if _blas_state["controller"] is None:
        from threadpoolctl import ThreadpoolController

        _blas_state["controller"] = ThreadpoolController()
    return _blas_state["controller"].limit(limits=n, user_api="blas")


@contextmanager
def blas_threads(n: int = 1):
    """Run the block with ``n`` BLAS threads (numpy's OpenBLAS, MKL...), restored after.

    Shared like :func:`torch_threads`: the first thread to enter sets the count, the last to
    leave restores the library's own count. The counts are set from one dedicated thread (a
    hand-off of about 0.1 ms each way, so callers use it around work of milliseconds). Where
    another part of the program holds threadpoolctl's control of OpenBLAS, or threadpoolctl
    sees no BLAS, the block runs unchanged.
    """
    n = check_threads(n)
    with _blas_lock:
        if _blas_state["depth"] == 0:
            _blas_state["limiter"] = _blas_call(lambda: _limit(n))
        _blas_state["depth"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["depth"] -= 1
            if _blas_state["depth"] == 0:
                _blas_call(_blas_state["limiter"].restore_original_limits)
                _blas_state["limiter"] = None
