r"""The deformation models of :func:`swviz.deformation.deform`: a neural ODE velocity field, or free displacements.

The neural ODE carries the vertices along :math:`dx/dt = v_\psi(x, t)`, :math:`t \in [0, 1]`,
with :math:`v_\psi` a small MLP (:class:`VelocityField`) integrated by :func:`integrate`:
``torchdiffeq.odeint`` (Chen et al., "Neural Ordinary Differential Equations", NeurIPS 2018)
with the fixed-step ``"rk4"`` method, differentiated by backpropagation through the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import torch

DTYPE = torch.float64


@dataclass(frozen=True)
class Field:
    """A deformation model: its description and its default Adam learning rate."""

    name: str
    description: str
    lr: float


FIELDS = MappingProxyType({
    "ode": Field("ode", "neural ODE: a small MLP velocity v(x, t) integrated by fixed-step RK4 (diffeomorphic)", 1e-2),
    "free": Field("free", "free flow: one displacement per vertex (no regularity)", 3e-3),
})



# ------------------------------------------------------------------------------- the velocity field


class VelocityField(torch.nn.Module):
    """A small MLP velocity ``v(x, t)``: ``(n, 3)`` positions and a time -> ``(n, 3)`` velocities.

    ``depth`` hidden layers of width ``hidden`` with tanh activations (smooth and Lipschitz,
    so the flow is a diffeomorphism). The last layer starts at zero: the initial map is the
    identity. Weights are drawn from a torch Generator seeded by ``seed`` (no global state).
    """

    def __init__(self, dim: int = 3, hidden: int = 64, depth: int = 2, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        sizes = [dim + 1] + [hidden] * depth
        layers: list[torch.nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            lin = torch.nn.Linear(fan_in, fan_out, dtype=DTYPE)
            with torch.no_grad():
                lin.weight.normal_(0.0, (1.0 / fan_in) ** 0.5, generator=gen)  # LeCun normal for tanh
                lin.bias.zero_()
            layers += [lin, torch.nn.Tanh()]
        last = torch.nn.Linear(sizes[-1], dim, dtype=DTYPE)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        self.net = torch.nn.Sequential(*layers, last)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # the signature odeint calls
        return self.net(torch.cat([x, t.reshape(1, 1).expand(x.shape[0], 1).to(x.dtype)], dim=1))


def integrate(model: torch.nn.Module, x0: torch.Tensor, time_steps: int = 10, reverse: bool = False) -> torch.Tensor:
    """The flow of ``model`` from ``x0``: ``(time_steps + 1, n, 3)`` positions at t = 0, 1/K, ..., 1.

    Fixed-step RK4 (torchdiffeq's ``"rk4"``, the 3/8 rule) on the uniform grid, differentiable
    by backpropagation through the steps. ``reverse`` integrates from t = 1 down to t = 0 on
    the same grid (the inverse map up to the solver's O(h^4) error); the output then runs from
    t = 1 to t = 0.
    """
    from torchdiffeq import odeint

    t = torch.linspace(0.0, 1.0, int(time_steps) + 1, dtype=x0.dtype, device=x0.device)
    if reverse:
        t = t.flip(0)
    return odeint(model, x0, t, method="rk4")

