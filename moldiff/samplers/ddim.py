"""Few-step samplers: DDIM (Song et al. 2021) and DPM-Solver++(2M) (Lu et al. 2022).

Both move the coordinates along the probability-flow ODE (DDIM with ``eta > 0`` adds part of the
ancestral noise back) and step the categorical fields with their exact skip-step posterior, so
any time grid works, however coarse. They plug into :func:`~moldiff.samplers.loop.reverse_loop`
like the ancestral step, constraints (inpainting, steric guidance) included.
"""
from __future__ import annotations

import torch
from torch import Tensor

from moldiff.processes.joint import JointDiffusion, MolState, Prediction, Topology
from moldiff.processes.schedules import Schedule


class DDIMStep:
    """x_t -> x_s by DDIM with noise scale ``eta`` (0: deterministic coordinates; 1: ancestral)."""

    def __init__(self, eta: float = 0.0):
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1], got {eta}")
        self.eta = eta

    def __call__(self, process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology,
                 s: Tensor, t: Tensor, generator: torch.Generator | None) -> MolState:
        return process.ddim_sample(pred, x_t, topo, s, t, self.eta, generator)


def dpm_solver_2m_x0(schedule: Schedule, x0: Tensor, x0_prev: Tensor, t_prev: Tensor, t: Tensor,
                     s: Tensor) -> Tensor:
    """The extrapolated data estimate D of DPM-Solver++(2M): with lambda = log(alpha / sigma),
    h = lambda_s - lambda_t, r = (lambda_t - lambda_prev) / h,
    D = (1 + 1 / (2 r)) x0(t) - 1 / (2 r) x0(t_prev); the first-order update with D in place of
    x0(t) is the second-order multistep step. Times are per-row [n]."""
    lam = lambda u: 0.5 * schedule.log_snr(u)[:, None]  # noqa: E731
    lam_t = lam(t)
    r = (lam_t - lam(t_prev)) / (lam(s) - lam_t)
    w = 1.0 / (2.0 * r)
    return (1.0 + w) * x0 - w * x0_prev


class DPMSolver2MStep:
    """DPM-Solver++(2M) on the coordinates, one network call per step: the first step (and any
    step after the loop jumped back up in time) is first order, the others use the previous x0
    estimate. Categorical fields step by their skip-step posterior. Holds that one estimate, so
    make a fresh instance per sampling run (:meth:`SamplerSpec.step`)."""

    def __init__(self):
        self._prev: tuple[Tensor, Tensor, Tensor] | None = None  # (x0-hat, its t, the s it stepped to)

    def __call__(self, process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology,
                 s: Tensor, t: Tensor, generator: torch.Generator | None) -> MolState:
        x0 = pred.pos
        if self._prev is not None and torch.equal(self._prev[2], t):  # the previous step ended here
            x0_prev, t_prev, _ = self._prev
            b = topo.batch
            x0 = dpm_solver_2m_x0(process.schedule, pred.pos, x0_prev, t_prev[b], t[b], s[b])
        self._prev = (pred.pos, t, s)
        extrapolated = Prediction(x0, pred.nodes, pred.bond)
        return process.ddim_sample(extrapolated, x_t, topo, s, t, 0.0, generator)
