"""Data checks on 3D ligands: bond orders against bond lengths, ring sizes, charges, radicals (RDKit; no torch).

Bond-order rule (:func:`bond_length_checks`). Every bond between two heavy atoms of a sanitized
molecule gets a class: ``ar`` (aromatic as RDKit perceives it), ``2``, ``3``, or for single bonds
``1c`` when RDKit marks the bond conjugated (amide C-N, ester C-O, aryl-aryl, enamine ...) and
``1`` otherwise. :data:`TYPICAL_BOND_LENGTHS` gives a typical length per element pair and class
(values of standard tables of organic bond lengths such as Allen et al. 1987, rounded; the
conjugated-single values chosen between single and double; all checked against the medians of the
FEP-benchmark and PoseBusters ligands). A bond is

- *judged* when its element pair is in the table with an entry for its class, and it is not a
  bond from a central atom to a terminal O/S of a delocalized group (a central atom with at least
  one single-bonded and one double-bonded terminal O/S: carboxylate/carboxylic acid, nitro,
  sulfonate, phosphate), whose written single/double split is a resonance or protonation choice
  that heavy-atom geometry cannot settle, and cumulated double bonds (azide, isocyanate, allene),
  which are shorter than ordinary ones;
- *flagged* (its length disagrees with its order) when it is more than :data:`TOLERANCE` (0.10 Å)
  from the typical length of its class **and** closer to the typical length of another bond order
  of the same element pair (the other orders of a single bond are aromatic, double and triple; of
  an aromatic bond single (either class), double; of a double bond single (either class),
  aromatic, triple; of a triple bond double and single);
- *nearest-other* when, with no tolerance, the typical length of another order is closer than
  that of its own class (a soft signal: conjugated systems sit between orders).

A bond is *distorted* (broken coordinates, not a bond-order question) when it is shorter than
:data:`MIN_BOND_LENGTH` (1.10 Å), or judged and more than :data:`DISTORTED` (0.25 Å) from the
typical length of every class of its element pair; distorted bonds are counted apart and never
flagged. :func:`oxoacid_without_double_bond` finds a second, geometry-free bond-order error: a P or
S atom with two or more terminal O neighbours and no double bond to a terminal O/S (a sulfate or
phosphate written as S(O)(O)(O)O).

A molecule *looks wrong* when at least one of its bonds is flagged or distorted, or it has such
an oxoacid group. :func:`planar_ring_with_sp3_carbon` is a softer, separate signal (flat 5/6-ring
holding an sp3 carbon), not part of that verdict.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

#: Bond-length tolerance (Å) of the flag rule.
TOLERANCE = 0.10
#: Bonds shorter than this (Å) are distorted whatever their elements.
MIN_BOND_LENGTH = 1.10
#: A judged bond farther than this (Å) from every typical length of its element pair is distorted.
DISTORTED = 0.25
#: RMS distance (Å) from the best-fit plane under which :func:`planar_ring_with_sp3_carbon` calls a ring flat.
PLANAR_RMS = 0.02
#: Typical heavy-atom bond lengths (Å) per sorted element pair and class (see the module docstring).
TYPICAL_BOND_LENGTHS: dict[tuple[str, str], dict[str, float]] = {
    ("C", "C"): {"1": 1.53, "1c": 1.48, "ar": 1.39, "2": 1.34, "3": 1.20},
    ("C", "N"): {"1": 1.47, "1c": 1.36, "ar": 1.35, "2": 1.29, "3": 1.15},
    ("C", "O"): {"1": 1.43, "1c": 1.35, "ar": 1.37, "2": 1.22},
    ("C", "S"): {"1": 1.81, "1c": 1.76, "ar": 1.72, "2": 1.67},
    ("N", "N"): {"1": 1.42, "1c": 1.37, "ar": 1.35, "2": 1.25, "3": 1.11},
    ("N", "O"): {"1": 1.42, "1c": 1.38, "ar": 1.40, "2": 1.22},
    ("N", "S"): {"1": 1.64, "1c": 1.64, "ar": 1.64, "2": 1.54},
    ("O", "P"): {"1": 1.60, "2": 1.49},
    ("O", "S"): {"1": 1.58, "2": 1.44},
    ("C", "P"): {"1": 1.82, "ar": 1.74, "2": 1.67},
    ("N", "P"): {"1": 1.67, "2": 1.57},
    ("C", "F"): {"1": 1.35},
    ("C", "Cl"): {"1": 1.74},
    ("C", "Br"): {"1": 1.90},
    ("C", "I"): {"1": 2.10},
    ("S", "S"): {"1": 2.04},
}
#: Bond classes that count as another order than a given class.
_OTHER_ORDERS: dict[str, tuple[str, ...]] = {
    "1": ("ar", "2", "3"), "1c": ("ar", "2", "3"), "ar": ("1", "1c", "2"),
    "2": ("1", "1c", "ar", "3"), "3": ("1", "1c", "2"),
}
#: Ring sizes of :func:`ring_size_flags`: ``">=8"`` is any ring of eight atoms or more.
RING_KEYS: tuple[str, ...] = ("3", "4", "7", ">=8")


def bond_class(bond: Chem.Bond) -> str | None:
    """``'1'``, ``'1c'`` (conjugated single), ``'ar'``, ``'2'`` or ``'3'``; None for other types."""
    kind = bond.GetBondType()
    if kind == Chem.BondType.AROMATIC:
        return "ar"
    if kind == Chem.BondType.DOUBLE:
        return "2"
    if kind == Chem.BondType.TRIPLE:
        return "3"
    if kind == Chem.BondType.SINGLE:
        return "1c" if bond.GetIsConjugated() else "1"
    return None


def _delocalized_terminal(bond: Chem.Bond) -> bool:
    """Whether ``bond`` joins a central atom to a terminal O/S of a group that has both a single-
    and a double-bonded terminal O/S (carboxylate, nitro, sulfonate, phosphate ...)."""
    for centre, end in ((bond.GetBeginAtom(), bond.GetEndAtom()), (bond.GetEndAtom(), bond.GetBeginAtom())):
        if end.GetSymbol() not in ("O", "S") or end.GetDegree() != 1:
            continue
        kinds = {b.GetBondType() for b in centre.GetBonds()
                 if b.GetOtherAtom(centre).GetSymbol() in ("O", "S") and b.GetOtherAtom(centre).GetDegree() == 1}
        if {Chem.BondType.SINGLE, Chem.BondType.DOUBLE} <= kinds:
            return True
    return False


def _cumulated(bond: Chem.Bond) -> bool:
    """Whether a double bond shares an atom with another double bond (allene, azide, isocyanate),
    which makes it shorter than an ordinary double bond."""
    return any(sum(b.GetBondType() == Chem.BondType.DOUBLE for b in atom.GetBonds()) > 1
               for atom in (bond.GetBeginAtom(), bond.GetEndAtom()))


@dataclass
class BondCheck:
    """One bond between heavy atoms: atoms, element pair, class, length (Å), typical length of its
    class (NaN when not judged) and the outcome of the rule."""

    begin: int
    end: int
    pair: tuple[str, str]
    cls: str | None
    length: float
    typical: float
    judged: bool
    flagged: bool
    nearest_other: bool
    distorted: bool


def bond_length_checks(mol: Chem.Mol) -> list[BondCheck]:
    """Every bond between heavy atoms of ``mol`` (sanitized, with a 3D conformer; hydrogens
    ignored) under the rule of the module docstring."""
    pos = mol.GetConformer().GetPositions()
    checks = []
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtom(), bond.GetEndAtom()
        if a.GetAtomicNum() == 1 or b.GetAtomicNum() == 1:
            continue
        pair = tuple(sorted((a.GetSymbol(), b.GetSymbol())))
        table = TYPICAL_BOND_LENGTHS.get(pair, {})
        cls = bond_class(bond)
        length = float(np.linalg.norm(pos[a.GetIdx()] - pos[b.GetIdx()]))
        judged = cls in table and not _delocalized_terminal(bond) and not (cls == "2" and _cumulated(bond))
        distorted = length < MIN_BOND_LENGTH or (
            judged and min(abs(length - typical) for typical in table.values()) > DISTORTED)
        flagged = nearest_other = False
        if judged:
            own = abs(length - table[cls])
            other = min((abs(length - table[c]) for c in _OTHER_ORDERS[cls] if c in table), default=np.inf)
            nearest_other = bool(other < own)
            flagged = bool(own > TOLERANCE and other < own and not distorted)
        checks.append(BondCheck(a.GetIdx(), b.GetIdx(), pair, cls, length, table[cls] if judged else float("nan"),
                                judged, flagged, nearest_other, distorted))
    return checks


def oxoacid_without_double_bond(mol: Chem.Mol) -> bool:
    """Whether a P or S atom of ``mol`` has two or more terminal O neighbours and no double bond
    to any terminal O or S (e.g. sulfate as S(O)(O)(O)O, sulfamoyl as NS(O)(O)OC): bond orders
    lost, not a resonance choice (a thiophosphate P(O)(O)=S passes)."""
    for atom in mol.GetAtoms():
        if atom.GetSymbol() not in ("P", "S"):
            continue
        terminal = [b for b in atom.GetBonds()
                    if b.GetOtherAtom(atom).GetSymbol() in ("O", "S") and b.GetOtherAtom(atom).GetDegree() == 1]
        n_oxygen = sum(b.GetOtherAtom(atom).GetSymbol() == "O" for b in terminal)
        if n_oxygen >= 2 and all(b.GetBondType() != Chem.BondType.DOUBLE for b in terminal):
            return True
    return False


def planar_ring_with_sp3_carbon(mol: Chem.Mol, tol: float = PLANAR_RMS) -> bool:
    """Whether a 5- or 6-membered SSSR ring of ``mol`` (with a 3D conformer) is flat (RMS distance
    of its atoms from their best-fit plane below ``tol`` Å) yet holds a carbon RDKit types sp3: a
    soft sign of a lost double bond (an adenine written with a CH in the ring), though some real
    rings qualify (the dihydropyridine of NADH, lactams next to an aromatic ring)."""
    pos = mol.GetConformer().GetPositions()
    for ring in Chem.GetSSSR(mol):
        ring = list(ring)
        if len(ring) not in (5, 6) or not any(mol.GetAtomWithIdx(i).GetSymbol() == "C" and
                                              mol.GetAtomWithIdx(i).GetHybridization() == Chem.HybridizationType.SP3
                                              for i in ring):
            continue
        centred = pos[ring] - pos[ring].mean(axis=0)
        if np.linalg.svd(centred, compute_uv=False)[-1] / np.sqrt(len(ring)) < tol:
            return True
    return False


#: Reasons of :func:`suspect_ligand`, in the order they are tested.
SUSPECT_REASONS = ("distorted bond", "S/P oxoacid without a double bond", "flat ring with an sp3 carbon")


def suspect_ligand(mol: Chem.Mol) -> str | None:
    """The first of :data:`SUSPECT_REASONS` that ``mol`` (sanitized heavy atoms with a 3D conformer)
    shows, else None: errors of the structure rather than crystal noise (a flagged bond alone is
    not one; a quarter of crystal ligands have one). The flat-ring signal also drops a few real
    molecules (see :func:`planar_ring_with_sp3_carbon`); training data can afford that, a test set
    cannot, so preparation applies it only on request."""
    if any(c.distorted for c in bond_length_checks(mol)):
        return SUSPECT_REASONS[0]
    if oxoacid_without_double_bond(mol):
        return SUSPECT_REASONS[1]
    if planar_ring_with_sp3_carbon(mol):
        return SUSPECT_REASONS[2]
    return None


def ring_sizes(mol: Chem.Mol) -> list[int]:
    """Sizes of the rings of RDKit's smallest set of smallest rings (SSSR)."""
    return sorted(len(ring) for ring in Chem.GetSSSR(mol))


def ring_size_flags(mol: Chem.Mol) -> dict[str, bool]:
    """Whether ``mol`` contains a ring of 3, 4, 7 atoms and of 8 or more (keys :data:`RING_KEYS`)."""
    sizes = set(ring_sizes(mol))
    return {"3": 3 in sizes, "4": 4 in sizes, "7": 7 in sizes, ">=8": any(s >= 8 for s in sizes)}


def aromatic_ring_count(mol: Chem.Mol) -> tuple[int, int]:
    """(aromatic rings, all rings) of the SSSR of a sanitized molecule."""
    rings = [tuple(ring) for ring in Chem.GetSSSR(mol)]
    aromatic = sum(all(mol.GetAtomWithIdx(i).GetIsAromatic() for i in ring) for ring in rings)
    return aromatic, len(rings)


def has_charged_atom(mol: Chem.Mol) -> bool:
    """Whether any atom of ``mol`` carries a formal charge."""
    return any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms())


def has_radical(mol: Chem.Mol) -> bool:
    """Whether any atom of ``mol`` has radical electrons."""
    return any(atom.GetNumRadicalElectrons() > 0 for atom in mol.GetAtoms())


def chemistry_problems(mol: Chem.Mol) -> list[str]:
    """RDKit's problem types (valence, kekulization ...) of an unsanitized molecule; empty if none."""
    return [problem.GetType() for problem in Chem.DetectChemistryProblems(mol)]


def distribution(values: Iterable[float]) -> dict[str, float]:
    """Mean, median, 95th percentile and max of ``values`` (NaN when empty)."""
    x = np.asarray(list(values), dtype=np.float64)
    if not len(x):
        return {"mean": float("nan"), "median": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {"mean": float(x.mean()), "median": float(np.median(x)), "p95": float(np.percentile(x, 95)),
            "max": float(x.max())}
