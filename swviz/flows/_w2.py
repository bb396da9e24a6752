"""``W_2^2`` between a flowing measure and its target, by exact optimal transport.

A flow is scored by the true Wasserstein distance to its target, not by the sliced loss it
descends: exact optimal transport (an assignment for uniform equal-size pairs, POT's network
simplex otherwise; Flamary et al., "POT: Python Optimal Transport", JMLR 2021) up to
:data:`EXACT_OT_MAX` points, a labelled sliced reference above.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_pair

__all__ = ["ASSIGNMENT_MAX", "EXACT_OT_MAX", "SLICED_REFERENCE_DIRECTIONS", "w2_squared"]

#: Largest point count for which ``W_2^2`` is computed by exact optimal transport.
EXACT_OT_MAX = 3000
#: Largest uniform equal-size pair whose W_2^2 is an assignment (scipy) rather than POT's emd2.
ASSIGNMENT_MAX = 512
#: Quadrature size of the sliced reference used above :data:`EXACT_OT_MAX` points.
SLICED_REFERENCE_DIRECTIONS = 2000


def w2_squared(x, y, a=None, b=None, *, exact_max: int = EXACT_OT_MAX) -> tuple[float, str]:
    """``W_2^2`` between two weighted clouds, and how it was computed.

    Exact optimal transport on squared Euclidean costs when both clouds have at most
    ``exact_max`` points (an optimal assignment for uniform equal-size clouds of at most
    :data:`ASSIGNMENT_MAX` points, POT's ``emd2`` otherwise); above that a near-exact *sliced* reference,
    ``SW_2^2`` by quadrature (:func:`swviz.reference_sw`), which is a lower bound on
    ``W_2^2`` and says so in the returned label.

    x : (n, d) float; y : (m, d) float; a, b : (n,), (m,) float or None
    """
    x, y, a, b = check_pair(x, y, a, b)
    return _w2(x, y, a, b, exact_max)


def _w2(x, y, a, b, exact_max=EXACT_OT_MAX) -> tuple[float, str]:
    n, m = x.shape[0], y.shape[0]
    if max(n, m) <= exact_max:
        cost = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T  # (n, m) squared distances
        np.maximum(cost, 0.0, out=cost)
        if a is None and b is None and n == m and n <= ASSIGNMENT_MAX:
            # uniform weights, equal sizes: an optimal plan is a permutation (Birkhoff), so the
            # assignment problem is exact OT; as fast as emd2 up to ~512 points, and it spares
            # the page POT's heavy import (2 s: POT loads torch)
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(cost)
            return float(cost[rows, cols].mean()), "exact OT (optimal assignment, scipy)"
        import ot  # heavy import (it loads torch), only for weighted or unequal pairs

        a_ = np.full(n, 1.0 / n) if a is None else a
        b_ = np.full(m, 1.0 / m) if b is None else b
        value = float(ot.emd2(a_, b_, cost, numItermax=max(100_000, 50 * n * m)))
        return max(value, 0.0), "exact OT (POT emd2)"
    from ..reference import reference_sw

    ref = reference_sw(x, y, a, b, p=2, n_projections=SLICED_REFERENCE_DIRECTIONS)
    return ref.value, (f"near-exact sliced reference: SW_2^2 by {ref.method} (a lower bound on W_2^2, "
                       f"not W_2^2: exact OT is limited to {exact_max:,} points)")


