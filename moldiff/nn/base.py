"""The denoiser interface shared by every network.

A denoiser sees a noisy graph and the diffusion time and returns raw predictions; it never
sees a noise schedule. What the outputs mean (x0, epsilon, logits) is decided by the
process that consumes them (:mod:`moldiff.processes.joint`), so networks stay swappable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


@dataclass
class Context:
    """Fixed, un-noised context nodes in the molecules' frame (e.g. pocket atoms).

    ``pos`` [M, 3], ``h`` [M, C] features, ``batch`` [M] graph id. The network reads them and
    passes messages to and from them, but never moves them or predicts anything for them.
    """

    pos: Tensor
    h: Tensor
    batch: Tensor


@dataclass
class SelfCond:
    """The network's previous clean estimate, fed back as input (self-conditioning; Chen et al.
    2023, "Analog Bits"): ``pos`` [N, 3] the x0 estimate, ``h`` [N, F] class probabilities of the
    node fields, ``pair`` [P, E] bond class probabilities or None, and ``present`` [G] bool, which
    graphs carry an estimate (the others read as zeros, the "no estimate yet" input)."""

    pos: Tensor
    h: Tensor
    pair: Tensor | None
    present: Tensor


@dataclass
class NoisyGraph:
    """A batch of (partly) noisy molecules as flat tensors (PyG-style batch vectors).

    Shapes: N nodes, P unordered atom pairs (i < j, same molecule), G graphs.

    - ``pos`` [N, 3]: coordinates (Angstrom).
    - ``h`` [N, F]: node features (concatenated one-hots / soft one-hots of the noisy
      categorical fields, or their Gaussian-noised versions in EDM mode).
    - ``batch`` [N]: graph id of each node.
    - ``pair_index`` [2, P]: all intra-molecular pairs i < j of nodes that carry bond
      features; directed message-passing edges are built from these.
    - ``pair_attr`` [P, E] or None: noisy bond features of those pairs (None if bonds are
      not modelled; then E = 0).
    - ``t`` [G]: diffusion time in [0, 1] per graph.
    - ``update_mask`` [N] bool or None: molecule nodes whose coordinates the network may
      move (inpainting fixes some); None means all.
    - ``context``: fixed conditioning nodes (a protein pocket) or None.
    - ``cond`` [G, C] or None: graph-level condition features (e.g. molecular properties, see
      :class:`~moldiff.conditioning.PropertyConditions`); None is the null condition.
    - ``self_cond``: the previous clean estimate for self-conditioned denoisers, or None (no
      estimate yet: the same as a :class:`SelfCond` with nothing present).
    """

    pos: Tensor
    h: Tensor
    batch: Tensor
    pair_index: Tensor
    pair_attr: Tensor | None
    t: Tensor
    num_graphs: int
    update_mask: Tensor | None = None
    context: Context | None = None
    cond: Tensor | None = None
    self_cond: SelfCond | None = None


@dataclass
class DenoiserOutput:
    """Raw network outputs: ``pos`` [N, 3] (equivariant), ``h`` [N, F_out] and
    ``pair`` [P, E_out] (invariant; ``pair`` is None when E_out == 0).

    ``pos`` is the network's coordinate estimate (x0 prediction) expressed in the input
    frame; for epsilon-parameterization the process reads ``pos - input pos``.
    """

    pos: Tensor
    h: Tensor
    pair: Tensor | None


class Denoiser(Protocol):
    """Any ``torch.nn.Module`` with this call signature and these size attributes."""

    node_in: int
    node_out: int
    pair_in: int
    pair_out: int
    context_in: int  # context feature size (0: built without context)
    cond_in: int  # graph-level condition feature size (0: unconditioned)
    supports_context: bool  # class attribute: whether the architecture can take context nodes
    self_cond: bool  # whether it reads ``NoisyGraph.self_cond`` (built with self-conditioning inputs)

    def __call__(self, graph: NoisyGraph) -> DenoiserOutput: ...


def sinusoidal_time_embedding(t: Tensor, dim: int, max_period: float = 1000.0) -> Tensor:
    """Transformer-style Fourier features of t in [0, 1] (scaled by 1000 like DDPM steps)."""
    half = dim // 2
    freqs = torch.exp(-torch.log(torch.tensor(max_period, dtype=t.dtype, device=t.device))
                      * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    args = (t * 1000.0)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, t[:, None]], dim=-1)
    return emb
