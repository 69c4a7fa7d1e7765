"""Smoke test of the shipped weights: they load by name and sample molecules."""
import pytest

from moldiff.api import available_models, load_model, sample


@pytest.mark.skipif("qm9" not in available_models(), reason="no shipped qm9 weights")
def test_shipped_qm9_loads_and_samples():
    model = load_model("qm9")
    assert model.vocab.elements == ("H", "C", "N", "O", "F")
    mols = sample(model, n_samples=3, n_steps=5, num_atoms=9, seed=0, progress=False)
    assert [m.GetNumAtoms() for m in mols] == [9, 9, 9]
    assert all(m.GetConformer().Is3D() for m in mols)
