"""Discrete (D3PM-style) diffusion of categorical fields: atom types, charges, bond orders.

Transitions follow Austin et al. (2021) with a prior ``m`` (uniform or data marginal):
Q_{t|s} = alpha_{t|s} I + (1 - alpha_{t|s}) 1 m^T,   Q_bar_t = alpha_bar_t I + (1 - alpha_bar_t) 1 m^T,
with alpha_{t|s} = alpha_bar_t / alpha_bar_s taken from the shared schedule. Posteriors are
computed in log space and marginalised over the network's x_0 distribution (D3PM eq. 4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from moldiff.processes.schedules import Schedule


class CategoricalDiffusion:
    """Categorical diffusion of one field with ``num_classes`` classes.

    ``prior`` is the stationary distribution m: None for uniform, else a probability
    vector (e.g. the training marginals, which DiGress/MiDi found better for bonds).
    """

    kind = "categorical"

    def __init__(self, schedule: Schedule, num_classes: int, prior: Tensor | None = None):
        self.schedule = schedule
        self.num_classes = num_classes
        m = torch.full((num_classes,), 1.0 / num_classes) if prior is None else torch.as_tensor(prior).double()
        if m.shape != (num_classes,) or (m < 0).any() or abs(float(m.sum()) - 1) > 1e-4:
            raise ValueError(f"prior must be a probability vector of length {num_classes}, got {m.tolist()}")
        self.m = (m.double() / m.sum()).clamp_min(1e-6)
        self.m = self.m / self.m.sum()

    def _m(self, like: Tensor) -> Tensor:
        return self.m.to(device=like.device, dtype=like.dtype if like.is_floating_point() else torch.float32)

    def transition(self, alpha: Tensor) -> Tensor:
        """Matrices alpha I + (1 - alpha) 1 m^T for a batch of alphas -> [n, K, K] (rows: from)."""
        m = self._m(alpha)
        eye = torch.eye(self.num_classes, dtype=m.dtype, device=m.device)
        return alpha[:, None, None] * eye + (1 - alpha)[:, None, None] * m[None, None, :]

    def q_probs(self, x0: Tensor, t: Tensor) -> Tensor:
        """Marginal q(x_t | x_0) = alpha_bar_t onehot(x_0) + (1 - alpha_bar_t) m -> [n, K]."""
        ab = self.schedule.alpha_bar(t)[:, None]
        return ab * F.one_hot(x0, self.num_classes).to(ab.dtype) + (1 - ab) * self._m(ab)[None]

    def q_sample(self, x0: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        return sample_categorical(self.q_probs(x0, t), generator)

    def q_step(self, x_s: Tensor, s: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        """Forward transition q(x_t | x_s) = row x_s of Q_{t|s} for s < t (RePaint's jump back up)."""
        a_ts = (self.schedule.alpha_bar(t) / self.schedule.alpha_bar(s)).clamp(max=1.0)[:, None]
        probs = a_ts * F.one_hot(x_s, self.num_classes).to(a_ts.dtype) + (1 - a_ts) * self._m(a_ts)[None]
        return sample_categorical(probs, generator)

    def prior_sample(self, n: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return sample_categorical(self._m(like.float())[None].expand(n, -1), generator)

    def features(self, x_t: Tensor) -> Tensor:
        return F.one_hot(x_t, self.num_classes).to(torch.get_default_dtype())

    def probs(self, out: Tensor) -> Tensor:
        return torch.softmax(out, dim=-1)

    def _column(self, alpha: Tensor, x_t: Tensor, m: Tensor) -> Tensor:
        """Column x_t of alpha I + (1 - alpha) 1 m^T as a vector over rows -> [n, K]."""
        onehot = F.one_hot(x_t, self.num_classes).to(m.dtype)
        return alpha[:, None] * onehot + (1 - alpha)[:, None] * m[x_t][:, None]

    def posterior_log_probs(self, x_t: Tensor, log_p0: Tensor, s: Tensor, t: Tensor) -> Tensor:
        """log p(x_s | x_t) = log sum_k p(x_0 = k) q(x_s | x_t, x_0 = k) -> [n, K].

        q(x_s = i | x_t = j, x_0 = k) = Q_{t|s}[i, j] Q_bar_s[k, i] / Q_bar_t[k, j].
        At s = 0 this reduces to p(x_0) itself.
        """
        ab_s, ab_t = self.schedule.alpha_bar(s), self.schedule.alpha_bar(t)
        dtype = log_p0.dtype
        m = self._m(log_p0)
        a_ts = (ab_t / ab_s).clamp(max=1.0)
        log_fwd = torch.log(self._column(a_ts.to(dtype), x_t, m))  # Q_{t|s}[i, x_t] over i
        log_qs = torch.log(self.transition(ab_s.to(dtype)))  # Q_bar_s[k, i]
        log_qt = torch.log(self._column(ab_t.to(dtype), x_t, m))  # Q_bar_t[k, x_t] over k
        log_joint = log_p0[:, :, None] + log_fwd[:, None, :] + log_qs - log_qt[:, :, None]
        return torch.logsumexp(log_joint, dim=1)

    def posterior_sample(self, out: Tensor, x_t: Tensor, s: Tensor, t: Tensor,
                         generator: torch.Generator | None) -> Tensor:
        log_p0 = torch.log_softmax(out.to(torch.float64 if out.dtype == torch.float64 else torch.float32), -1)
        return sample_categorical(self.posterior_log_probs(x_t, log_p0, s, t).exp(), generator)

    def ddim_sample(self, out: Tensor, x_t: Tensor, s: Tensor, t: Tensor, eta: float,
                    generator: torch.Generator | None) -> Tensor:
        """Few-step samplers' update: the exact skip-step posterior p(x_s | x_t) marginalised over
        the predicted x_0, whatever the gap s < t (D3PM has no deterministic counterpart; ``eta``
        only concerns Gaussian fields)."""
        return self.posterior_sample(out, x_t, s, t, generator)

    def certain(self, x0: Tensor, dtype: torch.dtype) -> Tensor:
        """Network-style logits that put all mass on the classes ``x0`` (a known clean value)."""
        return (F.one_hot(x0, self.num_classes).to(dtype) - 1) * 1e4

    def decode(self, x: Tensor) -> Tensor:
        return x

    def loss(self, out: Tensor, x0: Tensor) -> Tensor:
        """Cross-entropy of the x_0 prediction (the simple loss of DiGress/MiDi)."""
        return F.cross_entropy(out.float(), x0, reduction="none")


def sample_categorical(probs: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of ``probs`` [n, K] (rows need not be normalised)."""
    if probs.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=probs.device)
    gen_device = generator.device if generator is not None else probs.device
    u = torch.rand(probs.shape, generator=generator, device=gen_device, dtype=torch.float64).to(probs.device)
    gumbel = -torch.log((-torch.log(u.clamp(1e-30, 1.0))).clamp_min(1e-30))
    return (torch.log(probs.double().clamp_min(1e-40)) + gumbel).argmax(-1)
