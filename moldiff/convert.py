"""The one torch -> chemistry crossing: batched sampler states to per-molecule numpy arrays."""
from __future__ import annotations

import numpy as np

from moldiff.chem.arrays import MolArrays
from moldiff.processes.joint import MolState, Topology
from moldiff.vocab import Vocab


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
        order = np.argsort(graph, kind="stable")
        sel = sel[order]
        cut = np.searchsorted(graph[order], np.arange(topo.num_graphs + 1))
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


def pack_arrays(mols: list[MolArrays]) -> dict[str, np.ndarray]:
    """Molecules as flat arrays with per-molecule counts, for one compact ``.npz`` file."""
    has_bonds = bool(mols) and mols[0].bonds is not None
    empty_bonds = np.zeros((0, 3), dtype=np.int64)
    return {
        "num_atoms": np.array([len(m.elements) for m in mols], dtype=np.int64),
        "elements": np.array([e for m in mols for e in m.elements], dtype="<U2"),
        "pos": np.concatenate([m.pos for m in mols]).astype(np.float32) if mols else np.zeros((0, 3), np.float32),
        "charges": np.concatenate([m.charges for m in mols]).astype(np.int8) if mols else np.zeros(0, np.int8),
        "num_bonds": np.array([len(m.bonds) if has_bonds else 0 for m in mols], dtype=np.int64),
        "bonds": np.concatenate([m.bonds for m in mols] + [empty_bonds]).astype(np.int16) if has_bonds else empty_bonds,
        "has_bonds": np.array(has_bonds),
    }


def unpack_arrays(data) -> list[MolArrays]:
    """Inverse of :func:`pack_arrays` (accepts the dict or a loaded ``.npz``)."""
    data = {k: np.asarray(data[k]) for k in data}  # an NpzFile would decompress the array again on every access
    atom_cut = np.concatenate(([0], np.cumsum(data["num_atoms"])))
    bond_cut = np.concatenate(([0], np.cumsum(data["num_bonds"])))
    has_bonds = bool(data["has_bonds"])
    return [
        MolArrays(data["elements"][a:b].tolist(), data["pos"][a:b].astype(np.float64),
                  data["charges"][a:b].astype(np.int64),
                  data["bonds"][c:d].astype(np.int64) if has_bonds else None)
        for a, b, c, d in zip(atom_cut[:-1], atom_cut[1:], bond_cut[:-1], bond_cut[1:])
    ]
