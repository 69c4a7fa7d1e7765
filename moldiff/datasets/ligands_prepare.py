"""Ligand-only caches for pretraining pocket models: drug-like SMILES -> RDKit 3D conformers
(ETKDGv3 + MMFF94) -> the complex-cache format with empty pockets (numpy + RDKit, no torch).

A pocket model trained on such entries sees no context and learns unconditional ligand
chemistry; fine-tuning on real complexes then adds the pocket. Each molecule is centred on
its own centroid (there is no pocket frame). The MOSES training SMILES (``molsets`` package,
``moses/dataset/data/train.csv.gz``) are the intended source.
"""
from __future__ import annotations

import gzip
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from moldiff.datasets.complexes import (
    SPLIT_NAMES,
    ComplexArrays,
    featurize_ligand,
    save_complexes,
)


def read_smiles(path: str | os.PathLike) -> list[str]:
    """SMILES from a ``.smi``/``.txt`` file (first column) or a CSV(.gz) with a ``SMILES`` column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SMILES file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = [ln.strip() for ln in handle if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: no SMILES in the file")
    if ".csv" in path.suffixes:
        header = [h.strip().lower() for h in lines[0].split(",")]
        if "smiles" not in header:
            raise ValueError(f"{path}: CSV without a SMILES column (columns: {', '.join(header)})")
        col = header.index("smiles")
        return [ln.split(",")[col] for ln in lines[1:]]
    return [ln.split()[0] for ln in lines]


def moses_smiles_path() -> Path:
    """The MOSES training SMILES (``train.csv.gz``) inside an installed ``molsets`` package, found
    without importing it (its imports need packages this project does not install)."""
    import importlib.util

    spec = importlib.util.find_spec("moses")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("molsets is not installed: pip install --no-deps molsets, or pass --smiles")
    path = Path(spec.origin).parent / "dataset" / "data" / "train.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the MOSES training SMILES are missing from the molsets install")
    return path


def _conformer(task: tuple[int, str, int]):
    """(index, featurized ligand or None, skip reason, canonical SMILES without stereo)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.rdBase import BlockLogs

    i, smiles, seed = task
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return i, None, "SMILES does not parse", ""
        canonical = Chem.MolToSmiles(mol, isomericSmiles=False)
        mol = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        params.randomSeed = seed
        if AllChem.EmbedMolecule(mol, params) != 0:
            return i, None, "no 3D embedding", ""
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
        try:
            return i, featurize_ligand(mol), "", canonical
        except ValueError as e:
            return i, None, str(e), ""


def prepare_ligands(smiles: list[str], out_path: str | os.PathLike, val_fraction: float = 0.02, seed: int = 0,
                    num_workers: int | None = None, verbose: bool = True) -> dict:
    """Embed, featurize and cache ``smiles`` (skips counted per reason); returns a summary."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    tasks = [(i, s, seed + i) for i, s in enumerate(smiles)]
    workers = num_workers or os.cpu_count() or 1
    results, canonical = {}, {}
    skipped: Counter[str] = Counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        for i, lig, reason, smi in tqdm(pool.imap_unordered(_conformer, tasks, chunksize=64), total=len(tasks),
                                   desc="conformers", disable=not verbose):
            if lig is None:
                skipped[reason] += 1
            else:
                results[i], canonical[i] = lig, smi
    kept = sorted(results)
    if not kept:
        raise ValueError(f"no usable molecules; reasons: {dict(skipped)}")
    ligs = [results[i] for i in kept]
    pos = [lig[0] - lig[0].mean(axis=0) for lig in ligs]  # no pocket frame: centre each molecule
    split = np.where(rng.random(len(kept)) < val_fraction, SPLIT_NAMES.index("val"), SPLIT_NAMES.index("train"))
    n = len(kept)
    arrays = ComplexArrays(
        lig_num_atoms=np.array([len(p) for p in pos], dtype=np.int64), lig_pos=np.concatenate(pos).astype(np.float32),
        lig_types=np.concatenate([lig[1] for lig in ligs]), lig_charges=np.concatenate([lig[2] for lig in ligs]),
        lig_num_bonds=np.array([len(lig[3]) for lig in ligs], dtype=np.int64),
        lig_bonds=np.concatenate([lig[3] for lig in ligs]).astype(np.uint16).reshape(-1, 2),
        lig_bond_classes=np.concatenate([lig[4] for lig in ligs]).astype(np.uint8),
        pocket_num_atoms=np.zeros(n, dtype=np.int64), pocket_pos=np.zeros((0, 3), dtype=np.float32),
        pocket_element=np.zeros(0, dtype=np.uint8), pocket_residue=np.zeros(0, dtype=np.uint8),
        pocket_backbone=np.zeros(0, dtype=bool), pocket_ca=np.zeros(0, dtype=bool),
        name=np.array([f"ligand{i}" for i in kept]), protein=np.array(["none"] * n), split=split.astype(np.uint8),
        smiles=np.array([canonical[i] for i in kept]), dg=np.full(n, np.nan, dtype=np.float32))
    save_complexes(arrays, out_path)
    return {"path": str(out_path), "n_in": len(smiles), "n_kept": n, "skipped": dict(skipped),
            "kept_by_split": {k: int((split == v).sum()) for v, k in enumerate(SPLIT_NAMES)},
            "seconds": time.perf_counter() - start}
