import pytest
import torch

from moldiff.processes.categorical import CategoricalDiffusion, sample_categorical
from moldiff.processes.schedules import cosine

PRIORS = [None, torch.tensor([0.5, 0.2, 0.2, 0.05, 0.05])]


@pytest.mark.parametrize("prior", PRIORS)
def test_transition_rows_sum_to_one_and_compose(prior, float64):
    proc = CategoricalDiffusion(cosine(), 5, prior)
    s, t = torch.tensor([0.2, 0.6]), torch.tensor([0.5, 0.9])
    ab_s, ab_t = proc.schedule.alpha_bar(s), proc.schedule.alpha_bar(t)
    Qs, Qt, Qts = proc.transition(ab_s), proc.transition(ab_t), proc.transition(ab_t / ab_s)
    for Q in (Qs, Qt, Qts):
        assert torch.allclose(Q.sum(-1), torch.ones(2, 5))
    assert torch.allclose(Qs @ Qts, Qt)  # Chapman-Kolmogorov
    x0 = torch.tensor([1, 3])
    assert torch.allclose(proc.q_probs(x0, t), Qt[torch.arange(2), x0])


@pytest.mark.parametrize("prior", PRIORS)
def test_posterior_matches_explicit_bayes(prior, float64):
    K = 5
    proc = CategoricalDiffusion(cosine(), K, prior)
    n = 6
    torch.manual_seed(1)
    x_t = torch.randint(0, K, (n,))
    p0 = torch.softmax(torch.randn(n, K) * 2, -1)
    s, t = torch.full((n,), 0.35), torch.full((n,), 0.6)
    got = proc.posterior_log_probs(x_t, p0.log(), s, t).exp()
    ab_s, ab_t = proc.schedule.alpha_bar(s), proc.schedule.alpha_bar(t)
    Qs, Qts = proc.transition(ab_s), proc.transition(ab_t / ab_s)
    for r in range(n):
        # q(x_s | x_t, x_0 = k) by Bayes from the matrices, then averaged over p0(k)
        ref = torch.zeros(K)
        for k in range(K):
            q = Qs[r][k] * Qts[r][:, x_t[r]]
            ref += p0[r, k] * q / q.sum()
        assert torch.allclose(got[r], ref)
    assert torch.allclose(got.sum(-1), torch.ones(n))


def test_posterior_at_s_zero_is_x0_distribution(float64):
    proc = CategoricalDiffusion(cosine(), 4)
    p0 = torch.softmax(torch.randn(3, 4), -1)
    got = proc.posterior_log_probs(torch.tensor([0, 2, 3]), p0.log(), torch.zeros(3), torch.full((3,), 0.5)).exp()
    assert torch.allclose(got, p0, atol=1e-5)


def test_prior_limit_and_sampling_frequencies():
    prior = torch.tensor([0.7, 0.2, 0.1])
    proc = CategoricalDiffusion(cosine(), 3, prior)
    probs = proc.q_probs(torch.zeros(1, dtype=torch.long), torch.ones(1))
    assert torch.allclose(probs[0].float(), prior, atol=1e-4)
    g = torch.Generator().manual_seed(0)
    draws = proc.prior_sample(100_000, torch.zeros(1), g)
    freq = torch.bincount(draws, minlength=3).float() / draws.numel()
    assert torch.allclose(freq, prior, atol=0.01)


def test_sampling_is_seeded():
    p = torch.softmax(torch.randn(50, 4), -1)
    a = sample_categorical(p, torch.Generator().manual_seed(3))
    b = sample_categorical(p, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_bad_prior_rejected():
    with pytest.raises(ValueError, match="probability vector"):
        CategoricalDiffusion(cosine(), 3, torch.tensor([0.5, 0.6, 0.1]))
