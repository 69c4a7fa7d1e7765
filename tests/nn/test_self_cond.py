"""Self-conditioning: the EGNN reads its previous estimate equivariantly, "absent" equals no
input, the sampler loop feeds each call's (constrained) prediction to the next, and training
feeds the network its own no-gradient estimate in about half of the batches."""
from dataclasses import replace

import pytest
import torch

from moldiff.config import ConfigError, build_denoiser, load_config
from moldiff.graph import DenoiserOutput, SelfCond
from moldiff.nn.egnn import EGNNDenoiser
from moldiff.processes.joint import SELF_COND_RATE, Topology
from moldiff.samplers.ancestral import ancestral_step
from moldiff.samplers.loop import reverse_loop, uniform_times
from moldiff.testing import assert_equivariant, assert_permutation_equivariant, random_graph, untrained_model
from moldiff.vocab import LIGAND_VOCAB


def _net(**kw) -> EGNNDenoiser:
    torch.manual_seed(0)
    return EGNNDenoiser(node_in=8, node_out=8, pair_in=4, pair_out=4, hidden=32, pair_hidden=16, num_layers=3,
                        self_cond=True, **kw).double()


def _with_estimate(graph, seed: int = 9, present=None) -> SelfCond:
    g = torch.Generator().manual_seed(seed)
    n, p = graph.pos.shape[0], graph.pair_index.shape[1]
    present = torch.ones(graph.num_graphs, dtype=torch.bool) if present is None else present
    return SelfCond(graph.pos + 0.3 * torch.randn(n, 3, generator=g, dtype=torch.float64),
                    torch.softmax(torch.randn(n, 8, generator=g, dtype=torch.float64), -1),
                    torch.softmax(torch.randn(p, 4, generator=g, dtype=torch.float64), -1), present)


def test_self_conditioned_egnn_is_equivariant_with_and_without_pocket(float64):
    graph = random_graph([4, 6, 5], 8, 4, seed=1)
    graph = replace(graph, self_cond=_with_estimate(graph))
    assert_equivariant(_net(), graph, reflect=True)
    pocket = random_graph([4, 6], 8, 4, seed=2, context_sizes=[20, 30], context_dim=6)
    pocket = replace(pocket, self_cond=_with_estimate(pocket))
    model = _net(context_in=6)
    assert_equivariant(model, pocket, reflect=True)
    # permutations must also permute the estimate: check the estimate-free graph, the permutation helper's scope
    assert_permutation_equivariant(model, replace(pocket, self_cond=None))


def test_absent_estimate_is_exactly_no_input_and_a_present_one_is_read(float64):
    model = _net()
    graph = random_graph([4, 6], 8, 4, seed=3)
    sc = _with_estimate(graph)
    base = model(graph)
    absent = model(replace(graph, self_cond=replace(sc, present=torch.tensor([False, False]))))
    for a, b in ((base.pos, absent.pos), (base.h, absent.h), (base.pair, absent.pair)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    half = model(replace(graph, self_cond=replace(sc, present=torch.tensor([True, False]))))
    first = graph.batch == 0
    assert (half.pos[first] - base.pos[first]).abs().max() > 1e-6  # graph 0 read its estimate
    torch.testing.assert_close(half.pos[~first], base.pos[~first], rtol=0, atol=1e-12)  # graph 1 did not


def test_a_network_without_self_conditioning_refuses_an_estimate(float64):
    torch.manual_seed(0)
    plain = EGNNDenoiser(node_in=8, node_out=8, pair_in=4, pair_out=4, hidden=16, pair_hidden=8, num_layers=1).double()
    graph = random_graph([3], 8, 4, seed=4)
    with pytest.raises(ValueError, match="without self-conditioning"):
        plain(replace(graph, self_cond=_with_estimate(graph)))


def test_config_switch_and_e3nn_refusal():
    cfg = load_config("configs/tiny_pocket.yaml", ["model.kwargs.self_cond=true"])
    model = untrained_model("tiny.yaml", LIGAND_VOCAB, overrides=["model.kwargs.self_cond=true"])
    assert model.denoiser.self_cond and cfg.model.kwargs["self_cond"] is True
    e3nn = load_config("configs/qm9_e3nn.yaml", ["model.kwargs.self_cond=true"])
    with pytest.raises(ConfigError, match="self_cond"):
        build_denoiser(e3nn.model, model.process)


class Spy(torch.nn.Module):
    """Wraps a denoiser and records the previous estimate each call received."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net, self.self_cond, self.seen, self.outs = net, True, [], []

    def forward(self, graph):
        self.seen.append(graph.self_cond)
        out = self.net(graph)
        self.outs.append(out)
        return out


class ShiftEstimate:
    """A constraint that moves every coordinate estimate by +1 Å in x (to see it passed on)."""

    def start(self, x, topo, t, generator):
        return x

    def prediction(self, pred, x_t, topo, s):
        return replace(pred, pos=pred.pos + torch.tensor([1.0, 0.0, 0.0], dtype=pred.pos.dtype))

    def finish(self, x, topo):
        return x


def test_the_loop_feeds_each_constrained_prediction_to_the_next_call():
    model = untrained_model("tiny.yaml", LIGAND_VOCAB, overrides=["model.kwargs.self_cond=true"])
    spy = Spy(model.denoiser)
    topo = Topology.from_sizes(torch.tensor([4, 5]))
    times = uniform_times(4)
    reverse_loop(model.process, spy, ancestral_step, topo, times, torch.zeros(1), torch.Generator().manual_seed(0),
                 constraints=(ShiftEstimate(),))
    assert len(spy.seen) == 4 and spy.seen[0] is None
    for k in range(1, 4):
        sc, prev = spy.seen[k], spy.outs[k - 1]
        assert sc.present.all()
        # x0 parameterization: the estimate is the network's pos output, then shifted by the constraint
        torch.testing.assert_close(sc.pos, prev.pos + torch.tensor([1.0, 0.0, 0.0]))
        probs = torch.softmax(prev.pair, -1)
        torch.testing.assert_close(sc.pair, probs)
        torch.testing.assert_close(sc.h.sum(-1), torch.full((9,), 2.0))  # two node fields, each a distribution


def test_training_uses_the_own_estimate_in_about_half_of_the_batches():
    from moldiff.processes.joint import MolState

    model = untrained_model("tiny.yaml", LIGAND_VOCAB, overrides=["model.kwargs.self_cond=true"])
    spy = Spy(model.denoiser)
    topo = Topology.from_sizes(torch.tensor([3, 4]))
    n, p = 7, topo.pair_index.shape[1]
    x0 = MolState(torch.randn(n, 3), {"atom_type": torch.zeros(n, dtype=torch.long),
                                      "charge": torch.ones(n, dtype=torch.long)}, torch.zeros(p, dtype=torch.long))
    g = torch.Generator().manual_seed(0)
    used, trials = 0, 200
    for _ in range(trials):
        spy.seen.clear(), spy.outs.clear()
        losses = model.process.loss(spy, x0, topo, generator=g)
        assert torch.isfinite(losses["loss"])
        last = spy.seen[-1]
        assert last is not None and len(spy.seen) in (1, 2)
        if len(spy.seen) == 2:  # the estimating pass saw the "no estimate" input, the trained pass its output
            assert spy.seen[0] is not None and not spy.seen[0].present.any() and last.present.all()
            assert not last.pos.requires_grad and not last.h.requires_grad  # the estimate is detached
            torch.testing.assert_close(last.pos, spy.outs[0].pos)
            used += 1
        else:
            assert not last.present.any()
    assert abs(used / trials - SELF_COND_RATE) < 0.12


def test_the_previous_estimate_is_ignored_by_denoisers_without_it():
    model = untrained_model("tiny.yaml", LIGAND_VOCAB)
    topo = Topology.from_sizes(torch.tensor([3]))
    x = model.process.prior(topo, torch.zeros(1), torch.Generator().manual_seed(0))
    t = torch.tensor([0.5])
    first = model.process.predict(model.denoiser, x, topo, t)
    again = model.process.predict(model.denoiser, x, topo, t, previous=first)
    torch.testing.assert_close(first.pos, again.pos, rtol=0, atol=0)
    assert isinstance(model.denoiser(model.process.graph(x, topo, t)), DenoiserOutput)
