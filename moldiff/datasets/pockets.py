"""Protein–ligand complexes for training pocket-conditioned models: the PyG dataset (ligand +
pocket in the pocket's frame) and the training statistics (class marginals, ligand sizes and the
:class:`~moldiff.pocket.PocketSizeModel`). Pocket features and representations: :mod:`moldiff.pocket`.

The frame: every complex is shifted so its pocket atoms have zero mean. The ligand diffuses
freely in that frame (no zero-CoM projection), and the prior N(0, I) sits at the pocket centre.
"""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from moldiff.pocket import PocketSizeModel, check_representation, pocket_atom_mask, pocket_feature_matrix
from moldiff.vocab import Vocab


class ComplexDataset(torch.utils.data.Dataset):
    """Complexes ``indices`` of a :class:`~moldiff.datasets.complexes.ComplexArrays` as PyG ``Data``:
    the ligand fields of :class:`~moldiff.datasets.molecules.MoleculeDataset` plus ``pocket_pos``
    [M, 3] and ``pocket_h`` [M, F], all shifted to the pocket's centre. Batch with
    ``follow_batch=["pocket_pos"]`` to get ``pocket_pos_batch``."""

    follow_batch = ("pocket_pos",)

    def __init__(self, arrays, indices: np.ndarray, vocab: Vocab, representation: str = "full"):
        check_representation(representation)
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
    the ligand-size model conditioned on pocket size (:class:`~moldiff.pocket.PocketSizeModel`),
    fitted on the complexes that have a pocket when there are any."""
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


