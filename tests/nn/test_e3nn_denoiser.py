"""Symmetry, masking, batching and gradient checks for :class:`E3nnDenoiser` (float64)."""
from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor

from moldiff.graph import DenoiserOutput, NoisyGraph
from moldiff.nn.e3nn_denoiser import E3nnDenoiser

NODE_IN, NODE_OUT, PAIR_IN, PAIR_OUT = 5, 3, 4, 3
SIZES = (4, 6, 7)
DTYPE = torch.float64


def _make_graph(sizes: tuple[int, ...] = SIZES, seed: int = 0) -> NoisyGraph:
    """Random batch: Gaussian positions and features, one-hot pair attributes."""
    gen = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    pairs, offset = [], 0
    for size in sizes:
        pairs.append(torch.triu_indices(size, size, offset=1) + offset)
        offset += size
    pair_index = torch.cat(pairs, dim=1)
    categories = torch.randint(PAIR_IN, (pair_index.shape[1],), generator=gen)
    return NoisyGraph(
        pos=1.5 * torch.randn(n, 3, generator=gen, dtype=DTYPE),
        h=torch.randn(n, NODE_IN, generator=gen, dtype=DTYPE),
        batch=batch,
        pair_index=pair_index,
        pair_attr=torch.nn.functional.one_hot(categories, PAIR_IN).to(DTYPE),
        t=torch.rand(len(sizes), generator=gen, dtype=DTYPE),
        num_graphs=len(sizes),
    )


def _with(graph: NoisyGraph, **changes: object) -> NoisyGraph:
    """Shallow copy of ``graph`` with some fields replaced."""
    fields = dict(vars(graph))
    fields.update(changes)
    return NoisyGraph(**fields)


def _model(**kwargs: object) -> E3nnDenoiser:
    torch.manual_seed(0)
    return E3nnDenoiser(NODE_IN, NODE_OUT, PAIR_IN, PAIR_OUT, hidden_scalars=16,
                        hidden_vectors=4, num_layers=2, **kwargs).to(DTYPE)


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    """The graphs are tiny; extra intra-op threads only add OpenMP contention, which made
    these tests ~30x slower on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> E3nnDenoiser:
    return _model()


@pytest.fixture(scope="module")
def cutoff_model(model: E3nnDenoiser) -> E3nnDenoiser:
    """Same weights as ``model`` but messages only within the median pair distance."""
    graph = _make_graph()
    i, j = graph.pair_index
    dist = (graph.pos[i] - graph.pos[j]).norm(dim=-1)
    clipped = copy.deepcopy(model)
    clipped.cutoff = float(dist.median())
    return clipped


def _orthogonal(reflect: bool, seed: int = 1) -> Tensor:
    """Random rotation (det +1) or improper rotation (det -1)."""
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=DTYPE))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflect:
        q = q @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=DTYPE))
    return q


def _close(actual: Tensor, expected: Tensor, rel: float = 1e-9) -> None:
    scale = expected.detach().abs().max().clamp(min=1.0)
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=rel * float(scale))


def _assert_nontrivial(out: DenoiserOutput, graph: NoisyGraph) -> None:
    assert (out.pos - graph.pos).abs().max() > 1e-4
    assert out.h.std() > 1e-4 and out.pair is not None and out.pair.std() > 1e-4


def _assert_e3_equivariant(net: E3nnDenoiser, reflect: bool) -> None:
    graph = _make_graph()
    rot = _orthogonal(reflect)
    shift = torch.tensor([3.0, -2.0, 5.0], dtype=DTYPE)
    out = net(graph)
    moved = net(_with(graph, pos=graph.pos @ rot.T + shift))
    _assert_nontrivial(out, graph)
    _close(moved.pos, out.pos @ rot.T + shift)
    _close(moved.h, out.h)
    _close(moved.pair, out.pair)


def test_output_shapes(model: E3nnDenoiser) -> None:
    graph = _make_graph()
    out = model(graph)
    assert out.pos.shape == (sum(SIZES), 3)
    assert out.h.shape == (sum(SIZES), NODE_OUT)
    assert out.pair.shape == (graph.pair_index.shape[1], PAIR_OUT)
    no_pairs = E3nnDenoiser(NODE_IN, NODE_OUT, hidden_scalars=8, hidden_vectors=2,
                            num_layers=1, lmax=1).to(DTYPE)
    assert no_pairs(_with(graph, pair_attr=None)).pair is None


@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
def test_e3_equivariance(model: E3nnDenoiser, reflect: bool) -> None:
    _assert_e3_equivariant(model, reflect)


def test_reflection_is_not_ignored(model: E3nnDenoiser) -> None:
    """Guard against a degenerate displacement: a mirror must move the prediction."""
    graph = _make_graph()
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=DTYPE))
    out = model(graph)
    mirrored = model(_with(graph, pos=graph.pos @ mirror))
    assert (mirrored.pos - out.pos).abs().max() > 1e-4


def test_node_permutation_equivariance(model: E3nnDenoiser) -> None:
    graph = _make_graph()
    gen = torch.Generator().manual_seed(2)
    perm = torch.cat([torch.nonzero(graph.batch == g).squeeze(1)[torch.randperm(size, generator=gen)]
                      for g, size in enumerate(SIZES)])
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    permuted = _with(graph, pos=graph.pos[perm], h=graph.h[perm],
                     pair_index=inverse[graph.pair_index])
    assert (permuted.pair_index[0] > permuted.pair_index[1]).any()
    out, out_p = model(graph), model(permuted)
    _close(out_p.pos, out.pos[perm])
    _close(out_p.h, out.h[perm])
    _close(out_p.pair, out.pair)


def test_pair_output_symmetric_in_endpoints(model: E3nnDenoiser) -> None:
    graph = _make_graph()
    out = model(graph)
    swapped = model(_with(graph, pair_index=graph.pair_index.flip(0)))
    _close(swapped.pair, out.pair)
    _close(swapped.pos, out.pos)


def test_update_mask_freezes_positions(model: E3nnDenoiser) -> None:
    graph = _make_graph()
    mask = torch.rand(graph.pos.shape[0], generator=torch.Generator().manual_seed(3)) < 0.5
    assert mask.any() and (~mask).any()
    out = model(_with(graph, update_mask=mask))
    assert torch.equal(out.pos[~mask], graph.pos[~mask])
    assert (out.pos[mask] - graph.pos[mask]).abs().max() > 1e-4


@pytest.mark.parametrize("mol", [0, 1])
def test_batching_independence(model: E3nnDenoiser, mol: int) -> None:
    graph = _make_graph()
    nodes = torch.nonzero(graph.batch == mol).squeeze(1)
    pairs = graph.batch[graph.pair_index[0]] == mol
    alone = _with(graph, pos=graph.pos[nodes], h=graph.h[nodes],
                  batch=torch.zeros(len(nodes), dtype=torch.long),
                  pair_index=graph.pair_index[:, pairs] - nodes[0],
                  pair_attr=graph.pair_attr[pairs], t=graph.t[mol:mol + 1], num_graphs=1)
    out, out_alone = model(graph), model(alone)
    _close(out_alone.pos, out.pos[nodes])
    _close(out_alone.h, out.h[nodes])
    _close(out_alone.pair, out.pair[pairs])


def test_gradients_flow_to_all_parameters(model: E3nnDenoiser) -> None:
    model.zero_grad()
    out = model(_make_graph())
    loss = out.pos.pow(2).mean() + out.h.pow(2).mean() + out.pair.pow(2).mean()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().sum() > 0 for g in grads.values())
    model.zero_grad()


def test_cutoff_changes_output_but_stays_equivariant(model: E3nnDenoiser,
                                                     cutoff_model: E3nnDenoiser) -> None:
    graph = _make_graph()
    full, clipped = model(graph), cutoff_model(graph)
    assert (full.pos - clipped.pos).abs().max() > 1e-4
    assert (full.h - clipped.h).abs().max() > 1e-4
    for reflect in (False, True):
        _assert_e3_equivariant(cutoff_model, reflect)
