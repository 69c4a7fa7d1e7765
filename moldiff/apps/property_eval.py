"""EDM's protocol for property-conditioned generation on QM9 (Hoogeboom et al. 2022, sec. 5.2).

A regressor trained on half a of the training split judges molecules from a generator trained
on half b: targets (atom count, property value) are drawn together from half b, the generator
is asked for molecules of that size and value, and the regressor's mean absolute error against
the targets is the score. Three reference points come from real molecules of half b: the
regressor's own error ("QM9, lower bound"), its error against shuffled targets ("naive, upper
bound") and the error of predicting the value from the atom count alone ("#atoms"; the mean
value per atom count on half a).
"""
from __future__ import annotations

import numpy as np
import torch

from moldiff.chem.arrays import MolArrays
from moldiff.datasets.molecules import training_half
from moldiff.nn.regressor import PropertyRegressor
from moldiff.vocab import Vocab


def target_pairs(qm9, n: int, seed: int = 0, half: str = "b") -> tuple[np.ndarray, np.ndarray]:
    """``n`` molecules of training half ``half`` drawn with replacement: (their indices, atom counts)."""
    idx = training_half(qm9.split_indices("train"), half)
    pick = np.random.default_rng(seed).choice(idx, size=n, replace=True)
    return pick, qm9.num_atoms[pick]


def _flat(pos: list[np.ndarray], types: list[np.ndarray], charges: list[np.ndarray], device) -> tuple:
    sizes = torch.tensor([len(t) for t in types])
    ptr = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)]).to(device)
    cat = lambda xs, dtype: torch.as_tensor(np.concatenate(xs), dtype=dtype, device=device)  # noqa: E731
    return cat(pos, torch.float32), cat(types, torch.long), cat(charges, torch.long), ptr


@torch.no_grad()
def predict(regressor: PropertyRegressor, pos: list[np.ndarray], types: list[np.ndarray],
            charges: list[np.ndarray], batch_size: int = 1024) -> np.ndarray:
    """[n, P] regressor predictions for molecules given as per-molecule coordinates and vocabulary
    indices of types and charges."""
    device = regressor.mean.device
    out = []
    for start in range(0, len(types), batch_size):
        sl = slice(start, start + batch_size)
        out.append(regressor(*_flat(pos[sl], types[sl], charges[sl], device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(regressor.properties)), np.float32)


def predict_arrays(regressor: PropertyRegressor, mols: list[MolArrays], vocab: Vocab, batch_size: int = 1024) -> np.ndarray:
    """Predictions for generated molecules (element symbols and formal charges mapped to ``vocab``)."""
    types = [np.array([vocab.element_index(e) for e in m.elements]) for m in mols]
    charges = [np.array([vocab.charge_index(int(c)) for c in m.charges]) for m in mols]
    return predict(regressor, [m.pos for m in mols], types, charges, batch_size)


def predict_dataset(regressor: PropertyRegressor, qm9, indices: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Predictions for molecules ``indices`` of a QM9 cache."""
    mols = [qm9.molecule(int(i)) for i in indices]
    lut = {c: k for k, c in enumerate(qm9.vocab.charges)}
    return predict(regressor, [m[0] for m in mols], [m[1] for m in mols],
                   [np.array([lut[int(c)] for c in m[2]]) for m in mols], batch_size)


def half_b_predictions(regressor: PropertyRegressor, qm9) -> tuple[np.ndarray, np.ndarray]:
    """The molecules of training half b (indices) and the regressor's predictions for them [n, P]:
    computed once per regressor, they serve :func:`reference_errors` of every property it predicts."""
    b = training_half(qm9.split_indices("train"), "b")
    return b, predict_dataset(regressor, qm9, b)


def reference_errors(qm9, name: str, b: np.ndarray, pred: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The protocol's reference MAEs for property ``name`` from predictions ``pred`` [n] of its
    values for half-b molecules ``b`` (:func:`half_b_predictions`)."""
    truth = qm9.properties[name][b]
    shuffled = np.random.default_rng(seed).permutation(truth)
    return {"lower_bound": float(np.abs(pred - truth).mean()),
            "naive_upper_bound": float(np.abs(pred - shuffled).mean()),
            "atoms_only": float(np.abs(atoms_only_prediction(qm9, name, qm9.num_atoms[b]) - truth).mean())}


def atoms_only_prediction(qm9, name: str, num_atoms: np.ndarray) -> np.ndarray:
    """The mean value of ``name`` among half-a molecules of each atom count (the overall mean for
    counts half a never has)."""
    a = training_half(qm9.split_indices("train"), "a")
    values, counts = qm9.properties[name][a], qm9.num_atoms[a]
    size = int(max(counts.max(), num_atoms.max())) + 1
    total = np.bincount(counts, weights=values, minlength=size)
    seen = np.bincount(counts, minlength=size)
    means = np.where(seen > 0, total / np.maximum(seen, 1), values.mean())
    return means[num_atoms]
