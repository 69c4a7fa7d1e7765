"""Protein preparation (PDBFixer): missing side-chain atoms come back and are reported per residue,
hydrogens are added, hetero groups removed, the result is the same on every run, and the CLI uses
it before cutting the pocket."""
from pathlib import Path

import pytest
from rdkit import Chem

from clitools import ROOT, cli, one_line_error
from moldiff.chem.pocket import read_structure
from moldiff.chem.prepare import prepare_protein

PROTEIN, LIGAND = ROOT / "data/examples/1ia1_protein.pdb", ROOT / "data/examples/1ia1_ligand.sdf"


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """The demo protein without the last three side-chain atoms (CD CE NZ) of its first lysine."""
    out, target = [], None
    for line in PROTEIN.read_text().splitlines(True):
        if line.startswith("ATOM") and line[17:20] == "LYS" and target is None:
            target = line[21:27]
        if line.startswith("ATOM") and line[21:27] == target and line[12:16].strip() in ("CD", "CE", "NZ"):
            continue
        out.append(line)
    path = tmp_path_factory.mktemp("prep") / "damaged.pdb"
    path.write_text("".join(out))
    return path


def test_missing_atoms_are_added_reported_and_reproducible(damaged):
    prepared = prepare_protein(damaged, ph=7.4)
    assert prepared.added_heavy == {"A:3 LYS": ["CD", "CE", "NZ"]}
    assert prepared.removed_hetero == {"NDP": 2, "TQ3": 1}  # NADPH (two copies) and the ligand
    assert prepared.added_hydrogens > 1000
    assert "A:3 LYS: CD CE NZ" in prepared.summary()
    assert prepare_protein(damaged, ph=7.4).pdb == prepared.pdb  # seeded: the same text every run
    lys = [line for line in prepared.pdb.splitlines() if line.startswith("ATOM") and line[17:26] == "LYS A   3"]
    assert {line[12:16].strip() for line in lys} >= {"CD", "CE", "NZ", "HZ1", "HZ2", "HZ3"}  # charged at pH 7.4


def test_bad_input_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        prepare_protein(tmp_path / "missing.pdb")
    with pytest.raises(ValueError, match="pH"):
        prepare_protein(PROTEIN, ph=15)


def test_sample_prepares_the_protein_before_cutting_the_pocket(damaged, tmp_path):
    out = tmp_path / "ligands.sdf"
    res = cli("sample.py", "--pocket", damaged, "--ref_ligand", LIGAND, "--prepare", "--n_samples", 2, "--n_steps", 2,
              "--num_atoms", 8, "--device", "cpu", "--outfile", out)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "A:3 LYS: CD CE NZ" in res.stdout
    prepared = tmp_path / "ligands.prepared.pdb"
    atoms = read_structure(prepared)  # hydrogens are read and left out of the pocket, as in training
    assert "H" not in set(atoms.element) and len(list(Chem.SDMolSupplier(str(out), sanitize=False))) == 2


def test_prepare_refuses_hetero_groups_it_would_remove(tmp_path):
    out = tmp_path / "x.sdf"
    res = cli("sample.py", "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--prepare", "--keep_hetero",
              "--n_samples", 1, "--device", "cpu", "--outfile", out)
    one_line_error(res, "--prepare", "--keep_hetero")
    assert not out.exists()
