"""Reading real-world PDB/mmCIF quirks into atom arrays, and whole-residue pocket selection."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from Bio.PDB import MMCIFIO, PDBParser
from rdkit import Chem

from moldiff.chem.pocket import (
    StructureError,
    pocket_features,
    pocket_from_center,
    pocket_from_ligand,
    pocket_from_residues,
    read_structure,
)
from moldiff.vocab import POCKET_ELEMENTS, POCKET_RESIDUES

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"
DEMO_PROTEIN, DEMO_LIGAND = EXAMPLES / "1ia1_protein.pdb", EXAMPLES / "1ia1_ligand.sdf"


def atom_line(record: str, serial: int, name: str, resname: str, resseq: int, xyz, element: str = "",
              chain: str = "A", altloc: str = " ", icode: str = " ", occupancy: float = 1.0) -> str:
    """One fixed-column PDB ATOM/HETATM record; ``element=""`` leaves the element columns blank.
    Names of one-letter elements start in column 14, others (and 4-letter names) in column 13."""
    field = name.ljust(4) if len(name) == 4 or name.startswith(("CA ", "ZN", "SE")) else f" {name:<3}"
    x, y, z = xyz
    return (f"{record:<6}{serial:>5} {field}{altloc}{resname:>3} {chain}{resseq:>4}{icode}   "
            f"{x:8.3f}{y:8.3f}{z:8.3f}{occupancy:6.2f}  0.00          {element:>2}")


def residue_lines(record: str, serial: int, resname: str, resseq: int, x0: float, icode: str = " ",
                  elements: bool = True, side: tuple[str, str] = ("CB", "C")) -> list[str]:
    """Backbone N, CA, C, O (+ one side-chain atom) along x; consecutive residues (x0 step 3.8)
    get a 1.3 Angstrom C-N peptide bond."""
    atoms = [("N", "N", (x0, 0, 0)), ("CA", "C", (x0 + 1.45, 0, 0)), ("C", "C", (x0 + 2.5, 0, 0)),
             ("O", "O", (x0 + 2.5, 1.23, 0)), (side[0], side[1], (x0 + 1.45, -1.5, 0))]
    return [atom_line(record, serial + k, name, resname, resseq, xyz, element if elements else "", icode=icode)
            for k, (name, element, xyz) in enumerate(atoms)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


@pytest.fixture
def quirky_pdb(tmp_path: Path) -> Path:
    """Chain A: ALA 1, MSE 2 (HETATM, peptide-linked), GLY 45, GLY 45A, SER 46 with an altloc
    (B has the higher occupancy) and a hydrogen; then water, a zinc ion, a ligand and a free
    glutamate (HETATM, not linked). A second MODEL moves everything by 100 Angstrom."""
    lines = residue_lines("ATOM", 1, "ALA", 1, 0.0)
    lines += residue_lines("HETATM", 6, "MSE", 2, 3.8, side=("SE", "SE"))
    lines += residue_lines("ATOM", 11, "GLY", 45, 7.6)[:4]
    lines += residue_lines("ATOM", 15, "GLY", 45, 11.4, icode="A")[:4]
    lines += residue_lines("ATOM", 19, "SER", 46, 15.2)[:4]
    lines += [atom_line("ATOM", 23, "OG", "SER", 46, (16.6, -2.0, 0), "O", altloc="A", occupancy=0.3),
              atom_line("ATOM", 24, "OG", "SER", 46, (16.6, -2.0, 1.0), "O", altloc="B", occupancy=0.7),
              atom_line("ATOM", 25, "HG", "SER", 46, (16.6, -2.9, 1.0), "H")]
    lines += [atom_line("HETATM", 26, "O", "HOH", 301, (0, 5, 0), "O"),
              atom_line("HETATM", 27, "ZN", "ZN", 302, (5, 5, 0), "ZN"),
              atom_line("HETATM", 28, "C1", "LIG", 303, (10, 5, 0), "C"),
              atom_line("HETATM", 29, "N1", "LIG", 303, (11, 5, 0), "N")]
    lines += residue_lines("HETATM", 30, "GLU", 304, 40.0)
    shifted = [line[:30] + "".join(f"{float(line[30 + 8 * k:38 + 8 * k]) + 100:8.3f}" for k in range(3)) + line[54:]
               for line in lines]
    return write(tmp_path / "quirky.pdb", ["MODEL        1", *lines, "ENDMDL", "MODEL        2", *shifted, "ENDMDL"])


def test_first_model_altloc_icode_mse(quirky_pdb):
    atoms = read_structure(quirky_pdb)
    assert atoms.pos[:, 0].max() < 50  # model 2 (shifted by 100) not read
    keys = atoms.residue_keys()
    assert list(dict.fromkeys(keys)) == ["A:1", "A:2", "A:45", "A:45A", "A:46"]
    og = atoms.pos[atoms.atom_name == "OG"]
    np.testing.assert_allclose(og, [[16.6, -2.0, 1.0]], atol=1e-3)  # altloc B (occupancy 0.7)
    mse = atoms.res_name == "MSE"
    assert mse.sum() == 5 and not atoms.hetero[mse].any()
    assert set(atoms.element[mse]) == {"N", "C", "O", "Se"}
    assert "H" not in atoms.element and not atoms.hetero.any()
    assert len(pocket_from_residues(atoms, ["A:45A"])) == 4
    assert len(pocket_from_residues(atoms, ["A:45", "A:45A"])) == 8


def test_hetero_groups_and_hydrogens(quirky_pdb):
    atoms = read_structure(quirky_pdb, keep_hetero=True, keep_hydrogens=True)
    het = set(atoms.res_name[atoms.hetero])
    assert het == {"ZN", "LIG", "GLU"}  # water never kept; the unlinked GLU is a ligand, not protein
    assert "Zn" in atoms.element and "HOH" not in atoms.res_name
    assert (atoms.element == "H").sum() == 1
    feats = pocket_features(atoms)
    zn = atoms.element == "Zn"
    assert feats["element"][zn][0] == POCKET_ELEMENTS.index("other")
    assert not feats["backbone"][atoms.hetero].any() and not feats["ca"][atoms.hetero].any()
    assert feats["ca"].sum() == 5  # ALA, MSE, GLY, GLY, SER
    assert feats["residue"][atoms.res_name == "MSE"][0] == POCKET_RESIDUES.index("other")


def test_missing_element_columns(tmp_path):
    lines = residue_lines("ATOM", 1, "CYS", 1, 0.0, elements=False, side=("SG", ""))
    lines.append(atom_line("ATOM", 6, "HG", "CYS", 1, (1.45, -2.5, 0)))  # " HG " guessed as H anyway
    lines.append(atom_line("ATOM", 7, "HG  ", "CYS", 1, (1.45, -2.7, 0)))  # left-justified: mercury guess
    lines.append(atom_line("HETATM", 8, "CA  ", "CA", 201, (9, 9, 9)))  # calcium, column 13
    lines.append(atom_line("HETATM", 9, "CA", "CA", 202, (12, 9, 9)))  # calcium, misaligned to column 14
    atoms = read_structure(write(tmp_path / "noelem.pdb", lines), keep_hetero=True, keep_hydrogens=True)
    cys = atoms.res_name == "CYS"
    assert atoms.element[cys].tolist() == ["N", "C", "C", "O", "S", "H", "H"]
    assert atoms.element[atoms.res_name == "CA"].tolist() == ["Ca", "Ca"]
    assert pocket_features(atoms)["ca"].sum() == 1


def test_mmcif_matches_pdb(tmp_path):
    structure = PDBParser(QUIET=True).get_structure("1ia1", DEMO_PROTEIN)
    io = MMCIFIO()
    io.set_structure(structure)
    io.save(str(tmp_path / "1ia1.cif"))
    for keep_hetero in (False, True):
        a = read_structure(DEMO_PROTEIN, keep_hetero=keep_hetero)
        b = read_structure(tmp_path / "1ia1.cif", keep_hetero=keep_hetero)
        assert len(a) == len(b) > 3000
        np.testing.assert_allclose(a.pos, b.pos, atol=1e-3)
        for name in ("element", "atom_name", "res_name", "chain", "res_seq", "icode", "hetero"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def ligand_pos() -> np.ndarray:
    mol = Chem.MolFromMolFile(str(DEMO_LIGAND))
    return mol.GetConformer().GetPositions()


def brute_force_residues(atoms, points: np.ndarray, cutoff: float) -> set[str]:
    dist = np.linalg.norm(atoms.pos[:, None, :] - points[None, :, :], axis=-1).min(axis=1)
    return set(atoms.residue_keys()[dist <= cutoff].tolist())


def assert_whole_residues(atoms, pocket) -> None:
    keys = set(pocket.residue_keys().tolist())
    assert len(pocket) == np.isin(atoms.residue_keys(), list(keys)).sum()


def test_pocket_from_ligand_and_center_match_brute_force():
    atoms = read_structure(DEMO_PROTEIN)
    lig = ligand_pos()
    pocket = pocket_from_ligand(atoms, lig, cutoff=8.0)
    assert set(pocket.residue_keys().tolist()) == brute_force_residues(atoms, lig, 8.0)
    assert_whole_residues(atoms, pocket)
    assert 300 < len(pocket) < 500
    center = lig.mean(axis=0)
    ball = pocket_from_center(atoms, center, 10.0)
    assert set(ball.residue_keys().tolist()) == brute_force_residues(atoms, center[None], 10.0)
    assert_whole_residues(atoms, ball)
    picked = pocket_from_residues(atoms, ["A:13", "A:14"])
    assert set(picked.residue_keys().tolist()) == {"A:13", "A:14"}


def test_ligand_left_in_structure_is_not_pocket(tmp_path):
    """With keep_hetero, a copy of the reference ligand inside the PDB never becomes pocket context."""
    lig = ligand_pos()
    lines = DEMO_PROTEIN.read_text().splitlines()
    lines = [line for line in lines if line.startswith(("ATOM", "HETATM"))]
    lines += [atom_line("HETATM", 9000 + k, f"C{k}", "REF", 900, xyz, "C", chain="C") for k, xyz in enumerate(lig)]
    atoms = read_structure(write(tmp_path / "with_ligand.pdb", lines), keep_hetero=True)
    assert "REF" in atoms.res_name
    pocket = pocket_from_ligand(atoms, lig)
    assert "REF" not in pocket.res_name and "NDP" in pocket.res_name


@pytest.mark.parametrize("content,suffix,message", [
    (None, ".pdb", "no such file"),
    ("", ".pdb", "not a readable PDB/mmCIF file .*Empty file"),
    ("REMARK   1 an SDF or some text, no coordinates\n", ".pdb", "no atom records"),
    ("garbage\x00\xff", ".cif", "not a readable PDB/mmCIF file"),
    ("HELLO", ".xyz", "unknown structure format"),
])
def test_read_errors_are_one_line_naming_the_file(tmp_path, content, suffix, message):
    path = tmp_path / f"broken{suffix}"
    if content is not None:
        path.write_text(content)
    with pytest.raises(StructureError, match=message) as err:
        read_structure(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_only_hetero_atoms_is_no_protein(tmp_path):
    path = write(tmp_path / "ligand_only.pdb", [atom_line("HETATM", 1, "C1", "LIG", 1, (0, 0, 0), "C")])
    with pytest.raises(StructureError, match="no protein atoms"):
        read_structure(path)


def test_pocket_errors_are_one_line_naming_the_file():
    atoms = read_structure(DEMO_PROTEIN)
    checks = [
        (lambda: pocket_from_ligand(atoms, ligand_pos() + 100.0), "reference ligand is .* Å from the nearest"),
        (lambda: pocket_from_residues(atoms, ["A:13", "Z:999"]), "residue Z:999 not found"),
        (lambda: pocket_from_center(atoms, [500.0, 0.0, 0.0], 5.0), "no atom within 5 Å"),
    ]
    for call, pattern in checks:
        with pytest.raises(StructureError, match=pattern) as err:
            call()
        assert str(DEMO_PROTEIN) in str(err.value) and "\n" not in str(err.value)


def _demo_with(tmp_path: Path, replace: dict[int, str], name: str = "edited.pdb") -> Path:
    """The demo protein with the x coordinate field (columns 31-38) of some lines (0-based) replaced."""
    lines = DEMO_PROTEIN.read_text().splitlines()
    for k, field in replace.items():
        lines[k] = lines[k][:30] + field + lines[k][38:]
    return write(tmp_path / name, lines)


def _atom_line_index(residue_key: str) -> int:
    """Index of the first ATOM line of a residue of the demo protein."""
    for k, line in enumerate(DEMO_PROTEIN.read_text().splitlines()):
        if line.startswith("ATOM") and f"{line[21]}:{int(line[22:26])}" == residue_key:
            return k
    raise KeyError(residue_key)


@pytest.mark.parametrize("field, problem", [("     nan", "non-finite coordinates"),
                                            (f"{1e7:8.1e}", "coordinates beyond ±10000 Å")])
def test_bad_coordinates_matter_only_inside_the_pocket(tmp_path, field, problem):
    """An atom with NaN or absurd coordinates far from the pocket is set aside without effect; one
    in a pocket residue refuses the pocket, naming the file, the atom and its line."""
    clean = pocket_from_ligand(read_structure(DEMO_PROTEIN), ligand_pos())
    pocket_keys = set(clean.residue_keys().tolist())
    inside = min(pocket_keys)
    outside = next(k for k in read_structure(DEMO_PROTEIN).residue_keys().tolist() if k not in pocket_keys)
    far = read_structure(_demo_with(tmp_path, {_atom_line_index(outside): field}))
    np.testing.assert_array_equal(pocket_from_ligand(far, ligand_pos()).pos, clean.pos)
    line = _atom_line_index(inside)
    path = _demo_with(tmp_path, {line: field}, "bad_in_pocket.pdb")
    atoms = read_structure(path)
    for select in (lambda: pocket_from_ligand(atoms, ligand_pos()), lambda: pocket_from_residues(atoms, [inside])):
        with pytest.raises(StructureError, match=problem) as err:
            select()
        assert str(path) in str(err.value) and f"(line {line + 1})" in str(err.value)
        assert f"in pocket residue {inside}" in str(err.value)


def test_a_far_atom_cannot_drag_the_pocket_centre(tmp_path):
    """An in-range atom thousands of Angstrom away in a pocket residue would move the pocket's
    mean (its centre when sampling): the pocket is refused."""
    inside = min(pocket_from_ligand(read_structure(DEMO_PROTEIN), ligand_pos()).residue_keys().tolist())
    atoms = read_structure(_demo_with(tmp_path, {_atom_line_index(inside): "  5000.0"}))
    with pytest.raises(StructureError, match=f"pocket atom N [A-Z]{{3}} {inside} lies 49.. Å from the pocket's"):
        pocket_from_ligand(atoms, ligand_pos())


def test_truncated_pdb_is_refused(tmp_path):
    text = DEMO_PROTEIN.read_text()
    start = text.rindex("\n", 0, len(text) // 2) + 1  # an ATOM line in the middle of the file
    for columns, message in ((3, "ends inside an atom record"), (40, "stops at column 40"),
                             (60, "ends inside an atom record")):
        path = tmp_path / f"cut{columns}.pdb"
        path.write_text(text[:start + columns])
        with pytest.raises(StructureError, match=f"line {text[:start].count(chr(10)) + 1}: .*{message}.*truncated"):
            read_structure(path)
    path = tmp_path / "no_newline.pdb"  # complete files need no final newline
    path.write_text(text.rstrip("\n"))
    assert len(read_structure(path)) == len(read_structure(DEMO_PROTEIN))
    path.write_text(text[:text.rindex("ATOM")] + text[text.rindex("ATOM"):].split("\n")[0])
    assert len(read_structure(path)) > 3000


def test_pdbqt_receptor_reads_like_its_pdb(tmp_path):
    """PDBQT: AutoDock types in columns 78-79 (NA is an acceptor nitrogen, not sodium; Fe is iron,
    though column 78 alone reads F), partial charges in 71-76; hydrogens typed HD are dropped like H."""
    types = {"N": "NA", "O": "OA", "S": "SA", "H": "HD"}
    aromatic = ("CG", "CD1", "CD2", "CE1", "CE2", "CZ")
    lines = [atom_line("HETATM", 9998 + k, name, "LIG", 900, (30, 30, 30 + 2 * k), chain="C")[:66]
             + f"    +0.000 {kind}" for k, (name, kind) in enumerate((("N1", "NA"), ("FE1", "Fe")))]
    for line in DEMO_PROTEIN.read_text().splitlines():
        if line.startswith(("ATOM", "HETATM")):
            element = line[76:78].strip()
            kind = "A" if line[12:16].strip() in aromatic else types.get(element, element)
            lines.append(f"{line[:66]}    {-0.123:+6.3f} {kind:<2}")
    pdbqt = write(tmp_path / "receptor.pdbqt", lines)
    a, b = read_structure(DEMO_PROTEIN, keep_hetero=True), read_structure(pdbqt, keep_hetero=True)
    lig = b.res_name == "LIG"
    assert b.element[lig].tolist() == ["N", "Fe"]
    b = b.select(~lig)
    np.testing.assert_allclose(a.pos, b.pos)
    for name in ("element", "atom_name", "res_name", "hetero"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.residue_keys(), b.residue_keys())


def test_pocket_distances_must_be_positive_and_one_residue_may_be_a_string():
    atoms = read_structure(DEMO_PROTEIN)
    for call, name in ((lambda v: pocket_from_center(atoms, ligand_pos().mean(axis=0), v), "radius"),
                       (lambda v: pocket_from_ligand(atoms, ligand_pos(), v), "cutoff")):
        for value in (-5.0, 0.0, float("nan")):
            with pytest.raises(ValueError, match=f"^{name} must be a positive distance in Å, got {value:g}$"):
                call(value)
    with pytest.raises(ValueError, match="center must be three finite coordinates"):
        pocket_from_center(atoms, [float("nan"), 0.0, 0.0], 5.0)
    assert pocket_from_residues(atoms, "A:13").residue_keys().tolist() == \
        pocket_from_residues(atoms, ["A:13"]).residue_keys().tolist()
