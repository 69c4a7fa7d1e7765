"""Atomic file writes: write to a temporary file in the target's folder, then rename over the
target, so an interrupted or failed run never leaves a half-written output or destroys the old one;
the check, before any work, that an output can be written there at all; and the SHA-1 of a file,
which derived files record of their inputs. Imports no numpy or torch until a writer needs it (the
docking search runs where only rustina is installed)."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
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


def write_json_gz(path: str | os.PathLike, value: object) -> Path:
    """``value`` as gzipped JSON to ``path`` atomically; mtime 0 makes the bytes reproducible."""
    def write(handle: IO) -> None:
        with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
            gz.write(json.dumps(value).encode())
    return _atomic(path, "wb", write)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez_compressed`` to ``path`` atomically."""
    import numpy as np

    return _atomic(path, "wb", lambda handle: np.savez_compressed(handle, **arrays))


def save_torch(path: str | os.PathLike, obj: object) -> Path:
    """``torch.save`` of ``obj`` to ``path`` atomically."""
    import torch

    return _atomic(path, "wb", lambda handle: torch.save(obj, handle))


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output file that cannot be written: ``path`` is a folder, or the
    nearest existing folder above it is not a folder or takes no new file (read-only file system,
    no permission). A one-line ``PermissionError``/``ValueError`` naming ``path``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{path}: {folder} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as err:
        raise PermissionError(f"{path}: cannot write in {folder} ({err.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def file_sha1(path: str | os.PathLike) -> str:
    """SHA-1 hex digest of a file's bytes."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()
