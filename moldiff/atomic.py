"""Atomic file writes: write to a temporary file in the target's folder, then rename over the
target, so an interrupted or failed run never leaves a half-written output or destroys the old one."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np


def _atomic(path: str | os.PathLike, mode: str, write: Callable[[IO], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return _atomic(path, "w", lambda handle: handle.write(text))


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez_compressed`` to ``path`` atomically."""
    return _atomic(path, "wb", lambda handle: np.savez_compressed(handle, **arrays))


def save_torch(path: str | os.PathLike, obj: object) -> Path:
    """``torch.save`` of ``obj`` to ``path`` atomically."""
    import torch

    return _atomic(path, "wb", lambda handle: torch.save(obj, handle))
