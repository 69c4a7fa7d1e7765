"""Lightning training: exact resume, EMA export, EDM baseline and heavy-atom variants train and sample."""
import pytest
import torch

from moldiff.api import load_model, sample
from moldiff.config import load_config
from moldiff.training.run import train


def _cfg(cache, out, *extra):
    return load_config("configs/tiny.yaml", [f"data.path={cache}", f"train.out_dir={out}", "data.limit_train=16",
                                             "train.ckpt_every_n_steps=1000", *extra])


def _weights(path):
    return torch.load(path, weights_only=False)["state_dict"]


@pytest.fixture
def one_thread():
    """Multi-threaded CPU scatter sums are not bitwise reproducible; one thread is."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_resume_is_exact(small_qm9, tmp_path, one_thread):
    straight = train(_cfg(small_qm9, tmp_path / "a", "train.max_steps=6"))
    train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=3"))
    resumed = train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=6"))  # picks up last.ckpt
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


@pytest.mark.parametrize("variant", [
    ["process.categorical=gaussian", "process.bonds=false", "process.pos_parameterization=eps"],  # EDM baseline
    ["data.remove_h=true"],
    ["model.name=e3nn", "model.kwargs={hidden_scalars: 16, hidden_vectors: 4, num_layers: 2, cutoff: 5.0}"],
])
def test_variants_train_and_sample(small_qm9, tmp_path, variant):
    path = train(_cfg(small_qm9, tmp_path, "train.max_steps=2", *variant))
    model = load_model(path)
    mols = sample(model, 3, n_steps=3, seed=0, progress=False)
    assert len(mols) == 3 and all(m.GetNumAtoms() > 0 for m in mols)
    if "data.remove_h=true" in variant:
        assert all(a.GetSymbol() != "H" for m in mols for a in m.GetAtoms())


def test_warm_start_from_weights(small_qm9, tmp_path):
    first = train(_cfg(small_qm9, tmp_path / "a", "train.max_steps=2"))
    second = train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=0", f"train.init_weights={first}"))
    a, b = _weights(first), _weights(second)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
