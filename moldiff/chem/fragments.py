"""Fixed atoms for inpainting, on the RDKit side (no torch): read and select them from SDF files
(all atoms, a SMARTS match or atom indices), cut standard fragments out of a reference ligand
(largest ring system for growing, two terminal fragments for linking), and check generated
molecules (fixed atoms kept exactly, fragment present as a substructure).

Fixed atoms travel as :class:`~moldiff.convert.MolArrays`: element symbols, coordinates in the
input frame, formal charges and the bonds among them in the model's classes (kekulized unless
the model has an aromatic class).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from moldiff.chem.io import read_sdf
from moldiff.chem.arrays import MolArrays
from moldiff.vocab import BOND_AROMATIC, BOND_DOUBLE, BOND_SINGLE, BOND_TRIPLE, Vocab

_BOND_CLASS = {Chem.BondType.SINGLE: BOND_SINGLE, Chem.BondType.DOUBLE: BOND_DOUBLE,
               Chem.BondType.TRIPLE: BOND_TRIPLE, Chem.BondType.AROMATIC: BOND_AROMATIC}


def _with_model_bonds(mol: Chem.Mol, vocab: Vocab, source: str) -> Chem.Mol:
    """A copy whose bond types are the model's: kekulized (single/double/triple) unless the
    vocabulary has an aromatic class. Sanitizes when it can (aromaticity of SDF bond type 4)."""
    out = Chem.Mol(mol)
    with BlockLogs():
        try:
            Chem.SanitizeMol(out)
        except Exception:  # partial fragments may not sanitize; their written bond orders still count
            out = Chem.Mol(mol)
        if vocab.num_bond_types <= BOND_AROMATIC:
            try:
                Chem.Kekulize(out, clearAromaticFlags=True)
            except Exception:
                raise ValueError(f"{source}: the fixed atoms have aromatic bonds that cannot be kekulized") from None
    return out


def fixed_arrays(mol: Chem.Mol, atoms: Sequence[int], vocab: Vocab, source: str = "fixed atoms") -> MolArrays:
    """The atoms ``atoms`` of ``mol`` (in that order) with the bonds among them, as fixed atoms for a
    model with vocabulary ``vocab``. Hydrogens are dropped for heavy-atom models. One-line
    ``ValueError`` naming ``source`` for elements, charges or bonds the model does not know."""
    if mol.GetNumConformers() == 0:
        raise ValueError(f"{source}: the molecule has no coordinates")
    work = _with_model_bonds(mol, vocab, source)
    keep = [int(i) for i in atoms if "H" in vocab.elements or mol.GetAtomWithIdx(int(i)).GetAtomicNum() != 1]
    if not keep:
        raise ValueError(f"{source}: no fixed atoms left (hydrogens are not modelled by this model)")
    where = {i: k for k, i in enumerate(keep)}
    elements, charges = [], []
    for i in keep:
        atom = work.GetAtomWithIdx(i)
        if atom.GetSymbol() not in vocab.elements:
            raise ValueError(f"{source}: atom {i} is {atom.GetSymbol()}, an element the model does not know "
                             f"({' '.join(vocab.elements)})")
        if atom.GetFormalCharge() not in vocab.charges:
            raise ValueError(f"{source}: atom {i} has formal charge {atom.GetFormalCharge():+d}, which the model "
                             f"does not know ({' '.join(f'{c:+d}' for c in vocab.charges)})")
        elements.append(atom.GetSymbol())
        charges.append(atom.GetFormalCharge())
    rows = []
    for bond in work.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if i in where and j in where:
            cls = _BOND_CLASS.get(bond.GetBondType())
            if cls is None or cls >= vocab.num_bond_types:
                raise ValueError(f"{source}: bond {i}-{j} is {bond.GetBondType()}, which the model does not know")
            rows.append((*sorted((where[i], where[j])), cls))
    pos = mol.GetConformer().GetPositions()[keep]
    return MolArrays(elements, pos.astype(np.float64), np.array(charges, dtype=np.int64),
                     np.array(sorted(rows), dtype=np.int64).reshape(-1, 3))


def select_atoms(mol: Chem.Mol, smarts: str | None = None, indices: Sequence[int] | None = None,
                 source: str = "fixed atoms") -> list[int]:
    """Atom indices to fix, ascending: all atoms, the first match of ``smarts``, or ``indices``."""
    if smarts is not None and indices is not None:
        raise ValueError("give the fixed part as a SMARTS pattern or as atom indices, not both")
    if smarts is not None:
        query = Chem.MolFromSmarts(smarts)
        if query is None:
            raise ValueError(f"--fix_smarts: {smarts!r} is not a valid SMARTS pattern")
        work = Chem.Mol(mol)
        with BlockLogs():
            try:
                Chem.SanitizeMol(work)
            except Exception:
                work.UpdatePropertyCache(strict=False)
                Chem.FastFindRings(work)
        match = work.GetSubstructMatch(query)
        if not match:
            raise ValueError(f"{source}: the SMARTS pattern {smarts!r} matches no atoms")
        return sorted(match)
    n = mol.GetNumAtoms()
    if indices is None:
        return list(range(n))
    bad = [i for i in indices if not 0 <= int(i) < n]
    if bad:
        raise ValueError(f"{source}: atom index {bad[0]} out of range (the molecule has {n} atoms, indices from 0)")
    if len(set(indices)) != len(indices):
        raise ValueError(f"{source}: repeated atom indices in {list(indices)}")
    return sorted(int(i) for i in indices)


def read_fixed_atoms(paths: Sequence[str | os.PathLike], vocab: Vocab, smarts: str | None = None,
                     indices: Sequence[int] | None = None) -> MolArrays:
    """Fixed atoms from SDF files (first record of each), in file order: every atom, or with one
    file the part chosen by ``smarts`` (its first match) or ``indices`` (0-based, as in the file).
    Several files (fragment linking) are joined without bonds between them."""
    paths = list(paths)
    if not paths:
        raise ValueError("no fixed-atom files given")
    if (smarts is not None or indices is not None) and len(paths) != 1:
        raise ValueError("--fix_smarts and --fix_indices select atoms of one file; give exactly one --fix_atoms file")
    parts = []
    for path in paths:
        mol = read_sdf(path)[0]
        parts.append(fixed_arrays(mol, select_atoms(mol, smarts, indices, str(path)), vocab, str(path)))
    return join_fragments(parts)


def join_fragments(parts: Sequence[MolArrays]) -> MolArrays:
    """Fragments concatenated in order (bond indices shifted; no bonds between fragments)."""
    offsets = np.cumsum([0] + [len(p.elements) for p in parts])
    bonds = [p.bonds + np.array([o, o, 0]) for p, o in zip(parts, offsets)]
    return MolArrays([e for p in parts for e in p.elements], np.concatenate([p.pos for p in parts]),
                     np.concatenate([p.charges for p in parts]), np.concatenate(bonds).reshape(-1, 3))


def ring_systems(mol: Chem.Mol) -> list[list[int]]:
    """Ring systems (rings sharing at least one atom merged: fused, bridged, spiro), largest first."""
    systems: list[set[int]] = []
    for ring in mol.GetRingInfo().AtomRings():
        merged = set(ring)
        for s in [s for s in systems if s & merged]:
            merged |= s
            systems.remove(s)
        systems.append(merged)
    return [sorted(s) for s in sorted(systems, key=len, reverse=True)]


def terminal_fragments(mol: Chem.Mol, min_atoms: int = 3) -> tuple[list[int], list[int]] | None:
    """Two terminal fragments for a linking task, or None when the molecule has none.

    The molecule is cut at every acyclic single bond between two non-terminal heavy atoms; pieces
    that hang on one cut are terminal. Of those with at least ``min_atoms`` heavy atoms, the two
    farthest apart (shortest bond path) are returned, provided something lies between them.
    """
    cuts = [b.GetIdx() for b in mol.GetBonds()
            if b.GetBondType() == Chem.BondType.SINGLE and not b.IsInRing()
            and b.GetBeginAtom().GetDegree() > 1 and b.GetEndAtom().GetDegree() > 1]
    if not cuts:
        return None
    pieces = Chem.GetMolFrags(Chem.FragmentOnBonds(mol, cuts, addDummies=False), asMols=False)
    piece_of = {a: k for k, piece in enumerate(pieces) for a in piece}
    n_cuts = np.zeros(len(pieces), dtype=int)
    for b in cuts:
        bond = mol.GetBondWithIdx(b)
        n_cuts[piece_of[bond.GetBeginAtomIdx()]] += 1
        n_cuts[piece_of[bond.GetEndAtomIdx()]] += 1
    leaves = [sorted(p) for k, p in enumerate(pieces) if n_cuts[k] == 1 and len(p) >= min_atoms]
    dist = Chem.GetDistanceMatrix(mol)
    best, best_d = None, -1.0
    for i in range(len(leaves)):
        for j in range(i + 1, len(leaves)):
            d = dist[np.ix_(leaves[i], leaves[j])].min()
            if d > 1 and d > best_d:  # d == 1: the two pieces touch, nothing to link
                best, best_d = (leaves[i], leaves[j]), d
    return best


def fragment_smarts(mol: Chem.Mol, atoms: Sequence[int]) -> str:
    """A SMARTS query for the substructure ``atoms`` of a sanitized ``mol`` (elements, and bond
    orders or aromaticity as perceived in the whole molecule)."""
    return Chem.MolFragmentToSmarts(mol, atomsToUse=[int(a) for a in atoms])


def has_fragment(mol: Chem.Mol, smarts: str) -> bool:
    """Whether a sanitized ``mol`` contains the substructure ``smarts`` anywhere."""
    return mol.HasSubstructMatch(Chem.MolFromSmarts(smarts))


def keeps_fixed_atoms(mol: Chem.Mol, fixed: MolArrays, tol: float = 1e-3) -> bool:
    """Whether the first atoms of ``mol`` are the fixed atoms: same elements and coordinates within
    ``tol`` Angstrom (the sampler's guarantee). Formal charges are not compared: the sampler returns
    the given ones, but RDKit's sanitization may rewrite them when generated atoms make a fixed atom
    part of a group it normalizes (a fixed N that gained two =O becomes a charge-separated nitro N+)."""
    k = len(fixed.elements)
    if mol.GetNumAtoms() < k or mol.GetNumConformers() == 0:
        return False
    if [mol.GetAtomWithIdx(i).GetSymbol() for i in range(k)] != list(fixed.elements):
        return False
    pos = mol.GetConformer().GetPositions()[:k]
    return bool(np.abs(pos - fixed.pos).max() <= tol)
