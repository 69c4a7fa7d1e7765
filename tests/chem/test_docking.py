"""Vina scores through moldiff against direct ``vina`` calls, on the bundled crystal complex."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from moldiff.chem.docking import DockingError, VinaScorer, box_around, prepare_ligand, prepare_receptor

EXAMPLES = Path(__file__).resolve().parents[2] / "data/examples"


@pytest.fixture(scope="module")
def site():
    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    receptor = prepare_receptor(EXAMPLES / "1ia1_protein.pdb")
    center, size = box_around(ligand.GetConformer().GetPositions())
    return ligand, receptor, center, size, VinaScorer(receptor, center, size)


def test_receptor_is_rigid_pdbqt_with_polar_hydrogens(site):
    _, receptor, *_ = site
    atoms = [ln for ln in receptor.splitlines() if ln.startswith(("ATOM", "HETATM"))]
    types = {ln[77:79].strip() for ln in atoms}
    assert {"C", "A", "N", "OA", "HD"} <= types and "ROOT" not in receptor  # aromatic C, acceptors, polar H
    assert not any(ln[17:20] == "HOH" for ln in atoms)


def test_reference_ligand_score_matches_direct_vina_call(site):
    from vina import Vina

    ligand, receptor, center, size, scorer = site
    v = Vina(sf_name="vina", cpu=1, seed=0, verbosity=0)
    with tempfile.NamedTemporaryFile("w", suffix=".pdbqt", delete=False) as f:
        f.write(receptor)
    v.set_receptor(f.name)
    os.unlink(f.name)
    v.set_ligand_from_string(prepare_ligand(ligand))
    v.compute_vina_maps(center=center, box_size=size)
    direct = float(v.score()[0])
    assert scorer.score(ligand) == pytest.approx(direct, abs=1e-6)
    assert -10.0 < direct < -5.0  # a crystal inhibitor: clearly favourable
    assert scorer.minimize(ligand) < direct + 0.5  # local optimisation (of inter + intra energy) barely changes a crystal pose
    both = scorer.evaluate(ligand)
    assert both["vina_score"] == pytest.approx(direct, abs=1e-6)
    assert both["vina_min"] == pytest.approx(scorer.minimize(ligand), abs=1e-6)


def test_a_ligand_pushed_into_the_protein_scores_badly(site):
    ligand, _, _, _, scorer = site
    moved = Chem.Mol(ligand)
    conf = moved.GetConformer()
    for i in range(moved.GetNumAtoms()):  # 3 A along x: into the pocket wall
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + 3.0, p.y, p.z))
    assert scorer.score(moved) > scorer.score(ligand) + 5.0


def test_bad_input(site, tmp_path):
    ligand, *_, scorer = site
    far = Chem.Mol(ligand)
    conf = far.GetConformer()
    for i in range(far.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + 50.0, p.y, p.z))
    with pytest.raises(DockingError, match="outside the Vina box"):
        scorer.score(far)
    with pytest.raises(DockingError, match="missing.pdb: no such file"):
        prepare_receptor(tmp_path / "missing.pdb")
    (tmp_path / "junk.pdb").write_text("not a structure\n")
    with pytest.raises(DockingError, match="junk.pdb"):
        prepare_receptor(tmp_path / "junk.pdb")
    assert box_around(np.zeros((1, 3)))[1] == [20.0, 20.0, 20.0]
    center, size = box_around(np.array([[0.0, 0, 0], [100.0, 0, 0]]), center=[0.0, 0, 0])
    assert center == [0.0, 0.0, 0.0] and size == [40.0, 20.0, 20.0]  # an outlier cannot move the box


def test_vina_scores_report_failures_instead_of_dropping_them():
    from moldiff.chem.docking import vina_scores

    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    far = Chem.Mol(ligand)
    conf = far.GetConformer()
    for i in range(far.GetNumAtoms()):  # 60 A away: beyond the largest (40 A) box
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + 60.0, p.y, p.z))
    rows, ref = vina_scores(EXAMPLES / "1ia1_protein.pdb", [ligand, far], ligand)
    assert len(rows) == 2 and rows[0]["vina_score"] == pytest.approx(ref["vina_score"])
    assert "outside the Vina box" in rows[1]["vina_error"] and "vina_score" not in rows[1]


def test_redocking_finds_a_pose_at_least_as_good_as_the_crystal_minimum():
    """A global search in the box must reach (about) the crystal pose's local minimum; only the
    first ``dock_max`` molecules are docked, the reference always is."""
    from moldiff.chem.docking import vina_scores

    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    rows, ref = vina_scores(EXAMPLES / "1ia1_protein.pdb", [ligand, ligand], ligand, dock=True, exhaustiveness=2,
                            dock_max=1)
    assert "vina_dock" in rows[0] and "vina_dock" not in rows[1] and "vina_dock" in ref
    assert rows[1]["vina_min"] == pytest.approx(rows[0]["vina_min"], abs=1e-6)
    assert ref["vina_dock"] < ref["vina_min"] + 0.5


def test_receptor_preparation_is_reproducible(site):
    """Added side-chain atoms and hydrogens come from seeded dynamics and starting positions: an
    unseeded preparation moved them from run to run and changed scores of ligands beside them."""
    _, receptor, *_ = site
    assert prepare_receptor(EXAMPLES / "1ia1_protein.pdb") == receptor


QUERY_SDF = Path(__file__).resolve().parents[1] / "data" / "query_features.sdf"


def _write_with_bond_topology(mol: Chem.Mol, path: Path) -> None:
    """``mol`` as TargetDiff's and CrossDocked's ligand files have it: aromatic bonds as MDL type 4
    and every bond with its topology field set (1 ring, 2 chain), so RDKit reads query bonds."""
    block = Chem.MolToMolBlock(mol, kekulize=False).splitlines()
    first = 4 + mol.GetNumAtoms()
    for k, bond in enumerate(mol.GetBonds()):
        line = block[first + k]
        block[first + k] = f"{line[:9]}  0  0{1 if bond.IsInRing() else 2:3d}  0"
    path.write_text("\n".join(block) + "\n$$$$\n")


def test_query_feature_ligands_are_typed_for_vina():
    """meeko refused query molecules ("RDKit molecule has query"); read by RDKit itself or by
    read_sdf, the test ligand (aromatic type-4 bonds, topology field, explicit H) is typed."""
    from moldiff.chem.io import read_sdf

    raw = Chem.MolFromMolFile(str(QUERY_SDF), removeHs=False)
    assert raw.HasQuery()
    for mol in (raw, read_sdf(QUERY_SDF)[0], read_sdf(QUERY_SDF, sanitize=True)[0]):
        pdbqt = prepare_ligand(mol)
        types = [ln[77:79].strip() for ln in pdbqt.splitlines() if ln.startswith(("ATOM", "HETATM"))]
        assert types.count("A") == 9 and types.count("HD") == 2  # aromatic carbons; N-H and O-H hydrogens
        assert len(types) == 13 + 2  # heavy atoms and polar hydrogens (meeko merges the C-H ones)


def test_evaluator_scores_a_query_feature_reference_and_generated_ligand(site, tmp_path):
    """The crystal ligand with hydrogens, written with type-4 aromatic bonds and bond topology,
    evaluated as both the generated molecule and the reference: valid, the Vina score of the
    plain crystal ligand, and PoseBusters-valid (it scored 0 % and was not Vina-typable)."""
    from moldiff.chem.batch import PocketJob, evaluate_pocket

    crystal, _, _, _, scorer = site
    path = tmp_path / "ligand.sdf"
    _write_with_bond_topology(Chem.AddHs(crystal, addCoords=True), path)
    assert Chem.MolFromMolFile(str(path)).HasQuery()
    result = evaluate_pocket(PocketJob("1ia1", EXAMPLES / "1ia1_protein.pdb", path, path), vina="score",
                             posebusters="dock_fast")
    assert "error" not in result, result.get("error")
    table = result["table"]
    assert table["is_reference"].tolist() == [False, True] and table["valid"].all()
    assert "vina_error" not in table and table["pb_valid"].all()
    np.testing.assert_allclose(table["vina_score"], scorer.score(crystal), atol=1e-3)
