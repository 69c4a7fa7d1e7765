"""Edge construction in plain torch (no torch-cluster/pyg-lib), on the batch's device.

Molecules are fully connected: every intra-molecular pair i < j carries bond features;
message passing uses both directions of those pairs, optionally cut at a distance.
"""
from __future__ import annotations

import torch
from torch import Tensor


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
