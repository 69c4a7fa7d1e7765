"""Protein–ligand complexes for training pocket-conditioned models: pocket features, the PyG
dataset (ligand + pocket in the pocket's frame), training statistics and the ligand-size model.

The frame: every complex is shifted so its pocket atoms have zero mean. The ligand diffuses
freely in that frame (no zero-CoM projection), and the prior N(0, I) sits at the pocket centre.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Data

from moldiff.vocab import POCKET_ELEMENTS, POCKET_RESIDUES, Vocab

#: Size of the per-atom pocket feature vector: element one-hot, residue one-hot, backbone flag.
POCKET_FEATURE_DIM = len(POCKET_ELEMENTS) + len(POCKET_RESIDUES) + 1
POCKET_REPRESENTATIONS = ("full", "ca")


def pocket_feature_matrix(element: np.ndarray, residue: np.ndarray, backbone: np.ndarray) -> np.ndarray:
    """[M, POCKET_FEATURE_DIM] float32 features of pocket atoms from their vocabulary indices."""
    m = len(element)
    out = np.zeros((m, POCKET_FEATURE_DIM), dtype=np.float32)
    rows = np.arange(m)
    out[rows, np.asarray(element, dtype=np.int64)] = 1.0
    out[rows, len(POCKET_ELEMENTS) + np.asarray(residue, dtype=np.int64)] = 1.0
    out[:, -1] = np.asarray(backbone, dtype=np.float32)
    return out


def pocket_atom_mask(ca: np.ndarray, representation: str) -> np.ndarray:
    """Which pocket atoms a representation keeps: all heavy atoms ('full') or C-alphas ('ca')."""
    if representation not in POCKET_REPRESENTATIONS:
        raise ValueError(f"pocket representation must be one of {POCKET_REPRESENTATIONS}, got {representation!r}")
    return np.ones(len(ca), dtype=bool) if representation == "full" else np.asarray(ca, dtype=bool)


@dataclass
class Pocket:
    """A pocket to sample in: context-atom coordinates [M, 3] in the protein's own frame and
    their features [M, POCKET_FEATURE_DIM]; ``source`` names the file it came from."""

    pos: np.ndarray
    features: np.ndarray
    source: str = ""

    @classmethod
    def from_arrays(cls, pos: np.ndarray, element: np.ndarray, residue: np.ndarray, backbone: np.ndarray,
                    ca: np.ndarray, representation: str = "full", source: str = "") -> "Pocket":
        """Pocket atoms (vocabulary indices) reduced to a representation."""
        keep = pocket_atom_mask(ca, representation)
        return cls(np.asarray(pos, dtype=np.float64)[keep],
                   pocket_feature_matrix(np.asarray(element)[keep], np.asarray(residue)[keep],
                                         np.asarray(backbone)[keep]), source)


class ComplexDataset(torch.utils.data.Dataset):
    """Complexes ``indices`` of a :class:`~moldiff.datasets.complexes.ComplexArrays` as PyG ``Data``:
    the ligand fields of :class:`~moldiff.datasets.molecules.MoleculeDataset` plus ``pocket_pos``
    [M, 3] and ``pocket_h`` [M, F], all shifted to the pocket's centre. Batch with
    ``follow_batch=["pocket_pos"]`` to get ``pocket_pos_batch``."""

    follow_batch = ("pocket_pos",)

    def __init__(self, arrays, indices: np.ndarray, vocab: Vocab, representation: str = "full"):
        pocket_atom_mask(np.zeros(0), representation)  # validates the name
        self.arrays, self.indices, self.representation = arrays, np.asarray(indices), representation
        self.charge_lut = {c: k for k, c in enumerate(vocab.charges)}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Data:
        c = self.arrays.complex(int(self.indices[i]))
        keep = pocket_atom_mask(c["pocket_ca"], self.representation)
        pocket_pos = np.asarray(c["pocket_pos"], dtype=np.float64)[keep]
        # ligand-only entries (pretraining) have no pocket frame: centre on the ligand instead
        center = pocket_pos.mean(axis=0) if len(pocket_pos) else np.asarray(c["lig_pos"], dtype=np.float64).mean(axis=0)
        try:
            charges = [self.charge_lut[int(q)] for q in c["lig_charges"]]
        except KeyError as e:
            raise ValueError(f"complex {self.indices[i]}: formal charge {e.args[0]} outside the vocabulary") from None
        bonds = np.asarray(c["lig_bonds"], dtype=np.int64).reshape(-1, 3)
        h = pocket_feature_matrix(c["pocket_element"][keep], c["pocket_residue"][keep], c["pocket_backbone"][keep])
        return Data(pos=torch.as_tensor(c["lig_pos"] - center, dtype=torch.float32),
                    atom_type=torch.as_tensor(c["lig_types"], dtype=torch.long),
                    charge=torch.tensor(charges, dtype=torch.long),
                    edge_index=torch.as_tensor(bonds[:, :2].T.copy()).reshape(2, -1),
                    bond_type=torch.as_tensor(bonds[:, 2].copy()),
                    pocket_pos=torch.as_tensor(pocket_pos - center, dtype=torch.float32),
                    pocket_h=torch.as_tensor(h),
                    num_nodes=len(c["lig_types"]))


def _pocket_sizes(arrays, idx: np.ndarray, representation: str) -> np.ndarray:
    if representation == "full":
        return np.asarray(arrays.pocket_num_atoms)[idx]
    cut = np.concatenate(([0], np.cumsum(arrays.pocket_num_atoms)))
    return np.array([int(arrays.pocket_ca[cut[i]:cut[i + 1]].sum()) for i in idx])


def complex_statistics(arrays, representation: str = "full", num_bins: int = 10) -> dict:
    """Training-split ligand class marginals (for marginal priors), the ligand-size histogram and
    the ligand-size model conditioned on pocket size (see :class:`PocketSizeModel`), fitted on
    the complexes that have a pocket when there are any."""
    idx = arrays.split_indices("train")
    if len(idx) == 0:
        raise ValueError("the complex cache has no training complexes")
    atom_cut = np.concatenate(([0], np.cumsum(arrays.lig_num_atoms)))
    bond_cut = np.concatenate(([0], np.cumsum(arrays.lig_num_bonds)))
    atoms = np.concatenate([np.arange(atom_cut[i], atom_cut[i + 1]) for i in idx])
    bonds = np.concatenate([np.arange(bond_cut[i], bond_cut[i + 1]) for i in idx])
    vocab = arrays.vocab
    types = np.bincount(arrays.lig_types[atoms], minlength=len(vocab.elements)).astype(float)
    charges = np.array([(arrays.lig_charges[atoms] == c).sum() for c in vocab.charges], dtype=float)
    bond_counts = np.bincount(arrays.lig_bond_classes[bonds], minlength=vocab.num_bond_types).astype(float)
    n = np.asarray(arrays.lig_num_atoms)[idx]
    bond_counts[0] = float((n * (n - 1) // 2).sum()) - bond_counts[1:].sum()
    pocket_sizes = _pocket_sizes(arrays, idx, representation)
    with_pocket = pocket_sizes > 0  # ligand-only entries (pretraining mixtures) say nothing of pocket size
    if not with_pocket.any():
        with_pocket[:] = True
    size_model = PocketSizeModel.fit(pocket_sizes[with_pocket], n[with_pocket], num_bins)
    return {"marginals": {k: (v / v.sum()).tolist() for k, v in
                          {"atom_type": types, "charge": charges, "bond": bond_counts}.items()},
            "size_hist": np.bincount(n).astype(float).tolist(), "size_model": size_model.to_dict()}


def sample_size(hist: Sequence[float], n: int, generator: torch.Generator, min_size: int = 1) -> torch.Tensor:
    """``n`` draws from a size histogram (index = atom count) truncated below ``min_size``."""
    p = torch.tensor(np.asarray(hist, dtype=np.float64), dtype=torch.float64)
    p[:min_size] = 0
    if p.sum() <= 0:
        raise ValueError(f"the model never generates molecules of {min_size} or more atoms; give the size (num_atoms)")
    return torch.multinomial(p / p.sum(), n, replacement=True, generator=generator)


class PocketSizeModel:
    """p(ligand atoms | pocket atoms): training ligand-size histograms in pocket-size bins
    (quantile bin edges, so every bin holds about as many complexes)."""

    def __init__(self, bin_edges: Sequence[float], hists: Sequence[Sequence[float]], max_pocket_atoms: int):
        self.bin_edges = np.asarray(bin_edges, dtype=np.float64)
        self.hists = [np.asarray(h, dtype=np.float64) for h in hists]
        self.max_pocket_atoms = int(max_pocket_atoms)

    @classmethod
    def fit(cls, pocket_sizes: np.ndarray, ligand_sizes: np.ndarray, num_bins: int = 10) -> "PocketSizeModel":
        edges = np.unique(np.quantile(pocket_sizes, np.linspace(0, 1, num_bins + 1)[1:-1]))
        which = np.searchsorted(edges, pocket_sizes, side="right")
        top = int(ligand_sizes.max()) + 1
        hists = [np.bincount(ligand_sizes[which == b], minlength=top).astype(float) for b in range(len(edges) + 1)]
        return cls(edges, hists, int(pocket_sizes.max()))

    def sample(self, pocket_size: int, n: int, generator: torch.Generator, min_size: int = 1) -> torch.Tensor:
        """``n`` ligand sizes for a pocket of ``pocket_size`` atoms, at least ``min_size`` each
        (the histogram truncated below it)."""
        h = self.hists[int(np.searchsorted(self.bin_edges, pocket_size, side="right"))]
        if h[min_size:].sum() == 0:  # an empty bin (tiny training sets): fall back to all sizes
            h = np.sum([np.pad(x, (0, max(map(len, self.hists)) - len(x))) for x in self.hists], axis=0)
        return sample_size(h, n, generator, min_size)

    def to_dict(self) -> dict:
        return {"bin_edges": self.bin_edges.tolist(), "hists": [h.tolist() for h in self.hists],
                "max_pocket_atoms": self.max_pocket_atoms}

    @classmethod
    def from_dict(cls, d: dict) -> "PocketSizeModel":
        return cls(d["bin_edges"], d["hists"], d["max_pocket_atoms"])
