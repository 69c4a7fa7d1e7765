"""Samplers by name, with options, as one string (what CLIs take and SDF records store).

``"ancestral"``, ``"ddim"``, ``"ddim:eta=0.5"``, ``"dpm2m:spacing=logsnr"``,
``"ancestral:spacing=quadratic,restart=1,restart_steps=10,restart_tmax=0.2"``: a name from
:data:`SAMPLERS`, then optional ``key=value`` pairs: ``eta`` (DDIM's noise scale, 0..1),
``spacing`` of the time grid (:data:`~moldiff.samplers.loop.SPACINGS`), and restart sampling
(:func:`~moldiff.samplers.loop.restart_times`): ``restart`` cycles of ``restart_steps`` steps each
from ``restart_tmax`` down; ``connect=T``: connectivity guidance at the steps down to times
``<= T`` (:class:`~moldiff.samplers.connect.ConnectivityGuidance`; 0, the default: off). The step
count given with a sampler is the total of network calls, restart steps included (cycles that do
not fit are left out). All run through
:func:`moldiff.samplers.loop.reverse_loop`.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from moldiff.processes.schedules import Schedule
from moldiff.samplers.ancestral import ancestral_step
from moldiff.samplers.ddim import DDIMStep, DPMSolver2MStep
from moldiff.samplers.loop import SPACINGS, Step, restart_times, spaced_times

#: name -> what the name means (for --help texts)
SAMPLERS = {
    "ancestral": "DDPM ancestral sampling (every field from its posterior)",
    "ddim": "DDIM, coordinates deterministic for eta=0 (default) to ancestral for eta=1",
    "dpm2m": "DPM-Solver++(2M): second-order multistep probability-flow ODE solver",
}


#: sampler option -> (type, accepted values, what the error says they must be)
_OPTIONS = {
    "eta": (float, lambda v: 0.0 <= v <= 1.0, "lie in [0, 1]"),
    "spacing": (str, lambda v: v in SPACINGS, f"be one of {', '.join(SPACINGS)}"),
    "restart": (int, lambda v: 0 <= v <= 100, "lie in [0, 100]"),
    "restart_steps": (int, lambda v: 1 <= v <= 1000, "lie in [1, 1000]"),
    "restart_tmax": (float, lambda v: 0.0 < v < 1.0, "lie in (0, 1)"),
    "connect": (float, lambda v: 0.0 <= v <= 1.0, "lie in [0, 1]"),
}


@dataclass(frozen=True)
class SamplerSpec:
    """A parsed sampler string: which step function and which time grid."""

    name: str = "ancestral"
    eta: float = 0.0
    spacing: str = "uniform"
    restart: int = 0
    restart_steps: int = 10
    restart_tmax: float = 0.2
    connect: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "SamplerSpec":
        """``name[:key=value[,key=value]]``; a one-line ``ValueError`` for anything else."""
        name, _, rest = text.strip().partition(":")
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
        options: dict = {}
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or key not in _OPTIONS:
                raise ValueError(f"sampler {text!r}: options are eta=<0..1>, spacing=<{'|'.join(SPACINGS)}>, "
                                 "restart=<cycles>, restart_steps=<steps>, restart_tmax=<0..1>, connect=<0..1>")
            if key == "eta" and name != "ddim":
                raise ValueError(f"sampler {text!r}: eta applies to ddim only")
            kind, allowed, span = _OPTIONS[key]
            try:
                options[key] = kind(value)
            except ValueError:
                raise ValueError(f"sampler {text!r}: {key} must be {'an integer' if kind is int else 'a number'}") from None
            if not allowed(options[key]):
                raise ValueError(f"sampler {text!r}: {key} must {span}")
        return cls(name, **options)

    def __str__(self) -> str:
        options = ([f"eta={self.eta:g}"] if self.name == "ddim" and self.eta else [])
        options += [f"spacing={self.spacing}"] if self.spacing != "uniform" else []
        if self.restart:
            options += [f"restart={self.restart}", f"restart_steps={self.restart_steps}",
                        f"restart_tmax={self.restart_tmax:g}"]
        options += [f"connect={self.connect:g}"] if self.connect else []
        return self.name + (":" + ",".join(options) if options else "")

    def step(self) -> Step:
        """A fresh step function (multistep solvers keep state within one run)."""
        if self.name == "ancestral":
            return ancestral_step
        if self.name == "ddim":
            return DDIMStep(self.eta)
        return DPMSolver2MStep()

    def times(self, n_steps: int, schedule: Schedule, device=None) -> Tensor:
        """The time grid of ``n_steps`` network calls in all: the spaced grid, then the restart
        cycles, which take ``restart_steps`` calls each. Cycles that would leave the grid fewer
        than 2 steps are left out, so small step counts (quick tests) run the plain grid."""
        cycles = min(self.restart, max(0, (n_steps - 2) // self.restart_steps))
        grid = spaced_times(n_steps - cycles * self.restart_steps, self.spacing, schedule, device)
        return restart_times(grid, cycles, self.restart_steps, self.restart_tmax)


__all__ = ["SAMPLERS", "SamplerSpec", "ancestral_step", "DDIMStep", "DPMSolver2MStep"]
