"""QED and SA scores against known values."""
import pytest
from rdkit import Chem

from moldiff.chem.properties import qed, sa_normalized, sa_score


def test_qed_and_sa_order_molecules_sensibly():
    aspirin = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    assert qed(aspirin) == pytest.approx(0.550, abs=0.01)  # published QED of aspirin
    easy = sa_score(Chem.MolFromSmiles("CCO"))
    hard = sa_score(Chem.MolFromSmiles("C[C@H]1C[C@@]2(O)[C@@H]3C=C(C)[C@@H](O)[C@]3(O)C[C@H](CO)C=C2[C@H]1O"))
    assert 1.0 <= easy < 2.5 and hard > 4.5
    assert sa_normalized(aspirin) == pytest.approx((10 - sa_score(aspirin)) / 9)


def test_logp_lipinski_and_ring_sizes_match_rdkit_definitions():
    from rdkit.Chem import Crippen

    from moldiff.chem.metrics import ring_size_fractions
    from moldiff.chem.properties import lipinski_rules, logp, ring_sizes

    aspirin = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    assert logp(aspirin) == pytest.approx(Crippen.MolLogP(aspirin)) and logp(aspirin) == pytest.approx(1.31, abs=0.01)
    assert lipinski_rules(aspirin) == 5
    # a greasy diester macrocycle: heavy, many rotatable bonds, logP > 5
    big = Chem.MolFromSmiles("CCCCCCCCCCCCCCCCCC(=O)OC1CCCCCCCCCCCCCCC(OC(=O)CCCCCCCCCCCCCCCCC)C1")
    assert lipinski_rules(big) == 2  # only donors and acceptors pass
    assert sorted(ring_sizes(Chem.MolFromSmiles("C1CC1c1ccc2ccccc2c1C1CCCCCCCC1"))) == [3, 6, 6, 9]
    mols = [Chem.MolFromSmiles(s) for s in ("C1CC1", "c1ccccc1", "CCO", "C1CCCCCCC1c1ccccc1")]
    f = ring_size_fractions(mols)
    assert f["ring_3"] == 0.25 and f["ring_6"] == 0.5 and f["ring_8+"] == 0.25 and f["ring_none"] == 0.25
    assert f["ring_4"] == 0.0
