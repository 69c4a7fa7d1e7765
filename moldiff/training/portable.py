"""Pack a Lightning training checkpoint into small shards and back, so that training can move
between machines with file-size limits (e.g. 16 MiB per file) and resume where it stopped.

Everything is kept exactly (weights, EMA, step, loops, RNG, second Adam moments) except the
first Adam moment ``exp_avg``, stored in bfloat16 to halve the optimizer's size.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

COMPACT_KEYS = ("exp_avg",)


def _compact_optimizer(ckpt: dict, dtype: torch.dtype) -> None:
    for opt in ckpt.get("optimizer_states", []):
        for state in opt["state"].values():
            for k in COMPACT_KEYS:
                if k in state and state[k].is_floating_point():
                    state[k] = state[k].to(dtype)


def pack(ckpt_path: str | Path, out_dir: str | Path, shard_mb: float = 15.0, prefix: str = "ckpt") -> list[Path]:
    """Write ``<prefix>.part000...`` shards of a compacted checkpoint into ``out_dir``."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    _compact_optimizer(ckpt, torch.bfloat16)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    data = buf.getvalue()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size = int(shard_mb * 2 ** 20)
    paths = []
    for k, start in enumerate(range(0, len(data), size)):
        p = out / f"{prefix}.part{k:03d}"
        p.write_bytes(data[start:start + size])
        paths.append(p)
    return paths


def unpack(shard_dir: str | Path, ckpt_path: str | Path, prefix: str = "ckpt") -> Path:
    """Reassemble shards into a Lightning checkpoint (first moments back in float32)."""
    parts = sorted(Path(shard_dir).glob(f"{prefix}.part*"))
    if not parts:
        raise FileNotFoundError(f"{shard_dir}: no {prefix}.part* shards")
    ckpt = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), map_location="cpu", weights_only=False)
    _compact_optimizer(ckpt, torch.float32)
    ckpt_path = Path(ckpt_path)
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(ckpt_path)
    return ckpt_path
