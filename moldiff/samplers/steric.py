"""Steric guidance in a pocket: a :class:`~moldiff.samplers.loop.Constraint` that moves the
network's x0 estimate of every free ligand atom out of the pocket atoms' exclusion spheres.

At each step the estimate is projected (a few relaxation sweeps) onto the set where no ligand atom
is closer than ``min_distance`` to a pocket atom of its graph: an atom closer than that is pushed
straight away from each offending pocket atom by the overlap. The sampler's posterior then carries
the corrected estimate, so the network re-arranges the rest of the molecule around it at the next
step; the final step's estimate is projected too. Like DecompDiff's clash term, this is a prior
the sampler applies, not a filter: no molecule is dropped, and it works with any denoiser and
sampler. The push depends on distances only, so the sampler stays SE(3)-equivariant.

Heavy atoms of crystal ligands sit at least ~2.6 Å from protein heavy atoms (H-bond donor-acceptor
pairs are the closest); the default ``min_distance`` of 2.5 Å leaves those contacts alone.
"""
from __future__ import annotations

import torch
from torch import Tensor

from moldiff.graph import bipartite_pairs
from moldiff.processes.joint import MolState, Prediction, Topology

DEFAULT_MIN_DISTANCE = 2.5


class StericGuidance:
    """Keep free ligand atoms of the x0 estimate ``min_distance`` Å from the pocket (``topo.context``).

    Per step, ``rounds`` x ``sweeps`` relaxation sweeps; each sweep pushes every overlapping atom
    out by its summed overlaps, over the pocket atoms found within ``min_distance + margin`` at
    the start of its round. Atoms that do not move (``topo.move``) stay; with inpainting, put this constraint
    before :class:`~moldiff.samplers.inpaint.Inpainting`, which then sets the fixed atoms.
    """

    def __init__(self, min_distance: float = DEFAULT_MIN_DISTANCE, rounds: int = 4, sweeps: int = 4,
                 margin: float = 1.0):
        if min_distance <= 0 or rounds < 1 or sweeps < 1 or margin < 0:
            raise ValueError(f"steric guidance needs min_distance > 0, rounds and sweeps >= 1, margin >= 0; "
                             f"got {min_distance}, {rounds}, {sweeps}, {margin}")
        self.min_distance = min_distance
        self.rounds = rounds
        self.sweeps = sweeps
        self.margin = margin

    def start(self, x: MolState, topo: Topology, t: float, generator: torch.Generator | None) -> MolState:
        if topo.context is None:
            raise ValueError("steric guidance needs pocket atoms (topo.context)")
        return x

    def prediction(self, pred: Prediction, x_t: MolState, topo: Topology, s: float) -> Prediction:
        return Prediction(self.push(pred.pos, topo), pred.nodes, pred.bond)

    def finish(self, x: MolState, topo: Topology) -> MolState:
        return x

    def push(self, pos: Tensor, topo: Topology) -> Tensor:
        """``pos`` with free atoms moved out of overlap with the pocket atoms of their graph.

        Each of ``rounds`` rounds finds the candidate pairs within ``min_distance + margin`` and
        runs ``sweeps`` sweeps over that fixed list, with no host synchronisation inside a round."""
        ctx = topo.context
        ctx_pos = ctx.pos.to(pos.dtype)
        for _ in range(self.rounds):
            a, b = bipartite_pairs(topo.batch, pos, ctx.batch, ctx_pos, topo.num_graphs, self.min_distance + self.margin)
            if topo.move is not None:
                keep = topo.move[a]
                a, b = a[keep], b[keep]
            for _ in range(self.sweeps):
                rel = pos[a] - ctx_pos[b]
                d = rel.norm(dim=-1, keepdim=True)
                overlap = (self.min_distance - d).clamp_min(0)
                pos = pos.index_add(0, a, overlap * rel / d.clamp_min(1e-6))
        return pos
