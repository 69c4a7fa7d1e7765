"""Connectivity guidance: components against scipy, minor fragments moved rigidly next to the
largest one (which stays), fixed atoms untouched, SE(3)-equivariance, and the sampler option."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components

from moldiff.geometry import random_rotations
from moldiff.graph import pair_id
from moldiff.options import SampleOptions
from moldiff.processes.joint import Prediction, Topology
from moldiff.samplers import SamplerSpec
from moldiff.samplers.connect import DEFAULT_DISTANCE, ConnectivityGuidance, components
from moldiff.testing import untrained_model
from moldiff.vocab import QM9_VOCAB


@pytest.mark.parametrize("seed", range(5))
def test_components_match_scipy(seed):
    rng = np.random.default_rng(seed)
    n = 60
    edges = rng.integers(0, n, size=(2, 45))
    _, ref = connected_components(sp.coo_matrix((np.ones(45), edges), shape=(n, n)), directed=False)
    got = components(n, torch.as_tensor(edges)).numpy()
    # same partition: labels map one to one
    assert len(set(zip(ref, got))) == len(set(ref)) == len(set(got))
    assert all(got[k] == min(np.flatnonzero(ref == ref[k])) for k in range(n))  # label = smallest member


def _case(seed: int = 0):
    """Two molecules: 7 atoms = chain of 4 + chain of 2 + a lone atom; 5 atoms = chain of 3 + chain of 2.
    Coordinates random in float64, pieces far apart."""
    g = torch.Generator().manual_seed(seed)
    topo = Topology.from_sizes(torch.tensor([7, 5]))
    pos = torch.randn(12, 3, generator=g, dtype=torch.float64) * 0.5
    pos[4:6] += 8.0
    pos[6] -= 9.0
    pos[10:12] += torch.tensor([0.0, 10.0, 0.0], dtype=torch.float64)
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [4, 5], [7, 8], [8, 9], [10, 11]]).T
    return pos, topo, edges


def _closest(pos, a, b):
    return torch.cdist(pos[a], pos[b]).min()


def test_minor_fragments_move_rigidly_next_to_the_largest():
    pos, topo, edges = _case()
    out = ConnectivityGuidance(0.5).join(pos, topo, edges)
    main0, main1 = [0, 1, 2, 3], [7, 8, 9]
    assert torch.equal(out[main0], pos[main0]) and torch.equal(out[main1], pos[main1])
    for piece, main in [([4, 5], main0), ([6], main0), ([10, 11], main1)]:
        assert _closest(out, piece, main) == pytest.approx(DEFAULT_DISTANCE, abs=1e-9)
        shift = out[piece] - pos[piece]
        assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-12)  # rigid translation
    # already in contact: nothing moves
    again = ConnectivityGuidance(0.5).join(out, topo, edges)
    assert torch.allclose(again, out, atol=1e-12)


def test_fixed_fragments_stay_and_free_pieces_join_the_nearest_one_equivariantly(float64):
    """Linking-like: in molecule 0 the pieces {0..3} and {4, 5} hold fixed atoms, so both stay and
    the lone atom 6 joins the nearer of them; molecule 1 has none fixed and joins its largest."""
    pos, topo, edges = _case(1)
    fixed = torch.zeros(12, dtype=torch.bool)
    fixed[[1, 5]] = True
    guide = ConnectivityGuidance(0.5, fixed=fixed)
    out = guide.join(pos, topo, edges)
    assert torch.equal(out[:6], pos[:6]) and torch.equal(out[7:10], pos[7:10])
    near = min([[0, 1, 2, 3], [4, 5]], key=lambda piece: float(_closest(pos, [6], piece)))
    assert _closest(out, [6], near) == pytest.approx(DEFAULT_DISTANCE, abs=1e-9)
    assert _closest(out, [10, 11], [7, 8, 9]) == pytest.approx(DEFAULT_DISTANCE, abs=1e-9)
    topo.move = ~fixed  # atoms the topology holds count as fixed too
    assert torch.equal(ConnectivityGuidance(0.5).join(pos, topo, edges), out)
    rot = random_rotations(1, torch.float64, generator=torch.Generator().manual_seed(3))[0]
    shift = torch.tensor([1.0, -2.0, 3.5], dtype=torch.float64)
    assert torch.allclose(guide.join(pos @ rot.T + shift, topo, edges), out @ rot.T + shift, atol=1e-10)


def test_guidance_acts_only_on_steps_down_to_t_max_and_not_on_the_last():
    pos, topo, edges = _case()
    bond = torch.zeros(topo.pair_index.shape[1], 2, dtype=torch.float64)
    bond[pair_id(topo.ptr, topo.batch, edges), 1] = 1.0
    pred = Prediction(pos, {}, bond)
    guide = ConnectivityGuidance(0.3)
    assert guide.prediction(pred, None, topo, 0.5) is pred
    assert guide.prediction(pred, None, topo, 0.0) is pred
    moved = guide.prediction(pred, None, topo, 0.3).pos
    assert torch.allclose(moved, guide.join(pos, topo, edges))
    with pytest.raises(ValueError, match="bond"):
        guide.prediction(Prediction(pos, {}, None), None, topo, 0.2)


def test_sampler_option_parses_and_reaches_the_sampling_loop(monkeypatch):
    spec = SamplerSpec.parse("ancestral:restart=1,restart_steps=2,connect=0.4")
    assert spec.connect == 0.4 and SamplerSpec.parse(str(spec)) == spec
    with pytest.raises(ValueError, match=r"connect must lie in \[0, 1\]"):
        SamplerSpec.parse("ancestral:connect=1.5")
    seen = []

    class Spy(ConnectivityGuidance):
        def prediction(self, pred, x_t, topo, s):
            seen.append((self.t_max, s))
            return super().prediction(pred, x_t, topo, s)

    monkeypatch.setattr("moldiff.model.ConnectivityGuidance", Spy)
    model = untrained_model("tiny.yaml", QM9_VOCAB)
    options = SampleOptions.parse(4, "ancestral:connect=0.5").resolve(model)
    model.sample(torch.tensor([6, 9, 4]), torch.Generator().manual_seed(0), options)
    assert seen == [(0.5, 0.75), (0.5, 0.5), (0.5, 0.25), (0.5, 0.0)]
    model.sample(torch.tensor([6]), torch.Generator().manual_seed(0), SampleOptions(4).resolve(model))
    assert len(seen) == 4  # off by default
    bondless = untrained_model("tiny.yaml", QM9_VOCAB, overrides=["process.bonds=false"])
    with pytest.raises(ValueError, match="does not predict bonds"):
        SampleOptions.parse(4, "ancestral:connect=0.3").resolve(bondless)
