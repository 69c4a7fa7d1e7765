"""Training a :class:`~moldiff.nn.regressor.PropertyRegressor` on QM9 with Lightning.

L1 loss on standardized values (as EDM's regressors); validation reports the mean absolute
error in physical units on the validation split; the model with the lowest validation error is
exported. The learning rate follows a cosine from ``lr`` to zero over the run's wall-clock budget,
so a run given N minutes ends annealed however fast the machine is.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger

from moldiff.datasets.molecules import MoleculeDataModule
from moldiff.nn.regressor import PropertyRegressor
from moldiff.training.run import WallClockStop


class RegressorSystem(pl.LightningModule):
    """Fits the regressor; keeps the best validation MAE and exports that model."""

    def __init__(self, regressor: PropertyRegressor, lr: float, minutes: float, out: Path):
        super().__init__()
        self.regressor, self.lr, self.seconds, self.out = regressor, lr, 60.0 * minutes, out
        self.start = time.monotonic()
        self.best = math.inf
        self._errors: list[torch.Tensor] = []

    def _predict(self, batch) -> torch.Tensor:
        return self.regressor.standardized(batch.pos, batch.atom_type, batch.charge, batch.ptr)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        frac = min(1.0, (time.monotonic() - self.start) / self.seconds)
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = 0.5 * self.lr * (1.0 + math.cos(math.pi * frac))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        target = (batch.y - self.regressor.mean) / self.regressor.std
        loss = (self._predict(batch) - target).abs().mean()
        self.log("train/l1", loss, prog_bar=True, batch_size=batch.num_graphs)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        pred = self._predict(batch) * self.regressor.std + self.regressor.mean
        self._errors.append((pred - batch.y).abs())

    def on_validation_epoch_end(self) -> None:
        mae = torch.cat(self._errors).mean(0)
        self._errors.clear()
        for name, v in zip(self.regressor.properties, mae.tolist()):
            self.log(f"val/mae_{name}", v)
        score = float((mae / self.regressor.std).mean())
        self.log("val/mae_std", score)
        if score < self.best and not self.trainer.sanity_checking:
            self.best = score
            self.regressor.save(self.out / "regressor.pt", step=self.global_step,
                                val_mae=dict(zip(self.regressor.properties, mae.tolist())))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.regressor.parameters(), lr=self.lr, weight_decay=1e-12)


def train_regressor(arrays, properties: list[str], out_dir: str | Path, half: str = "a", minutes: float = 10.0,
                    batch_size: int = 256, lr: float = 1e-3, hidden: int = 128, num_layers: int = 7,
                    val_every: int = 1000, num_workers: int = 4, precision: str = "32-true", seed: int = 0) -> Path:
    """Train on half ``half`` of the training split for ``minutes`` of wall time; returns the path
    of the best exported regressor (``<out_dir>/regressor.pt``)."""
    from moldiff.datasets.molecules import training_half

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(seed, workers=True, verbose=False)
    idx = training_half(arrays.split_indices("train"), half)
    values = [arrays.properties[k][idx] for k in properties]
    regressor = PropertyRegressor(len(arrays.vocab.elements), len(arrays.vocab.charges), properties,
                                  [float(v.mean()) for v in values], [float(v.std()) for v in values],
                                  hidden, num_layers)
    dm = MoleculeDataModule(arrays, arrays.vocab, batch_size, num_workers, seed=seed, properties=properties,
                            train_half=half)
    system = RegressorSystem(regressor, lr, minutes, out)
    trainer = pl.Trainer(accelerator="auto", devices=1, precision=precision, max_steps=10_000_000,
                         val_check_interval=val_every, check_val_every_n_epoch=None, num_sanity_val_steps=0,
                         logger=CSVLogger(out, name="logs"), log_every_n_steps=50, enable_model_summary=False,
                         use_distributed_sampler=False, enable_checkpointing=False,
                         callbacks=[TQDMProgressBar(refresh_rate=50), WallClockStop(minutes)])
    trainer.fit(system, datamodule=dm)
    trainer.validate(system, datamodule=dm, verbose=False)  # the final, annealed weights get their chance too
    return out / "regressor.pt"
