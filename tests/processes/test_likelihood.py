"""The variational bound with Bayes-optimal denoisers approaches the known data entropy."""
import math

import torch
from oracle import P_BOND, P_TYPE, S0, OracleDenoiser, make_process

from moldiff.geometry import remove_com
from moldiff.processes.joint import MolState, Topology
from moldiff.processes.likelihood import nll_terms
from moldiff.processes.schedules import polynomial


def _entropy(p):
    p = p.double()
    return float(-(p * p.clamp_min(1e-300).log()).sum())


def test_bound_matches_entropy_of_synthetic_data(float64):
    proc = make_process(polynomial())
    n_mol, n = 4000, 4
    topo = Topology.from_sizes(torch.full((n_mol,), n))
    g = torch.Generator().manual_seed(0)
    N, P = n_mol * n, topo.pair_index.shape[1]
    pos = remove_com(torch.randn(N, 3, generator=g), topo.batch, n_mol) * S0
    x0 = MolState(pos, {"atom_type": torch.multinomial(P_TYPE, N, True, generator=g),
                        "charge": torch.ones(N, dtype=torch.long)},
                  torch.multinomial(P_BOND, P, True, generator=g))
    terms = nll_terms(proc, OracleDenoiser(proc), x0, topo, T=1000, generator=g)
    d = (n - 1) * 3
    exact = 0.5 * d * (math.log(2 * math.pi * S0 ** 2) + 1) + n * _entropy(P_TYPE) + (n * (n - 1) / 2) * _entropy(P_BOND)
    est = terms["nll"].mean().item()
    sem = terms["nll"].std().item() / math.sqrt(n_mol)
    assert est > exact - 4 * sem, (est, exact, sem)  # a bound: never (significantly) below the entropy
    assert est < exact + 0.05 * abs(exact) + 4 * sem, (est, exact, sem)  # and tight for T = 1000
    assert torch.isfinite(terms["prior"]).all() and (terms["prior"] < 1.0).all()


def test_perfect_denoiser_has_no_diffusion_cost(float64):
    proc = make_process(polynomial())
    topo = Topology.from_sizes(torch.tensor([3, 5]))
    pos = remove_com(torch.randn(8, 3), topo.batch, 2)
    x0 = MolState(pos, {"atom_type": torch.randint(0, 3, (8,)), "charge": torch.ones(8, dtype=torch.long)},
                  torch.randint(0, 3, (topo.pair_index.shape[1],)))

    class Perfect(torch.nn.Module):
        def forward(self, graph):
            from moldiff.graph import DenoiserOutput
            h = torch.cat([torch.nn.functional.one_hot(x0.nodes[k], 3) for k in ("atom_type", "charge")], -1) * 60.0
            return DenoiserOutput(pos, h, torch.nn.functional.one_hot(x0.bond, 3) * 60.0)

    terms = nll_terms(proc, Perfect(), x0, topo, T=100, generator=torch.Generator().manual_seed(1))
    assert terms["diffusion"].abs().max() < 1e-6
