"""Ancestral (DDPM) step: sample every field from its posterior p(x_s | x_t)."""
from __future__ import annotations

import torch
from torch import Tensor

from moldiff.processes.joint import JointDiffusion, MolState, Prediction, Topology


def ancestral_step(process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology,
                   s: Tensor, t: Tensor, generator: torch.Generator | None) -> MolState:
    """x_s ~ q(x_s | x_t, x_0 = x0-hat) for coordinates; D3PM posterior marginalised over the
    predicted x_0 distribution for categorical fields."""
    return process.posterior_sample(pred, x_t, topo, s, t, generator)
