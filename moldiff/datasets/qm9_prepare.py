"""QM9 preprocessing into the compact ``.npz`` cache read by :mod:`moldiff.datasets.qm9` (RDKit, no torch).

Source: the CSVs bundled with the ``qm9pack`` package (130,831 molecules). qm9pack already
drops the 3,054 molecules that failed QM9's geometry consistency check
(133,885 - 3,054 = 130,831), i.e. this is the same filtered set EDM trains on. EDM's exact
split indices are not available offline, so the 100,000 / 17,748 / 13,083 train/val/test
split (EDM's sizes) is a seeded permutation (seed 42) over all 130,831 molecules in QM9
index order, drawn *before* any molecule is excluded so split membership never shifts.

Bonds and formal charges come from the dataset SMILES, mapped onto the xyz atoms:

1. the SMILES graph (with explicit H) is matched onto the geometric contact graph
   (pairs closer than 1.3 x the sum of covalent radii) by substructure search;
2. the match is accepted only if, relative to covalent radii, every SMILES bond is shorter
   than every non-bonded pair, so geometry unambiguously supports the mapped graph;
3. the molecule built from xyz + mapped bonds/charges must sanitize and reproduce the
   SMILES (canonical, stereo-free).

Molecules failing any step are excluded with a reason and counted. Bonds are stored
kekulized (classes 1-3) with an aromatic flag, so the 5-class aromatic variant is derived
at load time.

Properties (float32): ``mu`` (Debye), ``alpha`` (Bohr^3), ``homo``/``lumo``/``gap`` (eV,
converted from Hartree as in EDM) and ``Cv`` (cal/mol/K).
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.rdBase import BlockLogs
from tqdm import tqdm

from moldiff.utils.atomic import save_npz
from moldiff.chem.build import build_molecule, canonical_smiles
from moldiff.datasets.qm9 import (
    _CACHE_VERSION,
    DEFAULT_CACHE_PATH,
    PROPERTIES,
    SPLIT_NAMES,
    SPLIT_SEED,
    SPLIT_SIZES,
    _check_split,
)
from moldiff.vocab import QM9_VOCAB

CONTACT_FACTOR = 1.3
_MAX_MATCHES = 1000
_CHUNK_SIZE = 256
_PERIODIC_TABLE = Chem.GetPeriodicTable()


# ---------------------------------------------------------------------------- parsing


def parse_mathematica_number(text: str) -> float:
    """Parse a Mathematica-style number such as ``1.``, ``1.2*^-5`` or ``-3.4*^2`` exactly."""
    return float(text.strip().replace("*^", "e"))


def parse_xyz(text: str) -> np.ndarray:
    """``[[x,y,z],...]`` (Angstrom, Mathematica numbers) -> float64 [n, 3]."""
    values = text.replace("[", " ").replace("]", " ").split(",")
    return np.array([parse_mathematica_number(v) for v in values], dtype=np.float64).reshape(-1, 3)


def parse_elements(text: str) -> list[str]:
    """``['C','H',...]`` -> ``["C", "H", ...]``."""
    return [item.strip().strip("'\"") for item in text.strip().strip("[]").split(",")]


def qm9pack_data_dir() -> Path:
    """Directory holding qm9pack's CSVs, found without importing qm9pack (its import is noisy)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the qm9pack package is not installed; it provides the QM9 CSV files")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def read_qm9_csv(data_dir: Path | None = None) -> pd.DataFrame:
    """All qm9pack rows (index, SMILES, elements, xyz, properties) as strings, in QM9 index order."""
    data_dir = qm9pack_data_dir() if data_dir is None else Path(data_dir)
    files = [data_dir / f"qm9_part{k}.csv" for k in (1, 2, 3)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"QM9 CSV files not found: {', '.join(missing)}")
    columns = ["Index", "SMILES", "Elements", "XYZ_Ang", *(col for col, _ in PROPERTIES.values())]
    frame = pd.concat([pd.read_csv(f, usecols=columns, dtype=str) for f in files], ignore_index=True)
    frame["Index"] = frame["Index"].astype(np.int64)
    return frame.sort_values("Index", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------- split selection


def split_labels(num_molecules: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Per-row split code (0 train, 1 val, 2 test) and a seeded sampling order of the rows.

    Both come from one generator: the first permutation assigns splits, the second orders
    rows for ``limit`` (it must be independent of the first, which is sorted by split).
    """
    if num_molecules != sum(SPLIT_SIZES):
        raise ValueError(f"expected {sum(SPLIT_SIZES)} QM9 molecules in qm9pack, found {num_molecules}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(num_molecules)
    labels = np.empty(num_molecules, dtype=np.uint8)
    bounds = np.cumsum((0, *SPLIT_SIZES))
    for code in range(len(SPLIT_NAMES)):
        labels[perm[bounds[code] : bounds[code + 1]]] = code
    return labels, rng.permutation(num_molecules)


def select_rows(labels: np.ndarray, order: np.ndarray, limit: int | None, splits: Sequence[str] | None) -> np.ndarray:
    """Sorted row positions to process: rows of ``splits``, the first ``limit`` in sampling order.

    Taking the first rows of a random order makes a limited run a representative sample
    instead of QM9's smallest molecules.
    """
    codes = [SPLIT_NAMES.index(_check_split(name)) for name in (splits or SPLIT_NAMES)]
    order = order[np.isin(labels[order], codes)]
    return np.sort(order if limit is None else order[:limit])




# ------------------------------------------------------------------- bond assignment


@dataclass
class _Molecule:
    """Processed arrays of one kept molecule."""

    types: np.ndarray  # uint8 [n]
    charges: np.ndarray  # int8 [n]
    pos: np.ndarray  # float16 [n, 3], centred
    bonds: np.ndarray  # uint8 [m, 2], i < j
    bond_classes: np.ndarray  # uint8 [m], kekulized 1-3
    bond_aromatic: np.ndarray  # bool [m]
    smiles: str


def _skeleton(atomic_nums: Sequence[int], pairs: Sequence[tuple[int, int]]) -> Chem.Mol:
    """Bare graph: element-labelled atoms, single bonds, no charges (for graph matching only)."""
    mol = Chem.RWMol()
    for z in atomic_nums:
        mol.AddAtom(Chem.Atom(int(z)))
    for i, j in pairs:
        mol.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    mol.UpdatePropertyCache(strict=False)
    return mol.GetMol()


def _contact_ratio(elements: Sequence[str], pos: np.ndarray) -> np.ndarray:
    """Pairwise distance divided by the sum of covalent radii, [n, n]."""
    radii = np.array([_PERIODIC_TABLE.GetRcovalent(e) for e in elements])
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    return dist / (radii[:, None] + radii[None, :])


def _separable(match: Sequence[int], pairs: np.ndarray, ratio: np.ndarray) -> bool:
    """True if every mapped SMILES bond is relatively shorter than every non-bonded pair."""
    mapped = np.asarray(match)[pairs]
    bonded = np.zeros(ratio.shape, dtype=bool)
    bonded[mapped[:, 0], mapped[:, 1]] = bonded[mapped[:, 1], mapped[:, 0]] = True
    non_bonded = ~bonded & ~np.eye(len(ratio), dtype=bool)
    return not non_bonded.any() or ratio[bonded].max() < ratio[non_bonded].min()


def _map_template(template: Chem.Mol, elements: Sequence[str], pos: np.ndarray) -> tuple[int, ...] | str:
    """Atom mapping template -> xyz atoms (tuple), or the failure reason (str)."""
    pairs = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in template.GetBonds()], dtype=np.int64)
    ratio = _contact_ratio(elements, pos)
    contacts = zip(*np.nonzero(np.triu(ratio < CONTACT_FACTOR, k=1)))
    geometry = _skeleton([_PERIODIC_TABLE.GetAtomicNumber(e) for e in elements], list(contacts))
    query = _skeleton([a.GetAtomicNum() for a in template.GetAtoms()], pairs.reshape(-1, 2).tolist())
    first = geometry.GetSubstructMatch(query)
    if not first:
        return "smiles_graph_not_in_geometry"
    if len(pairs) == 0 or _separable(first, pairs, ratio):
        return tuple(first)
    for match in geometry.GetSubstructMatches(query, uniquify=False, maxMatches=_MAX_MATCHES):
        if _separable(match, pairs, ratio):
            return tuple(match)
    return "bonds_not_separable"


def process_molecule(smiles: str, elements: Sequence[str], pos: np.ndarray) -> _Molecule | str:
    """Map ``smiles`` onto the xyz atoms; the processed molecule, or the failure reason (str)."""
    with BlockLogs():
        parsed = Chem.MolFromSmiles(smiles)
        if parsed is None:
            return "smiles_unparsable"
        template = Chem.AddHs(parsed)
        if sorted(a.GetSymbol() for a in template.GetAtoms()) != sorted(elements):
            return "formula_mismatch"
        match = _map_template(template, elements, pos)
        if isinstance(match, str):
            return match
        return _assemble(template, match, elements, pos, Chem.MolToSmiles(parsed, isomericSmiles=False))


def _assemble(
    template: Chem.Mol, match: tuple[int, ...], elements: Sequence[str], pos: np.ndarray, expected: str
) -> _Molecule | str:
    """Build the xyz molecule with the template's kekulized bonds and charges, and check it."""
    Chem.Kekulize(template, clearAromaticFlags=False)  # SINGLE/DOUBLE types, aromatic flags kept
    charges = np.zeros(len(elements), dtype=np.int8)
    for atom in template.GetAtoms():
        charges[match[atom.GetIdx()]] = atom.GetFormalCharge()
    rows = []
    for bond in template.GetBonds():
        i, j = sorted((match[bond.GetBeginAtomIdx()], match[bond.GetEndAtomIdx()]))
        rows.append((i, j, int(bond.GetBondTypeAsDouble()), bond.GetIsAromatic()))
    rows.sort()
    bonds = np.array(rows, dtype=np.int64).reshape(-1, 4)
    mol = build_molecule(elements, pos, charges.tolist(), bonds[:, :3])
    smiles = canonical_smiles(mol)
    if smiles is None:
        return "sanitize_failed"
    if smiles != expected:
        return "smiles_mismatch"
    return _Molecule(
        types=np.array([QM9_VOCAB.element_index(e) for e in elements], dtype=np.uint8),
        charges=charges,
        pos=(pos - pos.mean(axis=0)).astype(np.float16),
        bonds=bonds[:, :2].astype(np.uint8),
        bond_classes=bonds[:, 2].astype(np.uint8),
        bond_aromatic=bonds[:, 3].astype(bool),
        smiles=smiles,
    )


def _process_chunk(rows: list[tuple[str, str, str]]) -> list[_Molecule | str]:
    """Pool worker: process (SMILES, elements text, xyz text) rows; unexpected errors become reasons."""
    results: list[_Molecule | str] = []
    for smiles, elements_text, xyz_text in rows:
        try:
            elements, pos = parse_elements(elements_text), parse_xyz(xyz_text)
            if len(elements) != len(pos):
                results.append("atom_count_mismatch")
                continue
            results.append(process_molecule(smiles, elements, pos))
        except (ValueError, KeyError, RuntimeError) as err:
            results.append(f"error:{type(err).__name__}")
    return results


# --------------------------------------------------------------------- preprocessing


def _run_chunks(rows: list[tuple[str, str, str]], num_workers: int, verbose: bool) -> list[_Molecule | str]:
    """Process rows in chunks, in a process pool unless ``num_workers == 1``, with a progress bar."""
    chunks = [rows[k : k + _CHUNK_SIZE] for k in range(0, len(rows), _CHUNK_SIZE)]
    results: list[_Molecule | str] = []
    with tqdm(total=len(rows), desc="QM9", unit="mol", disable=not verbose) as bar, ExitStack() as stack:
        mapper = map if num_workers == 1 else stack.enter_context(multiprocessing.Pool(num_workers)).imap
        for out in mapper(_process_chunk, chunks):
            results.extend(out)
            bar.update(len(out))
    return results


def _flatten(kept: list[_Molecule]) -> dict[str, np.ndarray]:
    """Concatenate per-molecule arrays into the flat cache layout."""
    def cat(name: str, dtype: type, width: tuple[int, ...] = ()) -> np.ndarray:
        parts = [getattr(m, name) for m in kept]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *width), dtype=dtype)

    return {
        "pos": cat("pos", np.float16, (3,)),
        "atom_types": cat("types", np.uint8),
        "charges": cat("charges", np.int8),
        "num_atoms": np.array([len(m.types) for m in kept], dtype=np.uint8),
        "bonds": cat("bonds", np.uint8, (2,)),
        "bond_classes": cat("bond_classes", np.uint8),
        "bond_aromatic": cat("bond_aromatic", bool),
        "num_bonds": np.array([len(m.bond_classes) for m in kept], dtype=np.uint8),
        "smiles": np.array([m.smiles for m in kept], dtype=str),
    }


def prepare_qm9(
    out_path: str | os.PathLike = DEFAULT_CACHE_PATH,
    num_workers: int | None = None,
    limit: int | None = None,
    splits: Sequence[str] | None = None,
    verbose: bool = True,
) -> dict:
    """Preprocess QM9 into the cache at ``out_path``; returns (and if verbose prints) a summary.

    ``limit`` keeps the first ``limit`` molecules of a seeded random order (a representative
    sample); ``splits`` restricts processing to those splits. ``num_workers`` defaults to
    all cores.
    """
    start = time.perf_counter()
    out_path = Path(out_path)
    frame = read_qm9_csv()
    labels, order = split_labels(len(frame))
    selected = select_rows(labels, order, limit, splits)
    rows = list(frame.loc[selected, ["SMILES", "Elements", "XYZ_Ang"]].itertuples(index=False, name=None))
    results = _run_chunks(rows, num_workers or os.cpu_count() or 1, verbose)
    ok = np.array([not isinstance(r, str) for r in results], dtype=bool)
    kept_rows = selected[ok]
    arrays = _flatten([r for r in results if not isinstance(r, str)])
    arrays |= {
        "qm9_index": frame["Index"].to_numpy()[kept_rows].astype(np.int32),
        "split": labels[kept_rows],
        "excluded_qm9_index": frame["Index"].to_numpy()[selected[~ok]].astype(np.int32),
        "excluded_reason": np.array([r for r in results if isinstance(r, str)], dtype=str),
        "elements": np.array(QM9_VOCAB.elements),
        "version": np.array(_CACHE_VERSION),
    }
    for name, (column, scale) in PROPERTIES.items():
        values = frame.loc[kept_rows, column].map(parse_mathematica_number).to_numpy(dtype=np.float64)
        arrays[f"prop_{name}"] = (values * scale).astype(np.float32)
    save_npz(out_path, arrays)
    summary = _summary(out_path, len(selected), arrays, time.perf_counter() - start)
    if verbose:
        print(format_summary(summary))
    return summary


def _summary(path: Path, total: int, arrays: dict[str, np.ndarray], seconds: float) -> dict:
    """Counts kept/failed (per reason and per split), file size and elapsed time."""
    failed = Counter(arrays["excluded_reason"].tolist())
    return {
        "path": str(path),
        "processed": total,
        "kept": int(len(arrays["qm9_index"])),
        "failed": int(sum(failed.values())),
        "failed_by_reason": dict(sorted(failed.items())),
        "kept_by_split": {name: int((arrays["split"] == k).sum()) for k, name in enumerate(SPLIT_NAMES)},
        "size_mb": path.stat().st_size / 1e6,
        "seconds": seconds,
    }


def format_summary(summary: dict) -> str:
    """Human-readable multi-line summary of :func:`prepare_qm9`."""
    lines = [
        f"wrote {summary['path']} ({summary['size_mb']:.1f} MB) in {summary['seconds']:.0f} s",
        f"kept {summary['kept']} of {summary['processed']} molecules; failed {summary['failed']}",
        "kept per split: " + ", ".join(f"{k} {v}" for k, v in summary["kept_by_split"].items()),
    ]
    lines += [f"  failed ({reason}): {count}" for reason, count in summary["failed_by_reason"].items()]
    return "\n".join(lines)


