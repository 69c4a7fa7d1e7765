"""Batched molecules as networks, processes and samplers share them, in plain torch (no
torch-cluster/pyg-lib): the denoiser interface and the atom pairs of a batch.

The interface: a denoiser sees a noisy graph and the diffusion time and returns raw predictions;
it never sees a noise schedule. What the outputs mean (x0, epsilon, logits) is decided by the
process that consumes them (:mod:`moldiff.processes.joint`), so networks stay swappable. The types
live here, apart from :mod:`moldiff.nn`, so that processes and samplers need no network code.

The pairs: molecules are fully connected; every intra-molecular pair i < j carries bond features,
and message passing uses both directions of those pairs, optionally cut at a distance.
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


def all_pairs(ptr: Tensor) -> Tensor:
    """All pairs i < j within each graph of a CSR pointer ``ptr`` [G + 1] -> pair_index [2, P].

    Pairs are ordered graph by graph, then by i, then by j (row-major upper triangle).
    """
    num_nodes = int(ptr[-1])
    device = ptr.device
    sizes = ptr[1:] - ptr[:-1]
    batch = torch.repeat_interleave(torch.arange(sizes.numel(), device=device), sizes)
    node = torch.arange(num_nodes, device=device)
    count = ptr[1:][batch] - node - 1
    src = torch.repeat_interleave(node, count)
    start = torch.cumsum(count, 0) - count
    k = torch.arange(src.numel(), device=device) - torch.repeat_interleave(start, count)
    return torch.stack([src, src + 1 + k])


def pair_id(ptr: Tensor, batch: Tensor, index: Tensor) -> Tensor:
    """Position in :func:`all_pairs` of node pairs ``index`` [2, m] (each i < j, same graph)."""
    sizes = ptr[1:] - ptr[:-1]
    pairs_per_graph = sizes * (sizes - 1) // 2
    pair_ptr = torch.cumsum(pairs_per_graph, 0) - pairs_per_graph
    g = batch[index[0]]
    n = sizes[g]
    i, j = index[0] - ptr[g], index[1] - ptr[g]
    return pair_ptr[g] + i * n - i * (i + 1) // 2 + (j - i - 1)


def directed_edges(pair_index: Tensor, pos: Tensor, cutoff: float | None) -> tuple[Tensor, Tensor]:
    """Both directions of each pair within ``cutoff`` Angstrom (all if None).

    Returns ``edge_index`` [2, E] (row: receiver i, col: sender j) and ``edge_pair`` [E],
    the pair each directed edge comes from.
    """
    pid = torch.arange(pair_index.shape[1], device=pair_index.device)
    if cutoff is not None:
        d = (pos[pair_index[0]] - pos[pair_index[1]]).norm(dim=-1)
        keep = d <= cutoff
        pair_index, pid = pair_index[:, keep], pid[keep]
    edge_index = torch.cat([pair_index, pair_index.flip(0)], dim=1)
    return edge_index, torch.cat([pid, pid])


def bipartite_pairs(batch_a: Tensor, pos_a: Tensor, batch_b: Tensor, pos_b: Tensor, num_graphs: int,
                    cutoff: float) -> Tensor:
    """Pairs (a, b) of nodes of two sets in the same graph within ``cutoff`` Angstrom -> [2, Q].

    Candidates are enumerated graph by graph (n_a * n_b per graph), so memory grows with the
    per-graph products, not with the square of the batch. Both batch vectors must be sorted.
    """
    device = pos_a.device
    count_b = torch.bincount(batch_b, minlength=num_graphs)
    ptr_b = torch.cumsum(count_b, 0) - count_b
    per_a = count_b[batch_a]  # candidates of each node of set a
    a = torch.repeat_interleave(torch.arange(batch_a.numel(), device=device), per_a)
    start = torch.cumsum(per_a, 0) - per_a
    k = torch.arange(a.numel(), device=device) - torch.repeat_interleave(start, per_a)
    b = ptr_b[batch_a[a]] + k
    keep = (pos_a[a] - pos_b[b]).norm(dim=-1) <= cutoff
    return torch.stack([a[keep], b[keep]])
