"""Pure torch geometry on flat (pos, batch[, mask]) tensors: centre-of-mass handling, rotations."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter


def com(pos: Tensor, batch: Tensor, num_graphs: int, mask: Tensor | None = None) -> Tensor:
    """Per-graph mean of ``pos`` [N, 3] over the nodes in ``mask`` (all if None) -> [G, 3].

    Graphs with no masked node get a zero centre.
    """
    w = pos.new_ones(pos.shape[0]) if mask is None else mask.to(pos.dtype)
    total = scatter(pos * w[:, None], batch, dim=0, dim_size=num_graphs, reduce="sum")
    count = scatter(w, batch, dim=0, dim_size=num_graphs, reduce="sum").clamp_min(1.0)
    return total / count[:, None]


def remove_com(pos: Tensor, batch: Tensor, num_graphs: int, mask: Tensor | None = None) -> Tensor:
    """Translate each graph so that the nodes in ``mask`` have zero mean.

    Only masked nodes are moved when ``mask`` is given: the others (pocket context, fixed
    atoms) keep their coordinates, so the subspace is defined over the moving nodes.
    """
    shift = com(pos, batch, num_graphs, mask)[batch]
    if mask is None:
        return pos - shift
    return torch.where(mask[:, None], pos - shift, pos)


def subspace_dof(batch: Tensor, num_graphs: int, mask: Tensor | None = None) -> Tensor:
    """Degrees of freedom (n - 1) * 3 of the zero-CoM subspace per graph -> [G]."""
    w = torch.ones_like(batch, dtype=torch.float) if mask is None else mask.float()
    n = scatter(w, batch, dim=0, dim_size=num_graphs, reduce="sum")
    return (n - 1).clamp_min(0) * 3


def random_rotations(n: int, dtype: torch.dtype = torch.float32, device=None,
                     generator: torch.Generator | None = None, reflect: bool = False) -> Tensor:
    """Haar-uniform random rotation matrices [n, 3, 3] (QR of a Gaussian); ``reflect`` flips det to -1."""
    a = torch.randn(n, 3, 3, dtype=torch.float64, generator=generator).to(device)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    det = torch.linalg.det(q)
    q[:, :, 0] *= det[:, None]  # make proper rotations
    if reflect:
        q[:, :, 0] *= -1
    return q.to(dtype)
