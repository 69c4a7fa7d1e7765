"""Fixed-atom inpainting for every sampler: a :class:`~moldiff.samplers.loop.Constraint` under
which the given atoms follow the forward process of their clean values while the free atoms
are denoised jointly with them, and end exactly on those values. Works with any denoiser: the
network never knows; resampling (RePaint, Lugmayr et al. 2022) comes from
:func:`~moldiff.samplers.loop.jump_times`.

At each step the network's x0 estimate of the fixed atoms is replaced by their known clean
values, so the sampler's own posterior q(x_s | x_t, x_0) moves them: at every noise level they
are a forward-noised version of the clean fragment (marginally alpha_s x_0 + sigma_s eps), and
their noise is continuous along the trajectory. RePaint's independent re-draw of the known part
at every step makes the network read fresh noise on the fixed atoms as information about the free
ones; on an exactly solvable Gaussian model it under-disperses the free atoms around the fixed
ones by ~45 % in variance, where this bridge reproduces the exact conditional
(``tests/samplers/test_inpaint.py``).

Frames. The sampler runs in the frame of the fixed atoms' given coordinates with plain
(unprojected) Gaussian noise, ``topo.project`` False: with a pocket that is the pocket's frame.
Unconditional models know only relative geometry (trained in the zero centre-of-mass subspace,
with translation-equivariant networks), so their x0 estimate is translated to put its fixed
atoms' centroid on the given one: the clean molecule's translation is fixed by the known atoms.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from moldiff.geometry import com
from moldiff.graph import pair_id
from moldiff.processes.joint import JointDiffusion, MolState, Prediction, Topology


@dataclass
class FixedAtoms:
    """Clean values of held atoms on a batch: ``mask`` [N] marks them, ``pos`` [N, 3] and class
    indices ``nodes`` (per field, [N]) are read where the mask is set; ``bond`` [P] holds the bond
    classes of pairs of two fixed atoms, marked by ``bond_mask`` [P] (None without bonds)."""

    mask: Tensor
    pos: Tensor
    nodes: dict[str, Tensor]
    bond: Tensor | None = None
    bond_mask: Tensor | None = None

    @classmethod
    def first_atoms(cls, topo: Topology, pos: Tensor, nodes: dict[str, Tensor], bonds: Tensor | None) -> "FixedAtoms":
        """The same k atoms as the first k atoms of every graph: ``pos`` [k, 3], ``nodes`` class
        indices [k] per field, ``bonds`` [m, 3] rows (i, j, class) among them (None: no bond field).
        Pairs of fixed atoms without a row are fixed to class 0 (no bond)."""
        k = pos.shape[0]
        if k == 0:
            raise ValueError("no fixed atoms given")
        sizes = topo.ptr[1:] - topo.ptr[:-1]
        if bool((sizes < k).any()):
            raise ValueError(f"every molecule needs at least the {k} fixed atoms, got sizes down to {int(sizes.min())}")
        local = torch.arange(topo.batch.numel(), device=pos.device) - topo.ptr[topo.batch]
        mask = local < k
        where = local.clamp(max=k - 1)
        full = {name: v.to(pos.device)[where] for name, v in nodes.items()}
        bond = bond_mask = None
        if bonds is not None:
            i, j = topo.pair_index
            bond_mask = mask[i] & mask[j]
            bond = torch.zeros(i.numel(), dtype=torch.long, device=pos.device)
            if bonds.numel():
                b = bonds.to(pos.device).long()
                lo, hi = torch.minimum(b[:, 0], b[:, 1]), torch.maximum(b[:, 0], b[:, 1])
                start = topo.ptr[:-1].repeat_interleave(len(b))
                index = torch.stack([start + lo.repeat(topo.num_graphs), start + hi.repeat(topo.num_graphs)])
                bond[pair_id(topo.ptr, topo.batch, index)] = b[:, 2].repeat(topo.num_graphs)
        return cls(mask, pos[where], full, bond, bond_mask)


class Inpainting:
    """The fixed-atom constraint for :func:`~moldiff.samplers.loop.reverse_loop`. ``align``:
    translate each x0 estimate onto the fixed atoms (models without a pocket frame)."""

    def __init__(self, process: JointDiffusion, fixed: FixedAtoms, align: bool):
        self.process = process
        self.fixed = fixed
        self.align = align

    def start(self, x: MolState, topo: Topology, t: float, generator: torch.Generator | None) -> MolState:
        """Fixed atoms drawn from q(x_t | x_0) at the first time of the sequence."""
        if topo.project:
            raise ValueError("inpainting runs in the fixed atoms' frame: build the topology with project=False")
        t_graph = x.pos.new_full((topo.num_graphs,), t)
        noised, _ = self.process.q_sample(self._clean(x), topo, t_graph, generator)
        return self._overlay(noised, x)

    def prediction(self, pred: Prediction, x_t: MolState, topo: Topology, s: float) -> Prediction:
        """The x0 estimate with the fixed atoms' clean values in place (and, with ``align``, the
        free atoms translated with the fixed ones onto them)."""
        f, p, mask = self.fixed, self.process, self.fixed.mask
        x0 = f.pos.to(pred.pos.dtype)
        pos = pred.pos
        if self.align:
            pos = pos + (com(x0, topo.batch, topo.num_graphs, mask) - com(pos, topo.batch, topo.num_graphs, mask))[topo.batch]
        pos = torch.where(mask[:, None], x0, pos)
        nodes = {k: _where(mask, p.nodes[k].certain(f.nodes[k], v.dtype), v) for k, v in pred.nodes.items()}
        bond = pred.bond
        if f.bond is not None and pred.bond is not None:
            bond = _where(f.bond_mask, p.bond.certain(f.bond, pred.bond.dtype), pred.bond)
        return Prediction(pos, nodes, bond)

    def finish(self, x: MolState, topo: Topology) -> MolState:
        """The clean state with the fixed atoms' values exactly."""
        return self._overlay(self._clean(x), x)

    def _clean(self, x: MolState) -> MolState:
        """The fixed atoms' clean values as a state of the batch (entries outside the masks unused)."""
        f = self.fixed
        return MolState(f.pos.to(x.pos.dtype), f.nodes, x.bond if f.bond is None else f.bond)

    def _overlay(self, values: MolState, x: MolState) -> MolState:
        """``x`` with the fixed atoms (and pairs of fixed atoms) taken from ``values``."""
        f = self.fixed
        nodes = {k: _where(f.mask, values.nodes[k], v) for k, v in x.nodes.items()}
        bond = x.bond if f.bond is None or x.bond is None else torch.where(f.bond_mask, values.bond, x.bond)
        return MolState(torch.where(f.mask[:, None], values.pos, x.pos), nodes, bond)


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Rows of ``a`` where ``mask`` [n] is set, else of ``b`` (any trailing shape)."""
    return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)
