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

from moldiff.vocab import BOND_AROMATIC, BOND_DOUBLE, BOND_NONE, BOND_SINGLE, BOND_TRIPLE

BOND_TYPES: dict[int, Chem.BondType] = {
    BOND_SINGLE: Chem.BondType.SINGLE,
    BOND_DOUBLE: Chem.BondType.DOUBLE,
    BOND_TRIPLE: Chem.BondType.TRIPLE,
    BOND_AROMATIC: Chem.BondType.AROMATIC,
}

# Typical bond lengths in pm (standard tabulated covalent bond lengths, as used by EDM's
# ``qm9/bond_analyze.py``); keys are unordered element pairs.
_SINGLE_PM: dict[tuple[str, str], int] = {
    ("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92,
    ("H", "B"): 119, ("H", "Si"): 148, ("H", "P"): 144, ("H", "As"): 152, ("H", "S"): 134,
    ("H", "Cl"): 127, ("H", "Br"): 141, ("H", "I"): 161,
    ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135, ("C", "Si"): 185,
    ("C", "P"): 184, ("C", "S"): 182, ("C", "Cl"): 177, ("C", "Br"): 194, ("C", "I"): 214,
    ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136, ("N", "Cl"): 175, ("N", "Br"): 214,
    ("N", "S"): 168, ("N", "I"): 222, ("N", "P"): 177,
    ("O", "O"): 148, ("O", "F"): 142, ("O", "Br"): 172, ("O", "S"): 151, ("O", "P"): 163,
    ("O", "Si"): 163, ("O", "Cl"): 164, ("O", "I"): 194,
    ("F", "F"): 142, ("F", "S"): 158, ("F", "Si"): 160, ("F", "Cl"): 166, ("F", "Br"): 178,
    ("F", "P"): 156, ("F", "I"): 187,
    ("B", "Cl"): 175,
    ("Si", "Si"): 233, ("Si", "S"): 200, ("Si", "Cl"): 202, ("Si", "Br"): 215, ("Si", "I"): 243,
    ("Cl", "Cl"): 199, ("Cl", "P"): 203, ("Cl", "S"): 207, ("Cl", "Br"): 214,
    ("S", "S"): 204, ("S", "Br"): 225, ("S", "P"): 210, ("S", "I"): 234,
    ("Br", "Br"): 228, ("Br", "P"): 222,
    ("P", "P"): 221,
    ("I", "I"): 266,
}
_DOUBLE_PM: dict[tuple[str, str], int] = {
    ("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("C", "S"): 160,
    ("N", "N"): 125, ("N", "O"): 121, ("O", "O"): 121, ("O", "P"): 150, ("P", "S"): 186,
}
_TRIPLE_PM: dict[tuple[str, str], int] = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}
#: EDM's tolerances (pm) added to the single/double/triple lengths, tuned on QM9.
EDM_MARGINS_PM: tuple[int, int, int] = (10, 5, 3)


def _pair_threshold(table: dict[tuple[str, str], int], a: str, b: str, margin: int) -> float:
    """Distance (pm) below which ``a``-``b`` gets this bond order; -inf if the pair is not tabulated."""
    length = table.get((a, b), table.get((b, a)))
    return -np.inf if length is None else float(length + margin)


def edm_bond_order_matrix(elements: Sequence[str], pos: np.ndarray) -> np.ndarray:
    """Symmetric [n, n] bond orders (0-3) from distances by EDM's rule.

    A pair is bonded if closer than its single-bond length + 10 pm; double if also closer
    than double + 5 pm; triple if also closer than triple + 3 pm. Untabulated pairs never bond.
    """
    elements = list(elements)
    pos = np.asarray(pos, dtype=np.float64).reshape(len(elements), 3)
    dist_pm = 100.0 * np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    symbols = sorted(set(elements))
    idx = np.array([symbols.index(e) for e in elements], dtype=np.int64)
    orders = np.zeros_like(dist_pm, dtype=np.int64)
    for order, (table, margin) in enumerate(zip((_SINGLE_PM, _DOUBLE_PM, _TRIPLE_PM), EDM_MARGINS_PM), start=1):
        small = np.array([[_pair_threshold(table, a, b, margin) for b in symbols] for a in symbols])
        # Nested rule: a higher order requires all lower-order thresholds to be met too.
        orders = np.where((orders == order - 1) & (dist_pm < small[idx][:, idx]), order, orders)
    np.fill_diagonal(orders, 0)
    return orders


def edm_bond_orders(elements: Sequence[str], pos: np.ndarray) -> np.ndarray:
    """Bonds ``[m, 3]`` of ``(i, j, class)`` (i < j, classes 1-3) inferred by EDM's distance rule."""
    orders = edm_bond_order_matrix(elements, pos)
    i, j = np.nonzero(np.triu(orders, k=1))
    return np.stack([i, j, orders[i, j]], axis=1).astype(np.int64).reshape(-1, 3)


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
    if clean is None:
        return None
    try:
        return Chem.MolToSmiles(Chem.RemoveHs(clean), isomericSmiles=False)
    except Exception:  # RemoveHs can still fail on exotic valence states
        return None
