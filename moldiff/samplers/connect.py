"""Connectivity guidance: a :class:`~moldiff.samplers.loop.Constraint` that moves every stray
fragment of the network's x0 estimate next to the rest of its molecule.

Diffusion models of drug-sized molecules often end with two or more fragments: pieces the network
built apart and never bonded. At each step from ``t_max`` down, the x0 estimate's bond graph (the
argmax class of every pair) is split into connected components; every component but the largest
of its molecule is translated, rigidly, towards that largest one until their closest atoms are
``distance`` Å apart. With fixed atoms (inpainting: growing, linking) the components holding
them stay and are the targets instead: a free piece moves next to the nearest fixed fragment. The
sampler's posterior carries the moved estimate, so at the next steps the network sees the pieces
in contact and decides whether and how to bond them. Bonds and atom types stay the network's: a
fragment it does not bond stays a fragment, and the final network call (the step to t = 0) is
left alone, so the output coordinates are the network's last estimate.
Like DecompDiff's drift terms and :class:`~moldiff.samplers.steric.StericGuidance`, this is a
prior the sampler applies, not a filter: no molecule is dropped. Translations along vectors
between atoms keep the sampler SE(3)-equivariant.
"""
from __future__ import annotations

import torch
from torch import Tensor

from moldiff.processes.joint import Prediction, Topology

#: target gap between the closest atoms of two pieces, Å: a long single bond
DEFAULT_DISTANCE = 1.6


def components(num_nodes: int, edges: Tensor) -> Tensor:
    """Connected-component label of each node (the smallest node index in its component) of the
    undirected graph ``edges`` [2, E]; min-label propagation with pointer jumping."""
    labels = torch.arange(num_nodes, device=edges.device)
    i, j = edges
    while True:
        new = labels.clone()
        new.scatter_reduce_(0, i, labels[j], "amin").scatter_reduce_(0, j, labels[i], "amin")
        new = new[new]
        if torch.equal(new, labels):
            return labels
        labels = new


class ConnectivityGuidance:
    """Translate minor fragments of the x0 estimate onto their molecule's largest one (or, with
    fixed atoms, the nearest fixed one) at every step that lands on a time ``0 < s <= t_max``; needs the bond field (``pred.bond``). ``fixed``
    [N]: atoms held by inpainting (their components never move; atoms with ``topo.move`` False
    count as fixed too)."""

    def __init__(self, t_max: float, distance: float = DEFAULT_DISTANCE, fixed: Tensor | None = None):
        if not 0.0 < t_max <= 1.0 or distance <= 0:
            raise ValueError(f"connectivity guidance needs 0 < t_max <= 1 and distance > 0, got {t_max}, {distance}")
        self.t_max = t_max
        self.distance = distance
        self.fixed = fixed

    def start(self, x, topo: Topology, t: float, generator: torch.Generator | None):
        return x

    def prediction(self, pred: Prediction, x_t, topo: Topology, s: float) -> Prediction:
        if not 0.0 < s <= self.t_max:
            return pred
        if pred.bond is None:
            raise ValueError("connectivity guidance reads the predicted bonds: the model has no bond field")
        bonded = pred.bond.argmax(-1) > 0
        return Prediction(self.join(pred.pos, topo, topo.pair_index[:, bonded]), pred.nodes, pred.bond)

    def finish(self, x, topo: Topology):
        return x

    def join(self, pos: Tensor, topo: Topology, edges: Tensor) -> Tensor:
        """``pos`` with every free component of the graph ``edges`` moved towards the target
        components of its graph (closest atoms ``distance`` apart; no move if already closer):
        those holding fixed atoms, or the largest one (ties: lowest label) where none is fixed."""
        n = pos.shape[0]
        label = components(n, edges)
        size = torch.bincount(label, minlength=n)
        # the largest component of each graph (ties: lowest label) stays
        key = size[label] * (n + 1) + (n - label)
        best = torch.full((topo.num_graphs,), -1, device=pos.device, dtype=key.dtype)
        best.scatter_reduce_(0, topo.batch, key, "amax")
        main = n - best % (n + 1)
        pinned = torch.zeros(n, dtype=torch.bool, device=pos.device)
        if topo.move is not None:
            pinned |= ~topo.move
        if self.fixed is not None:
            pinned |= self.fixed
        pinned = pinned.long()
        held = torch.zeros_like(pinned).scatter_reduce_(0, label, pinned, "amax")[label].bool()  # component holds one
        any_held = pinned.new_zeros(topo.num_graphs).scatter_reduce_(0, topo.batch, held.long(), "amax")[topo.batch].bool()
        in_main = torch.where(any_held, held, label == main[topo.batch])  # per atom: in a target component
        mobile = ~in_main  # every other component moves; held ones are always targets
        if not bool(mobile.any()):
            return pos
        # (member of a mobile component, partner in a target one), from either end of a pair
        i, j = topo.pair_index
        member, partner = torch.cat([i, j]), torch.cat([j, i])
        keep = mobile[member] & in_main[partner]
        member, partner = member[keep], partner[keep]
        rel = pos[partner] - pos[member]
        d = rel.norm(dim=-1)
        comp = label[member]
        closest = torch.full((n,), float("inf"), device=pos.device, dtype=d.dtype)
        closest.scatter_reduce_(0, comp, d, "amin")
        hit = d <= closest[comp]
        step = rel * (1 - self.distance / d.clamp_min(1e-6)).clamp_min(0)[:, None]
        shift = torch.zeros_like(pos).index_add_(0, comp[hit], step[hit])
        count = torch.bincount(comp[hit], minlength=n).clamp_min(1)
        shift = shift / count[:, None]  # ties: the mean of the closest pairs' moves
        return torch.where(mobile[:, None], pos + shift[label], pos)
