"""The single reverse-diffusion loop shared by every sampler.

A step function has the signature ``step(process, pred, x_t, topo, s, t, generator) -> x_s``;
constraints (e.g. fixed atoms for inpainting) adjust the initial state, each prediction and the
final state. The time sequence may go back up (RePaint resampling, :func:`jump_times`): an
upward transition re-noises the state with the forward process instead of calling the network.
All state lives in the values passed around, so runs are reproducible from a seed.
"""
from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from moldiff.graph import Denoiser
from moldiff.processes.joint import JointDiffusion, MolState, Prediction, Topology
from moldiff.processes.schedules import Schedule


class Step(Protocol):
    def __call__(self, process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology,
                 s: Tensor, t: Tensor, generator: torch.Generator | None) -> MolState: ...


class Decoder(Protocol):
    """The last transition: the network's final prediction to a clean state of classes
    (:meth:`JointDiffusion.denoised`, argmax; or :class:`~moldiff.samplers.decoding.ValenceDecoding`)."""

    def __call__(self, process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology) -> MolState: ...


class Constraint(Protocol):
    """A condition imposed during sampling (e.g. :class:`~moldiff.samplers.inpaint.Inpainting`)."""

    def start(self, x: MolState, topo: Topology, t: float, generator: torch.Generator | None) -> MolState:
        """The initial state (at time ``t``) with the constraint imposed."""

    def prediction(self, pred: Prediction, x_t: MolState, topo: Topology, s: float) -> Prediction:
        """The network's prediction, adjusted before the step to time ``s`` (0: the last) uses it."""

    def finish(self, x: MolState, topo: Topology) -> MolState:
        """The final, clean state with the constraint imposed."""


def uniform_times(n_steps: int, device=None) -> Tensor:
    """n_steps + 1 times from 1 down to 0, equally spaced."""
    return torch.linspace(1.0, 0.0, n_steps + 1, device=device)


#: Time grids: equal steps in t; in t^2 or t^3 (denser near the data, as DDIM's "quadratic"); equal
#: steps in log-SNR between its values at t = 1 and t = 0 (DPM-Solver's choice); or Karras et al.'s
#: (2022) grid, equal steps in sigma^(1/7) with sigma = exp(-log-SNR / 2) the noise-to-signal ratio.
SPACINGS = ("uniform", "quadratic", "cubic", "logsnr", "karras")

#: rho of the Karras grid (their default)
KARRAS_RHO = 7.0


def spaced_times(n_steps: int, spacing: str, schedule: Schedule, device=None) -> Tensor:
    """n_steps + 1 decreasing times from exactly 1 to exactly 0 on the grid ``spacing``."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    u = torch.linspace(1.0, 0.0, n_steps + 1, dtype=torch.float64)
    if spacing == "uniform":
        times = u
    elif spacing == "quadratic":
        times = u ** 2
    elif spacing == "cubic":
        times = u ** 3
    elif spacing in ("logsnr", "karras"):
        ends = schedule.log_snr(torch.tensor([1.0, 0.0], dtype=torch.float64))
        if spacing == "logsnr":
            log_snr = ends[0] + (1 - u) * (ends[1] - ends[0])
        else:
            root = torch.exp(-ends / (2 * KARRAS_RHO))  # sigma^(1/rho) at t = 1 and t = 0
            log_snr = -2 * KARRAS_RHO * torch.log(root[0] + (1 - u) * (root[1] - root[0]))
        times = schedule.t_from_log_snr(log_snr)
        times[0], times[-1] = 1.0, 0.0
    else:
        raise ValueError(f"unknown spacing {spacing!r}; choose from {', '.join(SPACINGS)}")
    return times.to(device=device, dtype=torch.get_default_dtype())


def jump_times(times: Tensor, resamplings: int = 1, jump_length: int = 10) -> Tensor:
    """RePaint's time sequence (Lugmayr et al. 2022) over a decreasing grid ``times`` (1 ... 0):
    after every ``jump_length`` steps down, go back up ``jump_length`` steps and come down again,
    ``resamplings - 1`` times. The last step (to t = 0) is never repeated. ``resamplings = 1``
    returns ``times`` unchanged; the number of network calls grows about ``resamplings``-fold.
    """
    if resamplings < 1 or jump_length < 1:
        raise ValueError(f"resamplings and jump_length must be >= 1, got {resamplings} and {jump_length}")
    n = times.numel() - 1
    left = {k: resamplings - 1 for k in range(jump_length, n, jump_length)}
    seq, k = [0], 0
    while k < n:
        k += 1
        seq.append(k)
        if left.get(k, 0) > 0:
            left[k] -= 1
            seq.extend(range(k - 1, k - jump_length - 1, -1))
            k -= jump_length
    return times[torch.tensor(seq, device=times.device)]


def restart_times(times: Tensor, cycles: int, steps: int, t_max: float) -> Tensor:
    """Restart sampling (Xu et al. 2023) on a decreasing grid ``times`` (1 ... 0): on reaching its
    last time above 0, t_min, jump back up to ``t_max`` with the forward process, come down to
    t_min again in ``steps`` steps (quadratic in t, dense near t_min), ``cycles`` times, then take
    the last step to 0. Each cycle adds ``steps`` network calls; the jumps up call none. Fresh
    forward noise lets the later steps correct errors the coarse grid made, e.g. a bond drawn
    wrongly from a long step's posterior. ``cycles = 0`` returns ``times`` unchanged."""
    if cycles < 0 or steps < 1:
        raise ValueError(f"restart needs cycles >= 0 and steps >= 1, got {cycles} and {steps}")
    if cycles == 0:
        return times
    t_min = float(times[-2])
    if not t_min < t_max < 1.0:
        raise ValueError(f"restart_tmax {t_max:g} must lie between the grid's last time above 0 ({t_min:g}) and 1")
    v = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    down = (t_min + (t_max - t_min) * v ** 2).to(times)
    return torch.cat([times[:-1]] + [down] * cycles + [times[-1:]])


@torch.no_grad()
def reverse_loop(process: JointDiffusion, model: Denoiser, step: Step, topo: Topology, times: Tensor,
                 like: Tensor, generator: torch.Generator | None = None,
                 constraints: tuple[Constraint, ...] = (), x_init: MolState | None = None,
                 progress: bool = False, decode: Decoder | None = None) -> MolState:
    """Run ``step`` from times[0] (noise) to times[-1] = 0 and return the clean state.

    The last transition returns the denoiser's x0 estimate instead of a sample, as is usual for
    the final step of DDPM samplers, with classes chosen by ``decode`` (None: argmax).
    """
    ts = [float(v) for v in times]  # python floats: no device synchronisation inside the loop
    if ts[-1] != 0.0 or ts[-2] <= 0.0:
        raise ValueError("the time sequence must end with a step down to t = 0")
    x = process.prior(topo, like, generator) if x_init is None else x_init
    for c in constraints:
        x = c.start(x, topo, ts[0], generator)
    ones = like.new_ones(topo.num_graphs)
    last = len(ts) - 2
    pred = None  # the last call's prediction: the next call's input for self-conditioned denoisers
    for k in tqdm(range(len(ts) - 1), disable=not progress, desc="sampling", leave=False):
        t, s = ts[k] * ones, ts[k + 1] * ones
        if ts[k + 1] > ts[k]:
            x = process.renoise(x, topo, t, s, generator)
        else:
            pred = process.predict(model, x, topo, t, pred)
            for c in constraints:
                pred = c.prediction(pred, x, topo, ts[k + 1])
            if k == last:
                x = process.denoised(pred, x, topo) if decode is None else decode(process, pred, x, topo)
            else:
                x = step(process, pred, x, topo, s, t, generator)
    for c in constraints:
        x = c.finish(x, topo)
    return x
