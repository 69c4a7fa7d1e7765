"""Few-step samplers (DDIM, DPM-Solver++(2M)) and time grids against closed forms."""
import pytest
import torch
from oracle import P_BOND, P_TYPE, S0, OracleDenoiser
from oracle import make_process as _process

from moldiff.processes.gaussian import ddim_coefficients, gaussian_posterior
from moldiff.processes.joint import Topology
from moldiff.processes.schedules import cosine, polynomial
from moldiff.samplers import SamplerSpec
from moldiff.samplers.ddim import dpm_solver_2m_x0
from moldiff.samplers.loop import reverse_loop, spaced_times


def test_ddim_with_eta_one_is_the_ancestral_posterior(float64):
    sch = polynomial()
    t = torch.rand(50) * 0.9 + 0.1
    s = t * torch.rand(50)
    x0, x_t = torch.randn(50, 3), torch.randn(50, 3)
    c_x0, c_xt, c_z = ddim_coefficients(sch, s, t, 1.0)
    post = gaussian_posterior(sch, x0, x_t, s, t)
    torch.testing.assert_close(c_x0 * x0 + c_xt * x_t, post.mean)
    torch.testing.assert_close((c_z ** 2).expand_as(post.var), post.var)
    # eta = 0: no noise, and x0 = x_t / alpha_t (a consistent estimate) is a fixed point of the flow
    c_x0, c_xt, c_z = ddim_coefficients(sch, s, t, 0.0)
    assert (c_z == 0).all()
    x0_consistent = x_t / sch.alpha(t)[:, None]
    noise_free = c_x0 * x0_consistent + c_xt * x_t  # eps_hat = 0, so x_s = alpha_s x0
    torch.testing.assert_close(noise_free, sch.alpha(s)[:, None] * x0_consistent)


def _solve_gaussian_flow(schedule, times, second_order):
    """Integrate the probability-flow ODE for 1-d data N(0, S0^2) with the exact x0 estimate from
    x(times[0]) = 1; returns x at times[-1]."""
    x, prev = torch.ones(1), None
    for k in range(len(times) - 1):
        t, s = times[k:k + 1], times[k + 1:k + 2]
        a, s2 = schedule.alpha(t), schedule.sigma(t) ** 2
        x0 = (a * S0 ** 2 / (a ** 2 * S0 ** 2 + s2) * x)[:, None]
        d = x0 if prev is None or not second_order else dpm_solver_2m_x0(schedule, x0, prev[0], prev[1], t, s)
        prev = (x0, t)
        c_x0, c_xt, _ = ddim_coefficients(schedule, s, t, 0.0)
        x = (c_x0 * d + c_xt * x[:, None])[:, 0]
    return x


@pytest.mark.parametrize("schedule", [cosine(), polynomial()])
def test_dpm_solver_2m_is_second_order_and_ddim_first_order(float64, schedule):
    """Gaussian data: the flow is linear, x(s) = k(s) / k(t) x(t) with k = sqrt(alpha^2 S0^2 + sigma^2)."""
    t0, t1 = 0.9, 0.05
    k = lambda u: (schedule.alpha(torch.tensor([u])) ** 2 * S0 ** 2 + schedule.sigma(torch.tensor([u])) ** 2).sqrt()  # noqa: E731
    exact = (k(t1) / k(t0)).item()
    errors = {}
    for second in (False, True):
        errors[second] = [abs(_solve_gaussian_flow(schedule, torch.linspace(t0, t1, n + 1), second).item() - exact)
                          for n in (10, 20, 40)]
    first_ratio = errors[False][1] / errors[False][2]
    second_ratio = errors[True][1] / errors[True][2]
    assert 1.6 < first_ratio < 2.5, errors[False]
    assert second_ratio > 3.2, errors[True]
    assert errors[True][-1] < errors[False][-1] / 3


def _expected_final_variance(spec: SamplerSpec, schedule, times) -> float:
    """Per-coordinate variance of the sampler's output for data N(0, S0^2), the exact linear
    x0 estimate x0 = c_t x_t and a unit-variance start, propagated in closed form: DDIM's update is
    linear in (x_t, x0, noise), and DPM-Solver++(2M) is deterministic, so x_t = g_t x_start."""
    var, gain, prev = 1.0, 1.0, None  # var: DDIM family; gain (and previous x0 gain): 2M
    for k in range(len(times) - 1):
        t, s = times[k:k + 1], times[k + 1:k + 2]
        a, s2 = schedule.alpha(t).item(), schedule.sigma(t).item() ** 2
        c = a * S0 ** 2 / (a ** 2 * S0 ** 2 + s2)
        if k == len(times) - 2:
            return c ** 2 * (gain ** 2 if spec.name == "dpm2m" else var)
        c_x0, c_xt, c_z = (v.item() for v in ddim_coefficients(schedule, s, t, spec.eta))
        if spec.name == "dpm2m":
            x0_gain = c * gain
            d_gain = x0_gain if prev is None else dpm_solver_2m_x0(
                schedule, torch.tensor([[x0_gain]]), torch.tensor([[prev[0]]]), prev[1], t, s).item()
            prev = (x0_gain, t)
            gain = c_x0 * d_gain + c_xt * gain
        else:
            var = (c_x0 * c + c_xt) ** 2 * var + c_z ** 2


@pytest.mark.parametrize("sampler", ["ddim", "ddim:eta=1", "dpm2m", "dpm2m:spacing=logsnr", "ddim:spacing=quadratic"])
def test_few_step_oracle_sampling_matches_closed_forms(float64, sampler):
    """With the Bayes-optimal denoiser, 12 steps give the coordinate variance predicted in closed
    form for this grid, and the data's exact categorical marginals (skip-step posteriors are exact).
    DPM-Solver++(2M) also lands within 8 % of the data variance, where first-order DDIM at 12 uniform
    steps under-disperses by ~20 %."""
    spec = SamplerSpec.parse(sampler)
    proc = _process(polynomial())
    n_mol, n_atoms = 3000, 4
    topo = Topology.from_sizes(torch.full((n_mol,), n_atoms))
    times = spec.times(12, proc.schedule)
    x = reverse_loop(proc, OracleDenoiser(proc), spec.step(), topo, times, torch.zeros(1),
                     torch.Generator().manual_seed(0))
    var = x.pos.var().item() / ((n_atoms - 1) / n_atoms)  # per-coordinate variance in the zero-CoM subspace
    expected = _expected_final_variance(spec, proc.schedule, times)
    assert abs(var / expected - 1) < 0.04, (var, expected)
    if spec.name == "dpm2m":
        assert abs(var / S0 ** 2 - 1) < 0.08, var
    freq = torch.bincount(x.nodes["atom_type"], minlength=3).double() / x.nodes["atom_type"].numel()
    torch.testing.assert_close(freq, P_TYPE.double(), atol=0.015, rtol=0)
    bfreq = torch.bincount(x.bond, minlength=3).double() / x.bond.numel()
    torch.testing.assert_close(bfreq, P_BOND.double(), atol=0.015, rtol=0)


def test_deterministic_samplers_are_reproducible_and_ddim_eta_zero_draws_no_coordinate_noise(float64):
    proc = _process(cosine())
    topo = Topology.from_sizes(torch.tensor([3, 5]))
    oracle = OracleDenoiser(proc)
    x_init = proc.prior(topo, torch.zeros(1), torch.Generator().manual_seed(0))

    def run(sampler, seed):
        spec = SamplerSpec.parse(sampler)
        return reverse_loop(proc, oracle, spec.step(), topo, spec.times(8, proc.schedule), torch.zeros(1),
                            torch.Generator().manual_seed(seed), x_init=x_init)

    for sampler in ("ddim", "dpm2m"):  # coordinates are a function of the start alone
        a, b = run(sampler, 1), run(sampler, 2)
        torch.testing.assert_close(a.pos, b.pos)
        assert torch.equal(run(sampler, 1).bond, a.bond)
    assert not torch.allclose(run("ddim:eta=0.5", 1).pos, run("ddim:eta=0.5", 2).pos)


@pytest.mark.parametrize("spacing", ["uniform", "quadratic", "cubic", "logsnr", "karras"])
def test_spaced_times(float64, spacing):
    sch = polynomial()
    times = spaced_times(10, spacing, sch)
    assert times.shape == (11,) and times[0] == 1.0 and times[-1] == 0.0
    assert (times[1:] < times[:-1]).all()
    if spacing == "logsnr":
        lam = sch.log_snr(times)
        steps = lam[1:] - lam[:-1]
        torch.testing.assert_close(steps, steps.mean().expand_as(steps), atol=1e-6, rtol=0)
    if spacing in ("quadratic", "cubic"):
        torch.testing.assert_close(times, torch.linspace(1, 0, 11) ** (2 if spacing == "quadratic" else 3))
    if spacing == "karras":  # equal steps in sigma^(1/7), sigma = exp(-log-SNR / 2)
        root = torch.exp(-sch.log_snr(times) / 14)
        steps = root[1:] - root[:-1]
        torch.testing.assert_close(steps, steps.mean().expand_as(steps), atol=1e-6, rtol=0)


def test_schedule_inverse_log_snr(float64):
    t = torch.rand(200)
    torch.testing.assert_close(polynomial().t_from_log_snr(polynomial().log_snr(t)), t)
    sch = cosine()  # clamped near t = 1: a flat stretch, where only log-SNR round-trips
    lam = sch.log_snr(t)
    torch.testing.assert_close(sch.log_snr(sch.t_from_log_snr(lam)), lam)


def test_sampler_strings_parse_and_print_back():
    assert SamplerSpec.parse("ancestral") == SamplerSpec()
    spec = SamplerSpec.parse("ddim:eta=0.3,spacing=logsnr")
    assert (spec.name, spec.eta, spec.spacing) == ("ddim", 0.3, "logsnr")
    assert SamplerSpec.parse(str(spec)) == spec
    assert str(SamplerSpec.parse("dpm2m:spacing=uniform")) == "dpm2m"
    for bad, match in [("euler", "unknown sampler"), ("ddim:eta=2", r"\[0, 1\]"), ("dpm2m:eta=0.5", "ddim only"),
                       ("ddim:spacing=quartic", "spacing must be"), ("ddim:foo=1", "options are"),
                       ("ddim:eta=x", "number")]:
        with pytest.raises(ValueError, match=match):
            SamplerSpec.parse(bad)


def test_restart_grid_spends_the_given_network_calls_and_returns_to_t_min():
    spec = SamplerSpec.parse("ancestral:spacing=quadratic,restart=2,restart_steps=5,restart_tmax=0.3")
    assert SamplerSpec.parse(str(spec)) == spec
    times = spec.times(30, polynomial())
    down = times[1:] < times[:-1]
    assert int(down.sum()) == 30  # network calls: every step down; the two jumps up call none
    main = spaced_times(20, "quadratic", polynomial())
    t_min = float(main[-2])
    torch.testing.assert_close(times[:20], main[:20])
    ups = torch.nonzero(~down).flatten()
    assert ups.tolist() == [19, 25]  # from t_min up to t_max, twice
    torch.testing.assert_close(times[ups + 1], torch.full((2,), 0.3))
    torch.testing.assert_close(times[ups], torch.full((2,), t_min))
    assert float(times[-2]) == pytest.approx(t_min) and float(times[-1]) == 0.0
    assert torch.equal(SamplerSpec.parse("ancestral:spacing=quadratic").times(30, polynomial()),
                       spaced_times(30, "quadratic", polynomial()))
    two = SamplerSpec.parse("ancestral:restart=2,restart_steps=5")  # 11 steps: room for one cycle only
    assert int((two.times(11, polynomial()).diff() > 0).sum()) == 1
    torch.testing.assert_close(two.times(6, polynomial()), spaced_times(6, "uniform", polynomial()))
    for bad, match in [("ancestral:restart=-1", r"restart must lie"), ("ancestral:restart_tmax=1", r"\(0, 1\)"),
                       ("ancestral:restart_steps=0", "restart_steps must lie"), ("ancestral:restart=1.5", "integer")]:
        with pytest.raises(ValueError, match=match):
            SamplerSpec.parse(bad)


def test_restart_sampling_keeps_the_oracle_marginals(float64):
    """With the Bayes-optimal denoiser, a restart cycle (forward noise back up to t_max, then down
    again) leaves the exact categorical marginals exact and the coordinate spread where the same
    number of plain ancestral steps puts it."""
    proc = _process(polynomial())
    topo = Topology.from_sizes(torch.full((3000,), 4))
    var = {}
    for sampler in ["ancestral", "ancestral:restart=1,restart_steps=100,restart_tmax=0.5"]:
        spec = SamplerSpec.parse(sampler)
        x = reverse_loop(proc, OracleDenoiser(proc), spec.step(), topo, spec.times(200, proc.schedule),
                         torch.zeros(1), torch.Generator().manual_seed(0))
        var[sampler] = x.pos.var().item() / (3 / 4) / S0 ** 2
        freq = torch.bincount(x.nodes["atom_type"], minlength=3).double() / x.nodes["atom_type"].numel()
        torch.testing.assert_close(freq, P_TYPE.double(), atol=0.015, rtol=0)
        bfreq = torch.bincount(x.bond, minlength=3).double() / x.bond.numel()
        torch.testing.assert_close(bfreq, P_BOND.double(), atol=0.015, rtol=0)
    plain, restarted = var.values()
    assert 0.9 < plain < 1.0 and abs(restarted - plain) < 0.03, var
