"""PyG datasets over cached molecule arrays, and the LightningDataModule that serves them."""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from moldiff.vocab import Vocab


class MoleculeDataset(torch.utils.data.Dataset):
    """Molecules ``indices`` of a cached array set as PyG ``Data`` with fields ``pos`` [n, 3],
    ``atom_type`` [n], ``charge`` [n] (vocabulary indices), ``edge_index`` [2, m] (bonds i < j)
    and ``bond_type`` [m] (1 single, 2 double, 3 triple, 4 aromatic in 5-class arrays)."""

    def __init__(self, arrays, indices: np.ndarray, vocab: Vocab):
        self.arrays = arrays
        self.indices = np.asarray(indices)
        self.charge_lut = np.full(256, -1, dtype=np.int64)
        for k, c in enumerate(vocab.charges):
            self.charge_lut[c % 256] = k

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Data:
        pos, types, charges, bonds = self.arrays.molecule(int(self.indices[i]))
        charge_idx = self.charge_lut[np.asarray(charges, dtype=np.int64) % 256]
        if (charge_idx < 0).any():
            raise ValueError(f"molecule {self.indices[i]}: formal charge outside the vocabulary")
        bond_type = bonds[:, 2].astype(np.int64)
        return Data(pos=torch.as_tensor(pos, dtype=torch.float32),
                    atom_type=torch.as_tensor(types, dtype=torch.long),
                    charge=torch.as_tensor(charge_idx, dtype=torch.long),
                    edge_index=torch.as_tensor(bonds[:, :2].T.astype(np.int64)).reshape(2, -1),
                    bond_type=torch.as_tensor(bond_type),
                    num_nodes=len(types))


class MoleculeDataModule(pl.LightningDataModule):
    """Train/val/test loaders over one cached array set with fixed split indices."""

    def __init__(self, arrays, vocab: Vocab, batch_size: int, num_workers: int = 0, limit_train: int | None = None):
        super().__init__()
        self.arrays, self.vocab = arrays, vocab
        self.batch_size, self.num_workers = batch_size, num_workers
        self.limit_train = limit_train

    def dataset(self, split: str) -> MoleculeDataset:
        idx = self.arrays.split_indices(split)
        if split == "train" and self.limit_train:
            idx = idx[: self.limit_train]
        return MoleculeDataset(self.arrays, idx, self.vocab)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        ds = self.dataset(split)
        return DataLoader(ds, batch_size=min(self.batch_size, len(ds)), shuffle=shuffle, drop_last=shuffle,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
