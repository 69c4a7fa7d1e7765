"""Protein-ligand sources and parallel preprocessing into the complex cache (RDKit, Biopython; no torch).

Three sources give a list of :class:`Entry` (protein file, ligand file, record, name, protein id,
split, experimental dG):

- :func:`crossdocked_entries`: CrossDocked2020 ``pocket10`` pairs and the published
  ``split_by_name.pt`` (read without torch); validation is a seeded fraction of the training
  protein families;
- :func:`fep_entries`: the FEP benchmark of Ross et al. 2023, one complex per ligand record,
  split by protein so no target is shared between splits; the training systems that overlap the
  CrossDocked2020 test proteins (:data:`CROSSDOCKED_OVERLAP_FEP_SYSTEMS`) are left out by default;
- :func:`folder_entries`: a CSV ``protein,ligand[,name,split,protein_id]``.

:func:`prepare_complexes` parses each protein file once for all its ligands, cuts the pocket
with :func:`moldiff.chem.pocket.pocket_from_ligand` (the function sampling uses too), featurizes
pocket and ligand in a process pool, and writes the cache. Skipped entries (missing files,
unreadable structures, unsupported ligands, ligands away from the protein) are counted per
reason, with examples, in the returned summary.
"""
from __future__ import annotations

import csv
import math
import multiprocessing
import os
import pickle
import re
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from rdkit import Chem
from tqdm import tqdm

from moldiff.chem.build import canonical_smiles
from moldiff.chem.io import read_sdf
from moldiff.chem.ligand_checks import suspect_ligand
from moldiff.chem.pocket import (
    StructureError,
    pocket_features,
    pocket_from_ligand,
    read_structure,
)
from moldiff.datasets.complexes import (
    SPLIT_NAMES,
    ComplexArrays,
    _check_split,
    clean_ligand,
    featurize_ligand,
    ligand_columns,
    pocket_columns,
    save_complexes,
    save_sharded,
    shard_path,
)
from moldiff.vocab import LIGAND_VOCAB

SPLIT_SEED = 42
#: The FEP benchmark proteins held out for testing (all their systems), as the data README suggests.
DEFAULT_FEP_TEST_PROTEINS: tuple[str, ...] = ("TYK2", "PTP1B", "Mcl1", "Thrombin", "HIF-2alpha", "T4 lysozyme",
                                              "Galectin", "Eg5", "SHP2", "PFKFB3")
#: FEP benchmark TRAINING systems ``(subset folder, system)`` with >= 30 % sequence identity to a
#: CrossDocked2020 test protein (pdb_complexes README, section (d): 46 systems of 19 proteins; the
#: system is the ``Input file naming scheme`` of ``<subset>/subset_metadata.csv``). :func:`fep_entries`
#: leaves them out of training and validation by default, so CrossDocked test numbers stay clean.
CROSSDOCKED_OVERLAP_FEP_SYSTEMS: tuple[tuple[str, str], ...] = (
    # BACE1 (CrossDocked test BACE2)
    ("jacs_set", "bace"), ("janssen_bace", "bace_ciordia_prospective"), ("janssen_bace", "bace_ciordia_retro"),
    ("janssen_bace", "bace_keranen_p2"), ("janssen_bace", "bace_p3_arg368_in"),
    ("macrocycles", "2B8V_lig24and25_alpha05"), ("macrocycles", "2Q15_lig17to21_alpha05"),
    ("opls_stress", "cr_bace1"), ("opls_stress", "cr_bace2"),
    ("opls_stress", "hc_bace1"), ("opls_stress", "hc_bace2"), ("opls_stress", "pb_bace3"),
    ("scaffold_hopping", "Bace1_4zsp"),
    # BRD4 (BAZ2A; only this system: waterset/brd41_ASH106 is below the cut)
    ("bayer_macrocycles", "wagner_brd4"),
    # BTK (ABL2)
    ("misc", "btk_extra_flip"),
    # CDK2 (CDK6)
    ("charge_annhil", "cdk2"), ("jacs_set", "cdk2"),
    # CDK8 (CDK6)
    ("merck", "cdk8_5cei_new_helix_loop_extra"), ("misc", "cdk8_koehler"),
    # CHK1 (TBK1, GRK4)
    ("macrocycles", "2E9P_lig4to7_alpha05"), ("opls_stress", "chk1_set1"), ("opls_stress", "chk1_set2"),
    ("opls_stress", "chk1_set3"), ("opls_stress", "chk1_set4"), ("opls_stress", "chk1_set5"),
    ("opls_stress", "chk1_set6"), ("opls_stress", "chk1_set7"), ("scaffold_hopping", "CHK1_3u9n_corehop"),
    ("waterset", "chk1"),
    # CK2 (CDK6)
    ("macrocycles", "ck2_custcore_hotlys"),
    # DLK, EGFR (TBK1)
    ("charge_annhil", "dlk"), ("charge_annhil", "egfr"),
    # IRAK4, ITK, JAK1 (ABL2)
    ("charge_annhil", "irak4_s2"), ("charge_annhil", "irak4_s3"), ("charge_annhil", "itk"), ("charge_annhil", "jak1"),
    # JAK2 (ABL2)
    ("fragments", "jak2_set1"), ("fragments", "jak2_set2_extra"),
    # JNK1 (CDK6)
    ("charge_annhil", "jnk1"), ("jacs_set", "jnk1_manual_flips"),
    # P38 (CDK6)
    ("fragments", "frag_p38"), ("jacs_set", "p38"),
    # SYK (ABL2), TAF1(2) (BAZ2A), TNKS2 (identical), cMet (ABL2)
    ("merck", "syk_4puz_fullmap"), ("waterset", "taf12"), ("merck", "tnks2_fullmap"), ("merck", "cmet"),
)
#: SDF properties holding the FEP benchmark's experimental binding free energy (kcal/mol), in order of preference.
FEP_DG_PROPERTIES: tuple[str, ...] = ("r_exp_dg", "r_fepplus_exp_dg")
_EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class Entry:
    """One complex to prepare: ``ligand_index`` is the SDF record (None: the first one)."""

    protein: str
    ligand: str
    ligand_index: int | None
    name: str
    protein_id: str
    split: str
    dg: float | None = None


# ------------------------------------------------------------------------- splits


def assign_splits(protein_ids: Iterable[str], val_fraction: float, seed: int = SPLIT_SEED,
                  test: Iterable[str] = ()) -> dict[str, str]:
    """Protein id -> split: ``test`` ids are test; a seeded ``val_fraction`` of the rest (at least
    one when the fraction is positive and two or more remain) is val; the others train."""
    test = set(test)
    rest = sorted(set(protein_ids) - test)
    n_val = round(val_fraction * len(rest))
    if val_fraction > 0 and len(rest) > 1:
        n_val = min(max(n_val, 1), len(rest) - 1)
    val = set(np.random.default_rng(seed).permutation(rest)[:n_val].tolist())
    return {pid: "test" if pid in test else "val" if pid in val else "train" for pid in sorted(test) + rest}


# ------------------------------------------------------------------------ sources


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only builtin containers and strings: a split file cannot run code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def read_crossdocked_split(split_file: str | os.PathLike) -> dict[str, list[tuple[str, str]]]:
    """``{'train': [(pocket10_pdb, ligand_sdf), ...], 'test': [...]}`` from ``split_by_name.pt``
    (torch's zip format holding plain lists), without torch; or, from a ``.txt`` list of ligand
    SDF paths (the test set's ``ligand_filenames.txt``), all of them as test pairs with the
    ``<name>_pocket10.pdb`` beside each ligand."""
    path = Path(split_file)
    if not path.is_file():
        raise FileNotFoundError(f"CrossDocked split file {path} not found")
    if path.suffix == ".txt":
        ligands = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not ligands or not all(name.endswith(".sdf") for name in ligands):
            raise ValueError(f"{path}: expected one ligand .sdf path per line")
        return {"test": [(name.removesuffix(".sdf") + "_pocket10.pdb", name) for name in ligands]}
    try:
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            split = _PlainUnpickler(archive.open(member)).load()
    except (zipfile.BadZipFile, StopIteration, pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f"{path}: not a CrossDocked split file saved by torch ({type(err).__name__})") from None
    if not isinstance(split, dict) or set(split) - set(SPLIT_NAMES):
        raise ValueError(f"{path}: expected a dict with keys among {SPLIT_NAMES}")
    return {name: [(str(p), str(q)) for p, q in pairs] for name, pairs in split.items()}


def crossdocked_entries(root: str | os.PathLike, split_file: str | os.PathLike, val_fraction: float = 0.02,
                        seed: int = SPLIT_SEED) -> list[Entry]:
    """Entries of every pair in ``split_file`` under ``root`` (``<family>/<name>_pocket10.pdb`` +
    ``<family>/<name>.sdf``); the protein id is the family folder.

    Validation families are drawn from all training families of the split file, so they do not
    depend on which files a user has; pairs missing under ``root`` stay in the list and
    :func:`prepare_complexes` counts them.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CrossDocked root {root} is not a folder")
    split = read_crossdocked_split(split_file)
    family = {name: [pocket.split("/")[0] for pocket, _ in pairs] for name, pairs in split.items()}
    val_families = {pid for pid, s in assign_splits(family.get("train", []), val_fraction, seed).items() if s == "val"}
    entries = []
    for name, pairs in split.items():
        for (pocket, ligand), fam in zip(pairs, family[name]):
            which = "val" if name == "train" and fam in val_families else name
            entries.append(Entry(str(root / pocket), str(root / ligand), None, ligand.removesuffix(".sdf"), fam, which))
    return entries


def _normalize_protein(name: str) -> str:
    """Case- and punctuation-free protein name: "HIF-2alpha" and "hif2 alpha" match."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _read_metadata(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]
    for column in ("Protein", "Input file naming scheme"):
        if rows and column not in rows[0]:
            raise ValueError(f"{path}: no column {column!r}")
    return rows


def _sdf_records(path: Path) -> list[tuple[str, float | None]]:
    """(title, experimental dG or None) of each SDF record; unparsable records keep their slot."""
    records = []
    for k, mol in enumerate(read_sdf(path, strict=False)):
        props = mol.GetPropsAsDict() if mol is not None else {}
        dg = next((float(props[p]) for p in FEP_DG_PROPERTIES if p in props), None)
        records.append((mol.GetProp("_Name") if mol is not None and mol.HasProp("_Name") else f"record{k}", dg))
    return records


def fep_entries(root: str | os.PathLike, test_proteins: Sequence[str] = DEFAULT_FEP_TEST_PROTEINS,
                val_fraction: float = 0.1, seed: int = SPLIT_SEED,
                exclude: Iterable[tuple[str, str]] = CROSSDOCKED_OVERLAP_FEP_SYSTEMS) -> list[Entry]:
    """One entry per ligand record of the FEP benchmark (``<subset>/subset_metadata.csv``,
    ``<prefix>_protein.pdb``, ``<prefix>_ligands.sdf``), split by protein.

    Proteins are matched ignoring case and punctuation; a listed test protein that is absent is
    an error. A seeded ``val_fraction`` of the other proteins is validation. Systems in
    ``exclude`` (``(subset folder, system prefix)`` pairs, exact names; by default the 46 that
    overlap the CrossDocked2020 test proteins) are left out of training and validation (a system
    of a test protein stays test); each pair must name a system in the metadata, else
    ``ValueError``. Splits are drawn over all proteins before the exclusion, so the remaining
    entries keep the split they have with ``exclude=()``.
    """
    root = Path(root)
    metadata = sorted(root.glob("*/subset_metadata.csv"))
    if not metadata:
        raise FileNotFoundError(f"no */subset_metadata.csv under {root}; is it the FEP benchmark folder?")
    systems, names = [], {}
    for path in metadata:
        for row in _read_metadata(path):
            key = _normalize_protein(row["Protein"])
            names.setdefault(key, row["Protein"])
            systems.append((path.parent, row["Input file naming scheme"], key))
    wanted = {_normalize_protein(p): p for p in test_proteins}
    missing = [p for key, p in wanted.items() if key not in names]
    if missing:
        raise ValueError(f"test protein(s) {', '.join(missing)} not in the FEP metadata under {root}; "
                         f"proteins there: {', '.join(sorted(names.values()))}")
    exclude = {(str(subset), str(system)) for subset, system in exclude}
    unmatched = sorted(exclude - {(folder.name, prefix) for folder, prefix, _ in systems})
    if unmatched:
        raise ValueError(f"{len(unmatched)} excluded FEP system(s) not in the metadata under {root}: "
                         + ", ".join(f"{subset}/{system}" for subset, system in unmatched[:5])
                         + (" ..." if len(unmatched) > 5 else "")
                         + "; pass exclude=() (--keep_crossdocked_overlap) to exclude nothing")
    splits = assign_splits(names, val_fraction, seed, test=wanted)
    entries = []
    for folder, prefix, key in systems:
        if (folder.name, prefix) in exclude and splits[key] != "test":
            continue
        protein, ligands = folder / f"{prefix}_protein.pdb", folder / f"{prefix}_ligands.sdf"
        records = _sdf_records(ligands) if ligands.is_file() else [(prefix, None)]
        for k, (title, dg) in enumerate(records):
            entries.append(Entry(str(protein), str(ligands), k, f"{folder.name}/{prefix}/{k}:{title}",
                                 names[key], splits[key], dg))
    return entries


def folder_entries(index_csv: str | os.PathLike, val_fraction: float = 0.1, seed: int = SPLIT_SEED) -> list[Entry]:
    """Entries of a CSV with columns ``protein,ligand`` and optional ``name,split,protein_id``.

    Paths are relative to the CSV's folder (absolute paths also work); the first SDF record is
    the ligand. ``protein_id`` defaults to the protein path, ``name`` to the ligand path; rows
    without a split get one by protein id (a seeded ``val_fraction`` val, the rest train).
    """
    index_csv = Path(index_csv)
    if not index_csv.is_file():
        raise FileNotFoundError(f"complex index {index_csv} not found")
    with open(index_csv, newline="") as handle:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]
    if not rows or not {"protein", "ligand"} <= set(rows[0]):
        raise ValueError(f"{index_csv}: expected a header with columns protein,ligand[,name,split,protein_id] "
                         "and at least one row")
    for k, row in enumerate(rows, start=2):
        if row.get("split"):
            try:
                _check_split(row["split"])
            except ValueError as err:
                raise ValueError(f"{index_csv} line {k}: {err}") from None
    pids = [row.get("protein_id") or row["protein"] for row in rows]
    auto = assign_splits([pid for pid, row in zip(pids, rows) if not row.get("split")], val_fraction, seed)
    base = index_csv.parent
    return [Entry(str(base / row["protein"]), str(base / row["ligand"]), None, row.get("name") or row["ligand"],
                  pid, row.get("split") or auto[pid]) for pid, row in zip(pids, rows)]


# ------------------------------------------------------------------ preprocessing


@dataclass
class _Complex:
    """Featurized arrays of one kept complex."""

    lig: tuple[np.ndarray, ...]  # featurize_ligand's (pos, types, charges, bonds, classes)
    pocket_pos: np.ndarray
    pocket: dict[str, np.ndarray]  # pocket_features
    smiles: str


#: A worker's answer for one entry: the complex, or (reason, detail).
_Result = _Complex | tuple[str, str]


def _ligand_mol(entry: Entry, sdf_cache: dict[str, list]) -> Chem.Mol:
    """The entry's SDF record, read by :func:`~moldiff.chem.io.read_sdf` (query features made
    plain, hydrogens kept for :func:`featurize_ligand` to remove; files read once per task);
    ``ValueError`` if unreadable."""
    if entry.ligand not in sdf_cache:
        sdf_cache[entry.ligand] = read_sdf(entry.ligand, strict=False)
    mols = sdf_cache[entry.ligand]
    k = entry.ligand_index or 0
    if k >= len(mols) or mols[k] is None:
        raise ValueError(f"{entry.ligand}: record {k + 1} of {len(mols)} could not be parsed")
    return mols[k]


def _process_entry(atoms, entry: Entry, sdf_cache: dict[str, list], cutoff: float, drop_suspect: bool) -> _Result:
    try:
        mol = _ligand_mol(entry, sdf_cache)
    except (ValueError, OSError) as err:
        return "ligand unreadable", str(err)
    try:
        clean = clean_ligand(mol)
    except ValueError:
        clean = None  # featurize_ligand below names what is wrong
    if drop_suspect and entry.split == "train" and clean is not None and (reason := suspect_ligand(clean)):
        return f"suspect ligand: {reason}", entry.name
    try:
        lig = featurize_ligand(mol, LIGAND_VOCAB)
    except ValueError as err:
        return str(err).split(": ")[0], f"{entry.name}: {err}"
    try:
        pocket = pocket_from_ligand(atoms, lig[0], cutoff)
    except StructureError as err:
        return "no pocket around the ligand", f"{entry.name}: {err}"
    return _Complex(lig, pocket.pos.astype(np.float32), pocket_features(pocket),
                    canonical_smiles(clean) or "")  # clean: featurize_ligand cleaned the same molecule


def _process_group(task: tuple[str, list[tuple[int, Entry]], float, bool, bool]) -> list[tuple[int, _Result]]:
    """Pool worker: all entries of one protein file (parsed once)."""
    protein, items, cutoff, keep_hetero, drop_suspect = task
    try:
        atoms = read_structure(protein, keep_hetero=keep_hetero)
    except StructureError as err:
        return [(idx, ("protein unreadable", str(err))) for idx, _ in items]
    sdf_cache: dict[str, list] = {}
    return [(idx, _process_entry(atoms, entry, sdf_cache, cutoff, drop_suspect)) for idx, entry in items]


def _iter_results(tasks: list, total: int, num_workers: int, verbose: bool):
    """Results ``[(entry index, result), ...]`` of each protein group as they finish, from a
    spawn-context pool unless ``num_workers == 1``, with a progress bar."""
    chunksize = max(1, min(32, len(tasks) // (num_workers * 8)))
    with tqdm(total=total, desc="complexes", unit="cplx", disable=not verbose) as bar, ExitStack() as stack:
        if num_workers == 1:
            outputs = map(_process_group, tasks)
        else:
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(num_workers))
            outputs = pool.imap_unordered(_process_group, tasks, chunksize=chunksize)
        for out in outputs:
            bar.update(len(out))
            yield out


def _missing_file(entry: Entry, exists: dict[str, bool]) -> tuple[str, str] | None:
    for kind, path in (("protein", entry.protein), ("ligand", entry.ligand)):
        if path not in exists:
            exists[path] = os.path.isfile(path)
        if not exists[path]:
            return f"missing {kind} file", f"{entry.name}: {path}"
    return None


def prepare_complexes(entries: Sequence[Entry], out_path: str | os.PathLike, pocket_cutoff: float = 8.0,
                      keep_hetero: bool = False, num_workers: int | None = None, verbose: bool = True,
                      shard_size: int | None = None, drop_suspect: bool = False) -> dict:
    """Featurize ``entries`` into the cache at ``out_path``; returns (and if verbose prints) a summary.

    Each protein file is parsed once for all its ligands, in worker processes. Results are put back
    in entry order as they arrive and, with ``shard_size``, written out every ``shard_size`` kept
    complexes (:func:`~moldiff.datasets.complexes.save_sharded`), so memory stays bounded by one
    shard plus the results that arrived out of order; without it, one file. Entries that cannot be
    used are skipped and counted per reason; ``ValueError`` if none is left. ``drop_suspect``
    also skips training-split ligands with a structure error
    (:func:`~moldiff.chem.ligand_checks.suspect_ligand`: a distorted bond, an S/P oxoacid without a
    double bond, a flat ring holding an sp3 carbon); validation and test complexes are always kept,
    so that measurements on them stay comparable.
    """
    start = time.perf_counter()
    if shard_size is not None and shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    for entry in entries:
        _check_split(entry.split)
    exists: dict[str, bool] = {}
    missing_files: dict[int, _Result] = {}
    groups: dict[str, list[tuple[int, Entry]]] = {}
    for idx, entry in enumerate(entries):
        missing = _missing_file(entry, exists)
        if missing:
            missing_files[idx] = missing
        else:
            groups.setdefault(entry.protein, []).append((idx, entry))
    tasks = [(protein, items, float(pocket_cutoff), keep_hetero, drop_suspect) for protein, items in groups.items()]
    workers = max(1, min(num_workers or os.cpu_count() or 1, len(tasks)))
    writer = _ShardWriter(Path(out_path), shard_size, pocket_cutoff)
    skipped: list[tuple[str, str]] = []
    outputs = _iter_results(tasks, sum(len(items) for items in groups.values()), workers, verbose)
    for idx, result in _in_entry_order(missing_files, outputs):
        if isinstance(result, _Complex):
            writer.add(entries[idx], result)
        else:
            skipped.append(result)
    if not writer.n_kept:
        reasons = Counter(reason for reason, _ in skipped)
        raise ValueError(f"no complex could be prepared from {len(entries)} entries: "
                         + "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common()))
    writer.close()
    summary = _summary(Path(out_path), len(entries), writer, skipped, time.perf_counter() - start)
    if verbose:
        print(format_summary(summary))
    return summary


def _in_entry_order(known: dict[int, _Result], outputs: Iterable[list[tuple[int, _Result]]]
                    ) -> Iterator[tuple[int, _Result]]:
    """``(entry index, result)`` from index 0 up, each as soon as it and all before it are in:
    ``known`` from the start, the rest from the groups of ``outputs`` as they finish."""
    waiting, nxt = dict(known), 0
    for out in chain([[]], outputs):
        waiting.update(out)
        while nxt in waiting:
            yield nxt, waiting.pop(nxt)
            nxt += 1


class _ShardWriter:
    """Collects kept complexes in entry order; one file at the end, or a shard every ``shard_size``."""

    def __init__(self, path: Path, shard_size: int | None, cutoff: float):
        self.path, self.shard_size, self.cutoff = path, shard_size, cutoff
        self.buffer: list[tuple[Entry, _Complex]] = []
        self.shard_paths: list[Path] = []
        self.counts = {name: 0 for name in SPLIT_NAMES}
        self.proteins: dict[str, set[str]] = {name: set() for name in SPLIT_NAMES}

    def add(self, entry: Entry, cx: _Complex) -> None:
        self.buffer.append((entry, cx))
        self.counts[entry.split] += 1
        self.proteins[entry.split].add(entry.protein_id)
        if self.shard_size is not None and len(self.buffer) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        shard = shard_path(self.path, len(self.shard_paths))
        save_complexes(_assemble(self.buffer, self.cutoff), shard)
        self.shard_paths.append(shard)
        self.buffer = []

    def close(self) -> None:
        """Write what is left: the single file, or the last shard and then the manifest."""
        if self.shard_size is None:
            save_complexes(_assemble(self.buffer, self.cutoff), self.path)
            return
        if self.buffer:
            self._flush()
        save_sharded(self.path, self.shard_paths)

    @property
    def n_kept(self) -> int:
        return sum(self.counts.values())

    @property
    def size_mb(self) -> float:
        return sum(p.stat().st_size for p in [self.path, *self.shard_paths]) / 1e6


def _assemble(kept: list[tuple[Entry, _Complex]], cutoff: float) -> ComplexArrays:
    """Concatenate kept complexes into :class:`ComplexArrays` (entry order)."""
    cxs = [c for _, c in kept]
    return ComplexArrays(
        **ligand_columns([c.lig for c in cxs]),
        **pocket_columns([(c.pocket_pos, c.pocket) for c in cxs]),
        name=np.array([e.name for e, _ in kept], dtype=str),
        protein=np.array([e.protein_id for e, _ in kept], dtype=str),
        split=np.array([SPLIT_NAMES.index(e.split) for e, _ in kept], dtype=np.uint8),
        smiles=np.array([c.smiles for c in cxs], dtype=str),
        dg=np.array([math.nan if e.dg is None else e.dg for e, _ in kept], dtype=np.float32),
        vocab=LIGAND_VOCAB,
        pocket_cutoff=float(cutoff),
    )


def _summary(path: Path, n_in: int, writer: _ShardWriter, skipped: list[tuple[str, str]], seconds: float) -> dict:
    """Counts kept / skipped per reason (with a few examples) and per split, size, shards, time."""
    examples: dict[str, list[str]] = {}
    for reason, detail in skipped:
        if len(examples.setdefault(reason, [])) < _EXAMPLES_PER_REASON:
            examples[reason].append(detail)
    return {
        "path": str(path),
        "n_in": n_in,
        "n_kept": writer.n_kept,
        "skipped": dict(Counter(reason for reason, _ in skipped).most_common()),
        "examples": examples,
        "kept_by_split": dict(writer.counts),
        "proteins_by_split": {name: len(ids) for name, ids in writer.proteins.items()},
        "shards": len(writer.shard_paths),
        "size_mb": writer.size_mb,
        "seconds": seconds,
    }


def format_summary(summary: dict) -> str:
    """Human-readable multi-line summary of :func:`prepare_complexes`."""
    lines = [
        f"wrote {summary['path']} ({summary['size_mb']:.1f} MB"
        + (f" in {summary['shards']} shards" if summary["shards"] else "") + f") in {summary['seconds']:.0f} s",
        f"kept {summary['n_kept']} of {summary['n_in']} complexes; skipped {summary['n_in'] - summary['n_kept']}",
        "kept per split: " + ", ".join(f"{k} {v} ({summary['proteins_by_split'][k]} proteins)"
                                       for k, v in summary["kept_by_split"].items()),
    ]
    for reason, count in summary["skipped"].items():
        lines.append(f"  skipped ({reason}): {count}")
        lines += [f"    e.g. {example}" for example in summary["examples"][reason]]
    return "\n".join(lines)
