"""rustina's docking search alone (no RDKit, no torch): the search box, the settings, and one
batched ``rustina.screen`` call on PDBQT text. Kept apart from :mod:`moldiff.chem.rustina_docking`
(which types molecules with RDKit and Meeko) so that the search can run on a machine that has
only rustina, e.g. a borrowed GPU machine fed with PDBQT prepared elsewhere.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

#: rustina's search modes: the CPU default (staged QuickVina2 runs) and batched GPU Monte Carlo.
SEARCH_MODES = {"cpu": "qvina2-active", "gpu": "gpu"}


class NoGpuError(RuntimeError):
    """The GPU mode found no GPU, or only a software Vulkan adapter."""


def require_rustina() -> ModuleType:
    """The ``rustina`` module, or ImportError in one line saying how to get it."""
    try:
        import rustina
    except ImportError:
        raise ImportError("docking needs the rustina package: pip install rustina") from None
    return rustina


@dataclass(frozen=True)
class Box:
    """Search box: centre and edge lengths (Angstrom)."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]


@dataclass(frozen=True)
class SearchSettings:
    """rustina search settings: ``mode`` 'cpu' or 'gpu'; ``runs`` the number of Monte Carlo runs
    (Vina's exhaustiveness; None: rustina's default, 16 for the CPU mode, which needs >= 16);
    ``threads``: CPU threads per docking call (None: all cores), for the search on the CPU and
    for the CNN re-ranking in both modes."""

    mode: str = "cpu"
    runs: int | None = None
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.mode not in SEARCH_MODES:
            raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {self.mode!r}")


@contextmanager
def _captured_output() -> Iterator[list[str]]:
    """Collect what native code writes to file descriptors 1 and 2 (rustina prints its search
    settings on every call, which would scramble progress bars) into the yielded list."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            capture.seek(0)
            lines += capture.read().splitlines()


def dock_batch(receptor: str, ligands: Sequence[str], box: Box, seed: int, settings: SearchSettings = SearchSettings()
               ) -> list[dict]:
    """Top pose of each ligand PDBQT in ``ligands``, docked in ``box`` of ``receptor`` (PDBQT)
    with grids shared across the batch: dicts with ``pdbqt``, ``affinity`` (Vinardo, kcal/mol),
    ``cnn_score`` (pose probability) and ``cnn_affinity`` (pK), or ``error``.

    rustina's messages other than its search settings become warnings. Raises
    :class:`NoGpuError` if the GPU mode finds no GPU or only a software Vulkan adapter (a driver
    is missing), RuntimeError if rustina fails as a whole (a Rust panic included).
    """
    rustina = require_rustina()
    try:
        with _captured_output() as output:
            results = rustina.screen(receptor, list(ligands), *box.center, *box.size, runs=settings.runs, seed=seed,
                                     search_mode=SEARCH_MODES[settings.mode], threads=settings.threads)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # a Rust panic arrives as pyo3's PanicException, a BaseException
        raise RuntimeError(f"rustina failed: {' '.join(str(err).split())[:200]}") from None
    messages = [line.strip() for line in output if line.strip() and "Search parameters" not in line]
    for message in messages:
        warnings.warn(f"rustina: {message}", RuntimeWarning, stacklevel=2)
    if settings.mode == "gpu" and (any("software adapter" in m for m in messages)
                                   or any("gpu search unavailable" in r.get("error", "") for r in results)):
        raise NoGpuError("rustina found no hardware GPU adapter; install the Vulkan loader and point "
                         "VK_DRIVER_FILES at the NVIDIA ICD (see scripts/dock_complexes.py)")
    return results
