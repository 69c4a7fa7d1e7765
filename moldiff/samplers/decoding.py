"""How the last step turns the network's final prediction into classes.

``argmax`` (default): every field independently, the most probable class (what DDPM samplers do).
``valence``: atom types and charges by argmax, then bond classes by argmax lowered where they
overload an atom. While any atom's bond orders add up to more than the largest valence its
element and charge allow (:func:`moldiff.vocab.allowed_valences`; N+ like C, O- like F), every
such atom lowers one of its bonds: the one whose next lower class (by bond order, "no bond"
included) loses the least predicted log-probability, where removing a bond that is the only
link between two parts of the molecule comes last. Bonds only ever go down, so the loop ends;
it needs at most the total bond order of the batch in rounds, a handful in practice. Nothing is
added (an under-bonded heavy atom takes implicit hydrogens; disconnected molecules stay
disconnected), pairs between two fixed atoms are left alone, and no molecule is dropped: this
is a decoding rule, like the bond perception peers run on their coordinates, not a filter.
"""
from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor

from moldiff.processes.joint import JointDiffusion, MolState, Prediction, Topology
from moldiff.vocab import ATOMIC_NUMBERS, BOND_AROMATIC, Vocab, allowed_valences

#: decoding name -> what it does (for --help texts)
DECODINGS = {
    "argmax": "every class by argmax (plain DDPM decoding)",
    "valence": "bond classes by argmax, lowered where an atom exceeds its largest allowed valence",
}

#: Extra cost (nats) of removing a bond that is the only link between two parts of a molecule:
#: such a bond goes only when the overloaded atom has no other bond to lower.
SPLIT_PENALTY = 100.0

#: Bond order of each bond class (none, single, double, triple, aromatic).
BOND_ORDERS = (0.0, 1.0, 2.0, 3.0, 1.5)


def max_valence_table(vocab: Vocab) -> Tensor:
    """[num_elements, num_charges] largest allowed valence of each (element, charge) class;
    0 where the rules allow none (e.g. a charged H), so such atoms lose every bond."""
    table = torch.zeros(len(vocab.elements), len(vocab.charges))
    for a, symbol in enumerate(vocab.elements):
        if symbol not in ATOMIC_NUMBERS:
            raise ValueError(f"valence decoding: no valence rule for element {symbol!r}")
        for q, charge in enumerate(vocab.charges):
            table[a, q] = max(allowed_valences(ATOMIC_NUMBERS[symbol], charge), default=0)
    return table


class ValenceDecoding:
    """The ``valence`` final step (see the module docstring); a drop-in for
    :meth:`JointDiffusion.denoised` in :func:`~moldiff.samplers.loop.reverse_loop`."""

    def __init__(self, vocab: Vocab):
        self.max_valence = max_valence_table(vocab)
        self.orders = torch.tensor(BOND_ORDERS[:vocab.num_bond_types])

    def __call__(self, process: JointDiffusion, pred: Prediction, x_t: MolState, topo: Topology) -> MolState:
        state = process.denoised(pred, x_t, topo)
        if state.bond is None or "atom_type" not in state.nodes or "charge" not in state.nodes:
            raise ValueError("valence decoding needs a model that predicts atom types, charges and bonds")
        bond = lower_overloaded_bonds(
            state.bond, pred.bond.float().log_softmax(-1), topo.pair_index,
            self.max_valence.to(state.pos.device)[state.nodes["atom_type"], state.nodes["charge"]],
            self.orders.to(state.pos.device), _fixed_pairs(topo))
        return MolState(state.pos, state.nodes, bond)


def _fixed_pairs(topo: Topology) -> Tensor | None:
    """[P] True for pairs of two fixed atoms (inpainting), or None when every atom moves."""
    if topo.move is None:
        return None
    i, j = topo.pair_index
    return ~topo.move[i] & ~topo.move[j]


def lower_overloaded_bonds(bond: Tensor, log_p: Tensor, pair_index: Tensor, max_valence: Tensor,
                           orders: Tensor, frozen: Tensor | None = None) -> Tensor:
    """Bond classes [P] with bonds lowered until no atom's order sum exceeds ``max_valence`` [N]
    (or only frozen bonds remain at an overloaded atom). ``log_p`` [P, K]: the predicted
    log-probabilities of the classes; ``orders`` [K]: the bond order of each class."""
    bond = bond.clone()
    n, (i, j) = max_valence.numel(), pair_index
    # for each class, the class one order lower with the highest probability, and the log-prob lost
    lower_mask = orders[None, :] < orders[:, None]  # [K, K]: class k may be lowered to class c ...
    if orders.numel() > BOND_AROMATIC:
        lower_mask[:, BOND_AROMATIC] = False  # ... but never to aromatic (outside a ring system it cannot sanitize)
    candidates = torch.where(lower_mask[None], log_p[:, None, :], torch.full_like(log_p[:, None, :], -torch.inf))
    best_lower = candidates.argmax(-1)  # [P, K]
    cost = log_p - candidates.max(-1).values  # [P, K]; inf for class 0, which cannot go lower
    pair_id = torch.arange(bond.numel(), device=bond.device)
    for _ in range(int(orders.max().item() * bond.numel()) + 1):
        order = orders[bond]
        valence = torch.zeros(n, device=bond.device, dtype=order.dtype)
        valence.index_add_(0, i, order).index_add_(0, j, order)
        over = valence > max_valence + 1e-6
        movable = (bond > 0) & (over[i] | over[j])
        if frozen is not None:
            movable &= ~frozen
        if not bool(movable.any()):
            break
        c = torch.where(movable, cost.gather(1, bond[:, None]).squeeze(1), torch.full_like(order, torch.inf))
        removal = movable & (best_lower.gather(1, bond[:, None]).squeeze(1) == 0)
        c = c + SPLIT_PENALTY * _splits(bond, pair_index, removal)
        # each overloaded atom picks its cheapest movable bond (ties: the lowest pair index)
        best = torch.full((n,), torch.inf, device=bond.device, dtype=c.dtype)
        best.scatter_reduce_(0, i, c, "amin").scatter_reduce_(0, j, c, "amin")
        big = bond.numel()
        pick = torch.full((n,), big, device=bond.device, dtype=torch.long)
        for end in (i, j):
            hit = movable & over[end] & (c == best[end])
            pick.scatter_reduce_(0, end[hit], pair_id[hit], "amin")
        chosen = pick[over & (pick < big)].unique()
        bond[chosen] = best_lower[chosen, bond[chosen]]
    return bond


def _splits(bond: Tensor, pair_index: Tensor, candidates: Tensor) -> Tensor:
    """[P] True for candidate bonds whose removal would cut their molecule in two (bridges of the
    current bond graph): a search from one end that may not use the bond itself."""
    out = torch.zeros_like(candidates)
    todo = candidates.nonzero().squeeze(1).tolist()
    if not todo:
        return out
    bonded = (bond > 0).nonzero().squeeze(1).tolist()
    ends = pair_index.T.tolist()
    neighbours: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p in bonded:
        a, b = ends[p]
        neighbours[a].append((b, p))
        neighbours[b].append((a, p))
    for p in todo:
        start, goal = ends[p]
        seen, stack = {start}, [start]
        while stack and goal not in seen:
            for other, q in neighbours[stack.pop()]:
                if q != p and other not in seen:
                    seen.add(other)
                    stack.append(other)
        out[p] = goal not in seen
    return out


__all__ = ["DECODINGS", "ValenceDecoding", "lower_overloaded_bonds", "max_valence_table"]
