"""Docked complexes: the compact ``.npz`` format and its conversion into the complex cache (numpy;
no torch, no RDKit).

A :class:`DockedSet` stores each receptor pocket once, as the path of its PDB file relative to a
data root plus the file's SHA-1 (the pocket is re-read from there, not copied), and each docked
ligand as heavy-atom arrays in the complex cache's encoding (:func:`featurize_ligand`) with the
index of its pocket, its rotatable-bond count, training weight and docking scores.
:func:`to_complex_arrays` cuts each ligand's pocket from the pocket file exactly as the crystal
cache does (:func:`~moldiff.chem.pocket.pocket_from_ligand`), so docked and crystal complexes mix in
training (``data.path`` lists several caches, ``data.weights`` their shares).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from moldiff.utils.atomic import file_sha1, save_npz
from moldiff.datasets.complexes import SPLIT_NAMES, ComplexArrays, pocket_columns, save_complexes
from moldiff.vocab import LIGAND_VOCAB, Vocab

_FORMAT_VERSION = 1


def ligand_weight(rotatable: int, rigid_max: int = 5, flexible_max: int = 10, flexible_weight: float = 0.5
                  ) -> float | None:
    """Training weight of a docked ligand by its rotatable bonds: 1 up to ``rigid_max`` (such poses
    are mostly right), ``flexible_weight`` up to ``flexible_max``, None (dropped) above."""
    if rotatable <= rigid_max:
        return 1.0
    return flexible_weight if rotatable <= flexible_max else None


@dataclass
class DockedSet:
    """Pockets (one row per receptor) and docked ligands; ligand ``i`` owns atoms
    ``lig_offsets[i]:lig_offsets[i+1]`` and bonds ``bond_offsets[i]:bond_offsets[i+1]`` (local
    indices, i < j, kekulized classes 1-3) and sits in pocket ``lig_pocket[i]``."""

    pocket_path: np.ndarray  # str [P], pocket PDB relative to the data root
    pocket_sha1: np.ndarray  # str [P]
    pocket_name: np.ndarray  # str [P], the receptor complex
    pocket_protein: np.ndarray  # str [P], its protein cluster (the id splits are made by)
    lig_pocket: np.ndarray  # int32 [L]
    lig_num_atoms: np.ndarray  # int64 [L]
    lig_pos: np.ndarray  # float32 [A, 3], in the pocket file's frame
    lig_types: np.ndarray  # uint8 [A], index into vocab.elements
    lig_charges: np.ndarray  # int8 [A], formal charge
    lig_num_bonds: np.ndarray  # int64 [L]
    lig_bonds: np.ndarray  # uint16 [B, 2]
    lig_bond_classes: np.ndarray  # uint8 [B]
    name: np.ndarray  # str [L], the docking job
    smiles: np.ndarray  # str [L], canonical, no H, no stereo
    rotatable: np.ndarray  # uint8 [L]
    weight: np.ndarray  # float32 [L]
    affinity: np.ndarray  # float32 [L], Vinardo (kcal/mol)
    cnn_score: np.ndarray  # float32 [L], CNN pose probability
    cnn_affinity: np.ndarray  # float32 [L], CNN pK
    vocab: Vocab = LIGAND_VOCAB
    lig_offsets: np.ndarray = field(init=False, repr=False)
    bond_offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.lig_offsets = np.concatenate(([0], np.cumsum(self.lig_num_atoms))).astype(np.int64)
        self.bond_offsets = np.concatenate(([0], np.cumsum(self.lig_num_bonds))).astype(np.int64)

    def __len__(self) -> int:
        return len(self.lig_num_atoms)

    def take(self, indices: np.ndarray) -> DockedSet:
        """The ligands ``indices`` (in that order) with the pockets they use."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        atoms, bonds = _ranges(self.lig_offsets, indices), _ranges(self.bond_offsets, indices)
        used, lig_pocket = np.unique(self.lig_pocket[indices], return_inverse=True)
        arrays = {name: getattr(self, name)[used] for name in _array_fields() if name.startswith("pocket_")}
        arrays |= {name: getattr(self, name)[atoms] for name in ("lig_pos", "lig_types", "lig_charges")}
        arrays |= {name: getattr(self, name)[bonds] for name in ("lig_bonds", "lig_bond_classes")}
        arrays |= {name: getattr(self, name)[indices] for name in _array_fields() if name not in arrays}
        arrays["lig_pocket"] = lig_pocket.reshape(-1).astype(np.int32)
        return DockedSet(**arrays, vocab=self.vocab)


def _ranges(offsets: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Concatenated ``offsets[i]:offsets[i + 1]`` of each of ``indices`` (int64)."""
    return np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in indices] + [np.zeros(0, np.int64)])


def _array_fields() -> list[str]:
    return [f.name for f in fields(DockedSet) if f.init and f.name != "vocab"]


def empty_docked(vocab: Vocab = LIGAND_VOCAB) -> DockedSet:
    """A set without pockets or ligands."""
    dtypes = {"lig_pocket": np.int32, "lig_num_atoms": np.int64, "lig_types": np.uint8, "lig_charges": np.int8,
              "lig_num_bonds": np.int64, "lig_bond_classes": np.uint8, "rotatable": np.uint8, "weight": np.float32,
              "affinity": np.float32, "cnn_score": np.float32, "cnn_affinity": np.float32}
    arrays = {name: np.zeros(0, dtype=dtypes.get(name, str)) for name in _array_fields()}
    arrays["lig_pos"] = np.zeros((0, 3), dtype=np.float32)
    arrays["lig_bonds"] = np.zeros((0, 2), dtype=np.uint16)
    return DockedSet(**arrays, vocab=vocab)


def concat_docked(parts: Sequence[DockedSet]) -> DockedSet:
    """One set holding the ligands of ``parts`` in order; pockets with the same path are stored
    once (their hashes must agree), in order of first appearance."""
    if not parts:
        raise ValueError("no docked sets to concatenate")
    vocab = parts[0].vocab
    paths: dict[str, int] = {}
    rows: dict[str, list] = {"pocket_path": [], "pocket_sha1": [], "pocket_name": [], "pocket_protein": []}
    remaps = []
    for k, part in enumerate(parts):
        if part.vocab != vocab:
            raise ValueError(f"docked set {k} has another vocabulary ({part.vocab}) than set 0 ({vocab})")
        remap = []
        for p, path in enumerate(part.pocket_path.tolist()):
            if path not in paths:
                paths[path] = len(paths)
                for key in rows:
                    rows[key].append(getattr(part, key)[p])
            elif rows["pocket_sha1"][paths[path]] != part.pocket_sha1[p]:
                raise ValueError(f"pocket {path} has two different SHA-1 hashes in the docked sets")
            remap.append(paths[path])
        remaps.append(np.array(remap, dtype=np.int32))
    ligands = {name: np.concatenate([getattr(part, name) for part in parts])
               for name in _array_fields() if not name.startswith("pocket_") and name != "lig_pocket"}
    lig_pocket = np.concatenate([remap[part.lig_pocket] for remap, part in zip(remaps, parts)]).astype(np.int32)
    pockets = {key: np.array(values, dtype=str) for key, values in rows.items()}
    return DockedSet(**pockets, lig_pocket=lig_pocket, **ligands, vocab=vocab)


def save_docked(docked: DockedSet, path: str | os.PathLike) -> None:
    """Write ``docked`` to ``path`` (compressed npz) atomically."""
    data = {name: getattr(docked, name) for name in _array_fields()}
    data |= {"elements": np.array(docked.vocab.elements), "charges": np.array(docked.vocab.charges, dtype=np.int8),
             "num_bond_types": np.array(docked.vocab.num_bond_types), "version": np.array(_FORMAT_VERSION)}
    save_npz(path, data)


def load_docked(path: str | os.PathLike) -> DockedSet:
    """Read a set written by :func:`save_docked`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"docked set {path} not found; make it with `python scripts/dock_complexes.py dock`")
    with np.load(path, allow_pickle=False) as npz:
        data = {key: npz[key] for key in npz.files}
    if int(data.get("version", -1)) != _FORMAT_VERSION:
        raise ValueError(f"{path}: not a docked set of format version {_FORMAT_VERSION}")
    vocab = Vocab(tuple(data["elements"].tolist()), tuple(int(c) for c in data["charges"]),
                  int(data["num_bond_types"]))
    return DockedSet(**{name: data[name] for name in _array_fields()}, vocab=vocab)


def to_complex_arrays(docked: DockedSet, data_root: str | os.PathLike, pocket_cutoff: float = 8.0) -> ComplexArrays:
    """The docked complexes as complex-cache arrays: all in the training split, protein id = the
    pocket's cluster, no dG.

    Each pocket file is read once (Biopython) and checked against its SHA-1; each ligand's
    pocket is the whole residues within ``pocket_cutoff`` of its docked heavy atoms, as
    :func:`moldiff.datasets.complexes_prepare.prepare_complexes` cuts crystal pockets.
    """
    from moldiff.chem.pocket import pocket_features, pocket_from_ligand, read_structure

    if not len(docked):
        raise ValueError("the docked set holds no ligands")
    root = Path(data_root)
    atoms = {}
    for p in np.unique(docked.lig_pocket):
        path = root / str(docked.pocket_path[p])
        if not path.is_file():
            raise FileNotFoundError(f"pocket file {path} not found; is {root} the data root the set was docked from?")
        if file_sha1(path) != docked.pocket_sha1[p]:
            raise ValueError(f"pocket file {path} differs from the one docked into (SHA-1 mismatch)")
        atoms[p] = read_structure(path)
    pockets = []
    for i, p in enumerate(docked.lig_pocket):
        pocket = pocket_from_ligand(atoms[p], docked.lig_pos[docked.lig_offsets[i]:docked.lig_offsets[i + 1]],
                                    pocket_cutoff)
        pockets.append((pocket.pos, pocket_features(pocket)))
    arrays = ComplexArrays(
        lig_num_atoms=docked.lig_num_atoms.astype(np.int64),
        lig_pos=docked.lig_pos.astype(np.float32),
        lig_types=docked.lig_types.astype(np.uint8),
        lig_charges=docked.lig_charges.astype(np.int8),
        lig_num_bonds=docked.lig_num_bonds.astype(np.int64),
        lig_bonds=docked.lig_bonds.astype(np.uint16).reshape(-1, 2),
        lig_bond_classes=docked.lig_bond_classes.astype(np.uint8),
        **pocket_columns(pockets),
        name=docked.name.astype(str),
        protein=docked.pocket_protein[docked.lig_pocket].astype(str),
        split=np.full(len(docked), SPLIT_NAMES.index("train"), dtype=np.uint8),
        smiles=docked.smiles.astype(str),
        dg=np.full(len(docked), math.nan, dtype=np.float32),
        vocab=docked.vocab,
        pocket_cutoff=float(pocket_cutoff),
    )
    return arrays


def write_complex_caches(docked_path: str | os.PathLike, data_root: str | os.PathLike, out: str | os.PathLike,
                         pocket_cutoff: float = 8.0) -> dict[float, tuple[Path, int]]:
    """Convert a docked set into complex caches, one per ligand weight (``<out stem>.w<weight>.npz``
    beside ``out``), since training weighs whole caches (``data.weights``): a cache of weight
    ``w`` with ``n`` complexes should get a share proportional to ``w * n``. Returns
    ``{weight: (path, n)}``."""
    docked = load_docked(docked_path)
    out = Path(out)
    written = {}
    for weight in sorted(set(docked.weight.tolist()), reverse=True):
        part = docked.take(np.flatnonzero(docked.weight == weight))
        path = out.with_name(f"{out.stem}.w{weight:g}.npz")
        save_complexes(to_complex_arrays(part, data_root, pocket_cutoff), path)
        written[weight] = (path, len(part))
    return written
