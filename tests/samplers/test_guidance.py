"""Classifier-free guidance: the extrapolation rule on every output, the null graph, the time
interval, equivariance of the guided network, and composition with samplers and inpainting."""
from dataclasses import replace

import pytest
import torch

from moldiff.graph import DenoiserOutput
from moldiff.nn.egnn import EGNNDenoiser
from moldiff.options import SampleOptions
from moldiff.samplers.guidance import GuidedDenoiser, Guidance, null_graph
from moldiff.testing import assert_equivariant, random_graph


def _net(cond_in: int = 0, context_in: int = 0) -> EGNNDenoiser:
    torch.manual_seed(0)
    return EGNNDenoiser(node_in=5, node_out=5, pair_in=4, pair_out=4, hidden=32, pair_hidden=16, num_layers=2,
                        context_in=context_in, cond_in=cond_in).double()


def _pocket_graph():
    return random_graph([4, 6], 5, 4, context_sizes=[7, 5], context_dim=3)


class Recorder(torch.nn.Module):
    """A denoiser that records what it was called with and returns fixed outputs per call kind."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, graph):
        conditional = graph.context is not None or graph.cond is not None
        self.calls.append(conditional)
        n, p = graph.pos.shape[0], graph.pair_index.shape[1]
        v = 2.0 if conditional else 0.5
        return DenoiserOutput(torch.full((n, 3), v, dtype=torch.float64), torch.full((n, 5), v, dtype=torch.float64),
                              torch.full((p, 4), v, dtype=torch.float64))


def test_guided_output_is_cond_plus_w_times_difference_on_every_field():
    net = _net(context_in=3)
    graph = _pocket_graph()
    w = 1.7
    out = GuidedDenoiser(net, Guidance(w))(graph)
    c, u = net(graph), net(null_graph(graph))
    for got, a, b in ((out.pos, c.pos, u.pos), (out.h, c.h, u.h), (out.pair, c.pair, u.pair)):
        torch.testing.assert_close(got, a + w * (a - b))
    assert not torch.allclose(c.h, u.h)  # the pocket matters, so the test can fail


def test_scale_zero_is_the_conditional_model_with_one_call():
    rec = Recorder()
    graph = _pocket_graph()
    out = GuidedDenoiser(rec, Guidance(0.0))(graph)
    assert rec.calls == [True]
    assert torch.all(out.h == 2.0)


def test_null_graph_drops_pocket_and_properties_only():
    graph = replace(_pocket_graph(), cond=torch.ones(2, 4, dtype=torch.float64))
    null = null_graph(graph)
    assert null.context is None and null.cond is None
    assert null.pos is graph.pos and null.h is graph.h and null.t is graph.t


def test_interval_applies_guidance_per_graph_and_skips_the_second_call_outside():
    rec = Recorder()
    graph = replace(_pocket_graph(), t=torch.tensor([0.3, 0.8], dtype=torch.float64))
    out = GuidedDenoiser(rec, Guidance(2.0, 0.5, 1.0))(graph)
    assert rec.calls == [True, False]
    first = graph.batch == 0
    assert torch.all(out.h[first] == 2.0)  # t = 0.3 lies outside: plain conditional
    assert torch.all(out.h[~first] == 2.0 + 2.0 * (2.0 - 0.5))
    pair_graph = graph.batch[graph.pair_index[0]]
    assert torch.all(out.pair[pair_graph == 0] == 2.0) and torch.all(out.pair[pair_graph == 1] == 5.0)
    rec.calls.clear()
    GuidedDenoiser(rec, Guidance(2.0, 0.9, 1.0))(graph)
    assert rec.calls == [True]


def test_unconditioned_graph_is_not_guided():
    rec = Recorder()
    GuidedDenoiser(rec, Guidance(3.0))(random_graph([4], 5, 4))
    assert rec.calls == [False]


@pytest.mark.parametrize("bad", [dict(scale=-1.0), dict(scale=1.0, t_lo=0.5, t_hi=0.5), dict(scale=1.0, t_hi=1.5)])
def test_bad_guidance_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Guidance(**bad)


def test_guided_pocket_network_is_se3_equivariant_in_float64():
    assert_equivariant(GuidedDenoiser(_net(context_in=3), Guidance(2.5)), _pocket_graph(), reflect=False)


def test_guided_property_network_is_equivariant_and_conditions_matter():
    net = _net(cond_in=4)
    graph = replace(random_graph([5, 3], 5, 4), cond=torch.tensor([[0.5, -1.0, 1.0, 1.0], [2.0, 0.0, 1.0, 0.0]],
                                                                   dtype=torch.float64))
    assert_equivariant(GuidedDenoiser(net, Guidance(1.5)), graph)
    assert not torch.allclose(net(graph).h, net(null_graph(graph)).h)
    zeros = replace(graph, cond=torch.zeros(2, 4, dtype=torch.float64))
    torch.testing.assert_close(net(zeros).h, net(null_graph(graph)).h)  # None is the all-null feature vector


def _property_model():
    import numpy as np

    from moldiff.conditioning import PropertyConditions
    from moldiff.testing import untrained_model
    from moldiff.vocab import QM9_VOCAB

    values = {"alpha": np.linspace(50.0, 100.0, 40), "gap": np.linspace(4.0, 9.0, 40)}
    sizes = np.where(np.arange(40) < 20, 7, 11)  # small alpha -> 7 atoms, large -> 11
    cond = PropertyConditions.fit(["alpha", "gap"], values, sizes).to_dict()
    return untrained_model("tiny.yaml", QM9_VOCAB, overrides=["data.properties=[alpha, gap]"], conditions=cond)


@pytest.mark.parametrize("sampler", ["ancestral", "ddim", "dpm2m"])
def test_guidance_composes_with_samplers_and_inpainting(sampler):
    import numpy as np

    from moldiff.chem.arrays import MolArrays
    from moldiff.pocket import Pocket
    from moldiff.testing import untrained_model
    from moldiff.vocab import LIGAND_VOCAB

    fragment = MolArrays(["C", "C", "O"], np.array([[0.0, 0, 0], [1.5, 0, 0], [2.2, 1.1, 0]]), np.zeros(3, int),
                         np.array([[0, 1, 1], [1, 2, 2]]))
    rng = np.random.default_rng(0)
    pocket = Pocket.from_arrays(rng.normal(size=(40, 3)) * 4, np.zeros(40, int), np.zeros(40, int), np.zeros(40, bool),
                                np.zeros(40, bool), "full", "test pocket")
    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    sizes = torch.tensor([5, 8])
    options = SampleOptions.parse(6, sampler).resolve(model)
    for guidance in (Guidance(2.0), Guidance(1.0, 0.3, 0.7)):
        out = model.sample(sizes, torch.Generator().manual_seed(0), replace(options, guidance=guidance), pocket,
                           fragment)
        for a, n in zip(out, sizes.tolist()):
            assert len(a.elements) == n and a.elements[:3] == ["C", "C", "O"]
            np.testing.assert_array_equal(a.pos[:3], fragment.pos)
    plain = model.sample(sizes, torch.Generator().manual_seed(0), options, pocket)
    guided = model.sample(sizes, torch.Generator().manual_seed(0), replace(options, guidance=Guidance(2.0)), pocket)
    assert not np.allclose(plain[1].pos, guided[1].pos)


def test_property_model_samples_with_values_sizes_and_guidance_through_the_api():
    from moldiff.api import sample

    model = _property_model()
    mols = sample(model, 6, n_steps=4, properties={"alpha": 95.0}, guidance=1.5, progress=False)
    assert [m.GetNumAtoms() for m in mols] == [11] * 6  # sizes drawn given the requested alpha
    assert mols[0].GetProp("guidance") == "1.5" and mols[0].GetDoubleProp("target_alpha") == 95.0
    small = sample(model, 4, n_steps=4, properties={"alpha": 52.0}, progress=False)
    assert [m.GetNumAtoms() for m in small] == [7] * 4
    with pytest.raises(ValueError, match="unknown property mu"):
        sample(model, 2, n_steps=2, properties={"mu": 1.0}, progress=False)
    with pytest.raises(ValueError, match="needs a condition"):
        sample(model, 2, n_steps=2, guidance=1.0, progress=False)
