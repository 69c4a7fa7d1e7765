"""PyG datasets over cached molecule arrays, and the LightningDataModule that serves them."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from moldiff.vocab import Vocab


class MoleculeDataset(torch.utils.data.Dataset):
    """Molecules ``indices`` of a cached array set as PyG ``Data`` with fields ``pos`` [n, 3],
    ``atom_type`` [n], ``charge`` [n] (vocabulary indices), ``edge_index`` [2, m] (bonds i < j)
    and ``bond_type`` [m] (1 single, 2 double, 3 triple, 4 aromatic in 5-class arrays); with
    ``properties`` also ``y`` [1, P], the molecule's values of those properties."""

    def __init__(self, arrays, indices: np.ndarray, vocab: Vocab, properties: Sequence[str] = ()):
        self.arrays = arrays
        self.indices = np.asarray(indices)
        missing = [k for k in properties if k not in getattr(arrays, "properties", {})]
        if missing:
            raise ValueError(f"the molecule cache holds no values of {', '.join(missing)}; rebuild it with "
                             "`moldiff prepare qm9`")
        self.y = np.stack([arrays.properties[k] for k in properties], axis=1).astype(np.float32) if properties else None
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
        data = Data(pos=torch.as_tensor(pos, dtype=torch.float32),
                    atom_type=torch.as_tensor(types, dtype=torch.long),
                    charge=torch.as_tensor(charge_idx, dtype=torch.long),
                    edge_index=torch.as_tensor(bonds[:, :2].T.astype(np.int64)).reshape(2, -1),
                    bond_type=torch.as_tensor(bond_type),
                    num_nodes=len(types))
        if self.y is not None:
            data.y = torch.from_numpy(self.y[self.indices[i]][None])
        return data


#: Seed of the permutation that cuts a training split into halves a and b.
HALF_SEED = 7


def training_half(indices: np.ndarray, half: str) -> np.ndarray:
    """Half ``a`` or ``b`` of a training split: a seeded permutation cut in two, each half
    sorted (EDM's property protocol: the property regressor learns on a, the generator on b)."""
    if half not in ("a", "b"):
        raise ValueError(f"training half must be 'a' or 'b', got {half!r}")
    perm = np.random.default_rng(HALF_SEED).permutation(len(indices))
    cut = len(indices) // 2
    return np.sort(np.asarray(indices)[perm[:cut] if half == "a" else perm[cut:]])


class ShuffledBatches(torch.utils.data.Sampler):
    """An endless stream of training batches: epoch e is a permutation drawn from (seed, e),
    cut into full batches. Batch k of the stream depends only on (seed, k), so a run resumed
    at stream position k (``start=k``) sees exactly the batches the uninterrupted run would have seen.

    Under data parallelism (``world_size`` ranks) the ranks deal the stream between them: rank r
    takes batches start + r, start + r + world_size, ... Each optimizer step then consumes
    ``world_size`` consecutive stream batches, so a run can resume on another number of devices
    from the stream position it stopped at."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1):
        if n < batch_size:
            raise ValueError(f"training set ({n} molecules) is smaller than one batch ({batch_size})")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.rank, self.world_size = rank, world_size
        self.per_epoch = n // batch_size

    def __iter__(self):
        k = self.start
        while True:
            epoch, b = divmod(k, self.per_epoch)
            perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
            for b in range(b, self.per_epoch):
                if (epoch * self.per_epoch + b - self.start) % self.world_size == self.rank:
                    yield perm[b * self.batch_size:(b + 1) * self.batch_size].tolist()
            k = (epoch + 1) * self.per_epoch


class MoleculeDataModule(pl.LightningDataModule):
    """Train/val/test loaders over one cached array set with fixed split indices.

    Training is step-based (``max_steps``) over an endless stream of batches, so a resumed run
    continues mid-epoch exactly (see :class:`ShuffledBatches`). With ``pocket_representation``
    the arrays are protein-ligand complexes served by
    :class:`~moldiff.datasets.pockets.ComplexDataset`; ``train_indices`` replaces the training
    split (e.g. a weighted mixture of caches, see :func:`~moldiff.training.run.training_indices`).
    ``properties``: molecules carry those property values as ``y``; ``train_half``: train on one
    half of the training split (:func:`training_half`)."""

    def __init__(self, arrays, vocab: Vocab, batch_size: int, num_workers: int = 0, limit_train: int | None = None,
                 seed: int = 0, pocket_representation: str | None = None, train_indices: np.ndarray | None = None,
                 properties: Sequence[str] = (), train_half: str | None = None):
        super().__init__()
        if train_half is not None:
            train_indices = training_half(arrays.split_indices("train") if train_indices is None else train_indices,
                                          train_half)
        self.train_indices = train_indices
        self.properties = tuple(properties)
        self.seed = seed
        self.pocket_representation = pocket_representation
        self.arrays, self.vocab = arrays, vocab
        self.batch_size, self.num_workers = batch_size, num_workers
        self.limit_train = limit_train

    def dataset(self, split: str) -> torch.utils.data.Dataset:
        use_stream = split == "train" and self.train_indices is not None
        idx = self.train_indices if use_stream else self.arrays.split_indices(split)
        if split == "train" and self.limit_train:
            idx = idx[: self.limit_train]
        if self.pocket_representation is None:
            return MoleculeDataset(self.arrays, idx, self.vocab, self.properties)
        from moldiff.datasets.pockets import ComplexDataset

        return ComplexDataset(self.arrays, idx, self.vocab, self.pocket_representation)

    def _loader(self, split: str) -> DataLoader:
        ds = self.dataset(split)
        return DataLoader(ds, batch_size=min(self.batch_size, len(ds)), num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, follow_batch=self._follow(ds))

    @staticmethod
    def _follow(ds) -> list[str] | None:
        return list(getattr(ds, "follow_batch", ())) or None

    def train_dataloader(self) -> DataLoader:
        """Endless shuffled batches from the (restored) stream position, dealt between the
        ranks under DDP; the loader's own generator keeps worker seeding off the global RNG,
        which holds the noise."""
        ds = self.dataset("train")
        start, rank, world = 0, 0, 1
        if self.trainer is not None:
            module = self.trainer.lightning_module
            start = getattr(module, "stream_position", self.trainer.global_step)
            rank, world = self.trainer.global_rank, self.trainer.world_size
        batches = ShuffledBatches(len(ds), min(self.batch_size, len(ds)), self.seed, start, rank, world)
        return DataLoader(ds, batch_sampler=batches, num_workers=self.num_workers, follow_batch=self._follow(ds),
                          persistent_workers=self.num_workers > 0, generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
