"""EGNN denoiser (Satorras et al. 2021; EDM's variant of Hoogeboom et al. 2022) with
symmetric bond (pair) features that are updated every layer and decoded to bond logits.

E(3)-equivariant: coordinates move along relative vectors weighted by invariant messages;
node and pair outputs are invariant.

Context (pocket) nodes join the graph with their own embedding; each molecule atom receives
messages from the context atoms of its graph within ``context_cutoff`` along edges that carry a
distance-only pair state. Context nodes and their pair states are embedded once and never
updated (messages flow from the pocket to the molecule only): the pocket is fixed, and on the
CPU the molecule-pocket edges would otherwise dominate the cost.

With ``self_cond`` the network also reads its previous clean estimate (self-conditioning): the
class probabilities of each node and pair join the node and pair embeddings, and the distance
of each pair in the previous coordinate estimate joins the pair embedding as a radial basis
(an invariant, so equivariance is kept).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from moldiff.graph import DenoiserOutput, NoisyGraph, SelfCond, bipartite_pairs, directed_edges
from moldiff.nn.base import sinusoidal_time_embedding


def mlp(d_in: int, d_hidden: int, d_out: int, act_last: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out)]
    if act_last:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class GaussianRBF(nn.Module):
    """Gaussian radial basis on [0, max_radius] Angstrom."""

    def __init__(self, num: int = 32, max_radius: float = 10.0):
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, max_radius, num))
        self.gamma = (num / max_radius) ** 2

    def forward(self, d: Tensor) -> Tensor:
        return torch.exp(-self.gamma * (d[:, None] - self.centers.to(d.dtype)) ** 2)


class EGNNLayer(nn.Module):
    """One equivariant layer: messages from (h_i, h_j, rbf(d_ij), e_ij), a gated sum into h,
    a bounded coordinate update and a symmetric pair-feature update."""

    def __init__(self, dim: int, pair_dim: int, num_rbf: int, coords_range: float, aggr_norm: float):
        super().__init__()
        self.msg = mlp(2 * dim + num_rbf + pair_dim, dim, dim, act_last=True)
        self.gate = nn.Sequential(nn.Linear(dim, 1), nn.Sigmoid())
        self.node = mlp(2 * dim, dim, dim)
        self.coord = mlp(dim, dim, 1)
        self.pair = mlp(dim, dim, pair_dim)
        self.norm_h = nn.LayerNorm(dim)
        self.norm_e = nn.LayerNorm(pair_dim)
        self.coords_range = coords_range
        self.aggr_norm = aggr_norm

    def forward(self, h: Tensor, x: Tensor, e: Tensor, edge_index: Tensor, edge_pair: Tensor, pair_index: Tensor,
                rbf: nn.Module, move: Tensor | None, live: tuple[int, int, int] | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """``live = (nodes, pairs, edges)``: only the leading nodes and pairs are updated, from the
        messages of the leading edges (the molecule's; context nodes and molecule-context pairs
        keep their embeddings). None: everything is live."""
        i, j = edge_index
        rel = x[i] - x[j]
        d_pair = (x[pair_index[0]] - x[pair_index[1]]).norm(dim=-1)
        d = d_pair[edge_pair]
        m = self.msg[1:](self._first_linear(h, d_pair, e, edge_index, edge_pair, rbf))
        n_live, p_live, e_live = live or (h.shape[0], e.shape[0], edge_index.shape[1])
        agg = scatter(m * self.gate(m), i, dim=0, dim_size=n_live, reduce="sum") / self.aggr_norm
        h_live = self.norm_h(h[:n_live] + self.node(torch.cat([h[:n_live], agg], dim=-1)))
        step = rel / (d[:, None] + 1.0) * torch.tanh(self.coord(m)) * self.coords_range
        dx = scatter(step, i, dim=0, dim_size=x.shape[0], reduce="sum") / self.aggr_norm
        x = x + (dx if move is None else dx * move[:, None].to(dx.dtype))
        e_msg = scatter(m[:e_live], edge_pair[:e_live], dim=0, dim_size=p_live, reduce="sum")
        e_live_state = self.norm_e(e[:p_live] + self.pair(e_msg))
        if live is None:  # no frozen part: no copies on the unconditional hot path
            return h_live, x, e_live_state
        return torch.cat([h_live, h[n_live:]]), x, torch.cat([e_live_state, e[p_live:]])

    def _first_linear(self, h: Tensor, d_pair: Tensor, e: Tensor, edge_index: Tensor, edge_pair: Tensor,
                      rbf: nn.Module) -> Tensor:
        """W [h_i, h_j, rbf(d_ij), e_ij] + b, computed as node and pair projections gathered onto
        edges: the same function as the concatenation, with far fewer per-edge FLOPs."""
        lin = self.msg[0]
        dim = h.shape[1]
        w_i, w_j, w_pair = lin.weight[:, :dim], lin.weight[:, dim:2 * dim], lin.weight[:, 2 * dim:]
        pair = torch.cat([rbf(d_pair), e], dim=-1) @ w_pair.T + lin.bias
        return (h @ w_i.T)[edge_index[0]] + (h @ w_j.T)[edge_index[1]] + pair[edge_pair]


class EGNNDenoiser(nn.Module):
    """Graph + t in, coordinate estimate and node/pair logits out (see :mod:`moldiff.graph`)."""

    supports_context = True
    supports_cond = True
    cond_weight = "embed_h.0.weight"  # the one weight whose input ends with the cond_in condition features

    def __init__(self, node_in: int, node_out: int, pair_in: int = 0, pair_out: int = 0,
                 hidden: int = 256, pair_hidden: int = 64, num_layers: int = 9, num_rbf: int = 32,
                 max_radius: float = 10.0, cutoff: float | None = None, time_dim: int = 32,
                 coords_range: float = 15.0, aggr_norm: float = 10.0, context_in: int = 0,
                 context_cutoff: float = 5.0, cond_in: int = 0, self_cond: bool = False):
        super().__init__()
        self.node_in, self.node_out, self.pair_in, self.pair_out = node_in, node_out, pair_in, pair_out
        self.context_in, self.context_cutoff, self.cond_in = context_in, context_cutoff, cond_in
        self.self_cond = bool(self_cond)
        self.cutoff = cutoff
        self.time_dim = time_dim
        self.rbf = GaussianRBF(num_rbf, max_radius)
        sc_node, sc_pair = (node_out, pair_out + num_rbf) if self.self_cond else (0, 0)
        self.embed_h = mlp(node_in + sc_node + time_dim + cond_in, hidden, hidden)
        self.embed_e = mlp(pair_in + sc_pair + num_rbf, pair_hidden, pair_hidden)
        self.layers = nn.ModuleList(EGNNLayer(hidden, pair_hidden, num_rbf, coords_range, aggr_norm)
                                    for _ in range(num_layers))
        self.out_h = mlp(hidden, hidden, node_out)
        self.out_pair = mlp(2 * hidden + pair_hidden + num_rbf, hidden, pair_out) if pair_out else None
        if context_in:
            self.embed_ctx = mlp(context_in + time_dim, hidden, hidden)
            self.embed_ctx_e = mlp(num_rbf, pair_hidden, pair_hidden)

    def forward(self, graph: NoisyGraph) -> DenoiserOutput:
        edge_index, edge_pair, cross, used = self._topology(graph)
        x0 = graph.pos
        n, num_pairs = x0.shape[0], graph.pair_index.shape[1]
        t_emb = sinusoidal_time_embedding(graph.t, self.time_dim)
        pi, pj = graph.pair_index
        d0 = (x0[pi] - x0[pj]).norm(dim=-1)
        sc_node, sc_pair = self._self_cond_features(graph)
        h = self.embed_h(torch.cat([graph.h, *sc_node, self._graph_embedding(graph, t_emb)[graph.batch]], dim=-1))
        pair_feats = [] if graph.pair_attr is None else [graph.pair_attr]
        e = self.embed_e(torch.cat(pair_feats + sc_pair + [self.rbf(d0)], dim=-1))
        x, pair_index, move, live = x0, graph.pair_index, graph.update_mask, None
        if cross is not None:
            live = (n, num_pairs, edge_index.shape[1])
            h, x, e, pair_index, move, edge_index, edge_pair = self._add_context(
                graph, t_emb, h, e, edge_index, edge_pair, move, cross, used)
        for layer in self.layers:
            h, x, e = layer(h, x, e, edge_index, edge_pair, pair_index, self.rbf, move, live)
        h, x, e = h[:n], x[:n], e[:num_pairs]
        pair = None
        if self.out_pair is not None:
            d = (x[pi] - x[pj]).norm(dim=-1)
            pair = self.out_pair(torch.cat([h[pi] + h[pj], h[pi] * h[pj], e, self.rbf(d)], dim=-1))
        return DenoiserOutput(pos=x, h=self.out_h(h), pair=pair)

    @torch.compiler.disable
    def _topology(self, graph: NoisyGraph) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """The index tensors of the message graph: directed molecule edges and their pairs and,
        with context, the molecule-context pairs within ``context_cutoff`` (molecule atom, local
        context index) and the context atoms they use (atoms with no edge cannot reach the
        molecule: leaving them out is exact, and cheaper). Their sizes depend on the data, so
        they are built outside any compiled region (``torch.compile`` of the denoiser then sees
        one graph after this call instead of a graph break at each such operation); indices
        carry no gradient."""
        edge_index, edge_pair = directed_edges(graph.pair_index, graph.pos, self.cutoff)
        if graph.context is None:
            return edge_index, edge_pair, None, None
        if not self.context_in:
            raise ValueError("this denoiser was built without context (context_in=0) but got context nodes")
        ctx = graph.context
        cross = bipartite_pairs(graph.batch, graph.pos, ctx.batch, ctx.pos, graph.num_graphs, self.context_cutoff)
        used, local = torch.unique(cross[1], return_inverse=True)
        return edge_index, edge_pair, torch.stack([cross[0], local + graph.pos.shape[0]]), used

    def _self_cond_features(self, graph: NoisyGraph) -> tuple[list[Tensor], list[Tensor]]:
        """Node and pair inputs from the previous estimate (zeros where a graph has none); empty
        lists for a network built without self-conditioning."""
        sc: SelfCond | None = graph.self_cond
        if not self.self_cond:
            if sc is not None:
                raise ValueError("this denoiser was built without self-conditioning but got a previous estimate")
            return [], []
        n, num_pairs, dtype = graph.pos.shape[0], graph.pair_index.shape[1], graph.pos.dtype
        if sc is None:
            node = graph.pos.new_zeros(n, self.node_out)
            pair = graph.pos.new_zeros(num_pairs, self.pair_out + self.rbf.centers.numel())
            return [node], [pair]
        keep = sc.present.to(dtype)
        pi, pj = graph.pair_index
        rbf = self.rbf((sc.pos[pi] - sc.pos[pj]).norm(dim=-1))
        pair = rbf if sc.pair is None else torch.cat([sc.pair.to(dtype), rbf], dim=-1)
        return [sc.h.to(dtype) * keep[graph.batch][:, None]], [pair * keep[graph.batch[pi]][:, None]]

    def _graph_embedding(self, graph: NoisyGraph, t_emb: Tensor) -> Tensor:
        """Per-graph inputs of every node: the time embedding and, for conditioned models, the
        condition features (zeros, the null condition, when ``graph.cond`` is None)."""
        if not self.cond_in:
            if graph.cond is not None:
                raise ValueError("this denoiser was built without conditions (cond_in=0) but got condition features")
            return t_emb
        cond = t_emb.new_zeros(graph.num_graphs, self.cond_in) if graph.cond is None else graph.cond.to(t_emb.dtype)
        return torch.cat([t_emb, cond], dim=-1)

    def _add_context(self, graph: NoisyGraph, t_emb: Tensor, h: Tensor, e: Tensor, edge_index: Tensor,
                     edge_pair: Tensor, move: Tensor | None, cross: Tensor, used: Tensor):
        """Append the ``used`` context nodes after the molecule nodes, and the molecule-context
        pairs ``cross`` after the molecule pairs, each one edge from the context atom to the
        molecule atom; context nodes are frozen in place."""
        ctx, n = graph.context, graph.pos.shape[0]
        ctx_h, ctx_pos = ctx.h[used], ctx.pos[used]
        h = torch.cat([h, self.embed_ctx(torch.cat([ctx_h, t_emb[ctx.batch[used]]], dim=-1))])
        x = torch.cat([graph.pos, ctx_pos])
        e = torch.cat([e, self.embed_ctx_e(self.rbf((x[cross[0]] - x[cross[1]]).norm(dim=-1)))])
        cross_id = torch.arange(cross.shape[1], device=cross.device) + graph.pair_index.shape[1]
        edge_index = torch.cat([edge_index, cross], dim=1)  # receiver: the molecule atom
        edge_pair = torch.cat([edge_pair, cross_id])
        moving = torch.ones(n, dtype=torch.bool, device=x.device) if move is None else move
        move = torch.cat([moving, torch.zeros(used.numel(), dtype=torch.bool, device=x.device)])
        return h, x, e, torch.cat([graph.pair_index, cross], dim=1), move, edge_index, edge_pair
