import torch

from moldiff.geometry import com, remove_com, subspace_dof
from moldiff.processes.gaussian import CoordinateDiffusion, gaussian_posterior
from moldiff.processes.schedules import cosine, polynomial


def _batch():
    sizes = torch.tensor([3, 5, 4])
    batch = torch.repeat_interleave(torch.arange(3), sizes)
    return batch, 3


def test_posterior_matches_bayes_rule_closed_form(float64):
    sch = polynomial()
    n = 7
    x0, xt = torch.randn(n, 3), torch.randn(n, 3)
    s, t = torch.full((n,), 0.3), torch.full((n,), 0.55)
    post = gaussian_posterior(sch, x0, xt, s, t)
    ab_s, ab_t = sch.alpha_bar(s)[:, None], sch.alpha_bar(t)[:, None]
    a_ts2 = ab_t / ab_s
    s_ts2 = 1 - a_ts2
    # product of q(x_t | x_s) = N(a_ts x_s, s_ts2) and q(x_s | x_0) = N(sqrt(ab_s) x0, 1 - ab_s)
    prec = 1 / (1 - ab_s) + a_ts2 / s_ts2
    mean = (ab_s.sqrt() * x0 / (1 - ab_s) + a_ts2.sqrt() * xt / s_ts2) / prec
    assert torch.allclose(post.var, (1 / prec).expand_as(post.var))
    assert torch.allclose(post.mean, mean)


def test_posterior_at_s_zero_returns_x0(float64):
    sch = cosine()
    x0, xt = torch.randn(4, 3), torch.randn(4, 3)
    post = gaussian_posterior(sch, x0, xt, torch.zeros(4), torch.full((4,), 0.7))
    assert torch.allclose(post.mean, x0, atol=1e-4) and post.var.max() < 1e-6


def test_marginal_moments_monte_carlo():
    torch.manual_seed(0)
    sch = cosine()
    proc = CoordinateDiffusion(sch)
    n = 200_000
    x0 = torch.full((n, 3), 2.0)
    t = torch.full((n,), 0.4)
    eps = torch.randn(n, 3)
    xt = proc.q_sample(x0, t, eps)
    a, s = float(sch.alpha(t[:1])), float(sch.sigma(t[:1]))
    assert abs(xt.mean().item() - 2 * a) < 0.01
    assert abs(xt.var().item() - s ** 2) < 0.01


def test_noise_is_zero_com_and_masked_nodes_stay(float64):
    batch, g = _batch()
    proc = CoordinateDiffusion(cosine())
    pos = torch.randn(batch.numel(), 3)
    eps = proc.noise(pos, batch, g, None, True, None)
    assert com(eps, batch, g).abs().max() < 1e-12
    mask = torch.rand(batch.numel()) > 0.3
    mask[[0, 3, 8]] = True
    eps = proc.noise(pos, batch, g, mask, True, None)
    assert com(eps, batch, g, mask).abs().max() < 1e-12
    assert torch.all(eps[~mask] == 0)
    x0 = remove_com(pos, batch, g, mask)
    x_t = proc.q_sample(x0, torch.full((batch.numel(),), 0.5), eps, mask)
    assert torch.equal(x_t[~mask], x0[~mask])
    x_s = proc.posterior_sample(torch.randn_like(pos), x_t, torch.full_like(x_t[:, 0], 0.2),
                                torch.full_like(x_t[:, 0], 0.5), batch, g, mask, True, None)
    assert torch.equal(x_s[~mask], x_t[~mask])
    assert com(x_s, batch, g, mask).abs().max() < 1e-12


def test_subspace_dof():
    batch, g = _batch()
    assert subspace_dof(batch, g).tolist() == [6, 12, 9]


def test_eps_parameterization_round_trip(float64):
    proc = CoordinateDiffusion(cosine(), "eps")
    x0, eps = torch.randn(5, 3), torch.randn(5, 3)
    t = torch.full((5,), 0.6)
    xt = proc.q_sample(x0, t, eps)
    assert torch.allclose(proc.x0_from_output(xt + eps, xt, t), x0)
