"""The single reverse-diffusion loop shared by every sampler.

A step function has the signature ``step(process, pred, x_t, topo, s, t, generator) -> x_s``;
constraints (e.g. fixed atoms for inpainting) are callables applied to the state after each
step. All state lives in the values passed around, so runs are reproducible from a seed.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from moldiff.nn.base import Denoiser
from moldiff.processes.joint import JointDiffusion, MolState, Prediction, Topology


class Step(Protocol):
    def __call__(self, process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology,
                 s: Tensor, t: Tensor, generator: torch.Generator | None) -> MolState: ...


Constraint = Callable[[MolState, Topology, Tensor, "torch.Generator | None"], MolState]


def uniform_times(n_steps: int, device=None) -> Tensor:
    """n_steps + 1 times from 1 down to 0, equally spaced."""
    return torch.linspace(1.0, 0.0, n_steps + 1, device=device)


@torch.no_grad()
def reverse_loop(process: JointDiffusion, model: Denoiser, step: Step, topo: Topology, times: Tensor,
                 like: Tensor, generator: torch.Generator | None = None,
                 constraints: tuple[Constraint, ...] = (), x_init: MolState | None = None,
                 progress: bool = False) -> MolState:
    """Run ``step`` from times[0] (noise) down to times[-1] = 0 and return the clean state.

    The last transition returns the denoiser's x0 estimate (argmax classes) instead of a
    sample, as is usual for the final step of DDPM samplers.
    """
    x = process.prior(topo, like, generator) if x_init is None else x_init
    for c in constraints:
        x = c(x, topo, times[0], generator)
    ones = like.new_ones(topo.num_graphs)
    n = times.numel() - 1
    for k in tqdm(range(n), disable=not progress, desc="sampling", leave=False):
        t, s = times[k] * ones, times[k + 1] * ones
        pred = process.predict(model, x, topo, t)
        x = process.denoised(pred, x, topo) if k == n - 1 else step(process, pred, x, topo, s, t, generator)
        for c in constraints:
            x = c(x, topo, times[k + 1], generator)
    return x
