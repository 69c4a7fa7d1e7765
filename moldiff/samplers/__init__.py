"""Samplers by name, with options, as one string (what CLIs take and SDF records store).

``"ancestral"``, ``"ddim"``, ``"ddim:eta=0.5"``, ``"dpm2m:spacing=logsnr"``: a name from
:data:`SAMPLERS`, then optional ``key=value`` pairs: ``eta`` (DDIM's noise scale, 0..1) and
``spacing`` of the time grid (:data:`~moldiff.samplers.loop.SPACINGS`). All run through
:func:`moldiff.samplers.loop.reverse_loop`.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from moldiff.processes.schedules import Schedule
from moldiff.samplers.ancestral import ancestral_step
from moldiff.samplers.ddim import DDIMStep, DPMSolver2MStep
from moldiff.samplers.loop import SPACINGS, Step, spaced_times

#: name -> what the name means (for --help texts)
SAMPLERS = {
    "ancestral": "DDPM ancestral sampling (every field from its posterior)",
    "ddim": "DDIM, coordinates deterministic for eta=0 (default) to ancestral for eta=1",
    "dpm2m": "DPM-Solver++(2M): second-order multistep probability-flow ODE solver",
}


@dataclass(frozen=True)
class SamplerSpec:
    """A parsed sampler string: which step function and which time grid."""

    name: str = "ancestral"
    eta: float = 0.0
    spacing: str = "uniform"

    @classmethod
    def parse(cls, text: str) -> "SamplerSpec":
        """``name[:key=value[,key=value]]``; a one-line ``ValueError`` for anything else."""
        name, _, rest = text.strip().partition(":")
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
        options: dict = {}
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or key not in ("eta", "spacing"):
                raise ValueError(f"sampler {text!r}: options are eta=<0..1> and spacing=<{'|'.join(SPACINGS)}>")
            if key == "eta":
                if name != "ddim":
                    raise ValueError(f"sampler {text!r}: eta applies to ddim only")
                try:
                    options["eta"] = float(value)
                except ValueError:
                    raise ValueError(f"sampler {text!r}: eta must be a number") from None
                if not 0.0 <= options["eta"] <= 1.0:
                    raise ValueError(f"sampler {text!r}: eta must lie in [0, 1]")
            else:
                if value not in SPACINGS:
                    raise ValueError(f"sampler {text!r}: spacing must be one of {', '.join(SPACINGS)}")
                options["spacing"] = value
        return cls(name, **options)

    def __str__(self) -> str:
        options = ([f"eta={self.eta:g}"] if self.name == "ddim" and self.eta else [])
        options += [f"spacing={self.spacing}"] if self.spacing != "uniform" else []
        return self.name + (":" + ",".join(options) if options else "")

    def step(self) -> Step:
        """A fresh step function (multistep solvers keep state within one run)."""
        if self.name == "ancestral":
            return ancestral_step
        if self.name == "ddim":
            return DDIMStep(self.eta)
        return DPMSolver2MStep()

    def times(self, n_steps: int, schedule: Schedule, device=None) -> Tensor:
        return spaced_times(n_steps, self.spacing, schedule, device)


__all__ = ["SAMPLERS", "SamplerSpec", "ancestral_step", "DDIMStep", "DPMSolver2MStep"]
