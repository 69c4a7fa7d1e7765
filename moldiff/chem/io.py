"""SDF reading/writing that keeps invalid molecules (no torch).

Written records carry ``moldiff_valid`` (1 if the molecule sanitizes and is connected) and
``moldiff_error`` (the reason otherwise) besides any caller-supplied properties.

Molecules that sanitize are written in Kekulé form: the MDL aromatic bond type (4) is a query
type, and it loses the hydrogen of pyrrole-type nitrogens ([nH]), so other programs (and RDKit
itself) could not read such molecules back. Molecules that do not sanitize are written exactly
as built (no bond is changed), so nothing invalid is silently "repaired".
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


def read_sdf(path: str | os.PathLike, sanitize: bool = False) -> list[Chem.Mol]:
    """All molecules of an SDF file, hydrogens kept; ``ValueError("<path>: ...")`` on any problem."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: file contains no molecules")
    supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)
    mols = []
    for k in range(len(supplier)):
        with BlockLogs():  # the failure is raised below; RDKit's log lines would be noise
            mol = supplier[k]
        if mol is None:
            raise ValueError(f"{path}: record {k + 1} could not be parsed")
        if sanitize:
            mol, error = sanitize_or_none(mol)
            if mol is None:
                raise ValueError(f"{path}: record {k + 1} does not sanitize: {error}")
        mols.append(mol)
    if not mols:
        raise ValueError(f"{path}: file contains no molecules")
    return mols
