"""Docking inputs and outputs for rustina (RDKit and Meeko, no torch): receptor and ligand PDBQT,
the search box around a reference ligand, start conformers, and docked poses back as RDKit
molecules in the input's atom order. The search itself is :mod:`moldiff.chem.rustina_search`.

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
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.rustina_search import Box, require_rustina


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
