"""Protein preparation before a pocket is cut or a receptor is docked (no torch).

PDBFixer/OpenMM keep the standard residues (waters, ions, ligands and other hetero groups are
dropped), fill in missing heavy atoms of the residues present (missing loops are not modelled)
and add hydrogens at a pH, offline from built-in templates. The result is reproducible: OpenMM's
Reference platform, seeded dynamics for new atoms that clash, and seeded start positions of the
hydrogens (unseeded, side chains and hydrogens moved from run to run and changed the Vina score of
a ligand beside them). What was added is reported per residue.
"""
from __future__ import annotations

import io
import os
import random
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PreparedProtein:
    """A prepared structure (``pdb``: PDB text with hydrogens) and what preparation changed:
    heavy atoms added per residue (``"A:45 LYS"`` -> atom names), hydrogens added, and the hetero
    residues removed (name -> count)."""

    pdb: str
    added_heavy: dict[str, list[str]] = field(default_factory=dict)
    added_hydrogens: int = 0
    removed_hetero: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the user, e.g. ``added 3 heavy atoms in 1 residue (A:45 LYS: CE NZ ...)``."""
        heavy = sum(len(v) for v in self.added_heavy.values())
        parts = [f"added {heavy} heavy atom{'s' * (heavy != 1)} in {len(self.added_heavy)} "
                 f"residue{'s' * (len(self.added_heavy) != 1)}"]
        if self.added_heavy:
            parts[0] += " (" + "; ".join(f"{res}: {' '.join(names)}" for res, names in self.added_heavy.items()) + ")"
        parts.append(f"{self.added_hydrogens} hydrogens")
        if self.removed_hetero:
            parts.append("removed " + ", ".join(f"{n} {name}" for name, n in sorted(self.removed_hetero.items())))
        return "; ".join(parts)


def _residue_atoms(topology) -> dict[tuple[str, str, str], set[str]]:
    """(chain, number + insertion code, name) -> atom names of every residue of an OpenMM topology."""
    return {(res.chain.id, f"{res.id}{res.insertionCode.strip()}", res.name): {a.name for a in res.atoms()}
            for res in topology.residues()}


def _hydrogens(topology) -> int:
    return sum(1 for a in topology.atoms() if a.element is not None and a.element.symbol == "H")


def prepare_protein(path: str | os.PathLike, ph: float = 7.4) -> PreparedProtein:
    """Prepare the PDB or mmCIF file at ``path`` (see the module docstring); ``ValueError`` naming
    the file when it cannot be read or holds no protein."""
    from openmm import Platform
    from openmm.app import PDBFile
    from pdbfixer import PDBFixer

    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    if not 0.0 <= ph <= 14.0:
        raise ValueError(f"pH must lie between 0 and 14, got {ph:g}")
    try:
        fixer = PDBFixer(filename=str(path), platform=Platform.getPlatformByName("Reference"))
    except Exception as e:  # PDBFixer raises several types on unreadable input
        raise ValueError(f"{path}: not a readable PDB or mmCIF file for preparation ({type(e).__name__})") from None
    names_before = Counter(res.name for res in fixer.topology.residues())
    fixer.removeHeterogens(keepWater=False)
    if fixer.topology.getNumAtoms() == 0:
        raise ValueError(f"{path}: no protein atoms")
    names_after = Counter(res.name for res in fixer.topology.residues())
    removed = {name: n - names_after[name] for name, n in names_before.items() if n > names_after[name]}
    before, h_before = _residue_atoms(fixer.topology), _hydrogens(fixer.topology)
    fixer.findMissingResidues()
    fixer.missingResidues = {}  # do not model missing loops: only fill in atoms of present residues
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=1)  # clashing new atoms get dynamics: unseeded (or seed 0) they moved run to run
    heavy_after = _residue_atoms(fixer.topology)
    state = random.getstate()  # OpenMM's Modeller starts hydrogens at positions from the global `random`
    random.seed(0)
    try:
        fixer.addMissingHydrogens(ph)
    finally:
        random.setstate(state)
    added = {f"{chain}:{number} {name}": sorted(heavy_after[key] - before.get(key, set()))
             for key in heavy_after for chain, number, name in [key] if heavy_after[key] - before.get(key, set())}
    buf = io.StringIO()
    PDBFile.writeFile(fixer.topology, fixer.positions, buf, keepIds=True)
    return PreparedProtein(buf.getvalue(), added, _hydrogens(fixer.topology) - h_before, removed)
