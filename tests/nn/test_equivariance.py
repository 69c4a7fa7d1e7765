"""Every registered denoiser must be E(3)-equivariant, permutation-equivariant and
batch-independent (float64)."""
import pytest
import torch

from moldiff.config import DENOISERS
from moldiff.testing import (
    assert_equivariant,
    assert_permutation_equivariant,
    random_graph,
)

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


def _pocket_egnn(cutoff=5.0):
    torch.manual_seed(0)
    return DENOISERS["egnn"](node_in=8, node_out=8, pair_in=4, pair_out=4, context_in=6, context_cutoff=cutoff,
                             **SMALL["egnn"]).double()


def test_pocket_conditioned_egnn_is_se3_equivariant(float64):
    """Rotating and translating molecule and pocket together rotates and translates the predictions."""
    graph = random_graph([4, 6, 5], 8, 4, seed=4, context_sizes=[30, 25, 40], context_dim=6)
    model = _pocket_egnn()
    out = model(graph)
    assert out.pos.shape == graph.pos.shape and out.h.shape == (15, 8)
    assert_equivariant(model, graph, reflect=True)
    assert_permutation_equivariant(model, graph, seed=5)


def test_pocket_changes_predictions_only_within_reach(float64):
    """The pocket is seen (moving it changes outputs) but only through edges within the cutoff."""
    graph = random_graph([5], 8, 4, seed=6, context_sizes=[40], context_dim=6)
    model = _pocket_egnn(cutoff=4.0)
    base = model(graph)
    far = graph.context.pos + torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64)
    moved = random_graph([5], 8, 4, seed=6, context_sizes=[40], context_dim=6)
    moved.context.pos = far
    assert (model(moved).pos - base.pos).abs().max() > 1e-6  # the pocket mattered
    without = random_graph([5], 8, 4, seed=6, context_sizes=[0], context_dim=6)
    torch.testing.assert_close(model(moved).pos, model(without).pos)  # out of reach = no pocket


def test_bipartite_pairs_match_brute_force():
    from moldiff.graph import bipartite_pairs

    g = torch.Generator().manual_seed(0)
    batch_a, batch_b = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 1, 2, 2])
    pos_a, pos_b = torch.randn(6, 3, generator=g) * 2, torch.randn(6, 3, generator=g) * 2
    got = {tuple(p) for p in bipartite_pairs(batch_a, pos_a, batch_b, pos_b, 3, 2.5).T.tolist()}
    want = {(i, j) for i in range(6) for j in range(6)
            if batch_a[i] == batch_b[j] and (pos_a[i] - pos_b[j]).norm() <= 2.5}
    assert got == want and want


def test_unreachable_pocket_atoms_do_not_change_predictions(float64):
    """Pocket atoms beyond the cutoff of every ligand atom are dropped exactly: the same outputs as
    a pocket that only has the reachable atoms."""
    graph = random_graph([5, 4], 8, 4, seed=7, context_sizes=[30, 20], context_dim=6)
    model = _pocket_egnn(cutoff=3.0)
    ctx = graph.context
    d = torch.cdist(ctx.pos, graph.pos)
    same_graph = ctx.batch[:, None] == graph.batch[None, :]
    near = ((d <= 3.0) & same_graph).any(dim=1)
    assert 0 < near.sum() < len(near)
    trimmed = random_graph([5, 4], 8, 4, seed=7, context_sizes=[30, 20], context_dim=6)
    trimmed.context.pos, trimmed.context.h, trimmed.context.batch = ctx.pos[near], ctx.h[near], ctx.batch[near]
    out, out2 = model(graph), model(trimmed)
    torch.testing.assert_close(out.pos, out2.pos, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.pair, out2.pair, rtol=0, atol=1e-12)
