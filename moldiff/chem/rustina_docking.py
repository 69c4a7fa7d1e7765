"""Docking ligands into one pocket with rustina (no torch): receptor and ligand PDBQT, the search
box, the docking call, and docked poses back as RDKit molecules in the input's atom order.

rustina (PyPI, MIT/Apache-2.0) runs a QuickVina2-style Monte Carlo search on Vinardo grids and
re-ranks the best candidates with GNINA's fast CNN, offline, on the CPU or (``mode="gpu"``) on a
Vulkan GPU through wgpu. It docks PDBQT text: the receptor is typed by Meeko through
``rustina.prepare_receptor`` (hydrogens from residue templates, so hydrogen-free pocket files
work), ligands are typed here with Meeko from a 3D start conformer with explicit hydrogens (a
seeded ETKDG one, or a crystal geometry; protonation as given, since rustina's own ligand route
needs molscrub). Only position, orientation and torsions are searched: bond lengths, angles and
ring shapes stay those of the start conformer.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

#: rustina's search modes: the CPU default (staged QuickVina2 runs) and batched GPU Monte Carlo.
SEARCH_MODES = {"cpu": "qvina2-active", "gpu": "gpu"}


class NoGpuError(RuntimeError):
    """The GPU mode found no GPU, or only a software Vulkan adapter."""


def require_rustina() -> ModuleType:
    """The ``rustina`` module, or ImportError in one line saying how to get it."""
    try:
        import rustina
    except ImportError:
        raise ImportError("docking needs the rustina package: pip install rustina") from None
    return rustina


@dataclass(frozen=True)
class Box:
    """Search box: centre and edge lengths (Angstrom)."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]


def box_around(reference: np.ndarray, padding: float = 8.0, min_size: float = 18.0, fit: float = 0.0,
               step: float = 2.0) -> Box:
    """Box centred on the extent of ``reference`` (the pocket's crystal ligand, [n, 3]): per axis
    its extent plus ``padding``, at least ``min_size`` and ``fit`` (a docked ligand's longest
    interatomic distance, so that a ligand larger than the reference still fits), rounded up to a
    multiple of ``step`` so that jobs of one pocket share few boxes (and grids)."""
    pos = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    lo, hi = pos.min(0), pos.max(0)
    size = np.maximum(np.maximum(hi - lo + padding, min_size), fit)
    size = np.ceil(np.round(size / step, 6)) * step
    return Box(tuple(np.round((lo + hi) / 2, 3).tolist()), tuple(size.tolist()))


def longest_distance(pos: np.ndarray) -> float:
    """Largest distance between two of the points ``pos`` [n, 3]."""
    pos = np.asarray(pos, dtype=np.float64)
    return float(np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1)).max())


# ------------------------------------------------------------------------ receptor


def _mse_as_met(pdb_text: str) -> str:
    """Selenomethionine written as methionine (Se as S): Meeko has no MSE template and would
    type the whole residue as bare element atoms after a slow failed template build."""
    lines = []
    for line in pdb_text.splitlines():
        if line.startswith(("ATOM", "HETATM")) and line[17:20] == "MSE":
            line = "ATOM  " + line[6:17] + "MET" + line[20:]
            if line[12:16].strip() == "SE":
                line = line[:12] + " SD " + line[16:76] + " S" + line[78:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def prepare_receptor(pocket_pdb: str | os.PathLike, box: Box) -> str:
    """Receptor PDBQT of a PDB pocket (heavy atoms are enough) for docking in ``box``."""
    rustina = require_rustina()
    text = _mse_as_met(Path(pocket_pdb).read_text())
    return rustina.prepare_receptor(text, center=box.center, size=box.size)["pdbqt"]


# -------------------------------------------------------------------------- ligand


def embed(mol: Chem.Mol, seed: int, mmff: bool = True) -> Chem.Mol:
    """``mol`` with explicit hydrogens and one seeded ETKDGv3 conformer (never the input pose),
    MMFF94-relaxed when ``mmff`` and MMFF has parameters (rings stay rigid in docking; on the
    re-docking check MMFF fixed a nucleotide's sugar pucker that ETKDG got wrong); ValueError if
    RDKit cannot embed it."""
    with_h = Chem.AddHs(Chem.Mol(mol))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(with_h, params) < 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(with_h, params) < 0:
            raise ValueError("RDKit could not embed the ligand")
    if mmff and AllChem.MMFFHasAllMoleculeParams(with_h):
        AllChem.MMFFOptimizeMolecule(with_h, maxIters=2000)
    return with_h


def pose_from_pdbqt(pdbqt: str, mol: Chem.Mol) -> Chem.Mol:
    """Heavy-atom copy of ``mol`` with the coordinates of the docked PDBQT ``pdbqt``.

    Meeko's ``REMARK SMILES`` / ``SMILES IDX`` records name the PDBQT atom of each SMILES atom;
    the SMILES is matched onto ``mol`` with bond orders and charges, so atoms that the match may
    swap are chemically equivalent. ValueError if the PDBQT does not describe ``mol``.
    """
    smiles, pairs, xyz = None, [], {}
    for line in pdbqt.splitlines():
        if line.startswith("REMARK SMILES IDX"):
            values = [int(v) for v in line.split()[3:]]
            pairs += list(zip(values[::2], values[1::2]))
        elif line.startswith("REMARK SMILES"):
            smiles = line.split(maxsplit=2)[2].strip()
        elif line.startswith(("ATOM", "HETATM")):
            xyz[int(line[6:11])] = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
        elif line.startswith("ENDMDL"):
            break
    template = Chem.MolFromSmiles(smiles) if smiles else None
    heavy = Chem.RemoveHs(mol)
    match = heavy.GetSubstructMatch(template) if template is not None else ()
    if template is None or len(match) != heavy.GetNumAtoms() or template.GetNumAtoms() != heavy.GetNumAtoms():
        raise ValueError("docked PDBQT does not match the ligand")
    pos = np.full((heavy.GetNumAtoms(), 3), np.nan)
    for smiles_idx, serial in pairs:
        if serial in xyz and 1 <= smiles_idx <= len(match):
            pos[match[smiles_idx - 1]] = xyz[serial]
    if np.isnan(pos).any():
        raise ValueError("docked PDBQT lacks coordinates for some ligand atoms")
    conf = Chem.Conformer(heavy.GetNumAtoms())
    for i, p in enumerate(pos):
        conf.SetAtomPosition(i, p.tolist())
    conf.Set3D(True)
    heavy.RemoveAllConformers()
    heavy.AddConformer(conf, assignId=True)
    return heavy


# ------------------------------------------------------------------------- docking


@dataclass(frozen=True)
class SearchSettings:
    """rustina search settings: ``mode`` 'cpu' or 'gpu'; ``runs`` the number of Monte Carlo runs
    (Vina's exhaustiveness; None: rustina's default, 16 for the CPU mode, which needs >= 16);
    ``threads``: CPU threads per docking call (None: all cores), for the search on the CPU and
    for the CNN re-ranking in both modes."""

    mode: str = "cpu"
    runs: int | None = None
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.mode not in SEARCH_MODES:
            raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {self.mode!r}")


@contextmanager
def _captured_output() -> Iterator[list[str]]:
    """Collect what native code writes to file descriptors 1 and 2 (rustina prints its search
    settings on every call, which would scramble progress bars) into the yielded list."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            capture.seek(0)
            lines += capture.read().splitlines()


def dock_batch(receptor: str, ligands: Sequence[str], box: Box, seed: int, settings: SearchSettings = SearchSettings()
               ) -> list[dict]:
    """Top pose of each ligand PDBQT in ``ligands``, docked in ``box`` of ``receptor`` (PDBQT)
    with grids shared across the batch: dicts with ``pdbqt``, ``affinity`` (Vinardo, kcal/mol),
    ``cnn_score`` (pose probability) and ``cnn_affinity`` (pK), or ``error``.

    rustina's messages other than its search settings become warnings. Raises
    :class:`NoGpuError` if the GPU mode finds no GPU or only a software Vulkan adapter (a driver
    is missing), RuntimeError if rustina fails as a whole (a Rust panic included).
    """
    rustina = require_rustina()
    try:
        with _captured_output() as output:
            results = rustina.screen(receptor, list(ligands), *box.center, *box.size, runs=settings.runs, seed=seed,
                                     search_mode=SEARCH_MODES[settings.mode], threads=settings.threads)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # a Rust panic arrives as pyo3's PanicException, a BaseException
        raise RuntimeError(f"rustina failed: {' '.join(str(err).split())[:200]}") from None
    messages = [line.strip() for line in output if line.strip() and "Search parameters" not in line]
    for message in messages:
        warnings.warn(f"rustina: {message}", RuntimeWarning, stacklevel=2)
    if settings.mode == "gpu" and (any("software adapter" in m for m in messages)
                                   or any("gpu search unavailable" in r.get("error", "") for r in results)):
        raise NoGpuError("rustina found no hardware GPU adapter; install the Vulkan loader and point "
                         "VK_DRIVER_FILES at the NVIDIA ICD (see scripts/dock_complexes.py)")
    return results
