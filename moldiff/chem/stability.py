"""EDM's distance-based bond orders and atom/molecule stability (numpy only, no RDKit, no torch).

Kept free of RDKit so that training machines without it can still report stability.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


#: EDM's allowed valences (its stability ignores charges).
EDM_VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,), "Si": (4,),
    "P": (3, 5), "S": (4,), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,), "Hg": (1, 2), "Bi": (3, 5),
}

def atom_stability(elements: Sequence[str], pos: np.ndarray) -> np.ndarray:
    """Per-atom EDM stability (bool [n]): distance-derived bond-order sum is an allowed valence."""
    valence = edm_bond_order_matrix(elements, pos).sum(axis=1)
    return np.array([int(v) in EDM_VALENCES.get(e, ()) for e, v in zip(elements, valence)], dtype=bool)


def molecule_stability(elements: Sequence[str], pos: np.ndarray) -> bool:
    """EDM molecule stability: every atom is stable."""
    return bool(atom_stability(elements, pos).all())
