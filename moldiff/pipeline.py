"""A trained model as one object: process + denoiser + vocabulary + size distribution,
saved to and loaded from a single compact file."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from moldiff.config import Config, build_denoiser, build_process, config_from_dict
from moldiff.convert import MolArrays, split_state
from moldiff.processes.joint import Topology
from moldiff.samplers import SAMPLERS
from moldiff.samplers.loop import reverse_loop, uniform_times
from moldiff.vocab import Vocab

FORMAT = "moldiff-weights-1"


class MolDiffModel(nn.Module):
    """Denoiser plus everything needed to sample from it without the training data."""

    def __init__(self, cfg: Config, vocab: Vocab, marginals: dict[str, list[float]], size_hist: list[float]):
        super().__init__()
        self.cfg, self.vocab = cfg, vocab
        self.marginals = {k: list(map(float, v)) for k, v in marginals.items()}
        self.size_hist = list(map(float, size_hist))
        self.process = build_process(cfg.process, len(vocab.elements), len(vocab.charges), self.marginals)
        self.denoiser = build_denoiser(cfg.model, self.process)

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def sample_sizes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Atom counts drawn from the training histogram."""
        p = torch.tensor(self.size_hist, dtype=torch.float64)
        return torch.multinomial(p / p.sum(), n, replacement=True, generator=generator)

    @torch.no_grad()
    def sample_arrays(self, sizes: torch.Tensor, n_steps: int, generator: torch.Generator,
                      sampler: str = "ancestral", progress: bool = False) -> list[MolArrays]:
        """Generate one molecule per entry of ``sizes`` and return them as plain arrays."""
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.denoiser.eval()
        device = self.device
        topo = Topology.from_sizes(sizes, device=device)
        like = torch.zeros(1, device=device, dtype=next(self.denoiser.parameters()).dtype)
        state = reverse_loop(self.process, self.denoiser, SAMPLERS[sampler], topo, uniform_times(n_steps, device),
                             like, generator, progress=progress)
        return split_state(state, topo, self.vocab)  # the loop ends on decoded classes

    def save(self, path: str | Path) -> None:
        """Write the compact weights file (atomically)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"format": FORMAT, "config": self.cfg.to_dict(), "vocab": self.vocab.to_dict(),
                    "marginals": self.marginals, "size_hist": self.size_hist,
                    "state_dict": self.denoiser.state_dict()}, tmp)
        tmp.replace(path)

    @classmethod
    def from_payload(cls, payload: dict) -> "MolDiffModel":
        model = cls(config_from_dict(payload["config"]), Vocab.from_dict(payload["vocab"]),
                    payload["marginals"], payload["size_hist"])
        model.denoiser.load_state_dict(payload["state_dict"])
        return model

