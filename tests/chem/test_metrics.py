"""EDM distance stability, charge-aware valence stability, validity/uniqueness/novelty."""
from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.build import build_molecule
from moldiff.chem.metrics import (
    METRIC_NAMES,
    allowed_valences,
    evaluate_molecules,
    format_table,
    valence_stability,
    validity_error,
)
from moldiff.chem.stability import atom_stability, molecule_stability

METHANE_POS = np.array([
    [0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63],
])
ETHYNE = (["C", "C", "H", "H"], np.array([[0, 0, 0], [1.20, 0, 0], [-1.06, 0, 0], [2.26, 0, 0]]))


def _embedded(smiles: str, seed: int = 0) -> Chem.Mol:
    """Molecule with explicit H and an ETKDG conformer, rebuilt through build_molecule with its own bonds."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble())) for b in mol.GetBonds()])
    return build_molecule(
        [a.GetSymbol() for a in mol.GetAtoms()],
        mol.GetConformer().GetPositions(),
        [a.GetFormalCharge() for a in mol.GetAtoms()],
        bonds,
    )


def test_edm_stability_on_ideal_geometries():
    assert molecule_stability(["C", "H", "H", "H", "H"], METHANE_POS * 1.09 / np.linalg.norm(METHANE_POS[1]))
    assert molecule_stability(*ETHYNE)
    stretched = ETHYNE[1].copy()
    stretched[1:, 0] += 0.2  # C-C 1.40 A is single: both carbons lose valence
    assert atom_stability(ETHYNE[0], stretched).tolist() == [False, False, True, True]


def test_edm_stability_ignores_charges_and_unknown_elements():
    pos = METHANE_POS * 1.01 / np.linalg.norm(METHANE_POS[1])
    assert not molecule_stability(["N", "H", "H", "H", "H"], pos)  # N+ has 4 bonds: EDM calls it unstable
    assert not atom_stability(["Xe"], np.zeros((1, 3)))[0]


@pytest.mark.parametrize(
    ("z", "charge", "expected"),
    [(6, 0, (4,)), (7, 1, (4,)), (8, -1, (1,)), (8, 1, (3,)), (7, -1, (2,)), (6, -1, (3,)), (1, 1, (0,)), (9, 0, (1,))],
)
def test_allowed_valences_follow_isoelectronic_rule(z, charge, expected):
    assert allowed_valences(z, charge) == expected


def test_valence_stability_uses_written_bonds_and_charges():
    zwitterion = _embedded("[NH3+]CC([O-])=O")
    assert valence_stability(zwitterion).all()
    neutral = Chem.RWMol(zwitterion)
    neutral.GetAtomWithIdx(0).SetFormalCharge(0)
    assert not valence_stability(neutral)[0]
    radical = build_molecule(["C", "H", "H", "H"], METHANE_POS[:4], bonds=np.array([[0, 1, 1], [0, 2, 1], [0, 3, 1]]))
    assert valence_stability(radical).tolist() == [False, True, True, True]


def test_valence_stability_kekulizes_aromatic_bonds():
    mol = Chem.AddHs(Chem.MolFromSmiles("c1cc[nH]c1"))  # pyrrole N: 1.5 + 1.5 + H only works kekulized
    assert valence_stability(mol).all()


def test_validity_requires_single_fragment_and_sanitization():
    ethanol = _embedded("CCO")
    assert validity_error(ethanol) == ""
    two = Chem.CombineMols(ethanol, _embedded("O"))
    assert validity_error(two).startswith("disconnected")
    overvalent = build_molecule(["C", "O"], np.array([[0, 0, 0], [1.13, 0, 0]]), bonds=np.array([[0, 1, 3]]))
    assert "valence" in validity_error(overvalent)


def test_evaluate_molecules_counts():
    ethanol, ethanol2, benzene = _embedded("CCO", 0), _embedded("CCO", 1), _embedded("c1ccccc1")
    disconnected = Chem.CombineMols(_embedded("CC"), _embedded("O"))
    overvalent = build_molecule(["C", "O"], np.array([[0, 0, 0], [1.13, 0, 0]]), bonds=np.array([[0, 1, 3]]))
    methyl = build_molecule(["C", "H", "H", "H"], METHANE_POS[:4], bonds=np.array([[0, 1, 1], [0, 2, 1], [0, 3, 1]]))
    mols = [ethanol, ethanol2, benzene, disconnected, overvalent, methyl]
    metrics = evaluate_molecules(mols, train_smiles={"CCO"})
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["n_molecules"] == 6
    assert metrics["validity"] == pytest.approx(4 / 6)  # the methyl radical sanitizes ...
    assert metrics["validity_closed_shell"] == pytest.approx(3 / 6)  # ... but is not closed-shell
    assert metrics["validity_largest_frag"] == pytest.approx(5 / 6)
    assert metrics["uniqueness"] == pytest.approx(3 / 4)
    assert metrics["validity_x_uniqueness"] == pytest.approx(3 / 6)
    assert metrics["novelty"] == pytest.approx(2 / 3)
    assert metrics["mol_stable_valence"] == pytest.approx(4 / 6)
    assert metrics["atom_stable_valence"] == pytest.approx(1 - 3 / sum(m.GetNumAtoms() for m in mols))
    assert metrics["mol_stable"] <= 4 / 6  # ETKDG geometries are not QM9-accurate; CO at 1.13 A is a triple
    assert math.isnan(evaluate_molecules(mols)["novelty"])


def test_evaluate_molecules_needs_coordinates():
    with pytest.raises(ValueError, match="conformer"):
        evaluate_molecules([Chem.MolFromSmiles("CC")])


def test_format_table():
    table = format_table({"n_molecules": 10.0, "validity": 0.9512, "novelty": math.nan})
    lines = table.splitlines()
    assert lines[:2] == ["| metric | value |", "|---|---|"]
    assert lines[2:] == ["| n_molecules | 10 |", "| validity | 95.12% |", "| novelty | n/a |"]


def test_internal_diversity_and_protein_distance():
    import numpy as np
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from moldiff.chem.metrics import internal_diversity, min_protein_distance

    same = [Chem.MolFromSmiles("c1ccccc1O")] * 3
    assert internal_diversity(same) == pytest.approx(0.0)
    assert internal_diversity([Chem.MolFromSmiles("c1ccccc1O"), Chem.MolFromSmiles("CCCCCCN")]) > 0.8
    assert np.isnan(internal_diversity(same[:1]))
    mol = Chem.AddHs(Chem.MolFromSmiles("CO"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    heavy = mol.GetConformer().GetPositions()[:2]
    protein = np.array([heavy[0] + [0, 0, 1.5], heavy[1] + [0, 3.0, 0]])
    assert min_protein_distance(mol, protein) == pytest.approx(1.5)
