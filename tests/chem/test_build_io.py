"""Molecule building from arrays, EDM bond inference, and SDF round trips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from moldiff.chem.build import (
    build_molecule,
    canonical_smiles,
    edm_bond_orders,
    sanitize_or_none,
)
from moldiff.chem.io import read_sdf, write_sdf

# Benzene with explicit H: ring radius 1.39 A, C-H 1.09 A.
_ANGLES = np.arange(6) * np.pi / 3
BENZENE_POS = np.concatenate(
    [np.stack([1.39 * np.cos(_ANGLES), 1.39 * np.sin(_ANGLES), np.zeros(6)], 1),
     np.stack([2.48 * np.cos(_ANGLES), 2.48 * np.sin(_ANGLES), np.zeros(6)], 1)]
)
BENZENE_ELEMENTS = ["C"] * 6 + ["H"] * 6
BENZENE_AROMATIC = np.array([(k, (k + 1) % 6, 4) for k in range(6)] + [(k, k + 6, 1) for k in range(6)])
AMMONIUM_POS = np.array([[0, 0, 0], [0.6, 0.6, 0.6], [-0.6, -0.6, 0.6], [-0.6, 0.6, -0.6], [0.6, -0.6, -0.6]])
AMMONIUM_BONDS = np.array([[0, k, 1] for k in range(1, 5)])
METHYL_POS = np.array([[0.0, 0.0, 0.0], [1.09, 0.0, 0.0], [-0.545, 0.944, 0.0], [-0.545, -0.944, 0.0]])


def _bond_set(mol: Chem.Mol) -> set[tuple[int, int, str]]:
    return {
        (min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), str(b.GetBondType()))
        for b in mol.GetBonds()
    }


def test_build_with_bonds_keeps_coordinates_charges_and_aromatic_bonds():
    mol = build_molecule(BENZENE_ELEMENTS, BENZENE_POS, charges=[0] * 12, bonds=BENZENE_AROMATIC)
    assert mol.GetNumAtoms() == 12 and mol.GetNumBonds() == 12
    np.testing.assert_allclose(mol.GetConformer().GetPositions(), BENZENE_POS)
    assert sum(b.GetBondType() == Chem.BondType.AROMATIC for b in mol.GetBonds()) == 6
    assert canonical_smiles(mol) == "c1ccccc1"


def test_build_sets_formal_charges_and_skips_class_zero_rows():
    bonds = np.concatenate([AMMONIUM_BONDS, [[1, 2, 0]]])
    mol = build_molecule(["N", "H", "H", "H", "H"], AMMONIUM_POS, charges=[1, 0, 0, 0, 0], bonds=bonds)
    assert mol.GetNumBonds() == 4
    assert mol.GetAtomWithIdx(0).GetFormalCharge() == 1
    assert canonical_smiles(mol) == "[NH4+]"


def test_build_does_not_sanitize_and_sanitize_or_none_reports_error():
    mol = build_molecule(["C", "O"], np.array([[0, 0, 0], [1.13, 0, 0]]), bonds=np.array([[0, 1, 3]]))
    assert mol.GetNumAtoms() == 2  # built although O has valence 3
    clean, error = sanitize_or_none(mol)
    assert clean is None and "valence" in error and "\n" not in error


def test_sanitize_or_none_leaves_input_untouched():
    kekule = BENZENE_AROMATIC.copy()
    kekule[:6, 2] = [1, 2, 1, 2, 1, 2]
    mol = build_molecule(BENZENE_ELEMENTS, BENZENE_POS, bonds=kekule)
    clean, error = sanitize_or_none(mol)
    assert clean is not None and error == ""
    assert sum(b.GetIsAromatic() for b in clean.GetBonds()) == 6  # aromaticity perceived on the copy
    assert not any(b.GetIsAromatic() for b in mol.GetBonds())


def test_explicit_h_convention():
    bonds = np.array([[0, 1, 1], [0, 2, 1], [0, 3, 1]])
    radical = build_molecule(["C", "H", "H", "H"], METHYL_POS, bonds=bonds)
    assert canonical_smiles(radical) == "[CH3]"  # all-explicit-H: no hydrogen is invented
    heavy = build_molecule(["C"], METHYL_POS[:1], explicit_h=False)
    assert canonical_smiles(heavy) == "C"


def test_build_rejects_bad_bonds():
    with pytest.raises(ValueError, match="out of range"):
        build_molecule(["C", "C"], np.zeros((2, 3)), bonds=np.array([[0, 2, 1]]))
    with pytest.raises(ValueError, match="duplicate"):
        build_molecule(["C", "C"], np.zeros((2, 3)), bonds=np.array([[0, 1, 1], [1, 0, 1]]))
    with pytest.raises(ValueError, match="bond class"):
        build_molecule(["C", "C"], np.zeros((2, 3)), bonds=np.array([[0, 1, 7]]))


@pytest.mark.parametrize(("length", "order"), [(1.20, 3), (1.33, 2), (1.40, 1), (1.54, 1), (1.70, 0)])
def test_edm_bond_orders_carbon_carbon(length, order):
    bonds = edm_bond_orders(["C", "C"], np.array([[0, 0, 0], [length, 0, 0]]))
    assert bonds.tolist() == ([[0, 1, order]] if order else [])


def test_edm_bond_orders_untabulated_pair_and_symmetry():
    pos = np.array([[0, 0, 0], [1.2, 0, 0]])
    assert edm_bond_orders(["F", "C"], pos).tolist() == edm_bond_orders(["C", "F"], pos).tolist() == [[0, 1, 1]]
    assert edm_bond_orders(["Xe", "C"], pos).shape == (0, 3)


def test_build_without_bonds_uses_edm_rule():
    pos = np.array([[0, 0, 0], [1.20, 0, 0], [-1.06, 0, 0], [2.26, 0, 0]])
    mol = build_molecule(["C", "C", "H", "H"], pos)
    assert canonical_smiles(mol) == "C#C"


def test_sdf_round_trip_keeps_coordinates_bonds_charges_and_props(tmp_path):
    benzene = build_molecule(BENZENE_ELEMENTS, BENZENE_POS, bonds=BENZENE_AROMATIC)
    radical = build_molecule(["C", "H", "H", "H"], METHYL_POS, bonds=np.array([[0, 1, 1], [0, 2, 1], [0, 3, 1]]))
    ammonium = build_molecule(["N", "H", "H", "H", "H"], AMMONIUM_POS, charges=[1, 0, 0, 0, 0], bonds=AMMONIUM_BONDS)
    invalid = build_molecule(["C", "O"], np.array([[0, 0, 0], [1.13, 0, 0]]), bonds=np.array([[0, 1, 3]]))
    mols = [benzene, radical, ammonium, invalid]
    path = tmp_path / "out" / "mols.sdf"
    write_sdf(mols, path, props=[{"idx": k, "note": "multi\nline"} for k in range(4)])
    assert sorted(p.name for p in path.parent.iterdir()) == ["mols.sdf"]  # no temp file left

    back = read_sdf(path)
    assert len(back) == 4
    for original, read in zip(mols, back):
        expected = original.GetConformer().GetPositions()
        np.testing.assert_allclose(read.GetConformer().GetPositions(), expected, atol=1e-4)
        assert _bond_set(read) == _bond_set(original) or original is benzene
        assert [a.GetFormalCharge() for a in read.GetAtoms()] == [a.GetFormalCharge() for a in original.GetAtoms()]
    assert [m.GetIntProp("moldiff_valid") for m in back] == [1, 1, 1, 0]
    assert "valence" in back[3].GetProp("moldiff_error")
    assert back[2].GetProp("note") == "multi line" and back[2].GetIntProp("idx") == 2
    assert [canonical_smiles(m) for m in back] == ["c1ccccc1", "[CH3]", "[NH4+]", None]
    ring = sorted(str(b.GetBondType()) for b in back[0].GetBonds() if b.IsInRing())
    assert ring == ["DOUBLE"] * 3 + ["SINGLE"] * 3  # valid molecules are written in Kekulé form


def test_sdf_round_trip_of_heavy_atom_pyrrole_nitrogen(tmp_path):
    """A heavy-atom molecule with an [nH] (indole) that sanitizes must read back valid: written
    with aromatic bond types its N-H would be lost and RDKit could not kekulize it."""
    ref = Chem.MolFromSmiles("c1ccc2[nH]ccc2c1")
    Chem.Kekulize(ref, clearAromaticFlags=True)
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble())) for b in ref.GetBonds()])
    pos = np.random.default_rng(0).normal(size=(ref.GetNumAtoms(), 3))
    built = build_molecule([a.GetSymbol() for a in ref.GetAtoms()], pos, bonds=bonds, explicit_h=False)
    clean, error = sanitize_or_none(built)  # what the samplers hand out: sanitized, aromatic flags set
    assert not error
    write_sdf([clean, built], tmp_path / "indole.sdf")
    for mol in read_sdf(tmp_path / "indole.sdf", sanitize=True):
        assert mol.GetIntProp("moldiff_valid") == 1
        assert canonical_smiles(mol) == "c1ccc2[nH]ccc2c1"


def test_write_sdf_checks_props_length(tmp_path):
    with pytest.raises(ValueError, match="property"):
        write_sdf([build_molecule(["C"], np.zeros((1, 3)))], tmp_path / "x.sdf", props=[{}, {}])


def test_read_sdf_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.sdf"
    with pytest.raises(ValueError, match=f"{missing}: no such file"):
        read_sdf(missing)
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    with pytest.raises(ValueError, match=f"{empty}: .*no molecules"):
        read_sdf(empty)
    corrupt = tmp_path / "corrupt.sdf"
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CC")) + "$$$$\n"
    corrupt.write_text(good + "garbage\nnot a mol block\n  x  y  z\nM  END\n$$$$\n")
    with pytest.raises(ValueError, match=f"{corrupt}: record 2"):
        read_sdf(corrupt)


def test_read_sdf_sanitize_flag(tmp_path):
    path = tmp_path / "bad.sdf"
    write_sdf([build_molecule(["C", "O"], np.array([[0, 0, 0], [1.13, 0, 0]]), bonds=np.array([[0, 1, 3]]))], path)
    assert len(read_sdf(path)) == 1
    with pytest.raises(ValueError, match="record 1 does not sanitize"):
        read_sdf(path, sanitize=True)


QUERY_SDF = Path(__file__).resolve().parents[1] / "data" / "query_features.sdf"


def test_query_features_sdf_reads_as_a_plain_molecule(tmp_path):
    """tests/data/query_features.sdf (written for this test) has what real-world ligand files
    carry: aromatic bond type 4 with a bond topology field (ring 1 / chain 2), a hydrogen count
    field on the phenol O, and explicit hydrogens (the imidazole's N-H among them). RDKit reads
    all of them as queries; read_sdf gives a plain molecule that sanitizes, kekulizes, loses its
    hydrogens on request and writes back without type-4 bonds."""
    raw = Chem.MolFromMolFile(str(QUERY_SDF), sanitize=False, removeHs=False)
    assert all(b.HasQuery() for b in raw.GetBonds()) and raw.GetAtomWithIdx(5).HasQuery()  # the premise

    mol = read_sdf(QUERY_SDF)[0]
    assert not mol.HasQuery() and mol.GetNumAtoms() == 23  # hydrogens kept as written
    assert [str(b.GetBondType()) for b in mol.GetBonds()] == [str(b.GetBondType()) for b in raw.GetBonds()]
    assert [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()] == \
        [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in raw.GetBonds()]
    np.testing.assert_array_equal(mol.GetConformer().GetPositions(), raw.GetConformer().GetPositions())
    assert mol.GetProp("_Name").startswith("query-feature ligand")

    clean = read_sdf(QUERY_SDF, sanitize=True)[0]
    assert canonical_smiles(clean) == "Cc1ccc(O)cc1-c1ncc[nH]1"
    assert sum(a.GetIsAromatic() for a in clean.GetAtoms()) == 11  # RDKit's perception: both rings
    kekule = Chem.RWMol(clean)
    Chem.Kekulize(kekule, clearAromaticFlags=True)
    orders = [b.GetBondTypeAsDouble() for b in kekule.GetBonds() if b.IsInRing()]
    assert sorted(orders) == [1.0] * 6 + [2.0] * 5  # benzene 3 + 3, imidazole 3 + 2
    heavy = Chem.RemoveHs(clean)
    assert heavy.GetNumAtoms() == 13 and {a.GetSymbol() for a in heavy.GetAtoms()} == {"C", "N", "O"}

    write_sdf([clean], tmp_path / "back.sdf")
    written = Chem.MolFromMolFile(str(tmp_path / "back.sdf"), sanitize=False, removeHs=False)
    assert not written.HasQuery() and "AROMATIC" not in {str(b.GetBondType()) for b in written.GetBonds()}
    back = read_sdf(tmp_path / "back.sdf", sanitize=True)[0]
    assert canonical_smiles(back) == canonical_smiles(clean) and back.GetNumAtoms() == 23


def test_plain_molecule_keeps_atom_properties():
    """A query atom (here from an H count field) becomes a plain atom with the same element,
    charge, isotope and explicit H count; a molecule without queries is returned as it is."""
    from moldiff.chem.io import plain_molecule

    lines = QUERY_SDF.read_text().splitlines()
    lines.insert(lines.index("M  END"), "M  CHG  1  13   1")  # the N-H nitrogen as imidazolium
    lines.insert(lines.index("M  END"), "M  ISO  1   6  18")  # and an 18O
    raw = Chem.MolFromMolBlock("\n".join(lines), sanitize=False, removeHs=False)
    plain = plain_molecule(raw)
    for a, b in zip(raw.GetAtoms(), plain.GetAtoms()):
        assert (a.GetSymbol(), a.GetFormalCharge(), a.GetIsotope(), a.GetNumExplicitHs()) == \
            (b.GetSymbol(), b.GetFormalCharge(), b.GetIsotope(), b.GetNumExplicitHs())
    assert plain.GetAtomWithIdx(5).GetIsotope() == 18 and plain.GetAtomWithIdx(12).GetFormalCharge() == 1
    ethane = Chem.MolFromSmiles("CC")
    assert plain_molecule(ethane) is ethane


def test_read_sdf_not_strict_keeps_a_slot_for_bad_records(tmp_path):
    path = tmp_path / "mixed.sdf"
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CC")) + "$$$$\n"
    bad = build_molecule(["C", "O"], np.array([[0, 0, 0], [1.13, 0, 0]]), bonds=np.array([[0, 1, 3]]))
    write_sdf([bad], tmp_path / "bad.sdf")
    path.write_text(good + "garbage\nnot a mol block\n  x  y  z\nM  END\n$$$$\n" + (tmp_path / "bad.sdf").read_text())
    mols = read_sdf(path, strict=False)
    assert [m is None for m in mols] == [False, True, False]
    assert [m is None for m in read_sdf(path, sanitize=True, strict=False)] == [False, True, True]
    (tmp_path / "empty.sdf").write_text("")
    assert read_sdf(tmp_path / "empty.sdf", strict=False) == []
