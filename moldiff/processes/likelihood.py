"""Monte-Carlo estimate of the variational bound (negative log-likelihood, nats per molecule)
of the joint process with T discrete steps t_k = k / T (Ho et al. 2020; Austin et al. 2021):

    -log p(x0 | N) <= KL(q(x_T | x0) || p(x_T)) + sum_{k=2..T} E KL(q(x_{k-1} | x_k, x0) || p(x_{k-1} | x_k))
                      - E log p(x0 | x_1)

The middle sum is estimated by (T - 1) times the KL at one uniformly drawn k per molecule.
Coordinates live in the zero-CoM subspace ((n - 1) * 3 dimensions, Angstrom units); the
reconstruction term uses N(x0; x0_hat, sigma_1^2 / alpha_1^2). Categorical fields must be D3PM.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from moldiff.geometry import remove_com, subspace_dof
from moldiff.graph import Denoiser
from moldiff.processes.categorical import CategoricalDiffusion
from moldiff.processes.gaussian import gaussian_posterior
from moldiff.processes.joint import JointDiffusion, MolState, Topology


def _per_graph(values: Tensor, index: Tensor, num_graphs: int) -> Tensor:
    return scatter(values, index, dim=0, dim_size=num_graphs, reduce="sum")


def _categorical_kl(p: CategoricalDiffusion, x0: Tensor, x_t: Tensor, out: Tensor, s: Tensor, t: Tensor) -> Tensor:
    """KL(q(x_s | x_t, x0) || p(x_s | x_t)) per row."""
    onehot = torch.nn.functional.one_hot(x0, p.num_classes).double()
    log_q = p.posterior_log_probs(x_t, torch.log(onehot.clamp_min(1e-300)), s.double(), t.double())
    log_p = p.posterior_log_probs(x_t, torch.log_softmax(out.double(), -1), s.double(), t.double())
    q = log_q.exp()
    return (q * (log_q - log_p)).sum(-1).clamp_min(0)


def _categorical_prior_kl(p: CategoricalDiffusion, x0: Tensor, t: Tensor) -> Tensor:
    q = p.q_probs(x0, t.double())
    m = p.m.to(q)
    return (q * (q.clamp_min(1e-300).log() - m.log())).sum(-1)


@torch.no_grad()
def nll_terms(process: JointDiffusion, model: Denoiser, x0: MolState, topo: Topology, T: int = 1000,
              generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Per-graph bound terms in nats: 'prior', 'diffusion', 'reconstruction' and their sum 'nll'."""
    for name, p in {**process.nodes, **({"bond": process.bond} if process.bond else {})}.items():
        if not isinstance(p, CategoricalDiffusion):
            raise ValueError(f"the likelihood bound needs D3PM categorical fields; {name!r} is {type(p).__name__}")
    G, dev = topo.num_graphs, x0.pos.device
    b, pb = topo.batch, topo.pair_batch
    dof = subspace_dof(b, G, topo.move)
    sch = process.schedule
    ones = torch.ones(G, device=dev, dtype=x0.pos.dtype)
    # prior at t = 1
    t1 = ones
    a, s2 = sch.alpha(t1)[b, None], (sch.sigma(t1) ** 2)[b, None]
    prior = 0.5 * (_per_graph((a ** 2 * x0.pos ** 2).sum(-1), b, G) + dof * (s2[0] - 1 - torch.log(s2[0])))
    prior = prior + sum(_per_graph(_categorical_prior_kl(p, x0.nodes[k], t1[b]), b, G) for k, p in process.nodes.items())
    if process.bond is not None:
        prior = prior + _per_graph(_categorical_prior_kl(process.bond, x0.bond, t1[pb]), pb, G)
    # one diffusion KL per graph at a random step k in {2..T}
    k = torch.randint(2, T + 1, (G,), generator=generator, device=generator.device if generator else dev).to(dev)
    t, s = k.to(x0.pos.dtype) / T, (k - 1).to(x0.pos.dtype) / T
    x_t, _ = process.q_sample(x0, topo, t, generator)
    pred = process.predict(model, x_t, topo, t)
    post = gaussian_posterior(sch, x0.pos, x_t.pos, s[b], t[b])
    post_hat = gaussian_posterior(sch, remove_com(pred.pos, b, G, topo.move), x_t.pos, s[b], t[b])
    diff = _per_graph(((post.mean - post_hat.mean) ** 2).sum(-1) / (2 * post.var[:, 0]), b, G)
    for key, p in process.nodes.items():
        diff = diff + _per_graph(_categorical_kl(p, x0.nodes[key], x_t.nodes[key], pred.nodes[key], s[b], t[b]), b, G)
    if process.bond is not None:
        diff = diff + _per_graph(_categorical_kl(process.bond, x0.bond, x_t.bond, pred.bond, s[pb], t[pb]), pb, G)
    diff = (T - 1) * diff
    # reconstruction at t_1 = 1 / T
    t = ones / T
    x_t, _ = process.q_sample(x0, topo, t, generator)
    pred = process.predict(model, x_t, topo, t)
    var = (sch.sigma(t) ** 2 / sch.alpha_bar(t))[0]
    sq = ((x0.pos - remove_com(pred.pos, b, G, topo.move)) ** 2).sum(-1)
    rec = _per_graph(sq, b, G) / (2 * var) + 0.5 * dof * math.log(2 * math.pi) + 0.5 * dof * torch.log(var)
    for key, p in process.nodes.items():
        rec = rec + _per_graph(p.loss(pred.nodes[key], x0.nodes[key]).to(rec.dtype), b, G)
    if process.bond is not None:
        rec = rec + _per_graph(process.bond.loss(pred.bond, x0.bond).to(rec.dtype), pb, G)
    terms = {"prior": prior, "diffusion": diff.to(prior.dtype), "reconstruction": rec.to(prior.dtype)}
    terms["nll"] = terms["prior"] + terms["diffusion"] + terms["reconstruction"]
    return terms
