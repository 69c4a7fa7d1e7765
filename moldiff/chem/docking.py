"""AutoDock Vina scores of ligands in a protein, fully offline (no torch): score-only, local
minimization and re-docking through the ``vina`` Python package.

Preparation. The receptor keeps its standard-residue ATOM records (waters, ions, ligands and
other hetero groups are dropped), gets missing heavy atoms and hydrogens at a given pH from
PDBFixer/OpenMM (built-in templates, no network) and is written as a rigid PDBQT by Open Babel.
meeko's receptor route is not used: it rebuilds each residue by atom proximity and refuses real
structures with a distorted residue (the demo complex 1IA1 has one), and it may look up unknown
residues online. Ligands get hydrogens with 3D coordinates from RDKit and are typed by meeko.

Scores are Vina's (kcal/mol, lower is better), for the pose as given (``score``), after a local
optimisation inside the site (``minimize``) and for the best pose of a global search in the box
(``dock``).
"""
from __future__ import annotations

import os
import tempfile
from typing import Sequence

import numpy as np
from rdkit import Chem


class DockingError(ValueError):
    """A receptor or ligand that cannot be prepared or scored, with the reason."""


def prepare_receptor(protein: str | os.PathLike, ph: float = 7.4) -> str:
    """Rigid receptor PDBQT text from a PDB file, prepared by
    :func:`moldiff.chem.prepare.prepare_protein` (the module docstring says how)."""
    from openbabel import pybel

    from moldiff.chem.prepare import prepare_protein

    try:
        prepared = prepare_protein(protein, ph)
    except ValueError as e:
        raise DockingError(str(e)) from None
    pybel.ob.obErrorLog.SetOutputLevel(0)
    return pybel.readstring("pdb", prepared.pdb).write("pdbqt", opt={"r": None})


def prepare_ligand(mol: Chem.Mol) -> str:
    """Ligand PDBQT text (meeko) of a 3D molecule, made plain (meeko refuses query atoms and bonds,
    see :func:`moldiff.chem.io.plain_molecule`) and sanitized; hydrogens added with coordinates."""
    from moldiff.chem.io import plain_molecule

    if mol.GetNumConformers() == 0:
        raise DockingError("ligand has no 3D coordinates")
    try:
        clean = Chem.Mol(plain_molecule(mol))
        Chem.SanitizeMol(clean)  # molecules read unsanitized lack the aromaticity meeko's charges need
        with_h = Chem.AddHs(clean, addCoords=True)
    except Exception as e:
        raise DockingError(f"ligand cannot be typed for Vina: {' '.join(str(e).split())[:160]}") from None
    return ligand_pdbqt(with_h)


def ligand_pdbqt(mol_h: Chem.Mol) -> str:
    """Meeko's PDBQT text of a sanitized 3D molecule with explicit hydrogens (Vina and rustina
    take the same ligand format); :class:`DockingError` with meeko's reason if it fails."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy

    try:
        setups = MoleculePreparation().prepare(mol_h)
        text, ok, err = PDBQTWriterLegacy.write_string(setups[0])
    except Exception as e:  # meeko raises RuntimeError and others on odd chemistry
        raise DockingError(f"ligand cannot be typed for Vina: {' '.join(str(e).split())[:160]}") from None
    if not ok:
        raise DockingError(f"ligand cannot be written as PDBQT: {' '.join(err.split())[:160]}")
    return text


def box_around(pos: np.ndarray, center: Sequence[float] | None = None, buffer: float = 5.0, min_size: float = 20.0,
               max_size: float = 40.0) -> tuple[list[float], list[float]]:
    """Centre and edge lengths (Angstrom) of a search box holding ``pos`` plus ``buffer`` on each
    side, between ``min_size`` and ``max_size`` per edge (maps cost grows with volume). With
    ``center`` the box is centred there (e.g. on the reference ligand, so that outliers cannot pull
    it off the pocket); otherwise on the middle of the coordinates' extent."""
    pos = np.asarray(pos, dtype=np.float64)
    lo, hi = pos.min(0), pos.max(0)
    if center is None:
        c, size = (lo + hi) / 2, hi - lo + 2 * buffer
    else:
        c = np.asarray(center, dtype=np.float64)
        size = 2 * (np.maximum(hi - c, c - lo) + buffer)
    return c.tolist(), np.clip(size, min_size, max_size).tolist()


class VinaScorer:
    """Vina with one receptor and one search box (maps computed once), scoring many ligands.

    ``receptor``: PDBQT text from :func:`prepare_receptor`; ``center``/``size``: the box (e.g.
    :func:`box_around` the reference ligand); ligands must lie inside it.
    """

    def __init__(self, receptor: str, center: Sequence[float], size: Sequence[float], exhaustiveness: int = 8,
                 seed: int = 0, cpu: int = 1):
        from vina import Vina

        self.exhaustiveness = exhaustiveness
        self._vina = Vina(sf_name="vina", cpu=cpu, seed=seed, verbosity=0)
        with tempfile.NamedTemporaryFile("w", suffix=".pdbqt", delete=False) as f:
            f.write(receptor)
        try:
            self._vina.set_receptor(f.name)  # Vina reads receptors from files only
        finally:
            os.unlink(f.name)
        self.center, self.size = list(map(float, center)), list(map(float, size))
        self._vina.compute_vina_maps(center=self.center, box_size=self.size)

    def _load(self, mol: Chem.Mol) -> None:
        pos = mol.GetConformer().GetPositions()
        half = np.asarray(self.size) / 2
        if (np.abs(pos - np.asarray(self.center)) > half).any():
            raise DockingError("ligand lies outside the Vina box")
        try:
            self._vina.set_ligand_from_string(prepare_ligand(mol))
        except RuntimeError as e:
            raise DockingError(f"Vina rejected the ligand: {' '.join(str(e).split())[:160]}") from None

    def score(self, mol: Chem.Mol) -> float:
        """Vina score (kcal/mol) of the pose as given."""
        self._load(mol)
        return float(self._vina.score()[0])

    def minimize(self, mol: Chem.Mol) -> float:
        """Vina score (kcal/mol) after local optimisation of the pose in the site."""
        self._load(mol)
        return float(self._vina.optimize()[0])

    def evaluate(self, mol: Chem.Mol, dock: bool = False) -> dict[str, float]:
        """``vina_score``, ``vina_min`` (and ``vina_dock``) with one load of the ligand (loading
        costs far more than scoring)."""
        self._load(mol)
        row = {"vina_score": float(self._vina.score()[0]), "vina_min": float(self._vina.optimize()[0])}
        if dock:
            self._vina.dock(exhaustiveness=self.exhaustiveness, n_poses=1)
            row["vina_dock"] = float(self._vina.energies(n_poses=1)[0][0])
        return row

    def dock(self, mol: Chem.Mol, n_poses: int = 1) -> float:
        """Best Vina score (kcal/mol) of a global docking search in the box (slow: seconds)."""
        self._load(mol)
        self._vina.dock(exhaustiveness=self.exhaustiveness, n_poses=n_poses)
        return float(self._vina.energies(n_poses=1)[0][0])


def vina_scores(protein: str | os.PathLike, mols: Sequence[Chem.Mol], reference: Chem.Mol,
                dock: bool = False, exhaustiveness: int = 8, dock_max: int | None = None) -> tuple[list[dict], dict]:
    """Vina scores of ``mols`` and of the ``reference`` ligand in one protein, all with the same
    maps: one box centred on the reference holding it and the molecules (+ 5 A, 20-40 A per edge).
    Returns one dict per molecule with ``vina_score``, ``vina_min`` (and ``vina_dock`` with
    ``dock``) or ``vina_error``, and the same keys for the reference. With ``dock_max`` only the
    first that many molecules are re-docked (docking costs 10-100 times a minimization); the
    reference always is. Molecules that fail (e.g. reaching beyond a 40 A box, or untypable) are
    reported with the reason, never dropped."""
    pos = np.concatenate([m.GetConformer().GetPositions() for m in [reference, *mols]])
    center = reference.GetConformer().GetPositions().mean(0)
    scorer = VinaScorer(prepare_receptor(protein), *box_around(pos, center), exhaustiveness=exhaustiveness)

    def one(mol: Chem.Mol, dock_it: bool) -> dict:
        try:
            return scorer.evaluate(mol, dock_it)
        except DockingError as e:
            return {"vina_error": str(e)}

    rows = [one(m, dock and (dock_max is None or k < dock_max)) for k, m in enumerate(mols)]
    return rows, one(reference, dock)
