"""An E(3)-equivariant message-passing denoiser built on e3nn (NequIP-style).

Node states are irreps-typed (``S x0e + V x1o + V x1e``). Each layer sends messages along
both directions of every pair in ``graph.pair_index`` (optionally only within ``cutoff``):
a channel-wise ("uvu") tensor product of the sender state with the spherical harmonics of
the edge vector, weighted per edge by an MLP of a radial basis and the pair features. The
sum of messages goes through a linear mix, a time-conditioned gated nonlinearity and a
residual update. Heads read invariant node logits, a ``1o`` displacement per node and
swap-symmetric pair logits. Every input enters through relative vectors, so the network is
translation invariant and only the output ``pos`` moves with the input frame.
"""
from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import FullyConnectedNet, Gate
from torch import Tensor, nn

from moldiff.graph import DenoiserOutput, NoisyGraph
from moldiff.nn.base import sinusoidal_time_embedding

_EPS = 1e-12


def _safe_norm(vec: Tensor) -> Tensor:
    """Euclidean norm with a finite gradient at zero (coincident noisy atoms)."""
    return torch.sqrt(vec.pow(2).sum(-1) + _EPS)


def _mlp(dims: list[int]) -> nn.Sequential:
    """Plain SiLU MLP for invariant (scalar) features."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-2], dims[1:-1]):
        layers += [nn.Linear(d_in, d_out), nn.SiLU()]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


def _uvu_tensor_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps,
                        keep: o3.Irreps) -> o3.TensorProduct:
    """Channel-wise tensor product ``irreps_in x irreps_sh`` restricted to the irreps in
    ``keep``, with per-edge (external) weights; cheaper than a fully connected product and
    channels are mixed afterwards by an ``o3.Linear``."""
    wanted = {ir for _, ir in keep}
    irreps_out: list[tuple[int, o3.Irrep]] = []
    instructions: list[tuple[int, int, int, str, bool]] = []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    instructions.append((i, j, len(irreps_out), "uvu", True))
                    irreps_out.append((mul, ir_out))
    return o3.TensorProduct(irreps_in, irreps_sh, o3.Irreps(irreps_out), instructions,
                            internal_weights=False, shared_weights=False)


class _Interaction(nn.Module):
    """One message-passing layer: tensor-product messages, linear mix, self connection,
    time-conditioned gate and residual update."""

    def __init__(self, irreps_node: o3.Irreps, irreps_sh: o3.Irreps, edge_dim: int,
                 time_dim: int, num_scalars: int, num_vectors: int) -> None:
        super().__init__()
        self.gate = Gate(
            f"{num_scalars}x0e", [nn.functional.silu],
            f"{2 * num_vectors}x0e", [torch.sigmoid],
            f"{num_vectors}x1o + {num_vectors}x1e",
        )
        self.num_gate_scalars = num_scalars + 2 * num_vectors
        self.pre = o3.Linear(irreps_node, irreps_node)
        self.tp = _uvu_tensor_product(irreps_node, irreps_sh, irreps_node)
        self.edge_mlp = FullyConnectedNet([edge_dim, 64, self.tp.weight_numel],
                                          nn.functional.silu)
        self.post = o3.Linear(self.tp.irreps_out, self.gate.irreps_in)
        self.self_connection = o3.Linear(irreps_node, self.gate.irreps_in)
        self.time = nn.Linear(time_dim, self.num_gate_scalars)

    def forward(self, x: Tensor, t_emb: Tensor, sh: Tensor, edge_feat: Tensor,
                envelope: Tensor, src: Tensor, dst: Tensor, inv_norm: Tensor) -> Tensor:
        """Update node states ``x`` [N, irreps_node]; ``inv_norm`` [N, 1] rescales the
        message sum by the (smooth) in-degree."""
        weights = self.edge_mlp(edge_feat) * envelope[:, None]
        messages = self.tp(self.pre(x)[src], sh, weights)
        agg = torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype, device=x.device)
        agg = agg.index_add(0, dst, messages) * inv_norm
        update = self.post(agg) + self.self_connection(x)
        scalars = update[:, :self.num_gate_scalars] + self.time(t_emb)
        update = torch.cat([scalars, update[:, self.num_gate_scalars:]], dim=-1)
        return x + self.gate(update)


class E3nnDenoiser(nn.Module):
    """E(3)-equivariant denoiser: node logits, x0 coordinates and symmetric pair logits.

    Takes no pocket context yet (``context_in`` = 0); pocket models use the EGNN.
    """

    context_in = 0
    supports_context = False
    cond_in = 0
    supports_cond = False
    self_cond = False

    def __init__(self, node_in: int, node_out: int, pair_in: int = 0, pair_out: int = 0,
                 hidden_scalars: int = 64, hidden_vectors: int = 16, num_layers: int = 4,
                 lmax: int = 2, cutoff: float | None = None, num_radial: int = 16,
                 max_radius: float = 10.0, time_dim: int = 16) -> None:
        super().__init__()
        self.node_in, self.node_out = node_in, node_out
        self.pair_in, self.pair_out = pair_in, pair_out
        self.cutoff, self.num_radial = cutoff, num_radial
        self.max_radius, self.time_dim = max_radius, time_dim
        self.hidden_scalars = hidden_scalars

        irreps_node = o3.Irreps(f"{hidden_scalars}x0e + {hidden_vectors}x1o + {hidden_vectors}x1e")
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.num_vector_dims = irreps_node.dim - hidden_scalars
        self.embed = _mlp([node_in + time_dim, hidden_scalars, hidden_scalars])
        self.layers = nn.ModuleList(
            _Interaction(irreps_node, self.irreps_sh, num_radial + pair_in, time_dim,
                         hidden_scalars, hidden_vectors)
            for _ in range(num_layers)
        )
        self.node_head = _mlp([hidden_scalars, hidden_scalars, node_out])
        self.displacement_head = o3.Linear(irreps_node, "1x1o")
        self.pair_head = (
            _mlp([2 * hidden_scalars + num_radial + pair_in, hidden_scalars, pair_out])
            if pair_out > 0 else None
        )

    def _radial(self, dist: Tensor) -> Tensor:
        """Smooth Gaussian basis of distances, scaled to unit second moment per entry."""
        return soft_one_hot_linspace(dist, 0.0, self.max_radius, self.num_radial,
                                     basis="gaussian", cutoff=False) * math.sqrt(self.num_radial)

    def _pair_features(self, graph: NoisyGraph, radial: Tensor) -> Tensor:
        """Radial basis concatenated with the pair attributes (when modelled)."""
        if self.pair_in == 0:
            return radial
        if graph.pair_attr is None:
            raise ValueError(f"pair_in={self.pair_in} but graph.pair_attr is None")
        return torch.cat([radial, graph.pair_attr], dim=-1)

    def _edges(self, graph: NoisyGraph, pair_feat: Tensor) -> tuple[Tensor, ...]:
        """Directed edges (both directions of each pair) within the cutoff, with their
        spherical harmonics, invariant features and smooth cosine cutoff envelope."""
        i, j = graph.pair_index
        src, dst = torch.cat([i, j]), torch.cat([j, i])
        feat = torch.cat([pair_feat, pair_feat])
        vec = graph.pos[src] - graph.pos[dst]
        dist = _safe_norm(vec)
        if self.cutoff is None:
            envelope = torch.ones_like(dist)
        else:
            keep = dist < self.cutoff
            src, dst, feat, vec, dist = src[keep], dst[keep], feat[keep], vec[keep], dist[keep]
            envelope = 0.5 * (torch.cos(math.pi * dist / self.cutoff) + 1.0)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True,
                                    normalization="component")
        return src, dst, sh, feat, envelope

    def forward(self, graph: NoisyGraph) -> DenoiserOutput:
        """Predict x0 coordinates, node logits and pair logits for a noisy batch."""
        if graph.context is not None:
            raise ValueError("the e3nn denoiser does not take pocket context; use model.name=egnn")
        num_nodes = graph.pos.shape[0]
        t_emb = sinusoidal_time_embedding(graph.t.to(graph.pos.dtype), self.time_dim)[graph.batch]
        i, j = graph.pair_index
        pair_feat = self._pair_features(graph, self._radial(_safe_norm(graph.pos[i] - graph.pos[j])))
        src, dst, sh, edge_feat, envelope = self._edges(graph, pair_feat)

        degree = torch.zeros(num_nodes, dtype=envelope.dtype, device=envelope.device)
        degree = degree.index_add(0, dst, envelope)
        inv_norm = degree.clamp(min=1.0).rsqrt()[:, None]

        scalars = self.embed(torch.cat([graph.h, t_emb], dim=-1))
        x = torch.cat([scalars, scalars.new_zeros(num_nodes, self.num_vector_dims)], dim=-1)
        for layer in self.layers:
            x = layer(x, t_emb, sh, edge_feat, envelope, src, dst, inv_norm)

        pos = graph.pos + self.displacement_head(x)
        if graph.update_mask is not None:
            pos = torch.where(graph.update_mask[:, None], pos, graph.pos)
        s = x[:, :self.hidden_scalars]
        pair = None
        if self.pair_head is not None:
            pair = self.pair_head(torch.cat([s[i] + s[j], s[i] * s[j], pair_feat], dim=-1))
        return DenoiserOutput(pos=pos, h=self.node_head(s), pair=pair)
