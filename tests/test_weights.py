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


def test_models_load_and_sample_without_rdkit():
    """GPU training/benchmark machines may lack RDKit: loading and sampling arrays must not need it."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['rdkit'] = None\n"
            "from moldiff.api import load_model\nfrom moldiff.config import load_config\n"
            "from moldiff.apps.benchmark import timed_sampling\nfrom moldiff.options import SampleOptions\n"
            "from moldiff.model import MolDiffModel\n"
            "from moldiff.vocab import QM9_VOCAB\n"
            "m = MolDiffModel(load_config('configs/tiny.yaml'), QM9_VOCAB, {'atom_type': [.2] * 5, 'charge': [.1, .8, .1],"
            " 'bond': [.7, .1, .1, .1]}, [0, 0, 1, 1])\n"
            "options = SampleOptions(2, batch_size=2).resolve(m)\n"
            "arrays, run = timed_sampling(m, 3, options, warmup=False)\nassert len(arrays) == 3\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.skipif("pocket" not in available_models(), reason="no shipped pocket weights")
def test_shipped_pocket_model_samples_in_the_demo_pocket():
    from moldiff.api import load_pocket

    model = load_model("pocket")
    assert model.conditional and model.vocab.elements[:3] == ("C", "N", "O")
    pocket = load_pocket("data/examples/1ia1_protein.pdb", ref_ligand="data/examples/1ia1_ligand.sdf")
    mols = sample(model, n_samples=2, n_steps=3, seed=0, pocket=pocket, progress=False)
    assert len(mols) == 2 and all(m.GetConformer().Is3D() for m in mols)


@pytest.mark.skipif("qm9_props" not in available_models(), reason="no shipped property weights")
def test_shipped_property_model_loads_by_alias_and_samples():
    model = load_model("qm9-alpha")
    assert model.default_property == "alpha" and tuple(model.properties.names) == ("alpha", "gap", "mu", "Cv")
    mols = sample(model, n_samples=2, n_steps=3, seed=0, progress=False, properties={"alpha": 80.0}, guidance=1.0)
    assert len(mols) == 2 and all(m.GetDoubleProp("target_alpha") == 80.0 for m in mols)
