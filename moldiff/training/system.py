"""The Lightning "system": denoiser + process + EMA; training is q_sample -> denoiser -> loss.

Periodic validation reports the loss on validation molecules and the quality of molecules
sampled by the EMA model (stability, validity, uniqueness). Checkpoints carry RNG states, and
the EMA of the step they are taken at, so that a resumed run continues exactly.
"""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytorch_lightning as pl
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from moldiff.conditioning import drop_context, drop_properties, ligand_only_flags
from moldiff.config import config_from_dict
from moldiff.model import MolDiffModel
from moldiff.processes.joint import clean_state
from moldiff.vocab import Vocab


def sample_metrics(arrays, train_smiles: set[str] | None, explicit_h: bool = True) -> dict[str, float]:
    """Quality of sampled molecules: EDM stability for all-explicit-H models; validity,
    uniqueness and novelty when RDKit is installed (GPU training machines may lack it)."""
    from moldiff.chem.stability import atom_stability

    out = {}
    if explicit_h:
        stable = [atom_stability(a.elements, a.pos) for a in arrays]
        out = {"atom_stable": float(np.concatenate(stable).mean()), "mol_stable": float(np.mean([s.all() for s in stable]))}
    try:
        from moldiff.api import arrays_to_mols
        from moldiff.chem.metrics import evaluate_molecules
    except ImportError:
        return out
    metrics = evaluate_molecules(arrays_to_mols(arrays, explicit_h), train_smiles)
    keys = ("mol_stable_valence", "validity", "uniqueness", "validity_x_uniqueness", "novelty")
    for k in keys if explicit_h else ("validity", "validity_largest_frag", "uniqueness", "novelty"):
        if metrics.get(k) is not None and np.isfinite(metrics[k]):
            out[k] = float(metrics[k])
    return out


def learning_rate(step: int, t) -> float:
    """Learning rate at optimizer step ``step`` for a :class:`~moldiff.config.TrainCfg`: linear warm-up,
    constant, then an optional cosine decay to ``lr_min``. A pure function of the step, so resumed
    and warm-started runs (whose optimizer carries no scheduler state) follow the same curve."""
    lr = t.lr * min(1.0, (step + 1) / t.lr_warmup_steps) if t.lr_warmup_steps > 0 else t.lr
    if t.lr_decay_start is None or step < t.lr_decay_start:
        return lr
    frac = min(1.0, (step - t.lr_decay_start) / max(t.lr_decay_steps, 1))
    return t.lr_min + (lr - t.lr_min) * 0.5 * (1.0 + math.cos(math.pi * frac))


class DiffusionSystem(pl.LightningModule):
    """Trains ``net.denoiser`` under ``net.process``; keeps an EMA copy used for validation and export."""

    def __init__(self, config: dict, vocab: dict, marginals: dict, size_hist: list[float],
                 size_model: dict | None = None, conditions: dict | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.cfg = config_from_dict(config)
        self.net = MolDiffModel(self.cfg, Vocab.from_dict(vocab), marginals, size_hist, size_model, conditions)
        self.ema = AveragedModel(self.net.denoiser, multi_avg_fn=get_ema_multi_avg_fn(self.cfg.train.ema_decay))
        self.ema.requires_grad_(False)  # updated by averaging, never by gradients (DDP must not wait for them)
        self.train_smiles: set[str] | None = None
        self._compiled: dict[str, torch.nn.Module] = {}  # a plain dict: the compiled wrapper adds no state_dict keys
        self._stream_start, self._segment_step = 0, 0  # stream position and step when this run (segment) began

    @property
    def process(self):
        return self.net.process

    def _losses(self, batch, model, generator: torch.Generator | None = None,
                dropout: float = 0.0) -> dict[str, torch.Tensor]:
        nb = None if self.process.bond is None else self.process.bond.num_classes
        state, topo = clean_state(batch, nb)
        if self.net.flags_ligand_only:  # before dropout: a dropped pocket is the null mode, not a ligand-only molecule
            topo.cond = ligand_only_flags(topo.context, topo.num_graphs, topo.batch.device)
        if topo.context is not None:
            topo.context = drop_context(topo.context, topo.num_graphs, dropout, generator)
        properties = self.net.properties
        if properties is not None:
            topo.cond = properties.features(drop_properties(batch.y, dropout, generator))
        return self.process.loss(model, state, topo, generator=generator)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        lr = learning_rate(self.global_step, self.cfg.train)
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = lr

    def training_denoiser(self) -> torch.nn.Module:
        """The denoiser training steps call: with ``train.compile`` a ``torch.compile`` wrapper
        (dynamic shapes, compiled once on first use) that shares the denoiser's parameters."""
        if not self.cfg.train.compile:
            return self.net.denoiser
        if "denoiser" not in self._compiled:
            self._compiled["denoiser"] = torch.compile(self.net.denoiser, dynamic=True)
        return self._compiled["denoiser"]

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch, self.training_denoiser(), dropout=self.cfg.train.cond_dropout)
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=False, batch_size=batch.num_graphs)
        self.log("loss", losses["loss"], prog_bar=True, logger=False, batch_size=batch.num_graphs)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=batch.num_graphs)
        return losses["loss"]

    def optimizer_step(self, *args, **kwargs) -> None:
        """The optimizer step, then the EMA update, both before any callback's ``on_train_batch_end``:
        a checkpoint taken there (ModelCheckpoint's periodic one) holds the EMA of the same step,
        so a run killed after it resumes exactly (updating in this module's ``on_train_batch_end``,
        which runs after the callbacks, left the checkpoint one EMA update behind)."""
        super().optimizer_step(*args, **kwargs)
        self.ema.update_parameters(self.net.denoiser)

    def validation_step(self, batch, batch_idx: int) -> None:
        g = torch.Generator(device=self.device).manual_seed(1000 + batch_idx)
        losses = self._losses(batch, self.ema.module, g)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, sync_dist=True, batch_size=batch.num_graphs)

    def on_validation_epoch_end(self) -> None:
        """Sample ``val_num_samples`` molecules with the EMA model and log their quality. Under DDP
        each rank samples its share (molecules rank, rank + world, ...) and the molecules are
        gathered, so every rank computes the metrics of the whole set (uniqueness is not a mean)."""
        n = self.cfg.train.val_num_samples
        if n <= 0 or self.trainer.sanity_checking:
            return
        model = self.export()
        rank, world = self.global_rank, self.trainer.world_size
        g = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed + self.global_step + 7_919 * rank)
        context = None
        if model.conditional:  # one ligand per validation pocket, with the reference ligand's size
            batch = self._validation_pockets(n, rank, world)
            sizes = torch.zeros(0, dtype=torch.long) if batch is None else batch.ptr[1:] - batch.ptr[:-1]
            context = None if batch is None else clean_state(batch, None)[1].context
        else:
            sizes = model.sample_sizes(n, torch.Generator().manual_seed(self.global_step))[rank::world]
        arrays = model.sample_arrays(sizes, self.cfg.train.val_sample_steps, g, context=context) if len(sizes) else []
        if world > 1:
            shares = [None] * world
            torch.distributed.all_gather_object(shares, arrays)
            arrays = [a for share in shares for a in share]
        metrics = sample_metrics(arrays, self.train_smiles, "H" in model.vocab.elements)
        self.log_dict({f"val/{k}": v for k, v in metrics.items()}, sync_dist=True)  # equal on every rank

    def _validation_pockets(self, n: int, rank: int = 0, world: int = 1):
        """This rank's share (every ``world``-th from ``rank``) of the first ``n`` validation
        complexes that have a pocket (or, if none has, of the first ``n``), as one batch on this
        device; None when the share is empty."""
        from torch_geometric.data import Batch

        ds = self.trainer.datamodule.dataset("val")
        items = list(itertools.islice((it for it in map(ds.__getitem__, range(len(ds))) if len(it.pocket_pos)), n))
        items = (items or [ds[i] for i in range(min(n, len(ds)))])[rank::world]
        return Batch.from_data_list(items, follow_batch=list(ds.follow_batch)).to(self.device) if items else None

    def export(self) -> MolDiffModel:
        """A :class:`MolDiffModel` carrying the EMA weights (what gets shipped)."""
        model = MolDiffModel(self.cfg, self.net.vocab, self.net.marginals, self.net.size_hist,
                             self.net.size_model, self.net.conditions).to(self.device)
        model.denoiser.load_state_dict(self.ema.module.state_dict())
        return model

    def configure_optimizers(self):
        t = self.cfg.train
        return torch.optim.AdamW(self.net.denoiser.parameters(), lr=t.lr, weight_decay=t.weight_decay)

    @property
    def stream_position(self) -> int:
        """Training batches of the data stream consumed so far, over all ranks (each optimizer
        step takes one per rank); where a resumed run's loader starts."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return self._stream_start + (self.global_step - self._segment_step) * world

    def on_train_start(self) -> None:
        """Under DDP, give every rank its own noise stream (seeded by rank and step; a single
        device keeps the restored RNG state, so its resumption stays exact)."""
        if self.trainer.world_size > 1:
            torch.manual_seed(self.cfg.train.seed + 1_000_003 * self.global_step + 7_919 * self.global_rank)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["stream_position"] = self.stream_position
        checkpoint["rng"] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "python": random.getstate(),
                             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._segment_step = int(checkpoint.get("global_step", 0))
        self._stream_start = int(checkpoint.get("stream_position", self._segment_step))  # older: one device
        rng = checkpoint.get("rng")
        if rng is None:
            return
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
