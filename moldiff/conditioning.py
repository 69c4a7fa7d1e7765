"""Graph-level conditions as network inputs, and conditioning dropout for classifier-free guidance.

A property-conditioned model is trained on standardized property values; each value enters the
denoiser as two numbers, ``(z, 1)`` when given and ``(0, 0)`` when left out ("null"), so one
network predicts with any subset of its properties and with none (the unconditional model that
classifier-free guidance needs). Pocket models have the pocket as their condition: its null is
no pocket atoms at all. Dropout replaces conditions by their null during training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from moldiff.graph import Context


#: Quantile bins per property for the atom-count distribution given a property value.
SIZE_BINS = 10


@dataclass(frozen=True)
class PropertyConditions:
    """Which molecular properties a model is conditioned on, with the training mean and standard
    deviation of each (what standardizes a given value)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: per property: ``edges`` of SIZE_BINS quantile bins and, per bin, the histogram of atom counts
    size_given: dict | None = None

    @property
    def dim(self) -> int:
        """Width of the feature vector the denoiser reads per graph."""
        return 2 * len(self.names)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std),
                "size_given": self.size_given}

    @classmethod
    def from_dict(cls, d: dict) -> "PropertyConditions":
        return cls(tuple(d["names"]), tuple(map(float, d["mean"])), tuple(map(float, d["std"])), d.get("size_given"))

    @classmethod
    def fit(cls, names: list[str], values: dict[str, np.ndarray], num_atoms: np.ndarray) -> "PropertyConditions":
        """Statistics of ``values[name]`` over the training molecules, and the distribution of their
        atom counts within quantile bins of each property (sizes that fit a requested value)."""
        stats = [(float(np.mean(values[k])), float(np.std(values[k])) or 1.0) for k in names]
        size_given = {}
        for k in names:
            edges = np.quantile(values[k], np.linspace(0, 1, SIZE_BINS + 1)[1:-1])
            bins = np.searchsorted(edges, values[k])
            hists = [np.bincount(num_atoms[bins == b], minlength=int(num_atoms.max()) + 1) for b in range(SIZE_BINS)]
            size_given[k] = {"edges": edges.tolist(), "hist": [h.astype(float).tolist() for h in hists]}
        return cls(tuple(names), tuple(m for m, _ in stats), tuple(s for _, s in stats), size_given)

    def size_histogram(self, given: dict[str, float]) -> list[float] | None:
        """Atom-count histogram of the training molecules in the quantile bin of the first given
        property (in the model's order); None when nothing is given or no statistics are stored."""
        first = next((k for k in self.names if k in given), None)
        if first is None or not self.size_given:
            return None
        entry = self.size_given[first]
        return entry["hist"][int(np.searchsorted(entry["edges"], float(given[first])))]

    def values(self, given: dict[str, float], num_graphs: int) -> Tensor:
        """[G, P] raw values with NaN for properties not in ``given`` (a one-line ``ValueError``
        for names the model does not know or values that are not finite)."""
        unknown = sorted(set(given) - set(self.names))
        if unknown:
            raise ValueError(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                             f"this model is conditioned on {', '.join(self.names)}")
        row = []
        for k in self.names:
            v = float(given[k]) if k in given else math.nan
            if k in given and not math.isfinite(v):
                raise ValueError(f"property {k}: {given[k]!r} is not a finite number")
            row.append(v)
        return torch.tensor(row, dtype=torch.float32).expand(num_graphs, -1).clone()

    def features(self, values: Tensor) -> Tensor:
        """[G, 2P] network input from raw values [G, P] (NaN = not given)."""
        mean = values.new_tensor(self.mean)
        std = values.new_tensor(self.std)
        given = ~torch.isnan(values)
        z = torch.where(given, (values - mean) / std, torch.zeros_like(values))
        return torch.cat([z, given.to(values.dtype)], dim=-1)


def drop_properties(values: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Each property of each graph independently set to NaN (null) with probability ``p``, so
    training sees every subset of the properties, the empty one included."""
    if p <= 0:
        return values
    drop = torch.rand(values.shape, generator=generator, device=values.device) < p
    return values.masked_fill(drop, math.nan)


def drop_context(context: Context, num_graphs: int, p: float, generator: torch.Generator | None = None) -> Context:
    """The context (pocket) of each graph removed with probability ``p``: those graphs train the
    unconditional prediction."""
    if p <= 0:
        return context
    keep_graph = torch.rand(num_graphs, generator=generator, device=context.batch.device) >= p
    keep = keep_graph[context.batch]
    return Context(context.pos[keep], context.h[keep], context.batch[keep])


def ligand_only_flags(context: Context | None, num_graphs: int, device: torch.device) -> Tensor:
    """[G, 1]: 1 for graphs with no pocket atoms (ligand-only training molecules), else 0. Taken
    before pocket dropout, so a complex whose pocket is dropped keeps 0 (the null mode)."""
    if context is None:
        return torch.ones(num_graphs, 1, device=device)
    has_pocket = torch.bincount(context.batch, minlength=num_graphs) > 0
    return (~has_pocket).to(torch.float32)[:, None]

