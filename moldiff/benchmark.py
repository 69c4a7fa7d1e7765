"""Timed sampling and evaluation of many molecules, for benchmark scripts.

Sampling and evaluation are separate steps on purpose: a GPU machine without RDKit can sample
and save compact arrays (:func:`moldiff.convert.pack_arrays`), and another machine evaluates them.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from moldiff.convert import MolArrays
from moldiff.pipeline import MolDiffModel
from moldiff.samplers import SamplerSpec


def parse_setting(text: str) -> tuple[str, int]:
    """``"SAMPLER@STEPS"`` (e.g. ``"dpm2m:spacing=logsnr@25"``) -> (canonical sampler string, steps);
    a one-line ``ValueError`` otherwise."""
    sampler, at, steps = text.rpartition("@")
    if not at or not steps.isdigit() or int(steps) < 1:
        raise ValueError(f"setting {text!r}: expected SAMPLER@STEPS, e.g. ancestral@1000 or dpm2m@25")
    return str(SamplerSpec.parse(sampler)), int(steps)


def setting_slug(sampler: str, n_steps: int) -> str:
    """A file-name-safe label of a setting: ``dpm2m:spacing=logsnr``, 25 -> ``dpm2m_spacing_logsnr_25``."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", f"{sampler}_{n_steps}")


@dataclass
class SamplingRun:
    """What one timed sampling run did: molecules, steps, batch size, device and wall time."""

    n_samples: int
    n_steps: int
    batch_size: int
    sampler: str
    device: str
    seconds: float

    @property
    def molecules_per_s(self) -> float:
        return self.n_samples / self.seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "molecules_per_s": self.molecules_per_s}


def device_name(device: torch.device) -> str:
    """A readable name of ``device`` (the GPU model, or the CPU thread count)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on the CPU), so wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_sampling(model: MolDiffModel, n_samples: int, n_steps: int, batch_size: int, seed: int = 0,
                   sampler: str = "ancestral", warmup: bool = True) -> tuple[list[MolArrays], SamplingRun]:
    """Sample ``n_samples`` molecules (sizes from the training histogram) in batches and time it.

    The clock covers the reverse diffusion and the copy of the results to the host, not model
    loading; ``warmup`` first runs one 2-step batch so CUDA initialisation is not counted.
    """
    device = model.device
    sizes = model.sample_sizes(n_samples, torch.Generator().manual_seed(seed))
    gen = torch.Generator(device=device).manual_seed(seed)
    if warmup:
        model.sample_arrays(sizes[:batch_size], 2, torch.Generator(device=device).manual_seed(seed), sampler)
    synchronize(device)
    start = time.perf_counter()
    arrays: list[MolArrays] = []
    for lo in tqdm(range(0, n_samples, batch_size), desc=f"{n_steps} steps", leave=False):
        arrays += model.sample_arrays(sizes[lo:lo + batch_size], n_steps, gen, sampler)
    synchronize(device)
    seconds = time.perf_counter() - start
    return arrays, SamplingRun(n_samples, n_steps, batch_size, sampler, device_name(device), seconds)


def evaluate_arrays(arrays: list[MolArrays], explicit_h: bool, train_smiles: set[str] | None) -> dict[str, float]:
    """The metrics of :func:`moldiff.chem.metrics.evaluate_molecules` for sampled arrays (needs RDKit)."""
    from moldiff.api import arrays_to_mols
    from moldiff.chem.metrics import evaluate_molecules

    return evaluate_molecules(arrays_to_mols(arrays, explicit_h), train_smiles)
