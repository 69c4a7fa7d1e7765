import pytest
import torch

from moldiff.processes.schedules import (
    clip_noise_schedule,
    cosine,
    get_schedule,
    polynomial,
)


@pytest.mark.parametrize("make", [cosine, polynomial])
def test_alpha_bar_monotone_with_correct_ends(make):
    sch = make()
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    ab = sch.alpha_bar(t)
    assert torch.all(ab[1:] <= ab[:-1] + 1e-12)
    assert ab[0] > 0.9999 and ab[-1] < 1e-3
    assert torch.allclose(sch.alpha(t) ** 2 + sch.sigma(t) ** 2, torch.ones_like(t))


def test_grid_points_are_exact_and_interpolation_is_between():
    sch = polynomial(num_grid=100)
    t = torch.tensor([0.37, 0.375, 0.38], dtype=torch.float64)
    ab = sch.alpha_bar(t)
    assert ab[0] > ab[1] > ab[2]


def test_polynomial_matches_edm_formula_away_from_clipping():
    sch = polynomial(num_grid=1000, power=2.0, precision=1e-5)
    t = torch.tensor([0.1, 0.5, 0.8], dtype=torch.float64)
    expected = (1 - 2e-5) * (1 - t ** 2) ** 2 + 1e-5
    assert torch.allclose(sch.alpha_bar(t), expected, rtol=1e-6)


def test_clipping_bounds_step_ratios():
    ab = torch.tensor([1.0, 0.5, 1e-4, 1e-9], dtype=torch.float64)
    clipped = clip_noise_schedule(ab, 0.001)
    ratios = clipped / torch.cat([torch.ones(1, dtype=torch.float64), clipped[:-1]])
    assert torch.all(ratios >= 0.001 - 1e-15)
    assert clipped[1] == 0.5 and clipped[2] == pytest.approx(0.5 * 0.001)


def test_unknown_schedule_name():
    with pytest.raises(KeyError, match="unknown schedule"):
        get_schedule("linear-ish")
