"""Noise schedules as functions of continuous time t in [0, 1] returning alpha_bar(t).

All processes share one schedule: for coordinates alpha_bar is the signal variance
(x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps), for categorical fields it is the
probability of keeping the clean class, (Q_bar_t = alpha_bar I + (1 - alpha_bar) 1 m^T).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor


class Schedule:
    """alpha_bar(t) stored on a fine grid of ``num_grid`` steps, linearly interpolated in log-SNR.

    Storing a grid lets schedules defined on discrete steps (EDM's clipped polynomial) be
    used at any continuous t, so samplers can run any number of steps.
    """

    def __init__(self, alpha_bar_grid: Tensor, name: str):
        self.name = name
        ab = alpha_bar_grid.double().clamp(1e-12, 1 - 1e-12)
        self.log_snr_grid = torch.log(ab) - torch.log1p(-ab)  # decreasing in t
        self.num_grid = ab.numel() - 1

    def log_snr(self, t: Tensor) -> Tensor:
        """log(alpha_bar / (1 - alpha_bar)) at t, in t's dtype."""
        grid = self.log_snr_grid.to(t.device)
        x = t.double().clamp(0, 1) * self.num_grid
        lo = x.floor().long().clamp(max=self.num_grid - 1)
        frac = x - lo
        out = grid[lo] * (1 - frac) + grid[lo + 1] * frac
        return out.to(t.dtype)

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        """The inverse of :meth:`log_snr` (float64): the t at which log-SNR equals ``log_snr``,
        clamped to [0, 1]. Flat stretches of the grid map to their first t."""
        grid = -self.log_snr_grid.to(log_snr.device)  # increasing in t
        x = -log_snr.double().clamp(self.log_snr_grid[-1].item(), self.log_snr_grid[0].item())
        hi = torch.searchsorted(grid, x).clamp(1, self.num_grid)
        lo = hi - 1
        span = (grid[hi] - grid[lo]).clamp_min(1e-300)
        frac = ((x - grid[lo]) / span).clamp(0, 1)
        return (lo + frac) / self.num_grid

    def alpha_bar(self, t: Tensor) -> Tensor:
        return torch.sigmoid(self.log_snr(t))

    def alpha(self, t: Tensor) -> Tensor:
        """Signal scale sqrt(alpha_bar)."""
        return torch.sigmoid(self.log_snr(t)).sqrt()

    def sigma(self, t: Tensor) -> Tensor:
        """Noise scale sqrt(1 - alpha_bar)."""
        return torch.sigmoid(-self.log_snr(t)).sqrt()

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, grid={self.num_grid})"


def cosine(num_grid: int = 1000, s: float = 0.008) -> Schedule:
    """Nichol & Dhariwal (2021) cosine schedule, alpha_bar = cos^2((t + s)/(1 + s) pi/2), normalised."""
    t = torch.linspace(0, 1, num_grid + 1, dtype=torch.float64)
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    return Schedule(ab.clamp(1e-5, 1 - 1e-7), "cosine")


def clip_noise_schedule(alpha_bar: Tensor, clip_value: float = 0.001) -> Tensor:
    """EDM (Hoogeboom et al. 2022) precision clipping: each step ratio alpha_bar_t / alpha_bar_{t-1}
    is clipped to >= clip_value, which keeps the last steps numerically stable."""
    ab = torch.cat([torch.ones(1, dtype=alpha_bar.dtype), alpha_bar])
    step = (ab[1:] / ab[:-1]).clamp(min=clip_value, max=1.0)
    return torch.cumprod(step, 0)


def polynomial(num_grid: int = 1000, power: float = 2.0, precision: float = 1e-5) -> Schedule:
    """EDM's polynomial schedule alpha_bar = (1 - 2 precision)(1 - t^power)^2 + precision, clipped."""
    t = torch.linspace(0, 1, num_grid + 1, dtype=torch.float64)
    ab = (1 - t ** power) ** 2
    ab = clip_noise_schedule(ab, 0.001)
    ab = (1 - 2 * precision) * ab + precision
    return Schedule(ab, f"polynomial_{power:g}")


SCHEDULES: dict[str, Callable[..., Schedule]] = {"cosine": cosine, "polynomial": polynomial}


def get_schedule(name: str, **kwargs) -> Schedule:
    """Build a schedule from the registry by name ('cosine', 'polynomial')."""
    if name not in SCHEDULES:
        raise KeyError(f"unknown schedule {name!r}; choose from {sorted(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)
