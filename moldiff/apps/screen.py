"""Sampling ligands for many pockets: a CSV of proteins and pocket definitions in, one SDF per
pocket plus an index out, spread over several devices, resumable after an interruption.

CSV columns: ``protein`` (PDB/PDBQT/mmCIF path), and per row exactly one pocket definition:
``ref_ligand`` (SDF), ``resi_list`` (residues separated by spaces, e.g. ``A:45 A:46``) or
``center`` (``x y z``) with ``radius``; optionally ``name`` (default: the protein's file stem,
made unique) and ``n_samples``. Relative paths are read from the CSV's folder.

Every pocket's SDF is written atomically as ``<out_dir>/<name>.sdf``, then its row of ``index.csv``
(atomically too), which ``moldiff evaluate --batch`` takes as it stands (:data:`INDEX_COLUMNS`). A rerun skips the pockets whose SDF parses and holds as many molecules as its
index row counts (without a row, which a kill between the two writes leaves: ``n_samples``
molecules, unless ``sanitize`` may have dropped some, which only a row can tell) and samples the
rest again. Each pocket is sampled with seed ``seed + row`` whichever device takes it, so results
do not depend on the device count. A pocket that fails (missing file, empty selection, ...) gets
its one-line error in ``index.csv`` and the others go on.
"""
from __future__ import annotations

import csv
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moldiff.utils.atomic import check_writable
from moldiff.utils.errors import USER_ERRORS
from moldiff.utils.tables import read_rows

if TYPE_CHECKING:
    from moldiff.options import SampleOptions

#: Columns of ``index.csv``: ``protein``, ``ref_ligand`` (absolute paths) and ``generated`` (the
#: pocket's SDF, in the index's folder) make it a batch CSV of ``moldiff evaluate --batch``
#: (:mod:`moldiff.chem.batch`).
INDEX_COLUMNS = ("name", "protein", "ref_ligand", "generated", "seed", "n_requested", "n_molecules", "n_valid",
                 "seconds", "device", "status", "error")


@dataclass(frozen=True)
class PocketRequest:
    """One CSV row: where the pocket is and how many molecules to sample in it."""

    row: int
    name: str
    protein: Path
    ref_ligand: Path | None = None
    residues: tuple[str, ...] | None = None
    center: tuple[float, float, float] | None = None
    radius: float | None = None
    n_samples: int = 100


def read_requests(path: str | os.PathLike, n_samples: int) -> list[PocketRequest]:
    """The rows of a pockets CSV (module docstring); a one-line ``ValueError("<path>: ...")`` for a
    missing or unreadable file, no ``protein`` column, no rows, or a row whose pocket definition is
    missing, ambiguous or malformed. Files themselves are checked when each pocket is sampled."""
    path = Path(path)
    rows = read_rows(path, ("protein",), "pockets")

    def resolve(value: str) -> Path | None:
        return None if not value else (Path(value) if Path(value).is_absolute() else path.parent / value)

    requests, seen = [], set()
    for k, r in enumerate(rows):
        get = lambda key: (r.get(key) or "").strip()  # noqa: E731
        where = f"{path}, row {k + 1}"
        if not get("protein"):
            raise ValueError(f"{where}: no protein file")
        given = [bool(get("ref_ligand")), bool(get("resi_list")), bool(get("center"))]
        if sum(given) != 1:
            raise ValueError(f"{where}: give exactly one of ref_ligand, resi_list, center (+ radius)")
        center = radius = None
        try:
            if get("center"):
                center = tuple(float(v) for v in get("center").replace(",", " ").split())
                radius = float(get("radius"))
                if len(center) != 3 or radius <= 0:
                    raise ValueError
            n = int(get("n_samples")) if get("n_samples") else n_samples
        except ValueError:
            raise ValueError(f"{where}: center must be 'x y z' with a positive radius, n_samples an integer") from None
        if n < 1:
            raise ValueError(f"{where}: n_samples must be >= 1")
        name = get("name") or Path(get("protein")).stem
        if name in seen:
            name = f"{name}_{k + 1}"
        seen.add(name)
        if "/" in name or name.startswith("."):
            raise ValueError(f"{where}: name {name!r} must be a plain file name")
        requests.append(PocketRequest(k, name, resolve(get("protein")), resolve(get("ref_ligand")),
                                      tuple(get("resi_list").split()) or None, center, radius, n))
    return requests


@dataclass(frozen=True)
class ScreenOptions:
    """What every pocket is sampled with: the sampling settings (resolved against the model,
    :class:`~moldiff.options.SampleOptions`), the model each worker loads, and the sizes, seed,
    pocket cutoff and output choices of ``moldiff sample``."""

    sampling: SampleOptions
    model: str = "pocket"
    num_atoms: object = None
    seed: int = 0
    cutoff: float = 8.0
    keep_hetero: bool = False
    sanitize: bool = False


def sample_pockets(requests: list[PocketRequest], out_dir: str | os.PathLike, options: ScreenOptions,
                   devices: list[str], progress: bool = True, model=None) -> list[dict]:
    """Sample every request without a finished SDF in ``out_dir``, spread over ``devices`` (one worker
    process per device when there are several), and write ``index.csv``; returns its rows.
    ``model``: the loaded model on ``devices[0]``, used when sampling in this process (else loaded)."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    check_writable(out / "index.csv")
    out.mkdir(parents=True, exist_ok=True)
    earlier = _read_index(out / "index.csv")
    rows: dict[str, dict] = {}
    todo = []
    for req in requests:
        row = _finished(req, options, out / f"{req.name}.sdf", earlier.get(req.name))
        if row is not None:
            rows[req.name] = row
        else:
            todo.append(req)
    bar = tqdm(total=len(todo), desc="pockets", disable=not progress)
    if len(devices) == 1 or len(todo) <= 1:
        if todo:
            _init_worker(devices[0], options, out, None, model)
        for req in todo:
            rows[req.name] = _sample_one(req)
            _write_index(out, requests, rows)
            bar.update()
    else:
        ctx = mp.get_context("spawn")  # CUDA cannot be forked
        queue = ctx.Queue()
        for d in devices:
            queue.put(d)
        threads = max(1, (os.cpu_count() or 1) // len(devices))  # CPU workers share the cores
        with ctx.Pool(len(devices), initializer=_init_from_queue, initargs=(queue, options, out, threads)) as pool:
            for row in pool.imap_unordered(_sample_one, todo):
                rows[row["name"]] = row
                _write_index(out, requests, rows)
                bar.update()
    bar.close()
    return _write_index(out, requests, rows)


_WORKER: dict = {}


def _init_from_queue(queue, options: ScreenOptions, out: Path, threads: int) -> None:
    _init_worker(queue.get(), options, out, threads)


def _init_worker(device: str, options: ScreenOptions, out: Path, threads: int | None, model=None) -> None:
    """Load the model once per worker, on its device (``threads``: CPU threads of this worker),
    unless the caller already holds it (``model``)."""
    import torch

    from moldiff.api import load_model

    if device == "cpu":
        from moldiff.utils.malloc import keep_freed_memory

        keep_freed_memory()
        if threads:
            torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = device.startswith("cuda")
    _WORKER.update(model=model or load_model(options.model, device), device=device, options=options, out=out)


def _sample_one(req: PocketRequest) -> dict:
    """Sample one pocket and write its SDF; errors become the row's ``error`` (never raises)."""
    from moldiff.api import load_pocket, sample_with
    from moldiff.chem.io import write_sdf

    model, options, out = _WORKER["model"], _WORKER["options"], _WORKER["out"]
    sdf = out / f"{req.name}.sdf"
    start = time.perf_counter()
    try:
        pocket = load_pocket(req.protein, req.ref_ligand, req.residues, req.center, req.radius, options.cutoff,
                             options.keep_hetero, model.cfg.data.pocket_representation)
        mols = sample_with(model, options.sampling, req.n_samples, options.num_atoms, options.seed + req.row, pocket,
                           progress=False)
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return _row(req, options, sdf, status="error", error=msg.splitlines()[0] if msg else type(e).__name__)
    n_valid = sum(m.GetIntProp("moldiff_valid") for m in mols)
    if options.sanitize:
        mols = [m for m in mols if m.GetIntProp("moldiff_valid")]
    write_sdf(mols, sdf)
    return _row(req, options, sdf, status="ok", n_molecules=len(mols), n_valid=n_valid,
                seconds=round(time.perf_counter() - start, 3), device=_WORKER["device"])


def _finished(req: PocketRequest, options: ScreenOptions, sdf: Path, row: dict | None) -> dict | None:
    """The index row of a finished pocket: its SDF parses and holds the molecules ``row`` (its
    earlier ``ok`` row) counts, or without counts ``req.n_samples`` unless ``sanitize`` could have
    dropped some; counts missing from ``row`` are taken from the SDF. None: sample it (again)."""
    from moldiff.chem.io import read_sdf

    counted = row is not None and row.get("n_molecules", "").isdigit()
    if options.sanitize and not counted:
        return None
    try:
        mols = read_sdf(sdf, strict=False)  # a record that does not parse is None
    except (ValueError, OSError, UnicodeDecodeError):  # missing or unreadable
        return None
    if any(m is None for m in mols) or len(mols) != (int(row["n_molecules"]) if counted else req.n_samples):
        return None
    if counted:
        return row
    valid = sum(m.HasProp("moldiff_valid") and m.GetIntProp("moldiff_valid") for m in mols)
    return _row(req, options, sdf, status="ok", n_molecules=len(mols), n_valid=valid)


def _row(req: PocketRequest, options: ScreenOptions, sdf: Path, **values) -> dict:
    row = _paths(req) | {"generated": sdf.name, "seed": options.seed + req.row, "n_requested": req.n_samples,
                         "n_molecules": "", "n_valid": "", "seconds": "", "device": "", "error": ""}
    return row | values


def _paths(req: PocketRequest) -> dict:
    """The pocket's name and absolute file paths, as ``index.csv`` records them."""
    return {"name": req.name, "protein": str(req.protein.absolute()),
            "ref_ligand": "" if req.ref_ligand is None else str(req.ref_ligand.absolute())}


def _read_index(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {r["name"]: r for r in csv.DictReader(handle) if r.get("status") == "ok"}


def _write_index(out: Path, requests: list[PocketRequest], rows: dict[str, dict]) -> list[dict]:
    """``index.csv`` (atomically) in CSV order; pockets not reached yet have status ``pending``."""
    import io

    from moldiff.utils.atomic import write_text

    table = [rows.get(r.name) or _paths(r) | {"generated": f"{r.name}.sdf", "n_requested": r.n_samples,
                                              "status": "pending"} for r in requests]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INDEX_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    write_text(out / "index.csv", buf.getvalue())
    return table
