"""Data checks of complex ligands (bond orders against lengths, ring sizes) and scripts/data_report.py."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from clitools import cli
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Chem.rdMolTransforms import SetBondLength

from moldiff.chem.ligand_checks import (
    bond_class,
    bond_length_checks,
    oxoacid_without_double_bond,
    planar_ring_with_sp3_carbon,
    ring_size_flags,
    suspect_ligand,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def embedded(smiles: str) -> Chem.Mol:
    """Heavy atoms of an ETKDG + MMFF conformer of ``smiles``."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    AllChem.MMFFOptimizeMolecule(mol)
    return Chem.RemoveHs(mol)


def test_relaxed_molecules_have_no_flagged_bond():
    for smiles in ("CC(=O)Nc1ccc(O)cc1", "O=C([O-])c1ccccc1", "C[N+](=O)[O-]", "N#CC1CCOC1", "c1ccc2[nH]ccc2c1",
                   "CS(=O)(=O)Nc1ncccn1", "COP(=O)([O-])[O-]", "C=CC(=O)OC"):
        checks = bond_length_checks(embedded(smiles))
        assert checks and not any(c.flagged or c.distorted for c in checks), smiles


def test_classes_and_delocalized_groups():
    mol = embedded("CC(=O)NC")
    assert [bond_class(b) for b in mol.GetBonds()] == ["1", "2", "1c", "1"]
    carboxylate = bond_length_checks(embedded("CCC(=O)[O-]"))
    assert [c.judged for c in carboxylate] == [True, True, False, False]  # C-O of the carboxylate not judged


def test_wrong_order_and_distorted_bonds_are_told_apart():
    mol = embedded("CCCC")
    wrong = Chem.RWMol(mol)
    wrong.GetBondBetweenAtoms(1, 2).SetBondType(Chem.BondType.DOUBLE)  # a double bond 1.53 Å long
    check = [c for c in bond_length_checks(wrong) if {c.begin, c.end} == {1, 2}][0]
    assert check.cls == "2" and check.flagged and not check.distorted

    short = Chem.Mol(mol)
    SetBondLength(short.GetConformer(), 0, 1, 0.9)
    checks = bond_length_checks(short)
    assert [(c.distorted, c.flagged) for c in checks][0] == (True, False)
    assert not any(c.flagged or c.distorted for c in checks[1:])

    ketone = embedded("CC(=O)C")
    SetBondLength(ketone.GetConformer(), 1, 2, 1.43)  # C=O at a single-bond length
    check = [c for c in bond_length_checks(ketone) if c.pair == ("C", "O")][0]
    assert check.flagged and check.nearest_other


def test_oxoacid_rule():
    assert oxoacid_without_double_bond(Chem.MolFromSmiles("COS(O)(O)O"))
    assert oxoacid_without_double_bond(Chem.MolFromSmiles("NS(O)(O)OC"))
    for ok in ("COS(=O)(=O)O", "COP(=O)(O)O", "COP(O)(O)=S", "CS(=O)(=O)N", "CSC"):
        assert not oxoacid_without_double_bond(Chem.MolFromSmiles(ok)), ok


def test_flat_ring_with_sp3_carbon():
    benzene = embedded("c1ccccc1")
    assert not planar_ring_with_sp3_carbon(benzene)
    Chem.Kekulize(benzene, clearAromaticFlags=True)
    lost = Chem.RWMol(benzene)  # the flat geometry, one double bond gone: two CH2 in a flat ring
    double = next(b for b in lost.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE)
    double.SetBondType(Chem.BondType.SINGLE)
    lost = lost.GetMol()
    Chem.SanitizeMol(lost)
    assert planar_ring_with_sp3_carbon(lost)
    assert not planar_ring_with_sp3_carbon(embedded("C1CCCCC1"))


def test_suspect_ligand_names_the_first_structure_error():
    assert suspect_ligand(embedded("CC(=O)Nc1ccc(O)cc1")) is None
    short = embedded("CCCC")
    SetBondLength(short.GetConformer(), 0, 1, 0.9)
    assert suspect_ligand(short) == "distorted bond"
    sulfate = embedded("COS(=O)(=O)O")
    lost = Chem.RWMol(sulfate)
    for bond in lost.GetBonds():
        if bond.GetBondType() == Chem.BondType.DOUBLE:
            bond.SetBondType(Chem.BondType.SINGLE)
    lost = lost.GetMol()
    Chem.SanitizeMol(lost)  # S(O)(O)(O)O: valid for RDKit, a lost bond order for chemistry
    assert suspect_ligand(lost) == "S/P oxoacid without a double bond"
    flat = Chem.RWMol(embedded("c1ccccc1"))
    Chem.Kekulize(flat, clearAromaticFlags=True)
    next(b for b in flat.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE).SetBondType(Chem.BondType.SINGLE)
    flat = flat.GetMol()
    Chem.SanitizeMol(flat)
    assert suspect_ligand(flat) == "flat ring with an sp3 carbon"


@pytest.mark.parametrize("smiles, expected", [
    ("CC1CC1", {"3"}), ("C1CCC1", {"4"}), ("C1CCCNCC1", {"7"}), ("C1CCCCCCC1", {">=8"}),
    ("C1CCC2CC2C1", {"3"}), ("C1CC2CCC1C2", set()), ("c1ccccc1", set()),
    ("C1CCCCCCCCCCC1", {">=8"}),
])
def test_ring_size_flags(smiles, expected):
    flags = ring_size_flags(Chem.MolFromSmiles(smiles))
    assert {k for k, v in flags.items() if v} == expected


needs_report_data = pytest.mark.skipif(
    not (SHARED_DATA / "pdb_complexes").is_dir() or not (SHARED_DATA / "fep_benchmark").is_dir()
    or importlib.util.find_spec("moses") is None,
    reason="shared pdb_complexes / fep_benchmark data or the molsets package not found")


@needs_report_data
def test_data_report_runs_and_fills_the_card(tmp_path):
    """On the shared data, with tiny caches built from synthetic folders (the report only needs
    a cache with train and val splits)."""
    from moldiff.datasets.complexes_prepare import folder_entries, prepare_complexes

    examples = REPO_ROOT / "data" / "examples"
    index = tmp_path / "index.csv"
    index.write_text("protein,ligand,name,split\n"
                     f"{examples / '1ia1_protein.pdb'},{examples / '1ia1_ligand.sdf'},1ia1,train\n"
                     f"{tmp_path / 'copy.pdb'},{examples / '1ia1_ligand.sdf'},copy,val\n")
    (tmp_path / "copy.pdb").write_bytes((examples / "1ia1_protein.pdb").read_bytes())
    cache = tmp_path / "tiny.npz"
    prepare_complexes(folder_entries(index), cache, num_workers=1, verbose=False)
    card = tmp_path / "card.md"
    card.write_text("# card\n<!-- data_report:begin -->\nold\n<!-- data_report:end -->\ntail\n")
    out = tmp_path / "report.json"
    args = ["--pdb_cache", cache, "--fep_cache", cache, "--moses_cache", tmp_path / "none.npz",
            "--moses_sample", 200, "--json", out, "--card", card]
    res = cli("data_report.py", *args)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert set(report["bond_orders"]["sources"]) == {"posebusters", "astex", "pdbbind_equibind", "dsdp", "fep"}
    assert report["bond_orders"]["sources"]["dsdp"]["molecules"] == 877
    assert [r["set"] for r in report["rings"]][:3] == ["MOSES", "FEP train (clean)", "FEP val (clean)"]
    assert report["rings"][0]["molecules"] == 200
    text = card.read_text()
    assert "old" not in text and text.endswith("<!-- data_report:end -->\ntail\n") and "| dsdp |" in text
    again = cli("data_report.py", *args)
    assert again.stdout == res.stdout  # deterministic
