"""Vocabularies shared by torch and chemistry code: element, charge and bond-class indices.

Pure Python on purpose: both the torch side (one-hot features) and the RDKit side
(molecule building) read these tables, so they must not import either.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Bond classes on every ligand atom pair; index 0 means "no bond".
BOND_NONE, BOND_SINGLE, BOND_DOUBLE, BOND_TRIPLE, BOND_AROMATIC = range(5)


@dataclass(frozen=True)
class Vocab:
    """Atom-type, formal-charge and bond-class vocabularies of one dataset/model."""

    elements: tuple[str, ...]
    charges: tuple[int, ...] = (-1, 0, 1)
    num_bond_types: int = 4  # none/single/double/triple (kekulized); 5 adds aromatic

    def element_index(self, symbol: str) -> int:
        try:
            return self.elements.index(symbol)
        except ValueError:
            raise KeyError(f"element {symbol!r} is not in the model's vocabulary {self.elements}") from None

    def charge_index(self, charge: int) -> int:
        try:
            return self.charges.index(charge)
        except ValueError:
            raise KeyError(f"formal charge {charge:+d} is not in the model's vocabulary {self.charges}") from None

    def to_dict(self) -> dict:
        return {"elements": list(self.elements), "charges": list(self.charges), "num_bond_types": self.num_bond_types}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        return cls(tuple(d["elements"]), tuple(d.get("charges", (-1, 0, 1))), int(d.get("num_bond_types", 4)))


#: Valences of neutral atoms by atomic number (the charge-aware valence rules read these).
NEUTRAL_VALENCES: dict[int, tuple[int, ...]] = {
    1: (1,), 2: (0,), 5: (3,), 6: (4,), 7: (3,), 8: (2,), 9: (1,), 10: (0,),
    13: (3,), 14: (4,), 15: (3, 5), 16: (2, 4, 6), 17: (1,), 18: (0,),
    33: (3, 5), 34: (2, 4, 6), 35: (1,), 36: (0,), 53: (1,), 54: (0,),
}

#: Atomic numbers of the element symbols a vocabulary may hold (no RDKit on the torch side).
ATOMIC_NUMBERS: dict[str, int] = {
    "H": 1, "B": 5, "C": 6, "N": 7, "O": 8, "F": 9, "Al": 13, "Si": 14, "P": 15, "S": 16, "Cl": 17,
    "As": 33, "Se": 34, "Br": 35, "I": 53,
}


def allowed_valences(atomic_num: int, charge: int) -> tuple[int, ...]:
    """Allowed valences of a charged atom: those of the isoelectronic neutral element (Z - charge).

    Hydrogen is special-cased: H+ and H- take no bonds.
    """
    if atomic_num == 1:
        return (1,) if charge == 0 else (0,)
    return NEUTRAL_VALENCES.get(atomic_num - charge, ())


QM9_VOCAB = Vocab(elements=("H", "C", "N", "O", "F"))
QM9_HEAVY_VOCAB = Vocab(elements=("C", "N", "O", "F"))

#: Heavy-atom ligands of the pocket-conditioned models (hydrogens implicit).
LIGAND_VOCAB = Vocab(elements=("C", "N", "O", "F", "P", "S", "Cl", "Br", "I"))

#: Pocket context atoms: element class, residue type and backbone flag (heavy atoms only).
POCKET_ELEMENTS: tuple[str, ...] = ("C", "N", "O", "S", "other")
AMINO_ACIDS: tuple[str, ...] = ("ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
                                "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL")
#: Residue classes: the 20 standard amino acids, then everything else (non-standard residues, kept hetero groups).
POCKET_RESIDUES: tuple[str, ...] = (*AMINO_ACIDS, "other")
BACKBONE_ATOM_NAMES: tuple[str, ...] = ("N", "CA", "C", "O")


def pocket_element_index(symbol: str) -> int:
    """Index of an element among :data:`POCKET_ELEMENTS` (unknown elements map to 'other')."""
    s = symbol.strip().capitalize()
    return POCKET_ELEMENTS.index(s) if s in POCKET_ELEMENTS else len(POCKET_ELEMENTS) - 1


def pocket_residue_index(resname: str) -> int:
    """Index of a residue name among :data:`POCKET_RESIDUES` (non-standard residues map to 'other')."""
    r = resname.strip().upper()
    return POCKET_RESIDUES.index(r) if r in AMINO_ACIDS else len(POCKET_RESIDUES) - 1
