"""SDF reading/writing that keeps invalid molecules (no torch).

Written records carry ``moldiff_valid`` (1 if the molecule sanitizes and is connected) and
``moldiff_error`` (the reason otherwise) besides any caller-supplied properties.

Molecules that sanitize are written in Kekulé form: the MDL aromatic bond type (4) is a query
type, and it loses the hydrogen of pyrrole-type nitrogens ([nH]), so other programs (and RDKit
itself) could not read such molecules back. Molecules that do not sanitize are written exactly
as built (no bond is changed), so nothing invalid is silently "repaired".

Every ligand file is read by :func:`read_sdf`, which turns the query atoms and bonds RDKit makes
of some MDL fields (aromatic type 4 with a bond topology field, H counts) into plain ones
(:func:`plain_molecule`), so files from other tools can be scored, checked and featurized.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rdkit import Chem
from rdkit.rdBase import BlockLogs

from moldiff.chem.build import sanitize_or_none
from moldiff.chem.metrics import validity_error


def _one_line(value: object) -> str:
    """SDF data values must not span lines."""
    return " ".join(str(value).split())


def _record(mol: Chem.Mol, props: dict) -> str:
    """One SDF record: mol block without sanitization or kekulization, then data items (the
    molecule's own properties, then ``props``; validity is recomputed here)."""
    clean, _ = sanitize_or_none(mol)
    if clean is not None:
        work = Chem.RWMol(clean)
        Chem.Kekulize(work, clearAromaticFlags=True)
    else:
        work = Chem.Mol(mol)
        work.UpdatePropertyCache(strict=False)  # writers need valences even on invalid molecules
    error = validity_error(mol)
    own = {k: mol.GetProp(k) for k in mol.GetPropNames() if k not in ("moldiff_valid", "moldiff_error")}
    items = {"moldiff_valid": int(not error), "moldiff_error": error, **own, **props}
    block = Chem.MolToMolBlock(work, kekulize=False)
    data = "".join(f">  <{_one_line(key)}>\n{_one_line(value)}\n\n" for key, value in items.items())
    return f"{block}{data}$$$$\n"


def write_sdf(mols: Sequence[Chem.Mol], path: str | os.PathLike, props: Sequence[dict] | None = None) -> None:
    """Write ``mols`` (with optional per-molecule properties) to ``path`` atomically."""
    if props is not None and len(props) != len(mols):
        raise ValueError(f"got {len(props)} property dicts for {len(mols)} molecules")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(_record(mol, {} if props is None else props[k]) for k, mol in enumerate(mols))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def plain_molecule(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with its query atoms and bonds replaced by plain ones (``mol`` itself if it has none).

    RDKit reads some MDL features as queries, e.g. the aromatic bond type 4 together with a
    non-zero bond topology field (TargetDiff's and CrossDocked's SDFs), or an atom's hydrogen
    count field. A molecule with queries is refused by meeko ("RDKit molecule has query"), fails
    PoseBusters, cannot be kekulized (query bonds keep their type) and keeps the hydrogens bonded
    through query bonds when H is removed. The plain copy keeps each bond's type and aromatic
    flag and each atom's element, charge, isotope, radicals, explicit H count and chiral tag;
    coordinates and properties are untouched.
    """
    if not mol.HasQuery():
        return mol
    work = Chem.RWMol(mol)
    for atom in mol.GetAtoms():
        if atom.HasQuery():
            plain = Chem.Atom(atom.GetAtomicNum())
            plain.SetFormalCharge(atom.GetFormalCharge())
            plain.SetIsotope(atom.GetIsotope())
            plain.SetNumRadicalElectrons(atom.GetNumRadicalElectrons())
            plain.SetNumExplicitHs(atom.GetNumExplicitHs())
            plain.SetChiralTag(atom.GetChiralTag())
            work.ReplaceAtom(atom.GetIdx(), plain, preserveProps=True)
    pair = Chem.RWMol()  # RDKit makes bonds only inside a molecule: each plain bond is made here
    pair.AddAtom(Chem.Atom(0))
    pair.AddAtom(Chem.Atom(0))
    for bond in mol.GetBonds():
        if bond.HasQuery():
            pair.AddBond(0, 1, bond.GetBondType())
            plain = pair.GetBondWithIdx(0)
            plain.SetIsAromatic(bond.GetIsAromatic())
            plain.SetBondDir(bond.GetBondDir())
            work.ReplaceBond(bond.GetIdx(), plain, preserveProps=True)  # copied, with this bond's atoms
            pair.RemoveBond(0, 1)
    return work.GetMol()


def read_sdf(path: str | os.PathLike, sanitize: bool = False, strict: bool = True) -> list[Chem.Mol | None]:
    """All molecules of an SDF file: the one reader of ligand files (generated molecules,
    reference ligands, training complexes).

    Records are parsed without RDKit's sanitization, hydrogens kept as written (featurization,
    :func:`moldiff.datasets.complexes.clean_ligand`, removes them), and made plain
    (:func:`plain_molecule`). With ``sanitize`` each is sanitized: aromaticity perceived by
    RDKit's model whatever the file's bond types (Kekulé or aromatic type 4), which needs the
    molecule to kekulize. Problems raise ``ValueError("<path>: ...")``; with ``strict=False``
    a record that cannot be parsed (or sanitized) is None in its place and an empty file gives
    ``[]`` (callers that report per record). A missing file always raises.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        if not strict:
            return []
        raise ValueError(f"{path}: file contains no molecules")
    supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)
    mols: list[Chem.Mol | None] = []
    for k in range(len(supplier)):
        with BlockLogs():  # the failure is raised below; RDKit's log lines would be noise
            mol = supplier[k]
        if mol is None and strict:
            raise ValueError(f"{path}: record {k + 1} could not be parsed")
        if mol is not None:
            mol = plain_molecule(mol)
        if mol is not None and sanitize:
            mol, error = sanitize_or_none(mol)
            if mol is None and strict:
                raise ValueError(f"{path}: record {k + 1} does not sanitize: {error}")
        mols.append(mol)
    if not mols and strict:
        raise ValueError(f"{path}: file contains no molecules")
    return mols
