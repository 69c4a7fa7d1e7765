"""The docking search of staged pockets (rustina only: no RDKit, no numpy, no torch).

Docking a plan (:mod:`moldiff.datasets.docked_prepare`) has three steps per receptor pocket:
preparing the PDBQT (RDKit, Meeko), the search (rustina), and checking the poses (RDKit,
PoseBusters). On one machine they run together; to search on a borrowed GPU machine that has
none of the chemistry packages, the first step writes each pocket as a *staged* file,
``<part>.stage.json.gz`` (receptor PDBQT, search seed and settings, and the jobs' ligand PDBQTs
batched by search box), this module searches it into ``<part>.result.json.gz`` (rustina's top pose
and scores per job, or an error), and the docking run back on the first machine checks and keeps
the poses from there. Both files sit in the run's parts folder and carry the part's name, which
hashes the jobs and settings; a result file also records the SHA-1 of the stage file it searched
and the rustina version, and is refused unless both match, so a result is never applied to a
different stage or mixed with another version's.
"""
from __future__ import annotations

import gzip
import importlib.metadata
import json
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from moldiff.chem.rustina_search import Box, NoGpuError, SearchSettings, dock_batch
from moldiff.utils.atomic import file_sha1, write_json_gz

_STAGE_VERSION = 1
STAGE_SUFFIX = ".stage.json.gz"
RESULT_SUFFIX = ".result.json.gz"
#: The keys of a rustina result that are kept (the top pose and its scores).
_RESULT_KEYS = ("pdbqt", "affinity", "cnn_score", "cnn_affinity")


@dataclass
class StagedPocket:
    """One receptor pocket ready for the search: the receptor PDBQT ('' when it could not be
    prepared), the search seed and settings, ``batches`` of (box, job names, ligand PDBQTs) and
    ``status``, the reason for each job that could not be prepared."""

    receptor: str
    seed: int
    search: SearchSettings
    batches: list[tuple[Box, list[str], list[str]]] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)


def stage_path(part: Path) -> Path:
    return part.with_name(part.stem + STAGE_SUFFIX)


def result_path(part: Path) -> Path:
    return part.with_name(part.stem + RESULT_SUFFIX)


def _result_of(stage: Path) -> Path:
    """The result file beside a stage file."""
    return stage.with_name(stage.name.removesuffix(STAGE_SUFFIX) + RESULT_SUFFIX)


def run_in_processes(function: Callable[[Any], Any], items: Sequence, workers: int) -> Iterator:
    """``function(item)`` for each item in ``workers`` spawned processes, yielded as they finish.
    An executor, not a Pool: a worker that dies (a crash in native code) stops the run with
    BrokenProcessPool instead of hanging it; a rerun resumes from the files already written."""
    if not items:
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, min(workers, len(items))), mp_context=context) as pool:
        for future in as_completed([pool.submit(function, item) for item in items]):
            yield future.result()


def read_json_gz(path: Path, version: int, what: str) -> dict:
    """The JSON object of a gzipped file written here, checked for its format ``version``;
    ValueError in one line naming the file otherwise."""
    try:
        value = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: not a readable gzipped JSON file ({' '.join(str(err).split())[:120]})") from None
    if not isinstance(value, dict) or value.get("version") != version:
        raise ValueError(f"{path}: not a {what} of version {version}")
    return value


def package_version(name: str) -> str | None:
    """The installed version of a package (None if it is not installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def rustina_version() -> str | None:
    """The installed rustina's version, which a result file records and is checked against."""
    return package_version("rustina")


def save_staged(path: Path, staged: StagedPocket) -> None:
    write_json_gz(path, {
        "version": _STAGE_VERSION, "receptor": staged.receptor, "seed": staged.seed,
        "search": {"mode": staged.search.mode, "runs": staged.search.runs},
        "batches": [[list(box.center), list(box.size), names, ligands] for box, names, ligands in staged.batches],
        "status": staged.status})


def load_staged(path: Path) -> StagedPocket:
    value = read_json_gz(path, _STAGE_VERSION, "staged pocket")
    try:
        batches = [(Box(tuple(center), tuple(size)), names, ligands)
                   for center, size, names, ligands in value["batches"]]
        return StagedPocket(value["receptor"], value["seed"], SearchSettings(**value["search"]), batches,
                            value["status"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: malformed staged pocket ({' '.join(str(err).split())[:120]})") from None


def search_pocket(staged: StagedPocket, threads: int | None = 1) -> dict[str, dict]:
    """rustina's top pose of every prepared job of ``staged`` (job name -> the kept result keys,
    or ``error``), searched with ``threads`` CPU threads per call. Raises :class:`NoGpuError`;
    a batch that fails as a whole gives its jobs that error."""
    settings = replace(staged.search, threads=threads)
    results: dict[str, dict] = {}
    for box, names, ligands in staged.batches:
        try:
            found = dock_batch(staged.receptor, ligands, box, staged.seed, settings)
        except NoGpuError:
            raise
        except RuntimeError as err:
            found = [{"error": str(err)}] * len(names)
        for name, result in zip(names, found):
            results[name] = ({"error": str(result["error"])} if "error" in result
                             else {key: result[key] for key in _RESULT_KEYS})
    return results


def save_results(path: Path, results: dict[str, dict], stage_sha1: str, rustina: str | None) -> None:
    """Write the search results of the stage file whose SHA-1 is ``stage_sha1``, searched with
    rustina version ``rustina``."""
    write_json_gz(path, {"version": _STAGE_VERSION, "stage_sha1": stage_sha1, "rustina": rustina,
                          "results": results})


def load_results(path: Path, stage: Path) -> dict[str, dict]:
    """The results in ``path``, after checking that they are the search of ``stage`` (as it is
    now) by the rustina installed here; ValueError in one line otherwise."""
    value = read_json_gz(path, _STAGE_VERSION, "search result")
    if not stage.is_file():
        raise ValueError(f"{path}: its stage file {stage.name} is missing; stage again and search again")
    if value.get("stage_sha1") != file_sha1(stage):
        raise ValueError(f"{path}: searched from another version of {stage.name}; delete it and search again")
    if value.get("rustina") != rustina_version():
        raise ValueError(f"{path}: searched with rustina {value.get('rustina')}, this machine has "
                         f"{rustina_version()}; install the same version")
    if not isinstance(value.get("results"), dict):
        raise ValueError(f"{path}: malformed search result")
    return value["results"]


def _search_file(stage: Path, threads: int | None) -> int:
    """Search one staged file into its result file; the number of jobs searched."""
    staged = load_staged(stage)
    save_results(_result_of(stage), search_pocket(staged, threads), file_sha1(stage), rustina_version())
    return sum(len(names) for _, names, _ in staged.batches)


def search_staged(folder: str | os.PathLike, workers: int = 1, threads: int | None = None, verbose: bool = True
                  ) -> tuple[int, int]:
    """Search every staged pocket in ``folder`` that has no result yet (resumable), ``workers``
    pockets at a time with ``threads`` CPU threads each (default: the cores shared out); returns
    (pockets searched, pockets already done)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found: stage the plan first (dock_complexes.py stage)")
    stages = sorted(folder.glob("*" + STAGE_SUFFIX))
    if not stages:
        raise ValueError(f"{folder}: no staged pockets (*{STAGE_SUFFIX})")
    todo = [s for s in stages if not _result_of(s).is_file()]
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    with tqdm(total=len(todo), desc="searching", unit="pocket", disable=not verbose) as bar:
        for _ in run_in_processes(partial(_search_file, threads=threads), todo, workers):
            bar.update(1)
    return len(todo), len(stages) - len(todo)
