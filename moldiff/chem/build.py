"""Turn (elements, coordinates, charges, bonds) into RDKit molecules.

Conventions:

- Bonds are ``[m, 3]`` integer rows ``(i, j, class)`` with the classes of
  :mod:`moldiff.vocab` (1 single, 2 double, 3 triple, 4 aromatic; rows of class 0 are skipped).
- Hydrogens: QM9 *with* H is all-explicit-H, so by default every atom gets
  ``SetNoImplicit(True)``: RDKit never adds hydrogens, and an under-bonded atom stays a
  radical instead of being silently "repaired". Heavy-atom-only models pass
  ``explicit_h=False`` so sanitization fills valences with implicit H.
- :func:`build_molecule` never sanitizes, so chemically invalid samples can still be built
  and written; use :func:`sanitize_or_none` to test them.
- Without bonds, bonds are inferred from distances with EDM's bond-length rule
  (:func:`edm_bond_orders`), the rule behind EDM's "atom/molecule stability".
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from moldiff.chem.stability import edm_bond_orders
from moldiff.vocab import (
    BOND_AROMATIC,
    BOND_DOUBLE,
    BOND_NONE,
    BOND_SINGLE,
    BOND_TRIPLE,
)

BOND_TYPES: dict[int, Chem.BondType] = {
    BOND_SINGLE: Chem.BondType.SINGLE,
    BOND_DOUBLE: Chem.BondType.DOUBLE,
    BOND_TRIPLE: Chem.BondType.TRIPLE,
    BOND_AROMATIC: Chem.BondType.AROMATIC,
}

def build_molecule(
    elements: Sequence[str],
    pos: np.ndarray,
    charges: Sequence[int] | None = None,
    bonds: np.ndarray | None = None,
    explicit_h: bool = True,
) -> Chem.Mol:
    """Unsanitized molecule with one 3D conformer; bonds inferred by EDM's rule if not given."""
    elements = list(elements)
    pos = np.asarray(pos, dtype=np.float64).reshape(len(elements), 3)
    if charges is not None and len(charges) != len(elements):
        raise ValueError(f"got {len(charges)} charges for {len(elements)} atoms")
    mol = Chem.RWMol()
    for k, symbol in enumerate(elements):
        atom = Chem.Atom(symbol)
        atom.SetFormalCharge(0 if charges is None else int(charges[k]))
        atom.SetNoImplicit(explicit_h)
        mol.AddAtom(atom)
    _add_bonds(mol, edm_bond_orders(elements, pos) if bonds is None else np.asarray(bonds))
    conf = Chem.Conformer(len(elements))
    for k, xyz in enumerate(pos):
        conf.SetAtomPosition(k, xyz.tolist())
    conf.Set3D(True)
    mol.AddConformer(conf, assignId=True)
    return mol.GetMol()


def _add_bonds(mol: Chem.RWMol, bonds: np.ndarray) -> None:
    """Add ``(i, j, class)`` rows to ``mol``; aromatic bonds also flag their atoms aromatic."""
    n = mol.GetNumAtoms()
    for i, j, cls in np.asarray(bonds, dtype=np.int64).reshape(-1, 3).tolist():
        if cls == BOND_NONE:
            continue
        if cls not in BOND_TYPES:
            raise ValueError(f"unknown bond class {cls} for atoms ({i}, {j})")
        if not (0 <= i < n and 0 <= j < n) or i == j:
            raise ValueError(f"bond ({i}, {j}) is out of range for {n} atoms")
        if mol.GetBondBetweenAtoms(i, j) is not None:
            raise ValueError(f"duplicate bond ({i}, {j})")
        mol.AddBond(i, j, BOND_TYPES[cls])
        if cls == BOND_AROMATIC:
            bond = mol.GetBondBetweenAtoms(i, j)
            bond.SetIsAromatic(True)
            bond.GetBeginAtom().SetIsAromatic(True)
            bond.GetEndAtom().SetIsAromatic(True)


def sanitize_or_none(mol: Chem.Mol) -> tuple[Chem.Mol | None, str]:
    """Sanitized copy of ``mol`` and "" on success, else ``(None, one-line RDKit error)``."""
    copy = Chem.Mol(mol)
    try:
        with BlockLogs():  # the error is returned; RDKit's log line would be noise
            Chem.SanitizeMol(copy)
    except Exception as err:  # RDKit raises several unrelated exception types here
        return None, " ".join(str(err).split()) or type(err).__name__
    return copy, ""


def canonical_smiles(mol: Chem.Mol) -> str | None:
    """Canonical SMILES without H atoms or stereo (the key for uniqueness/novelty); None if invalid.

    Stereo is dropped because molecules built from 3D coordinates carry none.
    """
    clean, _ = sanitize_or_none(mol)
    return None if clean is None else sanitized_smiles(clean)


def sanitized_smiles(clean: Chem.Mol) -> str | None:
    """:func:`canonical_smiles` of a molecule that is already sanitized (no second sanitization)."""
    try:
        return Chem.MolToSmiles(Chem.RemoveHs(clean), isomericSmiles=False)
    except Exception:  # RemoveHs can still fail on exotic valence states
        return None
