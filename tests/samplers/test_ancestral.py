"""The ancestral sampler driven by Bayes-optimal denoisers must reproduce the data distribution."""
import torch
from oracle import P_BOND, P_TYPE, S0, OracleDenoiser
from oracle import make_process as _process

from moldiff.processes.joint import Topology
from moldiff.processes.schedules import cosine, polynomial
from moldiff.samplers import ancestral_step
from moldiff.samplers.loop import reverse_loop, uniform_times


def expected_final_variance(schedule, times):
    """Variance of the sampler's output for Gaussian data N(0, S0^2) and the exact linear
    x0-estimate, propagated step by step in closed form (the point estimate makes a
    finite-step sampler slightly under-dispersed; this is the exact discretised value)."""
    v = 1.0
    for k in range(len(times) - 1):
        t, s = times[k:k + 1], times[k + 1:k + 2]
        a_t, s2_t = schedule.alpha(t).item(), schedule.sigma(t).item() ** 2
        c = a_t * S0 ** 2 / (a_t ** 2 * S0 ** 2 + s2_t)  # x0_hat = c x_t
        if k == len(times) - 2:
            return c ** 2 * v
        ab_s, ab_t = schedule.alpha_bar(s).item(), schedule.alpha_bar(t).item()
        a_ts2, s_s2 = ab_t / ab_s, 1 - ab_s
        coef_x0 = ab_s ** 0.5 * (1 - a_ts2) / s2_t
        coef_xt = a_ts2 ** 0.5 * s_s2 / s2_t
        v = (coef_x0 * c + coef_xt) ** 2 * v + (1 - a_ts2) * s_s2 / s2_t


def test_oracle_sampling_recovers_data_distribution(float64):
    for schedule in (cosine(), polynomial()):
        proc = _process(schedule)
        n_mol, n_atoms, n_steps = 2000, 4, 50
        topo = Topology.from_sizes(torch.full((n_mol,), n_atoms))
        g = torch.Generator().manual_seed(0)
        times = uniform_times(n_steps)
        x = reverse_loop(proc, OracleDenoiser(proc), ancestral_step, topo, times, torch.zeros(1), g)
        # isotropic in the (n-1)*3 dim zero-CoM subspace -> per-coordinate variance v (n-1)/n
        v = expected_final_variance(schedule, times)
        assert 0.8 * S0 ** 2 < v < S0 ** 2
        var = x.pos.var().item()
        assert abs(var / (v * (n_atoms - 1) / n_atoms) - 1) < 0.04, (var, v)
        freq = torch.bincount(x.nodes["atom_type"], minlength=3).double() / x.nodes["atom_type"].numel()
        assert torch.allclose(freq, P_TYPE.double(), atol=0.015), freq
        assert (x.nodes["charge"] == 1).all()
        bfreq = torch.bincount(x.bond, minlength=3).double() / x.bond.numel()
        assert torch.allclose(bfreq, P_BOND.double(), atol=0.015), bfreq


def test_sampling_is_reproducible_and_fixed_nodes_stay(float64):
    proc = _process(cosine())
    topo = Topology.from_sizes(torch.tensor([3, 5]))
    oracle = OracleDenoiser(proc)
    run = lambda seed: reverse_loop(proc, oracle, ancestral_step, topo, uniform_times(20), torch.zeros(1),  # noqa: E731
                                    torch.Generator().manual_seed(seed))
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a.pos, b.pos) and torch.equal(a.bond, b.bond)
    assert not torch.equal(a.pos, c.pos)
