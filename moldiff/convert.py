"""The one torch -> chemistry crossing: batched sampler states to per-molecule numpy arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moldiff.processes.joint import MolState, Topology
from moldiff.vocab import Vocab


@dataclass
class MolArrays:
    """One molecule as plain arrays: element symbols, coordinates [n, 3], formal charges [n]
    and bonds [m, 3] as (i, j, class) with i < j, or None when bonds are not modelled."""

    elements: list[str]
    pos: np.ndarray
    charges: np.ndarray
    bonds: np.ndarray | None


def split_state(state: MolState, topo: Topology, vocab: Vocab) -> list[MolArrays]:
    """Cut a decoded batch state (class indices) into molecules."""
    ptr = topo.ptr.cpu().numpy()
    pos = state.pos.detach().float().cpu().numpy()
    types = state.nodes["atom_type"].cpu().numpy()
    charges = np.asarray(vocab.charges)[state.nodes["charge"].cpu().numpy()]
    pairs = topo.pair_index.cpu().numpy()
    bond = None if state.bond is None else state.bond.cpu().numpy()
    if bond is not None:  # bonded pairs grouped by molecule, so each molecule takes one slice
        sel = np.flatnonzero(bond > 0)
        graph = topo.batch.cpu().numpy()[pairs[0, sel]]
        sel = sel[np.argsort(graph, kind="stable")]
        cut = np.searchsorted(np.sort(graph), np.arange(topo.num_graphs + 1))
    out = []
    for g in range(topo.num_graphs):
        a, b = ptr[g], ptr[g + 1]
        bonds = None
        if bond is not None:
            k = sel[cut[g]:cut[g + 1]]
            bonds = np.stack([pairs[0, k] - a, pairs[1, k] - a, bond[k]], axis=1).astype(np.int64)
        out.append(MolArrays([vocab.elements[k] for k in types[a:b]], pos[a:b].astype(np.float64),
                             charges[a:b].astype(np.int64), bonds))
    return out
