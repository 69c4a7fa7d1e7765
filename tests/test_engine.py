"""Inference engines: bf16 autocast and torch.compile compute the same denoiser, keep the
diffusion math in float32, and plug into every sampler path."""
import pytest
import torch

from moldiff.apps.benchmark import Setting
from moldiff.engine import Engine
from moldiff.options import SampleOptions
from moldiff.pocket import Pocket
from moldiff.testing import random_graph, untrained_model
from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB


def test_engine_strings_round_trip_and_bad_ones_fail_in_one_line():
    for text in ("fp32", "bf16", "bf16+compile", "fp32+compile"):
        assert str(Engine.parse(text)) == text
    assert Engine.parse("bf16+compile") == Engine("bf16", True)
    for bad in ("fp16", "bf16+jit", "", "bf16+"):
        with pytest.raises(ValueError) as e:
            Engine.parse(bad)
        assert "\n" not in str(e.value)
    assert Engine().wrap(torch.nn.Linear(2, 2)).__class__ is torch.nn.Linear  # plain fp32: the module itself


def test_settings_carry_engines():
    st = Setting.parse("dpm2m:spacing=logsnr@25/bf16+compile")
    assert (str(st.sampler), st.n_steps, st.engine) == ("dpm2m:spacing=logsnr", 25, Engine("bf16", True))
    assert str(st) == "dpm2m:spacing=logsnr@25/bf16+compile"
    assert st.slug == "dpm2m_spacing_logsnr_25_bf16_compile"
    assert Setting.parse("ancestral@1000").slug == "ancestral_1000"  # slugs of engine-less settings unchanged
    with pytest.raises(ValueError, match="SAMPLER@STEPS"):
        Setting.parse("dpm2m/bf16")
    with pytest.raises(ValueError, match="engine"):
        Setting.parse("dpm2m@25/int8")


def _pocket_graph():
    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    den = model.denoiser
    graph = random_graph([5, 7], den.node_in, den.pair_in, seed=1, dtype=torch.float32,
                         context_sizes=[30, 30], context_dim=den.context_in)
    return model, graph


@torch.no_grad()
def test_bf16_engine_is_close_to_fp32_and_returns_float32():
    model, graph = _pocket_graph()
    ref = model.denoiser(graph)
    out = model.runner(Engine("bf16"))(graph)
    assert out.pos.dtype == out.h.dtype == out.pair.dtype == torch.float32
    rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    assert 1e-6 < rel(out.pos, ref.pos) < 2e-2  # really ran in bf16, and is still the same function
    assert rel(out.h, ref.h) < 5e-2 and rel(out.pair, ref.pair) < 5e-2
    assert model.runner(Engine("bf16")) is model.runner(Engine("bf16"))  # built once


@pytest.mark.slow
@torch.no_grad()
def test_compiled_engine_matches_eager_and_samples():
    model, graph = _pocket_graph()
    ref = model.denoiser(graph)
    out = model.runner(Engine("fp32", True))(graph)
    torch.testing.assert_close(out.pos, ref.pos, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.pair, ref.pair, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("sampler", ["ancestral", "dpm2m"])
def test_sampling_with_bf16_engine_in_a_pocket_keeps_fixed_atoms_and_shapes(sampler):
    import numpy as np

    from moldiff.chem.arrays import MolArrays

    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    g = torch.Generator().manual_seed(0)
    features = torch.eye(model.denoiser.context_in)[torch.randint(0, model.denoiser.context_in, (40,), generator=g)]
    pocket = Pocket((torch.randn(40, 3, generator=g) * 4).numpy(), features.numpy(), "full", "test pocket")
    fixed = MolArrays(["C", "N"], np.array([[0.5, 0.0, 0.0], [1.9, 0.1, 0.0]]), np.zeros(2, np.int64),
                      np.array([[0, 1, 1]]))
    sizes = torch.tensor([6, 8, 7])
    options = SampleOptions.parse(6, sampler, engine="bf16", steric=2.0).resolve(model)
    out = model.sample(sizes, torch.Generator().manual_seed(1), options, pocket, fixed)
    assert [len(a.elements) for a in out] == sizes.tolist()
    for a in out:
        assert a.elements[:2] == ["C", "N"]
        np.testing.assert_allclose(a.pos[:2], fixed.pos, atol=1e-5)
        assert np.isfinite(a.pos).all()


def test_unconditional_bf16_sampling_runs_every_sampler():
    model = untrained_model("tiny.yaml", QM9_VOCAB)
    for sampler in ("ancestral", "ddim:eta=0.5", "dpm2m:spacing=logsnr"):
        options = SampleOptions.parse(5, sampler, engine="bf16").resolve(model)
        out = model.sample(torch.tensor([4, 9]), torch.Generator().manual_seed(0), options)
        assert [len(a.elements) for a in out] == [4, 9]
        assert all(abs(a.pos.mean(0)).max() < 1e-4 for a in out)  # still zero centre of mass (float32 math)
