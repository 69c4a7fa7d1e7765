"""What every network shares beyond the interface of :mod:`moldiff.graph`: the time embedding."""
from __future__ import annotations

import torch
from torch import Tensor


def sinusoidal_time_embedding(t: Tensor, dim: int, max_period: float = 1000.0) -> Tensor:
    """Transformer-style Fourier features of t in [0, 1] (scaled by 1000 like DDPM steps)."""
    half = dim // 2
    freqs = torch.exp(-torch.log(torch.tensor(max_period, dtype=t.dtype, device=t.device))
                      * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    args = (t * 1000.0)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, t[:, None]], dim=-1)
    return emb
