"""Lightning training: exact resume, EMA export, EDM baseline and heavy-atom variants train and sample."""
import numpy as np
import pytest
import torch

from moldiff.api import load_model, sample
from moldiff.config import ConfigError, TrainCfg, load_config
from moldiff.training.run import train, warm_start_state
from moldiff.training.system import learning_rate


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


class _Killed(Exception):
    """Stands for the process dying (SIGKILL, a lost node) at a chosen point."""


def test_resume_is_exact(small_qm9, tmp_path, one_thread, monkeypatch):
    """Bit-identical exported (EMA) weights for an uninterrupted run, a run stopped at max_steps
    and continued, and a run killed just after its step-3 checkpoint was written (before
    anything else runs at the end of that batch): that checkpoint holds the EMA of step 3."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    saving = ModelCheckpoint.on_train_batch_end

    def killed_after_checkpoint(self, trainer, *args, **kwargs) -> None:
        saving(self, trainer, *args, **kwargs)
        if trainer.global_step == 3:
            raise _Killed

    sched = ["train.lr_warmup_steps=2", "train.lr_decay_start=3", "train.lr_decay_steps=2", "train.lr_min=1.0e-5",
             "train.ckpt_every_n_steps=3"]
    straight = train(_cfg(small_qm9, tmp_path / "a", "train.max_steps=6", *sched))
    train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=3", *sched))
    continued = train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=6", *sched))  # picks up last.ckpt
    with monkeypatch.context() as m:
        m.setattr(ModelCheckpoint, "on_train_batch_end", killed_after_checkpoint)
        with pytest.raises(_Killed):
            train(_cfg(small_qm9, tmp_path / "c", "train.max_steps=6", *sched))
    ckpt = torch.load(tmp_path / "c" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 3 and int(ckpt["state_dict"]["ema.n_averaged"]) == 3
    assert not (tmp_path / "c" / "model.pt").exists()
    resumed = train(_cfg(small_qm9, tmp_path / "c", "train.max_steps=6", *sched))
    a = _weights(straight)
    for other in (continued, resumed):
        b = _weights(other)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{other}: {k}")


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


def test_log_tells_start_up_time_and_step_rate(small_qm9, tmp_path, capsys):
    train(_cfg(small_qm9, tmp_path / "a", "train.max_steps=3"))
    out = capsys.readouterr().out
    assert "\nfirst step done" in out and "3 steps in" in out and "steps/min after the first" in out
    assert "\nstep 2 took" in out and "\nstep 3 took" in out and "step 4 took" not in out


def test_warm_start_grows_condition_inputs(small_qm9, tmp_path):
    """An unconditional model starts a property-conditioned one: the new condition columns of the
    first layer are zero, everything else is copied, so both compute the same function at first."""
    first = train(_cfg(small_qm9, tmp_path / "a", "train.max_steps=2"))
    second = train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=0", f"train.init_weights={first}",
                        "data.properties=[alpha, gap]"))
    a, b = _weights(first), _weights(second)
    grown = [k for k in a if a[k].shape != b[k].shape]
    assert grown == ["embed_h.0.weight"]
    w_a, w_b = a[grown[0]], b[grown[0]]
    assert w_b.shape[1] == w_a.shape[1] + 4  # (value, given) per property
    torch.testing.assert_close(w_b[:, :w_a.shape[1]], w_a, rtol=0, atol=0)
    assert not w_b[:, w_a.shape[1]:].any()
    for k in a.keys() - set(grown):
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    model, base = load_model(second), load_model(first)
    mols = sample(model, 2, n_steps=3, seed=1, num_atoms=[9, 12], progress=False, properties={"alpha": 70.0, "gap": 0.25})
    ref = sample(base, 2, n_steps=3, seed=1, num_atoms=[9, 12], progress=False)
    for m, r in zip(mols, ref):
        np.testing.assert_allclose(m.GetConformer().GetPositions(), r.GetConformer().GetPositions(), atol=1e-4)


def test_warm_start_refuses_other_shapes():
    """Only condition inputs may grow: a wider time embedding also widens the first layer (in the
    middle of its input), and a pocket model has parameters an unconditional one lacks."""
    from moldiff.nn.egnn import EGNNDenoiser

    def net(**kw):
        return EGNNDenoiser(7, 7, hidden=16, pair_hidden=8, num_layers=1, **kw)

    assert warm_start_state(net(cond_in=3), net())["embed_h.0.weight"].shape[1] == 7 + 32 + 3
    with pytest.raises(ConfigError, match="embed_h.0.weight has shape"):
        warm_start_state(net(time_dim=40), net())
    with pytest.raises(ConfigError, match="embed_h.0.weight has shape"):
        warm_start_state(net(), net(cond_in=2))  # losing condition inputs is not a warm start either
    with pytest.raises(ConfigError, match="differ in their parameters: embed_ctx"):
        warm_start_state(net(context_in=5), net())


def test_learning_rate_schedule():
    t = TrainCfg(lr=1.0, lr_warmup_steps=4, lr_decay_start=10, lr_decay_steps=10, lr_min=0.1)
    assert [learning_rate(k, t) for k in (0, 1, 3, 9, 10)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert learning_rate(15, t) == pytest.approx(0.55)  # cosine midpoint
    assert learning_rate(20, t) == pytest.approx(0.1) and learning_rate(10**6, t) == pytest.approx(0.1)
    assert learning_rate(123, TrainCfg(lr=3e-4)) == 3e-4


def _raw_weights(out):
    state = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("net.denoiser.")}


def test_schedule_drives_the_optimizer(small_qm9, tmp_path, one_thread):
    """A decay to lr 0 after the first step freezes the trained weights at their one-step values."""
    train(_cfg(small_qm9, tmp_path / "a", "train.max_steps=1"))
    train(_cfg(small_qm9, tmp_path / "b", "train.max_steps=3", "train.lr_decay_start=0", "train.lr_decay_steps=1"))
    train(_cfg(small_qm9, tmp_path / "c", "train.max_steps=0"))
    a, b, init = _raw_weights(tmp_path / "a"), _raw_weights(tmp_path / "b"), _raw_weights(tmp_path / "c")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert any(not torch.equal(v, init[k]) for k, v in a.items())  # the first step did train



def _logged_losses(out) -> list[float]:
    import csv

    rows = csv.DictReader(next((out / "logs").glob("version_*/metrics.csv")).open())
    return [float(r["train/loss"]) for r in rows if r.get("train/loss")]


@pytest.mark.slow  # compiling forward and backward takes minutes on 2 CPU cores
def test_compiled_training_matches_eager(small_qm9, tmp_path, one_thread):
    """train.compile: the same training losses (up to float rounding) and the same checkpoint keys as eager training."""
    runs = {}
    for name, extra in (("eager", []), ("compiled", ["train.compile=true"])):
        path = train(_cfg(small_qm9, tmp_path / name, "train.max_steps=3", "train.log_every_n_steps=1", *extra))
        runs[name] = (_weights(path), _logged_losses(tmp_path / name))
    (w_eager, loss_eager), (w_compiled, loss_compiled) = runs["eager"], runs["compiled"]
    assert w_compiled.keys() == w_eager.keys()  # the compiled wrapper is not a registered submodule
    assert len(loss_eager) == 3 and len(set(loss_eager)) == 3
    np.testing.assert_allclose(loss_compiled, loss_eager, rtol=1e-4)
