"""Variance-preserving Gaussian diffusion: coordinates in the zero-CoM subspace, and
EDM-style one-hot features diffused as Gaussians (the baseline mode).

Notation (Ho et al. 2020; Kingma et al. 2021): alpha_t = sqrt(alpha_bar_t),
sigma_t = sqrt(1 - alpha_bar_t), x_t = alpha_t x_0 + sigma_t eps, and for s < t
alpha_{t|s} = alpha_t / alpha_s, sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from moldiff.geometry import remove_com
from moldiff.processes.schedules import Schedule


def randn(shape, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise on ``like``'s device/dtype from an explicit generator."""
    return torch.randn(shape, generator=generator, device=like.device if generator is None else generator.device,
                       dtype=like.dtype).to(like.device)


@dataclass
class GaussianPosterior:
    mean: Tensor
    var: Tensor


def gaussian_posterior(schedule: Schedule, x0: Tensor, x_t: Tensor, s: Tensor, t: Tensor) -> GaussianPosterior:
    """q(x_s | x_t, x_0) for s < t; ``s``/``t`` broadcast against the rows of x0 ([n] per row)."""
    ab_s, ab_t = schedule.alpha_bar(s)[:, None], schedule.alpha_bar(t)[:, None]
    alpha_ts2 = ab_t / ab_s
    sigma_ts2 = (1 - alpha_ts2).clamp_min(0)
    sigma_t2, sigma_s2 = 1 - ab_t, 1 - ab_s
    mean = (ab_s.sqrt() * sigma_ts2 / sigma_t2) * x0 + (alpha_ts2.sqrt() * sigma_s2 / sigma_t2) * x_t
    var = sigma_ts2 * sigma_s2 / sigma_t2
    return GaussianPosterior(mean, var.expand_as(mean))


def ddim_coefficients(schedule: Schedule, s: Tensor, t: Tensor, eta: float) -> tuple[Tensor, Tensor, Tensor]:
    """DDIM's update x_s = c_x0 x0_hat + c_xt x_t + c_z z (Song et al. 2021, eq. 12) as column
    vectors [n, 1] for s < t, with z standard noise.

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c_z^2) eps_hat + c_z z, eps_hat = (x_t - alpha_t x0_hat) / sigma_t,
    c_z = eta * sqrt(var) where var is the variance of q(x_s | x_t, x_0). ``eta = 1`` is exactly the
    ancestral step (same mean and variance as :func:`gaussian_posterior`); ``eta = 0`` is the
    deterministic probability-flow update, identical to first-order DPM-Solver++.
    """
    ab_s, ab_t = schedule.alpha_bar(s)[:, None], schedule.alpha_bar(t)[:, None]
    sigma_s2, sigma_t2 = 1 - ab_s, 1 - ab_t
    var = (1 - ab_t / ab_s).clamp_min(0) * sigma_s2 / sigma_t2
    c_z = eta * var.sqrt()
    k = (sigma_s2 - c_z ** 2).clamp_min(0).sqrt() / sigma_t2.sqrt()
    return ab_s.sqrt() - k * ab_t.sqrt(), k, c_z


def forward_coefficients(schedule: Schedule, s: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(alpha_{t|s}, sigma_{t|s}) as column vectors [n, 1] for s < t."""
    ab_s, ab_t = schedule.alpha_bar(s)[:, None], schedule.alpha_bar(t)[:, None]
    alpha_ts2 = (ab_t / ab_s).clamp(max=1.0)
    return alpha_ts2.sqrt(), (1 - alpha_ts2).sqrt()


class CoordinateDiffusion:
    """Coordinates diffused in the zero-centre-of-mass subspace of the moving nodes.

    ``mask`` marks moving nodes (ligand atoms that are not held fixed); the others are
    context and are never noised. With ``project=True`` (unconditional generation) noise
    and predictions are projected onto the zero-CoM subspace of the moving nodes, so the
    likelihood lives in (n - 1) * 3 dimensions; with a pocket the frame is fixed by the
    context and ``project=False`` uses plain Gaussian noise around it.
    """

    def __init__(self, schedule: Schedule, parameterization: str = "x0"):
        if parameterization not in ("x0", "eps"):
            raise ValueError(f"coordinate parameterization must be 'x0' or 'eps', got {parameterization!r}")
        self.schedule = schedule
        self.parameterization = parameterization

    def noise(self, pos: Tensor, batch: Tensor, num_graphs: int, mask: Tensor | None, project: bool,
              generator: torch.Generator | None) -> Tensor:
        """Standard noise on the moving nodes (zero elsewhere), projected if ``project``."""
        eps = randn(pos.shape, pos, generator)
        if mask is not None:
            eps = eps * mask[:, None].to(eps.dtype)
        return remove_com(eps, batch, num_graphs, mask) if project else eps

    def q_sample(self, x0: Tensor, t_node: Tensor, eps: Tensor, mask: Tensor | None = None) -> Tensor:
        """x_t = alpha_t x_0 + sigma_t eps on moving nodes; context nodes keep x_0."""
        x_t = self.schedule.alpha(t_node)[:, None] * x0 + self.schedule.sigma(t_node)[:, None] * eps
        return x_t if mask is None else torch.where(mask[:, None], x_t, x0)

    def q_step(self, x_s: Tensor, s_node: Tensor, t_node: Tensor, eps: Tensor, mask: Tensor | None = None) -> Tensor:
        """Forward transition x_t = alpha_{t|s} x_s + sigma_{t|s} eps for s < t (RePaint's jump back up)."""
        alpha_ts, sigma_ts = forward_coefficients(self.schedule, s_node, t_node)
        x_t = alpha_ts * x_s + sigma_ts * eps
        return x_t if mask is None else torch.where(mask[:, None], x_t, x_s)

    def x0_from_output(self, out: Tensor, x_t: Tensor, t_node: Tensor) -> Tensor:
        """Turn the network's coordinate output into an x_0 estimate (eps: out - x_t is eps-hat)."""
        if self.parameterization == "x0":
            return out
        eps_hat = out - x_t
        return (x_t - self.schedule.sigma(t_node)[:, None] * eps_hat) / self.schedule.alpha(t_node)[:, None]

    def posterior_sample(self, x0_hat: Tensor, x_t: Tensor, s_node: Tensor, t_node: Tensor, batch: Tensor,
                         num_graphs: int, mask: Tensor | None, project: bool,
                         generator: torch.Generator | None) -> Tensor:
        """Ancestral step x_s ~ q(x_s | x_t, x_0 = x0_hat)."""
        if project:
            x0_hat = remove_com(x0_hat, batch, num_graphs, mask)
        post = gaussian_posterior(self.schedule, x0_hat, x_t, s_node, t_node)
        x_s = post.mean + post.var.sqrt() * self.noise(x_t, batch, num_graphs, mask, project, generator)
        return x_s if mask is None else torch.where(mask[:, None], x_s, x_t)

    def ddim_sample(self, x0_hat: Tensor, x_t: Tensor, s_node: Tensor, t_node: Tensor, batch: Tensor,
                    num_graphs: int, mask: Tensor | None, project: bool, eta: float,
                    generator: torch.Generator | None) -> Tensor:
        """DDIM update x_t -> x_s (:func:`ddim_coefficients`); ``eta = 0`` draws no noise."""
        if project:
            x0_hat = remove_com(x0_hat, batch, num_graphs, mask)
        c_x0, c_xt, c_z = ddim_coefficients(self.schedule, s_node, t_node, eta)
        x_s = c_x0 * x0_hat + c_xt * x_t
        if eta > 0:
            x_s = x_s + c_z * self.noise(x_t, batch, num_graphs, mask, project, generator)
        return x_s if mask is None else torch.where(mask[:, None], x_s, x_t)

    def loss(self, out: Tensor, x0: Tensor, x_t: Tensor, eps: Tensor, t_node: Tensor) -> Tensor:
        """Per-node squared error (summed over xyz) of the parameterization's target."""
        if self.parameterization == "x0":
            return ((out - x0) ** 2).sum(-1)
        return ((out - x_t - eps) ** 2).sum(-1)


class GaussianOneHotDiffusion:
    """EDM's baseline for categorical features: one-hots scaled by ``scale`` and diffused as
    Gaussians (no CoM constraint); decoded by argmax. The network predicts x_0 directly."""

    kind = "gaussian"

    def __init__(self, schedule: Schedule, num_classes: int, scale: float = 0.25):
        self.schedule = schedule
        self.num_classes = num_classes
        self.scale = scale

    def encode(self, x0: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(x0, self.num_classes).to(torch.get_default_dtype()) * self.scale

    def q_sample(self, x0: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        z0 = self.encode(x0)
        eps = randn(z0.shape, z0, generator)
        return self.schedule.alpha(t)[:, None] * z0 + self.schedule.sigma(t)[:, None] * eps

    def q_step(self, x_s: Tensor, s: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        """Forward transition q(x_t | x_s) for s < t."""
        alpha_ts, sigma_ts = forward_coefficients(self.schedule, s, t)
        return alpha_ts * x_s + sigma_ts * randn(x_s.shape, x_s, generator)

    def prior_sample(self, n: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return randn((n, self.num_classes), like, generator)

    def features(self, x_t: Tensor) -> Tensor:
        return x_t / self.scale

    def probs(self, out: Tensor) -> Tensor:
        """A one-hot of the argmax of the predicted x_0 (used for decoding and metrics)."""
        return torch.nn.functional.one_hot(out.argmax(-1), self.num_classes).to(out.dtype)

    def posterior_sample(self, out: Tensor, x_t: Tensor, s: Tensor, t: Tensor,
                         generator: torch.Generator | None) -> Tensor:
        post = gaussian_posterior(self.schedule, out * self.scale, x_t, s, t)
        return post.mean + post.var.sqrt() * randn(x_t.shape, x_t, generator)

    def ddim_sample(self, out: Tensor, x_t: Tensor, s: Tensor, t: Tensor, eta: float,
                    generator: torch.Generator | None) -> Tensor:
        """DDIM update of the scaled one-hots (:func:`ddim_coefficients`)."""
        c_x0, c_xt, c_z = ddim_coefficients(self.schedule, s, t, eta)
        x_s = c_x0 * out * self.scale + c_xt * x_t
        return x_s + c_z * randn(x_t.shape, x_t, generator) if eta > 0 else x_s

    def certain(self, x0: Tensor, dtype: torch.dtype) -> Tensor:
        """The network output that means "x_0 is exactly the classes ``x0``"."""
        return torch.nn.functional.one_hot(x0, self.num_classes).to(dtype)

    def decode(self, x: Tensor) -> Tensor:
        return x.argmax(-1)

    def loss(self, out: Tensor, x0: Tensor) -> Tensor:
        return ((out - self.encode(x0) / self.scale) ** 2).sum(-1)
