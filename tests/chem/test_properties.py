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
