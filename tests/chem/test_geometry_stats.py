"""Geometry statistics (bond lengths, angles, torsions by type; W1 against a reference) and the
local MMFF strain energy, on molecules with known geometry."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolTransforms

from moldiff.chem.geometry_stats import (
    GeometryValues,
    bond_angles,
    bond_lengths,
    geometry_report,
    geometry_values,
    path_key,
    strain_energy,
    torsions,
    wasserstein_by_type,
)


def _mmff(smiles: str, seed: int = 0, keep_h: bool = True) -> Chem.Mol:
    """MMFF94-minimised conformer (explicit H kept unless ``keep_h`` is False)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    assert AllChem.MMFFOptimizeMolecule(mol, maxIters=5000) == 0
    return mol if keep_h else Chem.RemoveHs(mol)


def test_bond_lengths_by_type_ignore_hydrogens():
    ethanol, benzene = _mmff("CCO"), _mmff("c1ccccc1")
    got = bond_lengths([ethanol, benzene])
    assert sorted(got) == ["C-C", "C-O", "C:C"]  # no C-H / O-H even though H are present
    assert len(got["C:C"]) == 6 and np.allclose(got["C:C"], 1.39, atol=0.01)
    assert got["C-O"] == pytest.approx([1.42], abs=0.02) and got["C-C"] == pytest.approx([1.51], abs=0.02)


def test_kekulized_input_is_perceived_aromatic():
    benzene = _mmff("c1ccccc1", keep_h=False)
    Chem.Kekulize(benzene, clearAromaticFlags=True)  # how pocket models write rings
    assert list(bond_lengths([benzene])) == ["C:C"]


def test_keys_are_canonical_for_reversed_paths():
    mol = _mmff("OC(=O)c1ccccc1N", keep_h=False)  # O0 C1 (=O2) c3 c4 ... c8 N9
    assert path_key(mol, [0, 1, 3]) == path_key(mol, [3, 1, 0]) == "C-C-O"
    assert path_key(mol, [2, 1, 3, 4]) == path_key(mol, [4, 3, 1, 2]) == "C:C-C=O"
    assert path_key(mol, [8, 9]) == "C-N" and path_key(mol, [3, 8, 9]) == path_key(mol, [9, 8, 3]) == "C:C-N"
    angles = bond_angles([mol])
    assert "C-C-O" in angles and "O-C-C" not in angles
    assert "C:C:C" in angles and np.allclose(angles["C:C:C"], 120.0, atol=3.0)


def test_torsion_reads_back_a_set_dihedral_folded_to_0_180():
    butane = _mmff("CCCC")
    conf = butane.GetConformer()
    for set_to, expected in ((60.0, 60.0), (-75.0, 75.0), (180.0, 180.0)):
        rdMolTransforms.SetDihedralDeg(conf, 0, 1, 2, 3, set_to)
        got = torsions([butane])
        assert list(got) == ["C-C-C-C"]  # heavy atoms only: H-C-C-H torsions ignored
        assert got["C-C-C-C"] == pytest.approx([expected], abs=1e-6)


def test_torsions_skip_aromatic_bonds_and_undefined_linear_ones():
    assert torsions([_mmff("c1ccccc1")]) == {}  # only single/double central bonds
    nitrile = Chem.AddHs(Chem.MolFromSmiles("CCC#N"))
    AllChem.EmbedMolecule(nitrile, randomSeed=0)  # C-C#N bends by ~1 degree in ETKDG: still no torsion
    assert torsions([nitrile]) == {} and torsions([_mmff("CCC#N")]) == {}
    assert list(torsions([_mmff("CCCC#N")])) == ["C-C-C-C"]  # the torsion away from the sp atom is kept


def test_unsanitizable_and_coordinate_free_molecules_are_skipped_and_counted():
    bad = Chem.RWMol(_mmff("CCO", keep_h=False))
    bad.AddBond(0, 2, Chem.BondType.DOUBLE)  # 5-valent carbon ring: does not sanitize
    flat = Chem.MolFromSmiles("CC")
    values = geometry_values([_mmff("CCO"), bad.GetMol(), flat])
    assert values.n_molecules == 1 and values.n_skipped == 2
    assert sorted(values.bond_length) == ["C-C", "C-O"]


def test_wasserstein_is_zero_for_identical_and_the_shift_for_translated_values():
    rng = np.random.default_rng(0)
    ref = {"C-C": rng.normal(1.53, 0.02, 200), "C=O": rng.normal(1.22, 0.01, 50), "C-Cl": rng.normal(1.75, 0.02, 5)}
    same = wasserstein_by_type(ref, {k: v.copy() for k, v in ref.items()})
    assert same == {"C-C": 0.0, "C=O": 0.0}  # C-Cl: fewer than min_count values
    shifted = wasserstein_by_type({k: v + 0.05 for k, v in ref.items()}, ref)
    assert shifted["C-C"] == pytest.approx(0.05) and shifted["C=O"] == pytest.approx(0.05)
    noisy = wasserstein_by_type({k: v + rng.normal(0, 0.05, len(v)) for k, v in ref.items()}, ref)
    assert all(w > 0.01 for w in noisy.values())


def test_report_weights_types_by_reference_frequency():
    rng = np.random.default_rng(1)
    ref = GeometryValues(bond_length={"A": rng.normal(0, 1, 30), "B": rng.normal(0, 1, 60), "C": np.ones(3)},
                         n_molecules=10)
    gen = GeometryValues(bond_length={"A": ref.bond_length["A"] + 0.1, "B": ref.bond_length["B"] + 0.4},
                         n_molecules=5, n_skipped=2)
    report = geometry_report(gen, ref, min_count=20)
    r = report["bond_length"]
    assert r["w1"] == pytest.approx({"A": 0.1, "B": 0.4})
    assert r["weighted_w1"] == pytest.approx((30 * 0.1 + 60 * 0.4) / 90)
    assert r["n_types_compared"] == 2 and r["reference_fraction_compared"] == pytest.approx(90 / 93)
    assert report["n_generated_skipped"] == 2 and report["torsion"]["weighted_w1"] is None
    assert list(r["count_reference"]) == ["B", "A", "C"]  # most frequent first


def test_report_of_a_set_against_itself_is_zero_and_against_distorted_copies_positive():
    mols = [_mmff(s, seed) for s in ("CCO", "c1ccccc1C(=O)O", "CC(C)CN") for seed in range(8)]
    same = geometry_report(mols, mols, min_count=5)
    assert all(same[k]["weighted_w1"] == 0.0 for k in ("bond_length", "bond_angle", "torsion"))
    rng = np.random.default_rng(0)
    noisy = []
    for m in mols:
        m = Chem.Mol(m)
        conf = m.GetConformer()
        for i, xyz in enumerate(conf.GetPositions() + rng.normal(0, 0.05, (m.GetNumAtoms(), 3))):
            conf.SetAtomPosition(i, xyz.tolist())
        noisy.append(m)
    diff = geometry_report(noisy, mols, min_count=5)
    assert diff["bond_length"]["weighted_w1"] > 0.02 and diff["bond_angle"]["weighted_w1"] > 1.0


def test_strain_is_zero_at_a_minimum_and_positive_when_distorted():
    mol = _mmff("CC(=O)Nc1ccc(O)cc1", keep_h=False)  # heavy atoms at an MMFF minimum
    relaxed = strain_energy(mol)
    assert abs(relaxed["strain"]) < 1.0 and relaxed["rmsd"] < 0.05 and relaxed["converged"]
    conf = mol.GetConformer()
    pos = conf.GetPositions()
    unit = (pos[2] - pos[1]) / np.linalg.norm(pos[2] - pos[1])
    conf.SetAtomPosition(2, (pos[2] + 0.3 * unit).tolist())  # C=O stretched by 0.3 Å
    strained = strain_energy(mol)
    assert strained["strain"] > 10.0 and strained["pose_energy"] > strained["relaxed_energy"]
    assert 0.01 < strained["rmsd"] < 0.5


def test_strain_reports_errors_instead_of_raising():
    se = Chem.MolFromSmiles("[Se]=[Se]")
    AllChem.EmbedMolecule(se, randomSeed=0)
    assert "MMFF94" in strain_energy(se)["error"]
    bad = Chem.RWMol(_mmff("CCO", keep_h=False))
    bad.AddBond(0, 2, Chem.BondType.DOUBLE)
    assert strain_energy(bad.GetMol())["error"].startswith("does not sanitize")
    assert strain_energy(Chem.MolFromSmiles("CC"))["error"] == "no 3D coordinates"


def test_molecule_table_strain_column_and_summary():
    from moldiff.chem.report import molecule_table, summarize

    good = _mmff("CC(=O)Nc1ccc(O)cc1", keep_h=False)
    se = Chem.MolFromSmiles("[Se]=[Se]")
    AllChem.EmbedMolecule(se, randomSeed=0)
    table = molecule_table([good, se], strain=True)
    assert abs(table.loc[0, "strain"]) < 1.0 and np.isnan(table.loc[1, "strain"])
    assert "MMFF94" in table.loc[1, "strain_error"]
    s = summarize(table)
    assert s["strain_mean"] == pytest.approx(table.loc[0, "strain"]) and s["strain_failed"] == 0.5
    assert "strain" not in molecule_table([good])  # off by default


def test_element_and_bond_type_distributions_and_total_variation():
    from moldiff.chem.geometry_stats import geometry_report, total_variation

    def embedded(smiles):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        AllChem.EmbedMolecule(mol, randomSeed=0)
        return mol

    phenol, ethanol = embedded("Oc1ccccc1"), embedded("CCO")
    report = geometry_report([phenol], [ethanol], min_count=1)
    assert report["elements"]["generated"] == pytest.approx({"C": 6 / 7, "O": 1 / 7})
    assert report["bond_types"]["generated"] == pytest.approx({":": 6 / 7, "-": 1 / 7})
    assert report["bond_types"]["reference"] == {"-": 1.0}
    assert report["elements"]["total_variation"] == pytest.approx(abs(6 / 7 - 2 / 3))
    assert report["bond_types"]["total_variation"] == pytest.approx(6 / 7)
    assert geometry_report([phenol], [phenol], min_count=1)["bond_types"]["total_variation"] == 0
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0
