"""Build data, system and Lightning trainer from a :class:`~moldiff.config.Config` and train.

Checkpoints (weights, EMA, optimizer, step, RNG) go to ``<out_dir>/checkpoints``; a run
restarted with the same out_dir resumes from ``last.ckpt``. The EMA weights are exported to
``<out_dir>/model.pt`` at the end, the file that :func:`moldiff.load_model` reads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger

from moldiff.config import Config, ConfigError
from moldiff.datasets.molecules import MoleculeDataModule
from moldiff.pipeline import size_histogram
from moldiff.training.system import DiffusionSystem
from moldiff.vocab import QM9_HEAVY_VOCAB, QM9_VOCAB, Vocab


def load_dataset(cfg) -> tuple[object, Vocab]:
    """The cached arrays and vocabulary of ``cfg.data`` (only 'qm9' for now)."""
    if cfg.name != "qm9":
        raise ConfigError(f"data.name: unknown dataset {cfg.name!r}; available: qm9")
    from moldiff.datasets.qm9 import load_qm9

    arrays = load_qm9(cfg.path, remove_h=cfg.remove_h)
    return arrays, (QM9_HEAVY_VOCAB if cfg.remove_h else QM9_VOCAB)


def dataset_statistics(arrays, vocab: Vocab, aromatic: bool, limit_train: int | None = None) -> dict:
    """Class marginals of the training split (for marginal priors) and its size histogram."""
    idx = arrays.split_indices("train")[:limit_train] if limit_train else arrays.split_indices("train")
    types, charges, bonds, sizes, pairs = [], [], [], [], 0
    for i in idx:
        pos, t, c, b = arrays.molecule(int(i))
        types.append(t)
        charges.append(c)
        cls = b[:, 2].copy()
        if aromatic and b.shape[1] > 3:
            cls[b[:, 3] > 0] = 4
        bonds.append(cls)
        sizes.append(len(t))
        pairs += len(t) * (len(t) - 1) // 2
    nb = 5 if aromatic else 4
    bond_counts = np.bincount(np.concatenate(bonds).astype(int), minlength=nb).astype(float)
    bond_counts[0] = pairs - bond_counts[1:].sum()
    type_counts = np.bincount(np.concatenate(types).astype(int), minlength=len(vocab.elements)).astype(float)
    ch = np.concatenate(charges).astype(int)
    charge_counts = np.array([(ch == c).sum() for c in vocab.charges], dtype=float)
    norm = lambda x: (x / x.sum()).tolist()  # noqa: E731
    return {"marginals": {"atom_type": norm(type_counts), "charge": norm(charge_counts), "bond": norm(bond_counts)},
            "size_hist": size_histogram(np.array(sizes))}


def train(cfg: Config, resume: str | None = None) -> Path:
    """Train (or resume) and export the EMA model; returns the exported weights path."""
    pl.seed_everything(cfg.train.seed, workers=True)
    arrays, vocab = load_dataset(cfg.data)
    out = Path(cfg.train.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    stats = dataset_statistics(arrays, vocab, cfg.process.aromatic, cfg.data.limit_train)
    system = DiffusionSystem(cfg.to_dict(), vocab.to_dict(), stats["marginals"], stats["size_hist"])
    if hasattr(arrays, "train_smiles"):
        system.train_smiles = set(arrays.train_smiles())
    dm = MoleculeDataModule(arrays, vocab, cfg.data.batch_size, cfg.data.num_workers, cfg.process.aromatic,
                            cfg.data.limit_train)
    t = cfg.train
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", save_last=True, every_n_train_steps=t.ckpt_every_n_steps,
                           save_top_k=0 if t.val_every_n_steps <= 0 else 1, monitor="val/loss" if t.val_every_n_steps > 0 else None)
    max_time = {"minutes": t.max_time_minutes} if t.max_time_minutes else None
    trainer = pl.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_steps=t.max_steps, max_time=max_time, gradient_clip_val=t.grad_clip,
        val_check_interval=t.val_every_n_steps if t.val_every_n_steps > 0 else None,
        check_val_every_n_epoch=None, limit_val_batches=0 if t.val_every_n_steps <= 0 else 20,
        num_sanity_val_steps=0, logger=CSVLogger(out, name="logs"), log_every_n_steps=t.log_every_n_steps,
        callbacks=[ckpt, TQDMProgressBar(refresh_rate=20)], enable_model_summary=False,
    )
    last = out / "checkpoints" / "last.ckpt"
    resume = resume or (str(last) if last.exists() else None)
    trainer.fit(system, datamodule=dm, ckpt_path=resume)
    path = out / "model.pt"
    if trainer.is_global_zero:
        system.export().cpu().save(path)
    return path
