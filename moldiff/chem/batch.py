"""Evaluation of generated molecules over many pockets (no torch), aggregated the way published
tables are: the per-molecule table of :func:`moldiff.chem.report.molecule_table` per pocket, one
row of per-pocket means per pocket, then the mean over pockets of the per-pocket means and the
median over pockets.

The input is a CSV with columns ``protein`` (PDB) and ``generated`` (SDF), and optionally
``ref_ligand`` (SDF; Vina needs it for its box), ``name``, ``status`` and ``error``; relative paths
are resolved against the CSV's folder. The ``index.csv`` that ``moldiff sample --pockets``
writes (:mod:`moldiff.apps.screen`) is such a CSV: its rows whose ``status`` is not ``ok`` are pockets
that failed to sample, reported with their ``error``. A pocket whose files are missing or
unreadable, or whose evaluation fails as a whole (e.g. a receptor that cannot be prepared for
Vina), is kept as a row with its ``error`` and counted, never dropped; generated records that
cannot be parsed are skipped and named in the row's ``skipped_records``. Clashes are counted
against the protein's heavy atoms (:func:`moldiff.chem.pocket.read_structure`).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from moldiff.chem.metrics import ring_size_shares
from moldiff.chem.report import (CLASH_DISTANCE, NUMERIC, aggregate_over_pockets, molecule_table, read_generated,
                                  skipped_records, summarize)
from moldiff.utils.tables import read_rows

COLUMNS = ("protein", "generated")
#: Per-pocket columns aggregated by mean and median over pockets (those present).
POCKET_METRICS = ("validity", "sanitizes", "connected", "uniqueness", "diversity", "clash_rate", *NUMERIC,
                  "vina_failed", "strain_failed", "pb_valid")
#: The reference ligand's values carried per pocket (``ref_<metric>``).
REFERENCE_METRICS = (*NUMERIC, "clash", "pb_valid")


@dataclass(frozen=True)
class PocketJob:
    """One row of the batch CSV with resolved paths; ``error``: why the row has nothing to
    evaluate (a pocket that failed to sample)."""

    name: str
    protein: Path
    ref_ligand: Path | None
    generated: Path
    error: str = ""


def read_pocket_csv(path: str | os.PathLike) -> list[PocketJob]:
    """The rows of a batch CSV (see the module docstring); ``ValueError("<path>: ...")`` when the
    file is missing, lacks a column or has no rows. Names default to the protein file's stem and
    are made unique with ``#<row>``; files are not checked here (see :func:`evaluate_pocket`)."""
    path = Path(path)
    rows = read_rows(path, COLUMNS, "pockets")
    base = path.parent

    def resolve(value: str | None) -> Path | None:
        p = Path((value or "").strip()).expanduser()
        return None if p == Path() else p if p.is_absolute() else base / p

    names = [(r.get("name") or "").strip() or Path((r["protein"] or "").strip()).stem or f"row{k + 1}"
             for k, r in enumerate(rows)]
    jobs = []
    for k, (r, name) in enumerate(zip(rows, names)):
        if names.count(name) > 1:
            name = f"{name}#{k + 1}"
        status = (r.get("status") or "ok").strip()
        error = "" if status == "ok" else (r.get("error") or "").strip() or f"status {status}"
        jobs.append(PocketJob(name, resolve(r["protein"]) or base, resolve(r.get("ref_ligand")),
                              resolve(r["generated"]) or base, error))
    return jobs


def evaluate_pocket(job: PocketJob, vina: str = "off", posebusters: str | None = None, strain: bool = False) -> dict:
    """``{"name", "table", "skipped"}`` with the molecule table of one pocket (SDF record numbers in
    ``record``, reference ligand last) and a line on the generated records that could not be parsed
    ("" if none), or ``{"name", "error"}`` with a one-line reason; never raises (runs in worker
    processes)."""
    from moldiff.chem.io import read_sdf
    from moldiff.chem.pocket import read_structure

    if job.error:
        return {"name": job.name, "error": job.error}
    try:
        for what, p in (("protein", job.protein), ("ref_ligand", job.ref_ligand), ("generated", job.generated)):
            if p is not None and not p.is_file():
                raise FileNotFoundError(f"{what} file {p}: no such file")
        mols, records, bad = read_generated(job.generated)
        reference = None if job.ref_ligand is None else read_sdf(job.ref_ligand, sanitize=True)[0]
        table = molecule_table(mols, job.protein, reference, vina, posebusters, strain,
                               pocket_pos=read_structure(job.protein).pos)
        table.insert(0, "record", pd.array([*records, *[None] * (reference is not None)], dtype="Int64"))
    except Exception as e:  # one bad pocket must not stop a long batch: it is reported instead
        msg = " ".join(str(e).split()) or type(e).__name__
        if not isinstance(e, (ValueError, OSError)):
            msg = f"{type(e).__name__}: {msg}"
        return {"name": job.name, "error": msg}
    return {"name": job.name, "table": table, "skipped": skipped_records(job.generated, bad, len(mols)) if bad else ""}


def pocket_row(name: str, table: pd.DataFrame) -> dict:
    """One pocket's row: molecules, validity (and its parts), uniqueness, diversity, clash rate,
    the per-pocket means of the numeric columns over valid molecules, the share of the valid
    molecules Vina ran on that it could not score (``vina_failed``) and of the valid molecules
    whose strain failed (``strain_failed``), both also as counts (``n_vina_failed``,
    ``n_strain_failed``), the PoseBusters-valid fraction, and the reference ligand's values
    (``ref_*``)."""
    s = summarize(table)
    valid = table[~table["is_reference"] & table["valid"]]
    row: dict = {"pocket": name, "n_molecules": s["n_molecules"], "n_valid": len(valid)}
    row |= {k: s[k] for k in ("validity", "sanitizes", "connected", "uniqueness", "diversity", "clash_rate") if k in s}
    row |= {k: s[f"{k}_mean"] for k in NUMERIC if s.get(f"{k}_mean") is not None}
    for k, err in (("vina_failed", "vina_error"), ("strain_failed", "strain_error")):
        if k in s:
            row[k] = s[k]
            row[f"n_{k}"] = int(valid[err].notna().sum()) if err in valid else 0
    if "pb_valid" in s:
        row["pb_valid"] = s["pb_valid"]
    row |= {f"ref_{k}": s[f"ref_{k}"] for k in REFERENCE_METRICS if s.get(f"ref_{k}") is not None}
    return {k: (math.nan if v is None else v) for k, v in row.items()}


def evaluate_pockets(jobs: Sequence[PocketJob], vina: str = "off", posebusters: str | None = None, strain: bool = False,
                     workers: int = 1, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Evaluate every pocket (in a process pool when ``workers`` > 1, with a progress bar).

    Returns the per-pocket table (one row per job, in order; failed pockets carry only ``error``;
    ``skipped_records`` says which generated records could not be parsed),
    all molecules with a ``pocket`` column (reference ligands included, ``is_reference``), and
    ``{name: reason}`` of the failed pockets.
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    task = partial(evaluate_pocket, vina=vina, posebusters=posebusters, strain=strain)
    bar = partial(tqdm, total=len(jobs), desc="pockets", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            results = list(bar(pool.map(task, jobs)))
    else:
        results = [task(job) for job in bar(jobs)]
    rows, tables, failed = [], [], {}
    for job, res in zip(jobs, results):
        if "error" in res:
            failed[job.name] = res["error"]
            rows.append({"pocket": job.name, "error": res["error"]})
            continue
        rows.append(pocket_row(job.name, res["table"]) | {"skipped_records": res["skipped"], "error": ""})
        tables.append(res["table"].assign(pocket=job.name))
    per_pocket = pd.DataFrame(rows)
    last = [c for c in ("skipped_records", "error") if c in per_pocket]
    per_pocket = per_pocket[[c for c in per_pocket if c not in last] + last]
    for c in ("n_molecules", "n_valid", "n_vina_failed", "n_strain_failed"):  # counts stay integers next to failed rows
        if c in per_pocket:
            per_pocket[c] = per_pocket[c].astype("Int64")
    molecules = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["pocket"])
    molecules = molecules[["pocket", *[c for c in molecules if c != "pocket"]]]
    return per_pocket, molecules, failed


def aggregate(per_pocket: pd.DataFrame, failed: dict[str, str]) -> dict:
    """Summary of a batch: pockets evaluated and failed (with reasons), molecules, and the mean
    over pockets of the per-pocket values plus the median over pockets, for the generated
    molecules (:data:`POCKET_METRICS`) and the reference ligands (``ref_*``)."""
    ok = per_pocket[per_pocket["error"] == ""] if "error" in per_pocket else per_pocket
    out: dict = {"n_pockets": len(per_pocket), "n_pockets_evaluated": len(ok), "n_pockets_failed": len(failed),
                 "failed": dict(failed),
                 "n_molecules": int(ok["n_molecules"].sum()) if "n_molecules" in ok else 0,
                 "n_valid": int(ok["n_valid"].sum()) if "n_valid" in ok else 0}
    for k in ("n_vina_failed", "n_strain_failed"):
        if k in ok:
            out[k] = int(ok[k].sum())
    refs = [f"ref_{k}" for k in REFERENCE_METRICS]
    out |= aggregate_over_pockets(ok, (*POCKET_METRICS, *refs))
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}


def ring_shares(molecules: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Ring-size shares (:func:`moldiff.chem.metrics.ring_size_shares`) of all valid generated
    molecules and of the valid reference ligands of a molecule table (one pocket or many), from its
    ``ring_sizes`` column."""
    valid = molecules[molecules["valid"]]
    shares = {}
    for who, rows in (("generated_valid", valid[~valid["is_reference"]]), ("reference", valid[valid["is_reference"]])):
        fractions = ring_size_shares([[int(k) for k in sizes.split()] for sizes in rows["ring_sizes"]])
        shares[who] = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in fractions.items()}
    return shares


def markdown(summary: dict) -> str:
    """Markdown table of :func:`aggregate`: generated molecules and reference ligands, mean and
    median over pockets, the ring-size shares (:func:`ring_shares`) when given, then the failed
    pockets with their reasons."""
    pct = {"validity", "sanitizes", "connected", "uniqueness", "clash_rate", "pb_valid", "vina_failed", "strain_failed"}
    names = {"sa": "sa (raw, 1 easy - 10 hard)", "vina_score": "vina_score (kcal/mol)",
             "vina_min": "vina_min (kcal/mol)", "vina_dock": "vina_dock (kcal/mol)",
             "strain": "strain (kcal/mol, local MMFF94)", "vina_failed": "valid molecules Vina could not score",
             "strain_failed": "valid molecules without strain (no MMFF parameters)",
             "clash_rate": f"clash rate (a heavy atom within {CLASH_DISTANCE:g} Å of the protein)"}

    def fmt(k: str, v) -> str:
        if v is None:
            return "n/a"
        return f"{100 * v:.1f} %" if k in pct else f"{v:.3f}"

    lines = [f"{summary['n_pockets_evaluated']} of {summary['n_pockets']} pockets evaluated, "
             f"{summary['n_molecules']} molecules ({summary['n_valid']} valid)", "",
             "| metric (per-pocket values) | mean over pockets | median over pockets "
             "| reference ligands: mean / median |",
             "|---|---|---|---|"]
    for k in POCKET_METRICS:
        if f"{k}_mean" not in summary:
            continue
        ref = ""
        if f"ref_{k}_mean" in summary:
            ref = f"{fmt(k, summary[f'ref_{k}_mean'])} / {fmt(k, summary[f'ref_{k}_median'])}"
        mean, median = fmt(k, summary[f"{k}_mean"]), fmt(k, summary[f"{k}_median"])
        lines.append(f"| {names.get(k, k)} | {mean} | {median} | {ref} |")
    for who, shares in summary.get("rings", {}).items():
        cells = " / ".join(f"{k[5:]}: {fmt('validity', v)}" for k, v in shares.items())
        lines.append(f"| molecules with a ring of size ({who.replace('_', ' ')}, all pockets) | {cells} | | |")
    if summary["failed"]:
        lines += ["", f"Failed pockets ({summary['n_pockets_failed']}):", ""]
        lines += [f"- {name}: {reason}" for name, reason in summary["failed"].items()]
    return "\n".join(lines)
