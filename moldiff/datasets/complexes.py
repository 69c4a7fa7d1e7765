"""Protein-ligand complex cache: ligand featurization and the ``.npz`` format (numpy + RDKit, no torch).

RDKit is imported only by the featurization functions, so GPU machines without it can load caches.

The cache is built by :mod:`moldiff.datasets.complexes_prepare`
(``moldiff prepare complexes``). Coordinates stay in the original PDB frame; the
model side centres each complex on its pocket.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from moldiff.utils.atomic import save_npz

if TYPE_CHECKING:
    from rdkit import Chem
from moldiff.vocab import BOND_DOUBLE, BOND_SINGLE, BOND_TRIPLE, LIGAND_VOCAB, Vocab

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
_CACHE_VERSION = 1
_BOND_CLASSES = {"SINGLE": BOND_SINGLE, "DOUBLE": BOND_DOUBLE, "TRIPLE": BOND_TRIPLE}  # RDKit BondType names


def _check_split(name: str) -> str:
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split {name!r}; expected one of {SPLIT_NAMES}")
    return name


# ------------------------------------------------------------------------ ligands


def clean_ligand(mol: Chem.Mol) -> Chem.Mol:
    """The ligand as the model sees it: heavy atoms of the largest fragment, sanitized.

    Salts and solvates keep their largest fragment (most heavy atoms) instead of being rejected:
    counter-ions are not what a pocket model should generate. Query atoms and bonds (as RDKit
    reads aromatic bond type 4 with a bond topology field) are made plain first, or hydrogens
    bonded through them would stay and their bonds would not kekulize. Raises ``ValueError``
    with the reason for molecules without a 3D conformer or that do not sanitize.
    """
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    from moldiff.chem.io import plain_molecule

    if mol is None:
        raise ValueError("ligand could not be parsed")
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        raise ValueError("ligand has no 3D conformer")
    try:
        with BlockLogs():
            heavy = Chem.RemoveAllHs(plain_molecule(mol), sanitize=True)
    except Exception as err:  # RDKit raises several unrelated types on bad valences
        raise ValueError(f"ligand does not sanitize: {' '.join(str(err).split())}") from None
    fragments = Chem.GetMolFrags(heavy, asMols=True, sanitizeFrags=False)
    largest = max(fragments, key=lambda frag: frag.GetNumAtoms(), default=None)
    if largest is None or largest.GetNumAtoms() == 0:
        raise ValueError("ligand has no heavy atoms")
    return largest


def featurize_ligand(mol: Chem.Mol, vocab: Vocab = LIGAND_VOCAB
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(pos float32 [n,3], types uint8 [n], charges int8 [n], bonds uint16 [m,2] (i<j), classes uint8 [m])``.

    Heavy atoms of the largest fragment (see :func:`clean_ligand`), kekulized so bond classes are
    single/double/triple; ``charges`` are formal charges (not vocabulary indices). Raises
    ``ValueError`` naming the reason when an element, charge or bond type is not supported.
    """
    from rdkit import Chem

    mol = Chem.Mol(clean_ligand(mol))
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except Exception:  # a sanitized molecule kekulizes; this guards odd aromatic systems
        raise ValueError("ligand cannot be kekulized") from None
    types, charges = [], []
    for atom in mol.GetAtoms():
        if atom.GetSymbol() not in vocab.elements:
            raise ValueError(f"element {atom.GetSymbol()} not in ligand vocabulary")
        if atom.GetFormalCharge() not in vocab.charges:
            raise ValueError(f"formal charge {atom.GetFormalCharge():+d} not in ligand vocabulary")
        types.append(vocab.elements.index(atom.GetSymbol()))
        charges.append(atom.GetFormalCharge())
    rows = []
    for bond in mol.GetBonds():
        if str(bond.GetBondType()) not in _BOND_CLASSES:
            raise ValueError(f"bond type {bond.GetBondType()} not supported")
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        rows.append((i, j, _BOND_CLASSES[str(bond.GetBondType())]))
    bonds = np.array(sorted(rows), dtype=np.int64).reshape(-1, 3)
    return (mol.GetConformer().GetPositions().astype(np.float32), np.array(types, dtype=np.uint8),
            np.array(charges, dtype=np.int8), bonds[:, :2].astype(np.uint16), bonds[:, 2].astype(np.uint8))


# -------------------------------------------------------------------------- cache


@dataclass
class ComplexArrays:
    """Flat per-atom / per-bond arrays of protein-ligand complexes plus per-complex counts.

    Complex ``i`` owns ligand atoms ``lig_offsets[i]:lig_offsets[i+1]``, ligand bonds
    ``bond_offsets[i]:bond_offsets[i+1]`` (local indices, i < j, kekulized classes 1-3) and
    pocket atoms ``pocket_offsets[i]:pocket_offsets[i+1]`` (whole residues within
    ``pocket_cutoff`` of the ligand). Positions are in the original structure frame.
    """

    lig_num_atoms: np.ndarray  # int64 [C]
    lig_pos: np.ndarray  # float32 [A, 3]
    lig_types: np.ndarray  # uint8 [A], index into vocab.elements
    lig_charges: np.ndarray  # int8 [A], formal charge
    lig_num_bonds: np.ndarray  # int64 [C]
    lig_bonds: np.ndarray  # uint16 [B, 2]
    lig_bond_classes: np.ndarray  # uint8 [B]
    pocket_num_atoms: np.ndarray  # int64 [C]
    pocket_pos: np.ndarray  # float32 [P, 3]
    pocket_element: np.ndarray  # uint8 [P], index into vocab.POCKET_ELEMENTS
    pocket_residue: np.ndarray  # uint8 [P], index into vocab.POCKET_RESIDUES
    pocket_backbone: np.ndarray  # bool [P]
    pocket_ca: np.ndarray  # bool [P]
    name: np.ndarray  # str [C]
    protein: np.ndarray  # str [C], the protein / target id splits are made by
    split: np.ndarray  # uint8 [C]: 0 train, 1 val, 2 test
    smiles: np.ndarray  # str [C], canonical, no H, no stereo
    dg: np.ndarray  # float32 [C], experimental binding free energy (kcal/mol) or NaN
    vocab: Vocab = LIGAND_VOCAB
    pocket_cutoff: float = math.nan  # Angstrom, as used by pocket_from_ligand
    part_sizes: tuple[int, ...] = ()  # complexes per concatenated cache (see concat_complexes); not saved
    lig_offsets: np.ndarray = field(init=False, repr=False)
    bond_offsets: np.ndarray = field(init=False, repr=False)
    pocket_offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        def offsets(counts: np.ndarray) -> np.ndarray:
            return np.concatenate(([0], np.cumsum(counts))).astype(np.int64)

        self.lig_offsets = offsets(self.lig_num_atoms)
        self.bond_offsets = offsets(self.lig_num_bonds)
        self.pocket_offsets = offsets(self.pocket_num_atoms)

    def __len__(self) -> int:
        return len(self.lig_num_atoms)

    def complex(self, i: int) -> dict[str, np.ndarray]:
        """Arrays of complex ``i``; ``lig_bonds`` as int64 rows ``(i, j, class)``."""
        a0, a1 = self.lig_offsets[i], self.lig_offsets[i + 1]
        b0, b1 = self.bond_offsets[i], self.bond_offsets[i + 1]
        p0, p1 = self.pocket_offsets[i], self.pocket_offsets[i + 1]
        bonds = np.concatenate([self.lig_bonds[b0:b1], self.lig_bond_classes[b0:b1, None]], axis=1)
        return {
            "lig_pos": self.lig_pos[a0:a1],
            "lig_types": self.lig_types[a0:a1],
            "lig_charges": self.lig_charges[a0:a1],
            "lig_bonds": bonds.astype(np.int64),
            "pocket_pos": self.pocket_pos[p0:p1],
            "pocket_element": self.pocket_element[p0:p1],
            "pocket_residue": self.pocket_residue[p0:p1],
            "pocket_backbone": self.pocket_backbone[p0:p1],
            "pocket_ca": self.pocket_ca[p0:p1],
        }

    def split_indices(self, name: str) -> np.ndarray:
        """Complex indices of split ``name`` ('train', 'val' or 'test')."""
        return np.flatnonzero(self.split == SPLIT_NAMES.index(_check_split(name)))


def ligand_columns(ligands: Sequence[tuple[np.ndarray, ...]]) -> dict[str, np.ndarray]:
    """The ligand fields of :class:`ComplexArrays` from each complex's :func:`featurize_ligand`
    tuple, in the cache's dtypes: one place for crystal and generated ligands."""
    def cat(k: int, dtype) -> np.ndarray:
        return np.concatenate([lig[k] for lig in ligands]).astype(dtype)

    return {"lig_num_atoms": np.array([len(lig[1]) for lig in ligands], dtype=np.int64),
            "lig_pos": cat(0, np.float32), "lig_types": cat(1, np.uint8), "lig_charges": cat(2, np.int8),
            "lig_num_bonds": np.array([len(lig[4]) for lig in ligands], dtype=np.int64),
            "lig_bonds": cat(3, np.uint16).reshape(-1, 2), "lig_bond_classes": cat(4, np.uint8)}


def pocket_columns(pockets: Sequence[tuple[np.ndarray, dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """The pocket fields of :class:`ComplexArrays` from each complex's (pocket atom positions,
    :func:`~moldiff.chem.pocket.pocket_features`), in the cache's dtypes: one place for crystal
    and docked caches."""
    def cat(key: str, dtype) -> np.ndarray:
        return np.concatenate([f[key] for _, f in pockets]).astype(dtype)

    return {"pocket_num_atoms": np.array([len(pos) for pos, _ in pockets], dtype=np.int64),
            "pocket_pos": np.concatenate([pos for pos, _ in pockets]).astype(np.float32),
            "pocket_element": cat("element", np.uint8), "pocket_residue": cat("residue", np.uint8),
            "pocket_backbone": cat("backbone", bool), "pocket_ca": cat("ca", bool)}


def concat_complexes(parts: Sequence[ComplexArrays]) -> ComplexArrays:
    """One cache holding the complexes of ``parts`` in order, each keeping its split (e.g. a
    pocket set plus a ligand-only pretraining set). The vocabularies must agree."""
    if not parts:
        raise ValueError("no complex caches to concatenate")
    vocab = parts[0].vocab
    for k, part in enumerate(parts[1:], 1):
        if part.vocab != vocab:
            raise ValueError(f"complex cache {k} has another vocabulary ({part.vocab}) than cache 0 ({vocab})")
    cutoffs = {part.pocket_cutoff for part in parts if not math.isnan(part.pocket_cutoff)}
    return ComplexArrays(**{name: np.concatenate([getattr(part, name) for part in parts]) for name in _array_fields()},
                         vocab=vocab, pocket_cutoff=cutoffs.pop() if len(cutoffs) == 1 else math.nan,
                         part_sizes=tuple(len(part) for part in parts))


def mixture_indices(parts: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Indices of several index sets, each repeated a whole number of times so that set ``k``
    supplies about the share ``weights[k]`` of the result (the set that needs it least appears
    once; a zero weight leaves a set out)."""
    if len(parts) != len(weights):
        raise ValueError(f"got {len(weights)} mixture weights for {len(parts)} data sets")
    if any(w < 0 for w in weights) or not any(w > 0 and len(p) for p, w in zip(parts, weights)):
        raise ValueError(f"mixture weights must be non-negative and give some non-empty set a positive share, "
                         f"got {list(weights)}")
    density = [w / len(p) if len(p) else 0.0 for p, w in zip(parts, weights)]
    base = min(d for d in density if d > 0)
    return np.concatenate([np.tile(np.asarray(p), int(round(d / base))) for p, d in zip(parts, density)])


def _array_fields() -> list[str]:
    return [f.name for f in fields(ComplexArrays) if f.init and f.name not in ("vocab", "pocket_cutoff", "part_sizes")]


def save_complexes(arrays: ComplexArrays, path: str | os.PathLike) -> None:
    """Write ``arrays`` to ``path`` (compressed npz) atomically: temporary file, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {name: getattr(arrays, name) for name in _array_fields()}
    data |= {
        "elements": np.array(arrays.vocab.elements),
        "charges": np.array(arrays.vocab.charges, dtype=np.int8),
        "num_bond_types": np.array(arrays.vocab.num_bond_types),
        "pocket_cutoff": np.array(arrays.pocket_cutoff, dtype=np.float64),
        "version": np.array(_CACHE_VERSION),
    }
    save_npz(path, data)


def shard_path(path: str | os.PathLike, k: int) -> Path:
    """Where shard ``k`` of the sharded cache ``path`` lives: beside it, ``<stem>.shard-<k>.npz``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shard-{k:05d}.npz")


def save_sharded(path: str | os.PathLike, shards: Sequence[Path]) -> None:
    """Write the manifest of a sharded cache (after its shards, so an interrupted preparation
    leaves no cache that looks complete)."""
    save_npz(Path(path), {"shards": np.array([Path(p).name for p in shards]), "version": np.array(_CACHE_VERSION)})


def load_complexes(path: str | os.PathLike) -> ComplexArrays:
    """Load a cache written by :func:`save_complexes`, or a sharded one (:func:`save_sharded`),
    whose shards are concatenated in order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"complex cache {path} not found; build it with `moldiff prepare complexes`")
    with np.load(path, allow_pickle=False) as npz:
        data = {key: npz[key] for key in npz.files}
    if int(data.get("version", -1)) != _CACHE_VERSION:
        raise ValueError(f"complex cache {path} has an incompatible format; "
                         "rebuild it with `moldiff prepare complexes`")
    if "shards" in data:
        shards = [path.parent / str(name) for name in data["shards"]]
        missing = [p.name for p in shards if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"complex cache {path}: shard(s) {', '.join(missing[:3])} missing; "
                                    "rebuild it with `moldiff prepare complexes`")
        whole = concat_complexes([load_complexes(p) for p in shards])
        whole.part_sizes = ()  # one cache, however many files
        return whole
    vocab = Vocab(tuple(data["elements"].tolist()), tuple(int(c) for c in data["charges"]),
                  int(data["num_bond_types"]))
    return ComplexArrays(**{name: data[name] for name in _array_fields()}, vocab=vocab,
                         pocket_cutoff=float(data["pocket_cutoff"]))
