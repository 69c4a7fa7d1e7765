"""Classifier-free guidance (Ho & Salimans 2022) around any denoiser.

The guided output is ``cond + w * (cond - null)`` for every raw output: the coordinate estimate
(linear in epsilon, so the same rule in either parameterization) and the logits of every
categorical field (node types, charges, bonds), which is guidance in logit space. ``w = 0`` is
the plain conditional model. The null prediction drops the pocket (context) and the property
features; everything else (fixed atoms of inpainting, the noisy state) is the same, so guidance
composes with every sampler and constraint. Guidance may be limited to an interval of diffusion
times ``[t_lo, t_hi]`` (Kynkäänniemi et al. 2024: high scales oversaturate when applied near the
data or near pure noise); outside it a step costs one network call.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from moldiff.graph import DenoiserOutput, NoisyGraph


@dataclass(frozen=True)
class Guidance:
    """A guidance scale ``w`` >= 0 applied at diffusion times ``t_lo <= t <= t_hi``."""

    scale: float = 0.0
    t_lo: float = 0.0
    t_hi: float = 1.0

    def __post_init__(self) -> None:
        if not self.scale >= 0.0:
            raise ValueError(f"guidance scale must be >= 0, got {self.scale}")
        if not 0.0 <= self.t_lo < self.t_hi <= 1.0:
            raise ValueError(f"guidance interval must satisfy 0 <= t_lo < t_hi <= 1, got [{self.t_lo}, {self.t_hi}]")

    @property
    def active(self) -> bool:
        return self.scale > 0.0

    @property
    def everywhere(self) -> bool:
        return self.t_lo == 0.0 and self.t_hi == 1.0

    def covers(self, t: Tensor) -> Tensor:
        """Whether each diffusion time in ``t`` lies in the guidance interval."""
        return (t >= self.t_lo) & (t <= self.t_hi)

    def __str__(self) -> str:
        return f"{self.scale:g}" + ("" if self.everywhere else f"@[{self.t_lo:g},{self.t_hi:g}]")


def null_graph(graph: NoisyGraph) -> NoisyGraph:
    """The same noisy graph with its conditions removed (no pocket, no property features)."""
    return replace(graph, context=None, cond=None)


class GuidedDenoiser(nn.Module):
    """``denoiser`` with classifier-free guidance; a denoiser itself (same call signature)."""

    def __init__(self, denoiser: nn.Module, guidance: Guidance):
        super().__init__()
        self.denoiser, self.guidance = denoiser, guidance
        self.self_cond = getattr(denoiser, "self_cond", False)  # both calls read the same previous estimate

    def forward(self, graph: NoisyGraph) -> DenoiserOutput:
        cond = self.denoiser(graph)
        g = self.guidance
        if not g.active or graph.context is None and graph.cond is None:
            return cond
        w = torch.full_like(graph.t, g.scale)
        if not g.everywhere:  # per graph; skip the second call when no graph is in the interval
            w = torch.where(g.covers(graph.t), w, torch.zeros_like(w))
            if not bool(w.any()):
                return cond
        null = self.denoiser(null_graph(graph))
        w_node = w[graph.batch][:, None].to(cond.pos.dtype)
        pair = None
        if cond.pair is not None:
            pair = _extrapolate(cond.pair, null.pair, w[graph.batch[graph.pair_index[0]]][:, None].to(cond.pair.dtype))
        return DenoiserOutput(_extrapolate(cond.pos, null.pos, w_node), _extrapolate(cond.h, null.h, w_node), pair)


def _extrapolate(cond: Tensor, null: Tensor, w: Tensor) -> Tensor:
    return cond + w * (cond - null)
