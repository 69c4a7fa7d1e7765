"""Test helpers shipped with the library: random graphs and an E(3)/permutation equivariance check
that any :class:`~moldiff.graph.Denoiser` must pass."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from moldiff.geometry import random_rotations
from moldiff.graph import Context, Denoiser, NoisyGraph
from moldiff.processes.joint import Topology


def random_graph(sizes: list[int], node_dim: int, pair_dim: int, seed: int = 0,
                 dtype: torch.dtype = torch.float64, context_sizes: list[int] | None = None,
                 context_dim: int = 0) -> NoisyGraph:
    """A batch of molecules with random coordinates, soft one-hot node features and pair one-hots;
    with ``context_sizes``, each molecule also gets that many context atoms (a random "pocket"
    spread around it, features one-hot of size ``context_dim``)."""
    g = torch.Generator().manual_seed(seed)
    topo = Topology.from_sizes(torch.tensor(sizes))
    n, p = int(topo.ptr[-1]), topo.pair_index.shape[1]
    pos = torch.randn(n, 3, generator=g, dtype=dtype) * 1.5
    h = torch.softmax(torch.randn(n, node_dim, generator=g, dtype=dtype), -1)
    pair = None
    if pair_dim:
        pair = torch.nn.functional.one_hot(torch.randint(0, pair_dim, (p,), generator=g), pair_dim).to(dtype)
    t = torch.rand(len(sizes), generator=g, dtype=dtype)
    context = None
    if context_sizes is not None:
        c_batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(context_sizes))
        c_pos = torch.randn(c_batch.numel(), 3, generator=g, dtype=dtype) * 3.0
        c_h = torch.nn.functional.one_hot(torch.randint(0, context_dim, (c_batch.numel(),), generator=g),
                                          context_dim).to(dtype)
        context = Context(c_pos, c_h, c_batch)
    return NoisyGraph(pos, h, topo.batch, topo.pair_index, pair, t, len(sizes), context=context)


def transform(graph: NoisyGraph, rot: Tensor, shift: Tensor) -> NoisyGraph:
    """The graph (its context and previous estimate too) with coordinates mapped x -> x R^T + b
    (one R, b for the batch)."""
    ctx, sc = graph.context, graph.self_cond
    if ctx is not None:
        ctx = Context(ctx.pos @ rot.T + shift, ctx.h, ctx.batch)
    if sc is not None:
        sc = replace(sc, pos=sc.pos @ rot.T + shift)
    return replace(graph, pos=graph.pos @ rot.T + shift, context=ctx, self_cond=sc)


def assert_equivariant(model: Denoiser, graph: NoisyGraph, reflect: bool = True, atol: float = 1e-8) -> None:
    """Check E(3) equivariance of positions and invariance of node/pair outputs.

    Checks a random rotation, optionally an improper one (reflection), and a translation.
    """
    out = model(graph)
    for improper in ([False, True] if reflect else [False]):
        rot = random_rotations(1, dtype=graph.pos.dtype, reflect=improper)[0]
        shift = torch.randn(3, dtype=graph.pos.dtype) * 3
        out2 = model(transform(graph, rot, shift))
        torch.testing.assert_close(out2.pos, out.pos @ rot.T + shift, atol=atol, rtol=1e-7)
        torch.testing.assert_close(out2.h, out.h, atol=atol, rtol=1e-7)
        if out.pair is not None:
            torch.testing.assert_close(out2.pair, out.pair, atol=atol, rtol=1e-7)


def assert_permutation_equivariant(model: Denoiser, graph: NoisyGraph, seed: int = 0, atol: float = 1e-8) -> None:
    """Permuting nodes within each molecule permutes node outputs and leaves pair outputs
    attached to the same (unordered) pairs."""
    g = torch.Generator().manual_seed(seed)
    n = graph.pos.shape[0]
    perm = torch.arange(n)
    for b in range(graph.num_graphs):
        idx = (graph.batch == b).nonzero().flatten()
        perm[idx] = idx[torch.randperm(idx.numel(), generator=g)]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    new_pairs = inv[graph.pair_index]
    permuted = replace(graph, pos=graph.pos[perm], h=graph.h[perm], batch=graph.batch[perm], pair_index=new_pairs,
                       update_mask=None if graph.update_mask is None else graph.update_mask[perm])
    out, out2 = model(graph), model(permuted)
    torch.testing.assert_close(out2.pos, out.pos[perm], atol=atol, rtol=1e-7)
    torch.testing.assert_close(out2.h, out.h[perm], atol=atol, rtol=1e-7)
    if out.pair is not None:
        torch.testing.assert_close(out2.pair, out.pair, atol=atol, rtol=1e-7)


def untrained_model(config: str, vocab, seed: int = 0, overrides: list[str] = (), conditions: dict | None = None):
    """A :class:`~moldiff.model.MolDiffModel` from ``configs/<config>`` (with dotted
    ``overrides``) with random weights and flat marginals: sampler guarantees (fixed atoms, steric
    limits) must hold for any network. ``conditions``: property statistics of a property model."""
    from moldiff.config import load_config
    from moldiff.model import MolDiffModel

    cfg = load_config(f"configs/{config}", list(overrides))
    marginals = {"atom_type": [1 / len(vocab.elements)] * len(vocab.elements), "charge": [0.1, 0.8, 0.1],
                 "bond": [0.7, 0.2, 0.05, 0.05]}
    torch.manual_seed(seed)
    return MolDiffModel(cfg, vocab, marginals, [0.0] * 6 + [1.0] * 6, conditions=conditions)
