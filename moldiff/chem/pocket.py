"""Protein structures (PDB / mmCIF) as flat numpy atom arrays, and pocket selection (no torch).

Reading keeps what a pocket model conditions on and drops the rest:

- PDB (also AutoDock's PDBQT: elements from its atom-type columns) and mmCIF; a PDB whose last
  record is cut short (a truncated file) is refused;
- atoms with non-finite coordinates or coordinates beyond +-10,000 Angstrom are set aside: a
  pocket that needs one of them is refused, naming the atom, others never notice them;
- the first model only; alternate locations resolved to the highest occupancy (Biopython's
  disordered-atom selection); insertion codes kept (residue keys like ``"A:45A"``);
- waters always dropped; hydrogens dropped unless ``keep_hydrogens``;
- polymer atoms kept: ATOM records plus HETATM residues peptide-bonded to a neighbour, so
  modified amino acids such as MSE stay protein while a free amino-acid ligand does not;
- other HETATM groups (ions, cofactors, ligands) dropped unless ``keep_hetero``;
- missing element columns are guessed by Biopython from the atom name; inside amino acids the
  guess is corrected to C/N/O/S/H/Se ("CA" is a C-alpha, "HG" a hydrogen), and a one-atom hetero
  group named like its residue takes that element ("CA" in residue CA is calcium).

Pocket selections return whole residues, and are refused when an atom lies more than 50 Angstrom
from the pocket's median (the pocket centre, the mean of its atoms, would follow it). Distances use
a k-d tree, so a 50k-atom assembly never needs an atoms x ligand-atoms distance matrix.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from Bio.Data.IUPACData import atom_weights
from Bio.PDB import MMCIFParser, PDBParser
from scipy.spatial import cKDTree

from moldiff.vocab import (
    AMINO_ACIDS,
    BACKBONE_ATOM_NAMES,
    pocket_element_index,
    pocket_residue_index,
)

WATER_NAMES = frozenset({"HOH", "WAT", "DOD", "H2O"})
PDB_SUFFIXES = (".pdb", ".ent", ".pdbqt")
MMCIF_SUFFIXES = (".cif", ".mmcif")
#: Largest coordinate magnitude accepted (Angstrom); PDB's 8.3f columns stop at 9999.999.
MAX_COORD = 1e4
#: Pocket atoms farther than this from the pocket's median are refused (Angstrom): training pockets
#: reach 28 A, and a corrupt atom would drag the pocket centre (the mean of its atoms) with it.
MAX_POCKET_RADIUS = 50.0
#: AutoDock atom types (PDBQT columns 78-79) that are not element symbols: aromatic carbon,
#: acceptor N/O/S, polar/other hydrogens, Meeko's macrocycle glue carbons.
AUTODOCK_TYPES = {"A": "C", "NA": "N", "NS": "N", "OA": "O", "OS": "O", "SA": "S", "HD": "H", "HS": "H",
                  **{f"{g}{k}": "C" for g in ("G", "CG") for k in range(4)}}
#: Elements that occur in (modified) amino acids; other guesses inside one are name-guessing errors.
_AMINO_ELEMENTS = frozenset({"C", "N", "O", "S", "H", "D", "Se"})
#: Longest C(i)-N(i+1) distance counted as a peptide bond (typical 1.33 Angstrom).
_PEPTIDE_BOND_MAX = 2.0
#: Hetero atoms this close to a reference-ligand atom are that ligand left in the structure file.
_LIGAND_COPY_DIST = 1.0


class StructureError(ValueError):
    """A structure file that cannot be read, or a pocket that cannot be selected; one line naming the file."""

    def __init__(self, source: str | os.PathLike, message: str):
        super().__init__(f"{source}: {' '.join(message.split())}")


@dataclass
class ProteinAtoms:
    """Atoms of a structure as parallel arrays; ``hetero`` marks non-polymer groups (ligands, ions,
    cofactors kept with ``keep_hetero``), so modified residues in a chain are not hetero."""

    pos: np.ndarray  # float64 [N, 3]
    element: np.ndarray  # str [N], capitalized ("C", "Se", "Zn")
    atom_name: np.ndarray  # str [N]
    res_name: np.ndarray  # str [N]
    chain: np.ndarray  # str [N]
    res_seq: np.ndarray  # int64 [N]
    icode: np.ndarray  # str [N], "" if none
    hetero: np.ndarray  # bool [N]
    source: str = ""
    #: atoms set aside for bad coordinates: (residue key, what is wrong with which atom)
    unusable: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.pos)

    def select(self, mask: np.ndarray) -> "ProteinAtoms":
        """The atoms where ``mask`` (bool [N] or indices) selects, same source."""
        arrays = {f.name: getattr(self, f.name)[mask] for f in fields(self) if f.name not in ("source", "unusable")}
        return ProteinAtoms(**arrays, source=self.source, unusable=self.unusable)

    def residue_keys(self) -> np.ndarray:
        """Per-atom residue key ``"chain:resseq[icode]"``, e.g. ``"A:45"`` or ``"A:45A"``."""
        seq = self.res_seq.astype(str)
        return np.char.add(np.char.add(np.char.add(self.chain.astype(str), ":"), seq), self.icode.astype(str))


# ------------------------------------------------------------------------------ reading


def read_structure(path: str | os.PathLike, keep_hetero: bool = False, keep_hydrogens: bool = False) -> ProteinAtoms:
    """Read a PDB (.pdb/.ent/.pdbqt) or mmCIF (.cif/.mmcif) file, optionally gzipped, into :class:`ProteinAtoms`."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(path, "no such file")
    structure, pdb_lines = _parse(path)
    model = next(iter(structure), None)
    if model is None:
        raise StructureError(path, "no atom records; is it a PDB or mmCIF file?")
    set_aside: list[tuple] = []
    rows = [row for chain in model for row in _chain_rows(chain, keep_hetero, keep_hydrogens, set_aside)]
    lines = _serial_lines(pdb_lines) if set_aside and pdb_lines else {}
    unusable = tuple((key, _describe(atom, key, lines)) for atom, key in set_aside)
    if not rows and unusable:
        raise StructureError(path, f"no atom with usable coordinates ({unusable[0][1]})")
    atoms = _to_arrays(rows, str(path), unusable)
    if not (~atoms.hetero).any():
        raise StructureError(path, "no protein atoms")
    return atoms


def _parse(path: Path) -> tuple[object, list[str] | None]:
    """Biopython structure of ``path`` (format from the suffix; parser warnings suppressed) and, for
    PDB files, their lines."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(PDB_SUFFIXES):
        parser = PDBParser(QUIET=True)
    elif name.endswith(MMCIF_SUFFIXES):
        parser = MMCIFParser(QUIET=True)
    else:
        raise StructureError(path, f"unknown structure format; expected one of {PDB_SUFFIXES + MMCIF_SUFFIXES}")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise StructureError(path, f"not a readable PDB/mmCIF file ({type(err).__name__}: {err})") from None
    lines = None
    if isinstance(parser, PDBParser):
        lines = text.splitlines()
        _check_complete(path, lines, text.endswith(("\n", "\r")))
        if name.endswith(".pdbqt"):
            lines = [_pdbqt_to_pdb(line) for line in lines]
            text = "\n".join(lines)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parser.get_structure(path.stem, io.StringIO(text)), lines
    except Exception as err:  # Biopython raises many unrelated types on corrupt input
        raise StructureError(path, f"not a readable PDB/mmCIF file ({type(err).__name__}: {err})") from None


def _check_complete(path: Path, lines: list[str], final_newline: bool) -> None:
    """Refuse a truncated PDB: an ATOM/HETATM record that stops before the end of its coordinates
    (column 54), or a last line without a newline that is (the start of) one without its element
    columns (77-78)."""
    for k, line in enumerate(lines):
        if line[:6] in ("ATOM  ", "HETATM") and len(line) < 54:
            raise StructureError(path, f"line {k + 1}: the {line[:6].strip()} record stops at column {len(line)}, "
                                       "before the end of its coordinates (column 54); is the file truncated?")
    last = lines[-1] if lines else ""
    atom_record = any(record.startswith(last[:6]) for record in ("ATOM  ", "HETATM"))
    if not final_newline and last.strip() and atom_record and len(last) < 78:
        raise StructureError(path, f"line {len(lines)}: the file ends inside an atom record ({len(last)} columns, "
                                   "no final newline or END); is it truncated?")


def _pdbqt_to_pdb(line: str) -> str:
    """A PDBQT ATOM/HETATM record as PDB: charge and AutoDock type columns replaced by the type's
    element (blank when unknown: guessed from the atom name); other lines unchanged."""
    if line[:6] not in ("ATOM  ", "HETATM"):
        return line
    kind = line[76:].strip()
    element = AUTODOCK_TYPES.get(kind) or (kind.capitalize() if kind.capitalize() in atom_weights else "")
    return f"{line[:66]:<66}{'':10}{element:>2}"


def _serial_lines(lines: list[str]) -> dict[int, int]:
    """Line number (1-based) of the first ATOM/HETATM record of each serial number."""
    out: dict[int, int] = {}
    for k, line in enumerate(lines):
        if line[:6] in ("ATOM  ", "HETATM") and line[6:11].strip().isdigit():
            out.setdefault(int(line[6:11]), k + 1)
    return out


def _describe(atom, key: str, lines: dict[int, int]) -> str:
    """What is wrong with an atom set aside, naming it, e.g. ``atom 99 CG LYS A:14 (line 101) has
    non-finite coordinates (nan, -4.461, -2.982)``."""
    serial = atom.get_serial_number()
    where = f" (line {lines[serial]})" if serial in lines else ""
    xyz = atom.get_coord()
    what = "non-finite coordinates" if not np.isfinite(xyz).all() else f"coordinates beyond ±{MAX_COORD:g} Å"
    name = f"atom {serial} {atom.get_name()} {atom.get_parent().get_resname().strip()} {key}{where}"
    return f"{name} has {what} ({', '.join(f'{v:.6g}' for v in xyz)})"


def _chain_rows(chain, keep_hetero: bool, keep_hydrogens: bool, set_aside: list[tuple]) -> list[tuple]:
    """Atom rows ``(pos, element, name, resname, chain, resseq, icode, hetero)`` of one chain; kept
    atoms with bad coordinates go to ``set_aside`` as ``(atom, residue key)`` instead."""
    residues = list(chain)
    rows = []
    for k, residue in enumerate(residues):
        flag, resseq, icode = residue.id
        resname = residue.get_resname().strip()
        if flag == "W" or resname in WATER_NAMES:
            continue
        polymer = flag == " " or _peptide_linked(residue, residues[k - 1] if k else None,
                                                 residues[k + 1] if k + 1 < len(residues) else None)
        if not polymer and not keep_hetero:
            continue
        atoms = list(residue.get_atoms())
        amino_acid = polymer and (resname in AMINO_ACIDS or "CA" in residue)
        for atom in atoms:
            element = _element(atom, resname, amino_acid, len(atoms) == 1)
            if element in ("H", "D") and not keep_hydrogens:
                continue
            xyz = atom.get_coord()
            if not (np.isfinite(xyz).all() and np.abs(xyz).max() < MAX_COORD):
                set_aside.append((atom, f"{chain.id}:{resseq}{icode.strip()}"))
                continue
            rows.append((xyz, element, atom.get_name(), resname, chain.id, resseq,
                         icode.strip(), not polymer))
    return rows


def _peptide_linked(residue, before, after) -> bool:
    """True if a HETATM residue with N, CA, C is peptide-bonded to the residue before or after it."""
    if not all(name in residue for name in ("N", "CA", "C")):
        return False
    links = ((before, "C", residue, "N"), (residue, "C", after, "N"))
    return any(a is not None and b is not None and name_a in a and name_b in b
               and a[name_a] - b[name_b] <= _PEPTIDE_BOND_MAX for a, name_a, b, name_b in links)


def _element(atom, resname: str, amino_acid: bool, single: bool) -> str:
    """Capitalized element, with the name-guessing corrections described in the module docstring."""
    element = (atom.element or "X").strip().capitalize()
    name = atom.get_name().strip().upper()
    if amino_acid and element not in _AMINO_ELEMENTS:
        letters = name.lstrip("0123456789")
        element = "Se" if letters.startswith("SE") else letters[:1].capitalize() or "X"
    elif single and name == resname.upper() and resname.capitalize() in atom_weights:
        element = resname.capitalize()
    return element


def _to_arrays(rows: list[tuple], source: str, unusable: tuple[tuple[str, str], ...] = ()) -> ProteinAtoms:
    """Column arrays of atom rows."""
    if not rows:
        raise StructureError(source, "no protein atoms")
    pos, element, name, resname, chain, resseq, icode, hetero = zip(*rows)
    return ProteinAtoms(
        pos=np.asarray(pos, dtype=np.float64).reshape(-1, 3),
        element=np.array(element, dtype=str),
        atom_name=np.array(name, dtype=str),
        res_name=np.array(resname, dtype=str),
        chain=np.array(chain, dtype=str),
        res_seq=np.array(resseq, dtype=np.int64),
        icode=np.array(icode, dtype=str),
        hetero=np.array(hetero, dtype=bool),
        source=source,
        unusable=unusable,
    )


# ---------------------------------------------------------------------------- pockets


def _residue_ids(atoms: ProteinAtoms) -> np.ndarray:
    """Per-atom residue index; key, name and hetero flag together tell residues apart."""
    label = np.char.add(np.char.add(atoms.residue_keys(), "|"), atoms.res_name.astype(str))
    label = np.char.add(label, np.where(atoms.hetero, "|H", ""))
    return np.unique(label, return_inverse=True)[1].reshape(-1)


def _whole_residues(atoms: ProteinAtoms, hit: np.ndarray) -> ProteinAtoms:
    """All atoms of every residue with at least one atom in ``hit`` (indices), in file order."""
    ids = _residue_ids(atoms)
    return _pocket(atoms, np.isin(ids, ids[hit]))


def _pocket(atoms: ProteinAtoms, mask: np.ndarray, residues: Sequence[str] | None = None) -> ProteinAtoms:
    """The atoms ``mask`` selects as a pocket; a :class:`StructureError` if one of its ``residues``
    (default: those of the selected atoms) holds an atom set aside for bad coordinates, or if an
    atom lies more than :data:`MAX_POCKET_RADIUS` from the pocket's median."""
    pocket = atoms.select(mask)
    keys = set(pocket.residue_keys().tolist() if residues is None else residues)
    for key, problem in atoms.unusable:
        if key in keys:
            raise StructureError(atoms.source, f"{problem}, in pocket residue {key}; fix or remove that atom")
    dist = np.linalg.norm(pocket.pos - np.median(pocket.pos, axis=0), axis=1)
    far = int(np.argmax(dist))
    if dist[far] > MAX_POCKET_RADIUS:
        atom = f"{pocket.atom_name[far]} {pocket.res_name[far]} {pocket.residue_keys()[far]}"
        raise StructureError(atoms.source, f"pocket atom {atom} lies {dist[far]:.0f} Å from the pocket's median "
                                           f"position (limit {MAX_POCKET_RADIUS:g} Å): corrupt coordinates, or "
                                           "residues far apart?")
    return pocket


def positive_distance(value: float, name: str) -> float:
    """``value`` if it is a positive finite distance, else a ``ValueError`` naming it."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive distance in Å, got {value:g}")
    return value


def pocket_from_ligand(atoms: ProteinAtoms, ligand_pos: np.ndarray, cutoff: float = 8.0) -> ProteinAtoms:
    """Residues with any atom within ``cutoff`` Angstrom of any ligand atom ([M, 3], heavy atoms).

    Hetero atoms closer than 1 Angstrom to a ligand atom are the reference ligand itself, left in the
    structure file; those groups never enter the pocket.
    """
    cutoff = positive_distance(cutoff, "cutoff")
    ligand_pos = np.asarray(ligand_pos, dtype=np.float64).reshape(-1, 3)
    if len(ligand_pos) == 0:
        raise StructureError(atoms.source, "the reference ligand has no atoms")
    tree = cKDTree(atoms.pos)
    nearest, _ = tree.query(ligand_pos, k=1)
    if nearest.min() > cutoff:
        raise StructureError(atoms.source, f"reference ligand is {nearest.min():.1f} Å from the nearest protein "
                                           f"atom (pocket cutoff {cutoff:g} Å); is it the right structure?")
    hit = np.unique(np.concatenate([np.asarray(i, dtype=np.int64) for i in
                                    tree.query_ball_point(ligand_pos, cutoff)]))
    if atoms.hetero.any():
        ids = _residue_ids(atoms)
        near = tree.query_ball_point(ligand_pos, _LIGAND_COPY_DIST)
        copies = {ids[i] for group in near for i in group if atoms.hetero[i]}
        hit = hit[~np.isin(ids[hit], list(copies))]
    if len(hit) == 0:
        raise StructureError(atoms.source, f"no atom within {cutoff:g} Å of the reference ligand")
    return _whole_residues(atoms, hit)


def pocket_from_residues(atoms: ProteinAtoms, residues: str | Sequence[str]) -> ProteinAtoms:
    """The residues named by ``"chain:resseq[icode]"`` keys (e.g. ``["A:45", "A:46B"]``, or one
    key as a string)."""
    wanted = [str(r).replace(" ", "") for r in ([residues] if isinstance(residues, str) else residues)]
    if not wanted:
        raise StructureError(atoms.source, "empty residue list")
    keys = atoms.residue_keys()
    present = set(keys.tolist()) | {key for key, _ in atoms.unusable}
    for key in wanted:
        if key not in present:
            chains = ", ".join(sorted(set(atoms.chain.tolist())))
            raise StructureError(atoms.source, f"residue {key} not found (expected CHAIN:NUMBER[ICODE]; "
                                               f"chains present: {chains})")
    return _pocket(atoms, np.isin(keys, wanted), wanted)


def pocket_from_center(atoms: ProteinAtoms, center: np.ndarray, radius: float) -> ProteinAtoms:
    """Residues with any atom within ``radius`` Angstrom of ``center`` (3,)."""
    radius = positive_distance(radius, "radius")
    center = np.asarray(center, dtype=np.float64).reshape(3)
    if not np.isfinite(center).all():
        raise ValueError(f"the pocket center must be three finite coordinates, got {center.tolist()}")
    hit = np.asarray(cKDTree(atoms.pos).query_ball_point(center, radius), dtype=np.int64)
    if len(hit) == 0:
        raise StructureError(atoms.source, f"no atom within {radius:g} Å of the center {center.round(2).tolist()}")
    return _whole_residues(atoms, hit)


# --------------------------------------------------------------------------- features


def pocket_features(atoms: ProteinAtoms) -> dict[str, np.ndarray]:
    """Vocabulary features of pocket atoms: ``element``, ``residue`` (uint8 indices of
    :mod:`moldiff.vocab`), ``backbone`` (N/CA/C/O of a polymer residue) and ``ca`` (C-alphas)."""
    polymer = ~atoms.hetero
    names = atoms.atom_name.astype(str)
    return {
        "element": np.array([pocket_element_index(e) for e in atoms.element], dtype=np.uint8),
        "residue": np.array([pocket_residue_index(r) for r in atoms.res_name], dtype=np.uint8),
        "backbone": polymer & np.isin(names, BACKBONE_ATOM_NAMES),
        "ca": polymer & (names == "CA") & (atoms.element == "C"),
    }
