"""Every registered denoiser must be E(3)-equivariant, permutation-equivariant and
batch-independent (float64)."""
import pytest
import torch

from moldiff.config import DENOISERS
from moldiff.testing import assert_equivariant, assert_permutation_equivariant, random_graph

SMALL = {"egnn": dict(hidden=32, pair_hidden=16, num_layers=3),
         "e3nn": dict(hidden_scalars=16, hidden_vectors=4, num_layers=2)}


def _model(name, cutoff=None):
    torch.manual_seed(0)
    return DENOISERS[name](node_in=8, node_out=8, pair_in=4, pair_out=4, cutoff=cutoff, **SMALL[name]).double()


@pytest.mark.parametrize("name", sorted(DENOISERS))
@pytest.mark.parametrize("cutoff", [None, 2.5])
def test_e3_equivariance(name, cutoff, float64):
    graph = random_graph([4, 6, 7], 8, 4, seed=1)
    model = _model(name, cutoff)
    out = model(graph)
    assert (out.pos - graph.pos).abs().max() > 1e-4, "the network must move atoms"
    assert_equivariant(model, graph, reflect=True)


@pytest.mark.parametrize("name", sorted(DENOISERS))
def test_permutation_equivariance(name, float64):
    assert_permutation_equivariant(_model(name), random_graph([5, 3, 6], 8, 4, seed=2))


@pytest.mark.parametrize("name", sorted(DENOISERS))
def test_batch_independence_and_fixed_nodes(name, float64):
    model = _model(name)
    graph = random_graph([4, 6], 8, 4, seed=3)
    alone = random_graph([4, 6], 8, 4, seed=3)
    keep = alone.batch == 0
    alone.pos, alone.h, alone.batch = alone.pos[keep], alone.h[keep], alone.batch[keep]
    npair = 6
    alone.pair_index, alone.pair_attr = alone.pair_index[:, :npair], alone.pair_attr[:npair]
    alone.t, alone.num_graphs = alone.t[:1], 1
    full, part = model(graph), model(alone)
    torch.testing.assert_close(full.pos[keep], part.pos)
    torch.testing.assert_close(full.pair[:npair], part.pair)
    graph.update_mask = torch.rand(graph.pos.shape[0]) > 0.5
    out = model(graph)
    assert torch.equal(out.pos[~graph.update_mask], graph.pos[~graph.update_mask])
