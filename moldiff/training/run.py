"""Build data, system and Lightning trainer from a :class:`~moldiff.config.Config` and train.

Checkpoints (weights, EMA, optimizer, step, RNG) go to ``<out_dir>/checkpoints``; a run
restarted with the same out_dir resumes from ``last.ckpt``. The EMA weights are exported to
``<out_dir>/model.pt`` at the end, the file that :func:`moldiff.load_model` reads.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger
from torch import Tensor, nn

from moldiff.config import Config, ConfigError, DataCfg
from moldiff.conditioning import PropertyConditions
from moldiff.datasets.molecules import MoleculeDataModule, training_half
from moldiff.training.system import DiffusionSystem
from moldiff.vocab import Vocab


def warm_start_state(target: nn.Module, source: nn.Module) -> dict[str, Tensor]:
    """``source``'s weights shaped for the denoiser ``target``. Equal shapes are copied. A target
    with more condition inputs than its source (``cond_in``: e.g. a property-conditioned model
    started from an unconditional one) gets the source's columns in its condition layer
    (``cond_weight``, whose input ends with the condition features) and zeros in the new ones,
    so it computes exactly what the source did until training moves them. Any other difference
    is a ConfigError."""
    t_state, s_state = target.state_dict(), source.state_dict()
    if t_state.keys() != s_state.keys():
        diff = sorted(t_state.keys() ^ s_state.keys())
        raise ConfigError(f"train.init_weights: the denoisers differ in their parameters: {', '.join(diff[:4])}"
                          + (" ..." if len(diff) > 4 else ""))
    new_inputs = getattr(target, "cond_in", 0) - getattr(source, "cond_in", 0)
    state = {}
    for k, t in t_state.items():
        s = s_state[k]
        if s.shape == t.shape:
            state[k] = s
        elif k == getattr(target, "cond_weight", None) and new_inputs > 0 and t.shape == (s.shape[0], s.shape[1] + new_inputs):
            state[k] = torch.cat([s, s.new_zeros(s.shape[0], new_inputs)], dim=1)
        else:
            raise ConfigError(f"train.init_weights: {k} has shape {tuple(s.shape)}, this model needs {tuple(t.shape)}")
    return state


def load_dataset(cfg: DataCfg, aromatic: bool) -> tuple[object, Vocab]:
    """The cached arrays and vocabulary of ``cfg``: QM9 or a protein-ligand complex cache."""
    paths = _paths(cfg)
    if cfg.name == "qm9":
        from moldiff.datasets.qm9 import load_qm9

        arrays = load_qm9(paths[0], remove_h=cfg.remove_h, aromatic=aromatic)
    elif cfg.name == "complexes":
        from moldiff.datasets.complexes import concat_complexes, load_complexes

        if aromatic:
            raise ConfigError("process.aromatic: complex caches store kekulized bonds; set it to false")
        arrays = concat_complexes([load_complexes(p) for p in paths])
    else:
        raise ConfigError(f"data.name: unknown dataset {cfg.name!r}; available: qm9, complexes")
    return arrays, arrays.vocab


def _paths(cfg: DataCfg) -> list[str]:
    paths = [cfg.path] if isinstance(cfg.path, str) else list(cfg.path)
    if cfg.weights is not None and len(cfg.weights) != len(paths):
        raise ConfigError(f"data.weights: {len(cfg.weights)} weights for {len(paths)} data.path entries")
    if (len(paths) > 1 or cfg.weights is not None) and cfg.name != "complexes":
        raise ConfigError("data.path: a list of caches (and data.weights) works for complexes only")
    return paths


def training_indices(arrays, cfg: DataCfg) -> np.ndarray | None:
    """The training stream's complex indices when ``data.weights`` mixes several caches (each
    cache's training split repeated to its share), else None (the training split as it is)."""
    if cfg.weights is None:
        return None
    from moldiff.datasets.complexes import mixture_indices

    start = np.cumsum([0, *arrays.part_sizes])
    train = arrays.split_indices("train")
    parts = [train[(train >= a) & (train < b)] for a, b in zip(start[:-1], start[1:])]
    try:
        return mixture_indices(parts, cfg.weights)
    except ValueError as e:
        raise ConfigError(f"data.weights: {e}") from None


def dataset_statistics(arrays, cfg: DataCfg) -> dict:
    """Training-split class marginals (for marginal priors) and size histogram; for complexes
    also the ligand-size model given the pocket size; with ``cfg.properties`` their statistics on
    the molecules trained on (``conditions``)."""
    check_conditions(arrays, cfg)
    if cfg.name == "complexes":
        from moldiff.datasets.pockets import complex_statistics

        return complex_statistics(arrays, cfg.pocket_representation) | {"conditions": None}
    marginals = {"atom_type": arrays.type_marginals(), "charge": arrays.charge_marginals(),
                 "bond": arrays.bond_marginals()}
    conditions = None
    if cfg.properties:
        idx = arrays.split_indices("train")
        idx = idx if cfg.train_half is None else training_half(idx, cfg.train_half)
        conditions = PropertyConditions.fit(list(cfg.properties), {k: arrays.properties[k][idx] for k in cfg.properties},
                                            arrays.num_atoms[idx]).to_dict()
    return {"marginals": {k: np.asarray(v, dtype=float).tolist() for k, v in marginals.items()},
            "size_hist": np.asarray(arrays.num_atoms_histogram("train"), dtype=float).tolist(), "size_model": None,
            "conditions": conditions}


def check_conditions(arrays, cfg: DataCfg) -> None:
    """Property conditioning and training halves are QM9 options on properties the cache holds."""
    if (cfg.properties or cfg.train_half is not None) and cfg.name != "qm9":
        raise ConfigError("data.properties and data.train_half work with data.name: qm9 only")
    missing = [k for k in cfg.properties if k not in arrays.properties]
    if missing:
        raise ConfigError(f"data.properties: {', '.join(missing)} not in the cache; available: "
                          f"{', '.join(arrays.properties) or 'none (rebuild it with moldiff prepare qm9)'}")
    if cfg.train_half not in (None, "a", "b"):
        raise ConfigError(f"data.train_half must be a or b, got {cfg.train_half!r}")


def train_smiles(arrays) -> set[str]:
    """Canonical SMILES of the training split (novelty reference)."""
    return set(arrays.smiles[arrays.split_indices("train")].tolist())


class WallClockStop(pl.Callback):
    """Stop after ``minutes`` of wall time in *this* process (unlike Lightning's ``max_time``,
    whose elapsed time is restored on resume), so that each resumed chunk gets its own budget."""

    def __init__(self, minutes: float):
        self.seconds = 60.0 * minutes
        self.start = time.monotonic()

    def on_train_batch_end(self, trainer, *args) -> None:
        if time.monotonic() - self.start > self.seconds:
            trainer.should_stop = True


class StepClock(pl.Callback):
    """Print when the first step of this process ends, how long each of the next few took, and the
    step rate after the first: on a fresh GPU machine start-up and compilation (recompilations
    show in the early steps) can take most of a short chunk, and the log should say so. Each
    line starts on a line of its own, apart from the progress bar."""

    EARLY = 5  #: steps after the first that are timed one by one

    def __init__(self):
        self.start = time.monotonic()
        self.first: tuple[float, int] | None = None  # (time, global step) at the end of the first batch
        self.last = self.start
        self.batches = 0

    def on_train_batch_end(self, trainer, *args) -> None:
        now, self.batches = time.monotonic(), self.batches + 1
        if self.first is None:
            self.first = (now, trainer.global_step)
            if trainer.is_global_zero:
                print(f"\nfirst step done {now - self.start:.0f} s after start-up began", flush=True)
        elif self.batches <= 1 + self.EARLY and trainer.is_global_zero:
            print(f"\nstep {self.batches} took {now - self.last:.1f} s", flush=True)
        self.last = now

    def on_train_end(self, trainer, *args) -> None:
        if self.first is None or not trainer.is_global_zero:
            return
        seconds, steps = time.monotonic() - self.first[0], trainer.global_step - self.first[1]
        rate = f", {60.0 * steps / seconds:.0f} steps/min after the first" if seconds > 0 else ""
        print(f"{trainer.global_step} steps in {time.monotonic() - self.start:.0f} s{rate}", flush=True)


def train(cfg: Config, resume: str | None = None) -> Path:
    """Train (or resume) and export the EMA model; returns the exported weights path."""
    arrays, vocab = load_dataset(cfg.data, cfg.process.aromatic)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    out = Path(cfg.train.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    stats = dataset_statistics(arrays, cfg.data)
    last = out / "checkpoints" / "last.ckpt"
    resume = resume or (str(last) if last.exists() else None)
    if not 0.0 <= cfg.train.cond_dropout < 1.0:
        raise ConfigError(f"train.cond_dropout must lie in [0, 1), got {cfg.train.cond_dropout}")
    system = DiffusionSystem(cfg.to_dict(), vocab.to_dict(), stats["marginals"], stats["size_hist"], stats["size_model"],
                             stats["conditions"])
    system.train_smiles = train_smiles(arrays)
    if cfg.train.init_weights and not resume:
        from moldiff.api import load_model

        init = warm_start_state(system.net.denoiser, load_model(cfg.train.init_weights).denoiser)
        system.net.denoiser.load_state_dict(init)
        system.ema.module.load_state_dict(init)
    dm = MoleculeDataModule(arrays, vocab, cfg.data.batch_size, cfg.data.num_workers, cfg.data.limit_train,
                            cfg.train.seed, cfg.data.pocket_representation if cfg.data.name == "complexes" else None,
                            training_indices(arrays, cfg.data), cfg.data.properties, cfg.data.train_half)
    t = cfg.train
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", save_last=True, every_n_train_steps=t.ckpt_every_n_steps,
                           save_top_k=0 if t.val_every_n_steps <= 0 else 1, monitor="val/loss" if t.val_every_n_steps > 0 else None)
    trainer = pl.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_steps=t.max_steps, gradient_clip_val=t.grad_clip,
        val_check_interval=t.val_every_n_steps if t.val_every_n_steps > 0 else None,
        check_val_every_n_epoch=None, limit_val_batches=0 if t.val_every_n_steps <= 0 else 20,
        num_sanity_val_steps=0, logger=CSVLogger(out, name="logs"), log_every_n_steps=t.log_every_n_steps,
        callbacks=[ckpt, TQDMProgressBar(refresh_rate=20), StepClock(),
                   *([WallClockStop(t.max_time_minutes)] if t.max_time_minutes else [])],
        enable_model_summary=False,
        use_distributed_sampler=False,  # ShuffledBatches deals the stream between the ranks itself
    )
    trainer.fit(system, datamodule=dm, ckpt_path=resume, weights_only=False)  # our own checkpoints carry RNG state
    trainer.save_checkpoint(last)  # also when stopped by max_time, so the next chunk resumes here
    path = out / "model.pt"
    if trainer.is_global_zero:
        system.export().cpu().save(path)
    return path
