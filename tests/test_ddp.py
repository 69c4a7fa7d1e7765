"""Data-parallel training on the CPU (two gloo processes): the ranks deal the batch stream
between them, end with identical weights, and a run resumes on another number of devices from
the stream position it stopped at."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Each rank appends (step, a rotation-invariant fingerprint of its batch) and saves its weights.
PROGRAM = '''
import sys
import torch
from moldiff.config import load_config
from moldiff.model import MolDiffModel
from moldiff.training.run import train
from moldiff.training.system import DiffusionSystem

out, devices, steps, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
validate = len(sys.argv) > 5
training_step = DiffusionSystem.training_step
sample_arrays = MolDiffModel.sample_arrays


def logged_sampling(self, sizes, *args, **kwargs):
    arrays = sample_arrays(self, sizes, *args, **kwargs)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    with open(f"{out}/val_rank{rank}.txt", "a") as f:
        f.write(" ".join(f"{float((a.pos ** 2).sum()):.5f}" for a in arrays) + "\\n")
    return arrays


def logged_step(self, batch, idx):
    with open(f"{out}/batches_rank{self.global_rank}.txt", "a") as f:
        f.write(f"{self.global_step} {int(batch.num_nodes)} {float((batch.pos.double() ** 2).sum()):.5f}\\n")
    return training_step(self, batch, idx)


def save_weights(self):
    torch.save(self.net.denoiser.state_dict(), f"{out}/weights_rank{self.global_rank}_step{self.global_step}.pt")


DiffusionSystem.training_step = logged_step
DiffusionSystem.on_train_end = save_weights
MolDiffModel.sample_arrays = logged_sampling
overrides = [f"train.devices={devices}", f"train.strategy={'ddp' if devices > 1 else 'auto'}", "train.accelerator=cpu",
             f"train.max_steps={steps}", f"train.out_dir={out}", f"data.path={data}", "data.limit_train=64",
             "train.ckpt_every_n_steps=1000", "train.log_every_n_steps=1"]
if validate:
    overrides += ["train.val_every_n_steps=3", "train.val_num_samples=5", "train.val_sample_steps=2"]
train(load_config("configs/tiny.yaml", overrides))
'''


def _train(tmp_path: Path, out: Path, devices: int, steps: int, data: Path, validate: bool = False) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(PROGRAM)
    res = subprocess.run([sys.executable, str(script), str(out), str(devices), str(steps), str(data)]
                         + ["validate"] * validate, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


def _batches(path: Path) -> dict[int, str]:
    return {int(line.split()[0]): " ".join(line.split()[1:]) for line in path.read_text().splitlines()}


def test_two_ranks_share_the_stream_end_identical_and_resume_on_one_device(small_qm9, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    _train(tmp_path, single, 1, 8, small_qm9)
    stream = _batches(single / "batches_rank0.txt")  # one device: step k takes stream batch k
    assert len(set(stream.values())) == 8

    _train(tmp_path, ddp, 2, 3, small_qm9, validate=True)
    rank0, rank1 = _batches(ddp / "batches_rank0.txt"), _batches(ddp / "batches_rank1.txt")
    assert [rank0[j] for j in range(3)] == [stream[0], stream[2], stream[4]]  # rank r, step j: batch 2j + r
    assert [rank1[j] for j in range(3)] == [stream[1], stream[3], stream[5]]
    w0, w1 = torch.load(ddp / "weights_rank0_step3.pt"), torch.load(ddp / "weights_rank1_step3.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # gradients were averaged: one model
    w_single = torch.load(single / "weights_rank0_step8.pt")
    assert not all(torch.equal(w0[k], w_single[k]) for k in w0)
    ckpt = torch.load(ddp / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 3 and ckpt["stream_position"] == 6
    assert (ddp / "model.pt").exists()
    # validation at step 3: the ranks sampled 3 and 2 different molecules of the 5, and logged the whole set's metrics
    val0, val1 = ((ddp / f"val_rank{r}.txt").read_text().split() for r in (0, 1))
    assert (len(val0), len(val1)) == (3, 2) and not set(val0) & set(val1)
    log = next((ddp / "logs").glob("version_*/metrics.csv")).read_text()
    assert "val/atom_stable" in log.splitlines()[0]

    _train(tmp_path, ddp, 1, 5, small_qm9)  # resume the 2-device run on one device
    resumed = _batches(ddp / "batches_rank0.txt")
    assert [resumed[3], resumed[4]] == [stream[6], stream[7]]  # continues where the stream stopped
    ckpt = torch.load(ddp / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 5 and ckpt["stream_position"] == 8


def test_ranks_deal_the_stream_without_overlap_across_epochs():
    from itertools import islice

    from moldiff.datasets.molecules import ShuffledBatches

    whole = list(islice(iter(ShuffledBatches(50, 7, seed=3, start=5)), 12))  # 7 batches per epoch: crosses epochs
    for world in (2, 3):
        parts = [list(islice(iter(ShuffledBatches(50, 7, seed=3, start=5, rank=r, world_size=world)), 12 // world))
                 for r in range(world)]
        assert [parts[k % world][k // world] for k in range(12)] == whole
    with pytest.raises(ValueError, match="rank 2"):
        ShuffledBatches(50, 7, seed=3, rank=2, world_size=2)
