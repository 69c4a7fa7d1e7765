"""Pockets to sample in, as the model sees them: the per-atom features, the two representations
(all heavy atoms or C-alphas), the :class:`Pocket` type and the ligand-size model given the pocket
size. Reading structures and cutting pockets out of them is chemistry (:mod:`moldiff.chem.pocket`);
the training data set of complexes is :mod:`moldiff.datasets.pockets`, which builds on this module.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from moldiff.vocab import POCKET_ELEMENTS, POCKET_RESIDUES

#: Size of the per-atom pocket feature vector: element one-hot, residue one-hot, backbone flag.
POCKET_FEATURE_DIM = len(POCKET_ELEMENTS) + len(POCKET_RESIDUES) + 1
#: Pocket representation -> what it keeps: all heavy atoms or the C-alphas alone.
POCKET_REPRESENTATIONS = {"full": "full-atom", "ca": "C-alpha"}


def check_representation(representation: str) -> None:
    """A one-line ``ValueError`` for a name outside :data:`POCKET_REPRESENTATIONS`."""
    if representation not in POCKET_REPRESENTATIONS:
        raise ValueError(f"pocket representation must be one of {', '.join(POCKET_REPRESENTATIONS)}, "
                         f"got {representation!r}")


def pocket_feature_matrix(element: np.ndarray, residue: np.ndarray, backbone: np.ndarray) -> np.ndarray:
    """[M, POCKET_FEATURE_DIM] float32 features of pocket atoms from their vocabulary indices."""
    m = len(element)
    out = np.zeros((m, POCKET_FEATURE_DIM), dtype=np.float32)
    rows = np.arange(m)
    out[rows, np.asarray(element, dtype=np.int64)] = 1.0
    out[rows, len(POCKET_ELEMENTS) + np.asarray(residue, dtype=np.int64)] = 1.0
    out[:, -1] = np.asarray(backbone, dtype=np.float32)
    return out


def pocket_atom_mask(ca: np.ndarray, representation: str) -> np.ndarray:
    """Which pocket atoms a representation keeps: all heavy atoms ('full') or C-alphas ('ca')."""
    check_representation(representation)
    return np.ones(len(ca), dtype=bool) if representation == "full" else np.asarray(ca, dtype=bool)


@dataclass
class Pocket:
    """A pocket to sample in: context-atom coordinates [M, 3] in the protein's own frame, their
    features [M, POCKET_FEATURE_DIM], which atoms they are (``representation``, a key of
    :data:`POCKET_REPRESENTATIONS`: a model samples only in pockets of the representation it was
    trained on) and ``source``, the file they came from."""

    pos: np.ndarray
    features: np.ndarray
    representation: str
    source: str = ""

    def __post_init__(self) -> None:
        check_representation(self.representation)

    @classmethod
    def from_arrays(cls, pos: np.ndarray, element: np.ndarray, residue: np.ndarray, backbone: np.ndarray,
                    ca: np.ndarray, representation: str = "full", source: str = "") -> "Pocket":
        """Pocket atoms (vocabulary indices) reduced to a representation."""
        keep = pocket_atom_mask(ca, representation)
        return cls(np.asarray(pos, dtype=np.float64)[keep],
                   pocket_feature_matrix(np.asarray(element)[keep], np.asarray(residue)[keep],
                                         np.asarray(backbone)[keep]), representation, source)


def sample_size(hist: Sequence[float], n: int, generator: torch.Generator, min_size: int = 1) -> torch.Tensor:
    """``n`` draws from a size histogram (index = atom count) truncated below ``min_size``."""
    p = torch.tensor(np.asarray(hist, dtype=np.float64), dtype=torch.float64)
    p[:min_size] = 0
    if p.sum() <= 0:
        raise ValueError(f"the model never generates molecules of {min_size} or more atoms; give the size (num_atoms)")
    return torch.multinomial(p / p.sum(), n, replacement=True, generator=generator)


class PocketSizeModel:
    """p(ligand atoms | pocket atoms): training ligand-size histograms in pocket-size bins
    (quantile bin edges, so every bin holds about as many complexes)."""

    def __init__(self, bin_edges: Sequence[float], hists: Sequence[Sequence[float]], max_pocket_atoms: int):
        self.bin_edges = np.asarray(bin_edges, dtype=np.float64)
        self.hists = [np.asarray(h, dtype=np.float64) for h in hists]
        self.max_pocket_atoms = int(max_pocket_atoms)

    @classmethod
    def fit(cls, pocket_sizes: np.ndarray, ligand_sizes: np.ndarray, num_bins: int = 10) -> "PocketSizeModel":
        edges = np.unique(np.quantile(pocket_sizes, np.linspace(0, 1, num_bins + 1)[1:-1]))
        which = np.searchsorted(edges, pocket_sizes, side="right")
        top = int(ligand_sizes.max()) + 1
        hists = [np.bincount(ligand_sizes[which == b], minlength=top).astype(float) for b in range(len(edges) + 1)]
        return cls(edges, hists, int(pocket_sizes.max()))

    def sample(self, pocket_size: int, n: int, generator: torch.Generator, min_size: int = 1) -> torch.Tensor:
        """``n`` ligand sizes for a pocket of ``pocket_size`` atoms, at least ``min_size`` each
        (the histogram truncated below it)."""
        h = self.hists[int(np.searchsorted(self.bin_edges, pocket_size, side="right"))]
        if h[min_size:].sum() == 0:  # an empty bin (tiny training sets): fall back to all sizes
            h = np.sum([np.pad(x, (0, max(map(len, self.hists)) - len(x))) for x in self.hists], axis=0)
        return sample_size(h, n, generator, min_size)

    def to_dict(self) -> dict:
        return {"bin_edges": self.bin_edges.tolist(), "hists": [h.tolist() for h in self.hists],
                "max_pocket_atoms": self.max_pocket_atoms}

    @classmethod
    def from_dict(cls, d: dict) -> "PocketSizeModel":
        return cls(d["bin_edges"], d["hists"], d["max_pocket_atoms"])
