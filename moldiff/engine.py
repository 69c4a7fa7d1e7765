"""How the denoiser is executed while sampling: numeric precision and compilation.

Only the network runs in reduced precision: the diffusion math (posteriors, solver updates,
categorical sampling) stays in the model's float32, and the network's outputs are cast back to
it. ``bf16`` runs the matrix products and the element-wise work between them in bfloat16 under
``torch.autocast`` (about half the bytes of float32 per edge tensor, and the tensor cores'
bf16 rate); ``compile`` hands the denoiser to ``torch.compile`` with dynamic shapes, which fuses
the element-wise chains of each layer and is compiled once for all batch sizes. Both are
inference-only options; the weights are not changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from moldiff.graph import DenoiserOutput, NoisyGraph

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Engine:
    """``precision`` of the network ("fp32" or "bf16") and whether to ``compile`` it."""

    precision: str = "fp32"
    compile: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"engine precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def parse(cls, text: str) -> "Engine":
        """``"fp32"``, ``"bf16"``, ``"bf16+compile"``, ``"fp32+compile"`` (what benchmark tables print)."""
        precision, plus, rest = text.strip().partition("+")
        if plus and rest != "compile":
            raise ValueError(f"engine {text!r}: expected PRECISION or PRECISION+compile, e.g. bf16+compile")
        return cls(precision, bool(plus))

    def __str__(self) -> str:
        return self.precision + ("+compile" if self.compile else "")

    def wrap(self, denoiser: nn.Module) -> nn.Module:
        """The denoiser as this engine runs it (itself for plain fp32)."""
        if self.precision == "fp32" and not self.compile:
            return denoiser
        return EngineDenoiser(denoiser, torch.bfloat16 if self.precision == "bf16" else None, self.compile)


class EngineDenoiser(nn.Module):
    """A denoiser run under autocast (``dtype``) and/or ``torch.compile``; outputs in the input dtype."""

    def __init__(self, denoiser: nn.Module, dtype: torch.dtype | None, compile: bool):
        super().__init__()
        self.denoiser = denoiser
        self.dtype = dtype
        self._call = torch.compile(denoiser, dynamic=True) if compile else denoiser
        for name in ("node_in", "node_out", "pair_in", "pair_out", "context_in", "supports_context"):
            setattr(self, name, getattr(denoiser, name))
        self.self_cond = getattr(denoiser, "self_cond", False)  # the process hands it the previous estimate

    def forward(self, graph: NoisyGraph) -> DenoiserOutput:
        dtype = graph.pos.dtype
        with torch.autocast(graph.pos.device.type, dtype=self.dtype or dtype, enabled=self.dtype is not None):
            out = self._call(graph)
        pair = None if out.pair is None else out.pair.to(dtype)
        return DenoiserOutput(out.pos.to(dtype), out.h.to(dtype), pair)
