"""Loading the QM9 ``.npz`` cache (numpy only: no torch, no RDKit).

The cache is built once by :mod:`moldiff.datasets.qm9_prepare` (``moldiff prepare qm9``).
Split: EDM's sizes 100,000 / 17,748 / 13,083 as a seeded permutation (seed 42), since EDM's
exact indices are not available offline; see :mod:`moldiff.datasets.qm9_prepare`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from moldiff.vocab import BOND_AROMATIC, QM9_HEAVY_VOCAB, QM9_VOCAB, Vocab

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_PATH = REPO_ROOT / "data" / "cache" / "qm9.npz"
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
SPLIT_SIZES: tuple[int, ...] = (100_000, 17_748, 13_083)
SPLIT_SEED = 42
HARTREE_TO_EV = 27.211386245988
#: Cache property name -> (qm9pack column, unit conversion factor).
PROPERTIES: dict[str, tuple[str, float]] = {
    "mu": ("Dipole_debye", 1.0),
    "alpha": ("Polarizability_bohr3", 1.0),
    "homo": ("HOMO_au", HARTREE_TO_EV),
    "lumo": ("LUMO_au", HARTREE_TO_EV),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_TO_EV),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", 1.0),
}
#: Pairs closer than this multiple of their covalent-radius sum count as geometric contacts.
_CACHE_VERSION = 1


def _check_split(name: str) -> str:
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split {name!r}; expected one of {SPLIT_NAMES}")
    return name



# --------------------------------------------------------------------------- loading


@dataclass
class QM9Arrays:
    """Flat per-atom / per-bond arrays of the QM9 cache plus per-molecule offsets.

    Molecule ``i`` owns atoms ``atom_offsets[i]:atom_offsets[i+1]`` and bonds
    ``bond_offsets[i]:bond_offsets[i+1]``; bond endpoints are local atom indices (i < j).
    ``atom_types`` index ``vocab.elements``; ``bond_classes`` are 1-3 (kekulized) or 1-4 when
    ``num_bond_types == 5`` (aromatic variant).
    """

    pos: np.ndarray  # float32 [A, 3], centred per molecule
    atom_types: np.ndarray  # uint8 [A]
    charges: np.ndarray  # int8 [A]
    num_atoms: np.ndarray  # int64 [M]
    bonds: np.ndarray  # uint8 [B, 2]
    bond_classes: np.ndarray  # uint8 [B]
    bond_aromatic: np.ndarray  # bool [B]
    num_bonds: np.ndarray  # int64 [M]
    smiles: np.ndarray  # str [M]
    qm9_index: np.ndarray  # int32 [M]
    split: np.ndarray  # uint8 [M]: 0 train, 1 val, 2 test
    properties: dict[str, np.ndarray]  # float32 [M] each; caches trimmed for transfer may omit them
    vocab: Vocab
    num_bond_types: int = 4
    atom_offsets: np.ndarray = field(init=False, repr=False)
    bond_offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.atom_offsets = np.concatenate(([0], np.cumsum(self.num_atoms))).astype(np.int64)
        self.bond_offsets = np.concatenate(([0], np.cumsum(self.num_bonds))).astype(np.int64)

    def __len__(self) -> int:
        return len(self.num_atoms)

    def molecule(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(pos float32 [n,3], types int64 [n], charges int64 [n], bonds int64 [m,3] as (i,j,class))``."""
        a0, a1 = self.atom_offsets[i], self.atom_offsets[i + 1]
        b0, b1 = self.bond_offsets[i], self.bond_offsets[i + 1]
        bonds = np.concatenate([self.bonds[b0:b1], self.bond_classes[b0:b1, None]], axis=1).astype(np.int64)
        return (
            self.pos[a0:a1].astype(np.float32),
            self.atom_types[a0:a1].astype(np.int64),
            self.charges[a0:a1].astype(np.int64),
            bonds,
        )

    def split_indices(self, name: str) -> np.ndarray:
        """Molecule indices of split ``name`` ('train', 'val' or 'test')."""
        return np.flatnonzero(self.split == SPLIT_NAMES.index(_check_split(name)))

    def _atom_mask(self, split: str) -> np.ndarray:
        return np.repeat(self.split == SPLIT_NAMES.index(_check_split(split)), self.num_atoms)

    def num_atoms_histogram(self, split: str = "train") -> np.ndarray:
        """Counts of molecules per atom count (index = number of atoms), sized by the whole dataset."""
        counts = self.num_atoms[self.split_indices(split)]
        return np.bincount(counts, minlength=int(self.num_atoms.max(initial=0)) + 1)

    def type_marginals(self, split: str = "train") -> np.ndarray:
        """Fraction of atoms of each ``vocab.elements`` type."""
        types = self.atom_types[self._atom_mask(split)]
        return _normalize(np.bincount(types, minlength=len(self.vocab.elements)))

    def charge_marginals(self, split: str = "train") -> np.ndarray:
        """Fraction of atoms with each ``vocab.charges`` formal charge."""
        charges = self.charges[self._atom_mask(split)]
        return _normalize(np.array([(charges == c).sum() for c in self.vocab.charges]))

    def bond_marginals(self, split: str = "train") -> np.ndarray:
        """Fraction of each bond class over all intra-molecular pairs i < j (class 0 = no bond)."""
        mols = self.split_indices(split)
        bond_mask = np.repeat(self.split == SPLIT_NAMES.index(split), self.num_bonds)
        counts = np.bincount(self.bond_classes[bond_mask], minlength=self.num_bond_types).astype(np.int64)
        n = self.num_atoms[mols]
        counts[0] = int((n * (n - 1) // 2).sum()) - counts[1:].sum()
        return _normalize(counts)


def _normalize(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def load_qm9(path: str | os.PathLike = DEFAULT_CACHE_PATH, remove_h: bool = False, aromatic: bool = False) -> QM9Arrays:
    """Load the cache; ``remove_h`` gives the heavy-atom variant, ``aromatic`` the 5-class bonds."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"QM9 cache {path} not found; build it with `moldiff prepare qm9`")
    with np.load(path, allow_pickle=False) as npz:
        data = {key: npz[key] for key in npz.files}
    if int(data["version"]) != _CACHE_VERSION or tuple(data["elements"].tolist()) != QM9_VOCAB.elements:
        raise ValueError(
            f"QM9 cache {path} has an incompatible format; "
            "rebuild it with `moldiff prepare qm9`"
        )
    arrays = QM9Arrays(
        pos=data["pos"].astype(np.float32),
        atom_types=data["atom_types"],
        charges=data["charges"],
        num_atoms=data["num_atoms"].astype(np.int64),
        bonds=data["bonds"],
        bond_classes=data["bond_classes"],
        bond_aromatic=data["bond_aromatic"],
        num_bonds=data["num_bonds"].astype(np.int64),
        smiles=data["smiles"],
        qm9_index=data["qm9_index"],
        split=data["split"],
        properties={name: data[f"prop_{name}"] for name in PROPERTIES if f"prop_{name}" in data},
        vocab=QM9_VOCAB,
    )
    if aromatic:
        arrays = _with_aromatic_classes(arrays)
    return _without_hydrogens(arrays) if remove_h else arrays


def _with_aromatic_classes(arrays: QM9Arrays) -> QM9Arrays:
    """5-class variant: bonds flagged aromatic get class 4 instead of their Kekulé class."""
    classes = np.where(arrays.bond_aromatic, BOND_AROMATIC, arrays.bond_classes).astype(np.uint8)
    return replace(arrays, bond_classes=classes, num_bond_types=5)


def _without_hydrogens(arrays: QM9Arrays) -> QM9Arrays:
    """Drop H atoms and their bonds, remap local indices, re-centre, and switch to the heavy vocab."""
    hydrogen = QM9_VOCAB.element_index("H")
    num_mols = len(arrays)
    atom_mol = np.repeat(np.arange(num_mols), arrays.num_atoms)
    keep = arrays.atom_types != hydrogen
    num_atoms = np.bincount(atom_mol[keep], minlength=num_mols).astype(np.int64)
    new_offsets = np.concatenate(([0], np.cumsum(num_atoms)))
    new_local = np.cumsum(keep) - 1 - new_offsets[atom_mol]  # valid where keep

    bond_mol = np.repeat(np.arange(num_mols), arrays.num_bonds)
    ends = arrays.atom_offsets[bond_mol][:, None] + arrays.bonds.astype(np.int64)
    keep_bond = keep[ends].all(axis=1)
    bonds = new_local[ends[keep_bond]].astype(np.uint8)

    pos = arrays.pos[keep]
    centre = np.stack([np.bincount(atom_mol[keep], pos[:, k], minlength=num_mols) for k in range(3)], axis=1)
    pos = pos - (centre / np.maximum(num_atoms, 1)[:, None])[atom_mol[keep]]
    type_map = np.array([QM9_HEAVY_VOCAB.elements.index(e) if e != "H" else 255 for e in QM9_VOCAB.elements])
    return replace(
        arrays,
        pos=pos.astype(np.float32),
        atom_types=type_map[arrays.atom_types[keep]].astype(np.uint8),
        charges=arrays.charges[keep],
        num_atoms=num_atoms,
        bonds=bonds,
        bond_classes=arrays.bond_classes[keep_bond],
        bond_aromatic=arrays.bond_aromatic[keep_bond],
        num_bonds=np.bincount(bond_mol[keep_bond], minlength=num_mols).astype(np.int64),
        vocab=QM9_HEAVY_VOCAB,
    )

