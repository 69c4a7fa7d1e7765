"""Pocket features and representations, the ligand-size model given pocket size, and pocket
sampling in the protein frame."""
from pathlib import Path

import numpy as np
import pytest
import torch

from moldiff.config import load_config
from moldiff.options import SampleOptions
from moldiff.model import MolDiffModel
from moldiff.pocket import POCKET_FEATURE_DIM, Pocket, PocketSizeModel, pocket_feature_matrix
from moldiff.vocab import LIGAND_VOCAB, POCKET_ELEMENTS

DATA = Path(__file__).resolve().parents[1] / "data" / "examples"
PROTEIN, LIGAND = DATA / "1ia1_protein.pdb", DATA / "1ia1_ligand.sdf"


def test_pocket_features_are_one_hot_plus_backbone():
    f = pocket_feature_matrix(np.array([0, 4]), np.array([3, 20]), np.array([True, False]))
    assert f.shape == (2, POCKET_FEATURE_DIM)
    assert f[0, 0] == 1 and f[0, len(POCKET_ELEMENTS) + 3] == 1 and f[0, -1] == 1 and f[0].sum() == 3
    assert f[1, 4] == 1 and f[1, -2] == 1 and f[1].sum() == 2


def test_ca_representation_keeps_only_c_alphas():
    pos = np.arange(12.0).reshape(4, 3)
    p = Pocket.from_arrays(pos, [0, 0, 1, 0], [0, 0, 0, 1], [True, True, True, True], [False, True, False, True], "ca")
    np.testing.assert_array_equal(p.pos, pos[[1, 3]])


def test_size_model_follows_pocket_size():
    rng = np.random.default_rng(0)
    pockets = rng.integers(100, 600, 2000)
    ligands = (pockets // 20 + rng.integers(-2, 3, 2000)).astype(np.int64)  # bigger pockets, bigger ligands
    model = PocketSizeModel.from_dict(PocketSizeModel.fit(pockets, ligands, num_bins=5).to_dict())
    g = torch.Generator().manual_seed(0)
    small, large = model.sample(120, 500, g).float().mean(), model.sample(580, 500, g).float().mean()
    assert 5 < small < 9 and 25 < large < 31
    assert model.max_pocket_atoms == pockets.max()


def _pocket_model():
    cfg = load_config("configs/pocket.yaml", ["model.kwargs={hidden: 16, pair_hidden: 8, num_layers: 2, context_cutoff: 5.0}"])
    k = len(LIGAND_VOCAB.elements)
    marginals = {"atom_type": [1 / k] * k, "charge": [0.1, 0.8, 0.1], "bond": [0.85, 0.1, 0.04, 0.01]}
    size_model = PocketSizeModel.fit(np.array([50, 60, 70]), np.array([5, 6, 7]), 2).to_dict()
    torch.manual_seed(0)
    return MolDiffModel(cfg, LIGAND_VOCAB, marginals, [0, 0, 0, 0, 0, 1, 1, 1], size_model)


def test_pocket_sampling_stays_in_the_protein_frame():
    model = _pocket_model()
    rng = np.random.default_rng(1)
    offset = np.array([100.0, -40.0, 25.0])
    n = 60
    pocket = Pocket(rng.normal(size=(n, 3)) * 4 + offset,
                    pocket_feature_matrix(rng.integers(0, 5, n), rng.integers(0, 21, n), rng.random(n) > 0.5), "full")
    sizes = model.sample_sizes(4, torch.Generator().manual_seed(0), pocket_size=n)
    plain = SampleOptions.parse(5, "ancestral", bond_decoding="argmax", steric=0).resolve(model)
    arrays = model.sample(sizes, torch.Generator().manual_seed(0), plain, pocket)
    assert [len(a.elements) for a in arrays] == sizes.tolist() and set(sizes.tolist()) <= {5, 6, 7}
    for a in arrays:
        assert np.linalg.norm(a.pos.mean(axis=0) - pocket.pos.mean(axis=0)) < 10.0  # near the pocket, not the origin
        assert set(a.elements) <= set(LIGAND_VOCAB.elements)


def test_pocket_models_demand_a_pocket_of_sensible_size():
    from moldiff.api import sample

    model = _pocket_model()
    with pytest.raises(ValueError, match="pocket model"):
        sample(model, 2, 2, progress=False)
    big = Pocket(np.zeros((200, 3)), np.zeros((200, POCKET_FEATURE_DIM), dtype=np.float32), "full", "big.pdb")
    with pytest.raises(ValueError, match="big.pdb: the pocket has 200 atoms"):
        sample(model, 2, 2, pocket=big, progress=False)


def test_a_pocket_records_its_representation():
    from moldiff.api import load_pocket

    full = load_pocket(PROTEIN, ref_ligand=LIGAND)
    ca = load_pocket(PROTEIN, ref_ligand=LIGAND, representation="ca")
    assert (full.representation, ca.representation) == ("full", "ca") and 0 < len(ca.pos) < len(full.pos)
    with pytest.raises(ValueError, match="pocket representation must be one of full, ca, got 'cb'"):
        Pocket(full.pos, full.features, "cb")


@pytest.mark.parametrize("model_rep", ["ca", "full"])
def test_models_refuse_a_pocket_of_the_other_representation(model_rep):
    from moldiff.api import load_pocket, sample
    from moldiff.testing import untrained_model

    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB, overrides=[f"data.pocket_representation={model_rep}"])
    other = {"ca": "full", "full": "ca"}[model_rep]
    wrong = load_pocket(PROTEIN, ref_ligand=LIGAND, representation=other)
    kind = {"ca": "C-alpha", "full": "full-atom"}
    expected = (f"{PROTEIN}: a {kind[other]} pocket ({other!r}), but this model takes {kind[model_rep]} pockets "
                f"({model_rep!r}); load it with representation={model_rep!r}")
    with pytest.raises(ValueError) as err:
        sample(model, 2, 2, num_atoms=6, pocket=wrong, progress=False)
    assert str(err.value) == expected
    with pytest.raises(ValueError) as err:
        model.sample(torch.tensor([6]), torch.Generator().manual_seed(0), SampleOptions(2).resolve(model), wrong)
    assert str(err.value) == expected
    right = load_pocket(PROTEIN, ref_ligand=LIGAND, representation=model_rep)
    assert len(sample(model, 2, 2, num_atoms=6, pocket=right, progress=False)) == 2
