"""Docked training complexes from a crystal-complex folder (RDKit, rustina, PoseBusters; no torch):
the job plan and the resumable docking run.

The plan (:func:`plan_jobs`) is deterministic given the data and :class:`PlanSettings`:

- cross-docking: every ligand of the training split into the pocket of every other member of its
  protein cluster (``protein_id``), never across clusters or splits; the box is centred on the
  receiving pocket's own crystal ligand;
- optionally ``moses_per_pocket`` MOSES molecules (drawn per pocket with a seed) into every
  training pocket;
- ligands with more than ``flexible_max`` rotatable bonds are left out; the others carry their
  weight (:func:`~moldiff.datasets.docked.ligand_weight`).

:func:`dock_jobs` docks the jobs of each pocket in a worker process (rustina on the CPU, or with
``mode='gpu'`` on a Vulkan GPU), keeps the top pose when it passes the PoseBusters filter
(:mod:`moldiff.chem.posefilter`), and writes one part per pocket beside the output, so an
interrupted run resumes where it stopped; the parts are then merged into one
:class:`~moldiff.datasets.docked.DockedSet` plus a JSON manifest (settings, versions, counts).
To search on a machine without RDKit (a borrowed GPU), :func:`stage_jobs` writes each pocket's
PDBQTs to a stage file, :mod:`moldiff.datasets.docked_search` searches them there, and
:func:`dock_jobs` with ``searched_only`` checks and keeps the poses here.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import resource
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors
from rdkit.rdBase import BlockLogs
from tqdm import tqdm

from moldiff.utils.atomic import file_sha1, write_json_gz, write_text
from moldiff.chem.build import canonical_smiles
from moldiff.chem.docking import ligand_pdbqt
from moldiff.chem.io import read_sdf
from moldiff.chem.posefilter import PocketFilter
from moldiff.chem.rustina_docking import box_around, embed, longest_distance, pose_from_pdbqt, prepare_receptor
from moldiff.chem.rustina_search import Box, SearchSettings
from moldiff.datasets.complexes import clean_ligand, featurize_ligand
from moldiff.datasets.docked import (
    DockedSet,
    concat_docked,
    empty_docked,
    ligand_weight,
    load_docked,
    save_docked,
)
from moldiff.datasets.docked_search import (
    StagedPocket,
    load_results,
    load_staged,
    package_version,
    read_json_gz,
    result_path,
    run_in_processes,
    save_staged,
    search_pocket,
    stage_path,
)

_PLAN_VERSION = 1
_STATUSES_VERSION = 1
#: Packages whose versions a docked set's manifest records.
_PACKAGES = ("rustina", "rdkit", "meeko", "posebusters", "numpy")


# ---------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Complex:
    """One row of the crystal-complex index (paths relative to the data root)."""

    name: str
    protein: str
    ligand: str
    protein_id: str
    split: str


def read_index(data_root: str | os.PathLike) -> list[Complex]:
    """The complexes of ``<data_root>/index.csv`` (columns protein,ligand,name,split,protein_id)."""
    path = Path(data_root) / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; --data_root must be the crystal-complex folder")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"protein", "ligand", "name", "split", "protein_id"} - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f"{path}: columns {', '.join(sorted(missing))} missing")
    return [Complex(r["name"], r["protein"], r["ligand"], r["protein_id"], r["split"]) for r in rows]


@dataclass(frozen=True)
class PlanSettings:
    """What to dock: the seed, MOSES molecules per training pocket, and the weight rule."""

    seed: int = 0
    moses_per_pocket: int = 0
    rigid_max: int = 5
    flexible_max: int = 10
    flexible_weight: float = 0.5


@dataclass(frozen=True)
class Job:
    """One docking: ``ligand`` (a complex name for cross-docking, a SMILES for MOSES) into the
    pocket of complex ``receptor``; ``seed`` seeds its conformer embedding."""

    name: str
    kind: str  # "crossdock" or "moses"
    receptor: str
    ligand: str
    rotatable: int
    weight: float
    seed: int


def job_seed(seed: int, name: str) -> int:
    """A 31-bit seed of one job, fixed by the plan seed and the job name."""
    return zlib.crc32(f"{seed}:{name}".encode()) & 0x7FFFFFFF


def rotatable_bonds(mol: Chem.Mol) -> int:
    """RDKit's strict rotatable-bond count (no amide C-N, no terminal groups, no triple-bond ends)."""
    return int(rdMolDescriptors.CalcNumRotatableBonds(mol, rdMolDescriptors.NumRotatableBondsOptions.Strict))


def crossdock_pairs(complexes: Sequence[Complex]) -> list[tuple[str, str]]:
    """``(ligand complex, receptor complex)`` names: every ordered pair of distinct training
    complexes of one protein cluster, sorted."""
    clusters: dict[str, list[str]] = {}
    for c in complexes:
        if c.split == "train":
            clusters.setdefault(c.protein_id, []).append(c.name)
    return sorted((a, b) for names in clusters.values() for a in names for b in names if a != b)


def plan_jobs(data_root: str | os.PathLike, settings: PlanSettings, moses: Sequence[str] = ()) -> list[Job]:
    """The jobs described in the module docstring, cross-docking first, each part sorted by name.
    ``moses`` is the SMILES pool to draw from (needed when ``settings.moses_per_pocket`` > 0)."""
    complexes = {c.name: c for c in read_index(data_root)}
    root = Path(data_root)
    flex = {}

    def add(kind: str, name: str, receptor: str, ligand: str, mol: Chem.Mol | None, jobs: list[Job]) -> None:
        if mol is None:
            return
        rot = rotatable_bonds(mol)
        weight = ligand_weight(rot, settings.rigid_max, settings.flexible_max, settings.flexible_weight)
        if weight is not None:
            jobs.append(Job(name, kind, receptor, ligand, rot, weight, job_seed(settings.seed, name)))

    cross: list[Job] = []
    with BlockLogs():
        for lig, rec in crossdock_pairs(list(complexes.values())):
            if lig not in flex:
                flex[lig] = _read_ligand(root / complexes[lig].ligand)
            add("crossdock", f"crossdock:{lig}@{rec}", rec, lig, flex[lig], cross)
    pool: list[Job] = []
    if settings.moses_per_pocket > 0:
        if len(moses) < settings.moses_per_pocket:
            raise ValueError(f"{len(moses)} MOSES SMILES given, {settings.moses_per_pocket} needed per pocket")
        for rec in sorted(c.name for c in complexes.values() if c.split == "train"):
            rng = np.random.default_rng(job_seed(settings.seed, f"moses@{rec}"))
            for k in sorted(rng.choice(len(moses), settings.moses_per_pocket, replace=False).tolist()):
                with BlockLogs():
                    add("moses", f"moses:{k}@{rec}", rec, moses[k], Chem.MolFromSmiles(moses[k]), pool)
    return cross + pool


def save_plan(path: str | os.PathLike, jobs: Sequence[Job], settings: PlanSettings, data_root: str | os.PathLike,
              excluded: Sequence[dict] = ()) -> None:
    """Write the plan as JSON: settings, the index's SHA-1, what was left out as done elsewhere
    (:func:`exclude_done`), and one line per job."""
    header = {"version": _PLAN_VERSION, "settings": asdict(settings),
              "index_sha1": file_sha1(Path(data_root) / "index.csv"), "excluded": list(excluded)}
    rows = ",\n".join(json.dumps([j.name, j.kind, j.receptor, j.ligand, j.rotatable, j.weight, j.seed]) for j in jobs)
    write_text(path, json.dumps(header)[:-1] + ', "jobs": [\n' + rows + "\n]}\n")


def load_plan(path: str | os.PathLike) -> tuple[list[Job], dict]:
    """Jobs and header (settings, index SHA-1) of a plan written by :func:`save_plan` (gzipped
    if its name ends in .gz)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"docking plan {path} not found; write it with `python scripts/dock_complexes.py plan`")
    plan = json.loads(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_text())
    if plan.get("version") != _PLAN_VERSION:
        raise ValueError(f"{path}: not a docking plan of version {_PLAN_VERSION}")
    jobs = [Job(*row) for row in plan.pop("jobs")]
    return jobs, plan


def exclude_done(jobs: Sequence[Job], statuses: Sequence[str | os.PathLike]) -> tuple[list[Job], list[dict]]:
    """``jobs`` without those that the docking runs of the ``statuses`` files (written beside each
    docked set, :func:`dock_jobs`) have already done, kept or not; and a record of each file
    (path, SHA-1, jobs left out) for the plan's header."""
    done: set[str] = set()
    record = []
    for path in statuses:
        names = set(load_statuses(path))
        record.append({"path": str(path), "sha1": file_sha1(path), "jobs": len(names & {j.name for j in jobs})})
        done |= names
    return [job for job in jobs if job.name not in done], record


def statuses_path(out: str | os.PathLike) -> Path:
    """Where :func:`dock_jobs` writes the status of every job of the pockets done so far."""
    out = Path(out)
    return out.with_name(out.stem + ".statuses.json.gz")


def load_statuses(path: str | os.PathLike) -> dict[str, str]:
    """Job name -> status ('' kept, else the reason) of a statuses file; one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a docked set's statuses file (<set>.statuses.json.gz)")
    statuses = read_json_gz(path, _STATUSES_VERSION, "docking statuses file").get("statuses")
    if not isinstance(statuses, dict):
        raise ValueError(f"{path}: malformed docking statuses file")
    return statuses


# ------------------------------------------------------------------------- docking


@dataclass(frozen=True)
class DockSettings:
    """How to dock: rustina's search and its seed (one per pocket; rustina's result for a ligand
    does not depend on the other ligands of its batch), the start conformer of cross-docked
    ligands ('crystal': the ligand's own crystal geometry, placed and twisted at random by the
    search; 'etkdg': a fresh conformer; MOSES molecules always get ETKDG + MMFF), and the box
    (see :func:`box_around`)."""

    search: SearchSettings = field(default_factory=SearchSettings)
    seed: int = 0
    start: str = "crystal"
    padding: float = 8.0
    min_size: float = 18.0

    def __post_init__(self) -> None:
        if self.start not in ("crystal", "etkdg"):
            raise ValueError(f"start conformer must be 'crystal' or 'etkdg', got {self.start!r}")


@dataclass
class _Group:
    """The jobs of one receptor pocket, with where its part goes."""

    receptor: Complex
    jobs: list[Job]
    ligands: dict[str, str]  # cross-docked complex name -> its ligand SDF (relative)
    data_root: str
    settings: DockSettings
    part: Path


def _read_ligand(path: Path) -> Chem.Mol:
    """The first molecule of a ligand SDF through the project's one reader (query features made
    plain), sanitized, heavy atoms only; ``ValueError`` naming the file if unreadable."""
    return Chem.RemoveHs(read_sdf(path, sanitize=True)[0])


def _stored_molecule(job: Job, group: _Group) -> Chem.Mol:
    """The heavy-atom molecule a job stores: the crystal ligand, or the MOSES SMILES."""
    if job.kind == "crossdock":
        return _read_ligand(Path(group.data_root) / group.ligands[job.ligand])
    mol = Chem.MolFromSmiles(job.ligand)
    if mol is None:
        raise ValueError("SMILES unreadable")
    return mol


def _start_conformer(job: Job, group: _Group) -> Chem.Mol:
    """The 3D molecule with hydrogens that a job docks."""
    mol = _stored_molecule(job, group)
    if job.kind == "crossdock" and group.settings.start == "crystal":
        return Chem.AddHs(mol, addCoords=True)
    return embed(mol, job.seed, mmff=True)


def _stage_group(group: _Group) -> StagedPocket:
    """The receptor and ligand PDBQTs of one pocket's jobs, batched by search box (jobs of one
    box share rustina's grids); jobs that cannot be prepared get their reason in ``status``."""
    rec, settings = group.receptor, group.settings
    staged = StagedPocket("", job_seed(settings.seed, rec.name), settings.search)
    with BlockLogs():
        reference = _read_ligand(Path(group.data_root) / rec.ligand).GetConformer().GetPositions()
        try:
            staged.receptor = prepare_receptor(Path(group.data_root) / rec.protein,
                                               box_around(reference, settings.padding, settings.min_size))
        except Exception as err:  # Meeko: one pocket failing must not stop the run
            staged.status = {job.name: f"receptor: {_one_line(err)}" for job in group.jobs}
            return staged
        batches: dict[Box, tuple[list[str], list[str]]] = {}
        for job in group.jobs:
            try:
                start_h = _start_conformer(job, group)
                fit = longest_distance(start_h.GetConformer().GetPositions()) + settings.padding / 2
                names, ligands = batches.setdefault(box_around(reference, settings.padding, settings.min_size, fit),
                                                    ([], []))
                names.append(job.name)
                ligands.append(ligand_pdbqt(start_h))
            except ValueError as err:
                staged.status[job.name] = f"preparation: {_one_line(err)}"
    staged.batches = [(box, names, ligands) for box, (names, ligands) in batches.items()]
    return staged


def _stage_file(group: _Group) -> None:
    """Stage one pocket into its part's stage file (for a search elsewhere)."""
    save_staged(stage_path(group.part), _stage_group(group))


def _dock_group(group: _Group) -> tuple[dict[str, str], float]:
    """Stage, search, check and featurize one pocket's jobs, taking the stage and the search
    results from their files where an earlier or remote step left them; writes the part (kept
    ligands) and its job statuses ('' for kept, else the reason); returns the statuses and the CPU
    seconds used."""
    start = _cpu_seconds()
    stage, found = stage_path(group.part), result_path(group.part)
    staged = load_staged(stage) if stage.is_file() else _stage_group(group)
    if not staged.receptor:  # Meeko failed: every job carries its reason
        return _finish(group, staged.status, [], start)
    try:
        checker = PocketFilter(Path(group.data_root) / group.receptor.protein)
    except Exception as err:  # PoseBusters: one pocket failing must not stop the run
        return _finish(group, {job.name: f"receptor: {_one_line(err)}" for job in group.jobs}, [], start)
    results = load_results(found, stage) if found.is_file() else search_pocket(staged, group.settings.search.threads)
    status = dict(staged.status)
    jobs = {job.name: job for job in group.jobs}
    poses = []
    with BlockLogs():
        for name, result in results.items():
            try:
                if "error" in result:
                    raise ValueError(result["error"])
                poses.append((jobs[name], pose_from_pdbqt(result["pdbqt"], _stored_molecule(jobs[name], group)),
                              result))
            except ValueError as err:
                status[name] = f"docking: {_one_line(err)}"
        failures = checker.failures([pose for _, pose, _ in poses])
    kept = []
    for (job, pose, result), failed in zip(poses, failures):
        status[job.name] = "posebusters: " + ", ".join(failed) if failed else ""
        if not failed:
            kept.append((job, pose, result))
    return _finish(group, status, kept, start)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


def _finish(group: _Group, status: dict[str, str], kept: list[tuple[Job, Chem.Mol, dict]], start: float
            ) -> tuple[dict[str, str], float]:
    """Write the group's part (ligands in job order, then the statuses, which mark it done)."""
    order = {job.name: k for k, job in enumerate(group.jobs)}
    rows = []
    for job, pose, result in sorted(kept, key=lambda item: order[item[0].name]):
        try:
            rows.append((job, featurize_ligand(pose), canonical_smiles(clean_ligand(pose)) or "", result))
        except ValueError as err:
            status[job.name] = f"featurization: {err}"
    docked = _as_docked(group, rows) if rows else empty_docked()
    save_docked(docked, group.part)
    statuses = {job.name: status.get(job.name, "not docked") for job in group.jobs}
    write_text(group.part.with_suffix(".json"), json.dumps(statuses, indent=0) + "\n")
    return statuses, _cpu_seconds() - start


def _as_docked(group: _Group, rows: list[tuple[Job, tuple, str, dict]]) -> DockedSet:
    """A one-pocket :class:`DockedSet` of featurized ligands."""
    path = Path(group.data_root) / group.receptor.protein
    lig = [r[1] for r in rows]
    return DockedSet(
        pocket_path=np.array([group.receptor.protein]), pocket_sha1=np.array([file_sha1(path)]),
        pocket_name=np.array([group.receptor.name]), pocket_protein=np.array([group.receptor.protein_id]),
        lig_pocket=np.zeros(len(rows), dtype=np.int32),
        lig_num_atoms=np.array([len(f[1]) for f in lig], dtype=np.int64),
        lig_pos=np.concatenate([f[0] for f in lig]).astype(np.float32),
        lig_types=np.concatenate([f[1] for f in lig]).astype(np.uint8),
        lig_charges=np.concatenate([f[2] for f in lig]).astype(np.int8),
        lig_num_bonds=np.array([len(f[4]) for f in lig], dtype=np.int64),
        lig_bonds=np.concatenate([f[3] for f in lig]).astype(np.uint16).reshape(-1, 2),
        lig_bond_classes=np.concatenate([f[4] for f in lig]).astype(np.uint8),
        name=np.array([job.name for job, *_ in rows]),
        smiles=np.array([smiles for _, _, smiles, _ in rows]),
        rotatable=np.array([job.rotatable for job, *_ in rows], dtype=np.uint8),
        weight=np.array([job.weight for job, *_ in rows], dtype=np.float32),
        affinity=np.array([r[3]["affinity"] for r in rows], dtype=np.float32),
        cnn_score=np.array([r[3]["cnn_score"] for r in rows], dtype=np.float32),
        cnn_affinity=np.array([r[3]["cnn_affinity"] for r in rows], dtype=np.float32),
    )


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (Meeko runs as a subprocess)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _groups(jobs: Sequence[Job], data_root: str | os.PathLike, settings: DockSettings, parts: Path) -> list[_Group]:
    """One group per receptor, largest first (for load balance); each part's name carries a hash
    of its jobs and the settings, so a changed plan or setting redoes that pocket."""
    complexes = {c.name: c for c in read_index(data_root)}
    by_receptor: dict[str, list[Job]] = {}
    for job in jobs:
        if job.receptor not in complexes or (job.kind == "crossdock" and job.ligand not in complexes):
            raise ValueError(f"job {job.name}: complex not in {data_root}/index.csv")
        by_receptor.setdefault(job.receptor, []).append(job)
    groups = []
    for rec, items in by_receptor.items():
        spec = json.dumps([_result_settings(settings), [asdict(j) for j in items]])
        key = hashlib.sha1(spec.encode()).hexdigest()[:12]
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in rec)
        ligands = {j.ligand: complexes[j.ligand].ligand for j in items if j.kind == "crossdock"}
        groups.append(_Group(complexes[rec], items, ligands, str(data_root), settings, parts / f"{safe}-{key}.npz"))
    return sorted(groups, key=lambda g: (-len(g.jobs), g.receptor.name))


def _result_settings(settings: DockSettings) -> dict:
    """The settings that change docking results (not the thread count: rustina's output does not
    depend on it)."""
    values = asdict(settings)
    values["search"].pop("threads")
    return values


def _is_done(group: _Group) -> bool:
    return group.part.is_file() and group.part.with_suffix(".json").is_file()


def _setup(jobs: Sequence[Job], data_root: str | os.PathLike, out: str | os.PathLike, settings: DockSettings
           ) -> tuple[Path, list[_Group]]:
    if not jobs:
        raise ValueError("no docking jobs")
    if len({job.name for job in jobs}) != len(jobs):
        raise ValueError("job names must be unique")
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    return out, _groups(jobs, data_root, settings, parts)


def stage_jobs(jobs: Sequence[Job], data_root: str | os.PathLike, out: str | os.PathLike,
               settings: DockSettings = DockSettings(), workers: int = 1, verbose: bool = True) -> dict[str, int]:
    """Write the stage file of every pocket of ``jobs`` that is neither docked nor staged yet, for
    a search on another machine (:func:`moldiff.datasets.docked_search.search_staged`); returns
    counts of pockets and jobs staged now and before."""
    out, groups = _setup(jobs, data_root, out, settings)
    todo = [g for g in groups if not _is_done(g) and not stage_path(g.part).is_file()]
    with tqdm(total=len(todo), desc="staging", unit="pocket", disable=not verbose) as bar:
        for _ in run_in_processes(_stage_file, todo, workers):
            bar.update(1)
    return {"pockets": len(todo), "jobs": sum(len(g.jobs) for g in todo), "pockets_before": len(groups) - len(todo)}


def dock_jobs(jobs: Sequence[Job], data_root: str | os.PathLike, out: str | os.PathLike,
              settings: DockSettings = DockSettings(), workers: int = 1, verbose: bool = True,
              plan_info: dict | None = None, searched_only: bool = False) -> dict:
    """Dock ``jobs`` into ``out`` (a :class:`DockedSet`) with ``workers`` processes, resuming from
    the parts in ``<out>.parts/``; writes ``<out stem>.json`` (the manifest) and returns it, and
    ``<out stem>.statuses.json.gz``, every finished job's status (what a later plan can exclude).
    ``searched_only`` finishes only the pockets whose search results are there (searched on
    another machine) and leaves the rest pending. The set holds the pockets done so far."""
    out, groups = _setup(jobs, data_root, out, settings)
    todo = [g for g in groups if not _is_done(g) and (not searched_only or result_path(g.part).is_file())]
    t0, cpu = time.time(), 0.0
    with tqdm(total=sum(len(g.jobs) for g in todo), desc="docking", unit="job", disable=not verbose) as bar:
        for done, seconds in run_in_processes(_dock_group, todo, workers):
            cpu += seconds
            bar.update(len(done))
    finished = sorted((g for g in groups if _is_done(g)), key=lambda g: g.receptor.name)
    statuses: dict[str, str] = {}
    for g in finished:
        statuses |= json.loads(g.part.with_suffix(".json").read_text())
    docked = concat_docked([load_docked(g.part) for g in finished]) if finished else empty_docked()
    order = {job.name: k for k, job in enumerate(jobs)}
    docked = docked.take(np.argsort([order[n] for n in docked.name.tolist()], kind="stable"))
    save_docked(docked, out)
    write_json_gz(statuses_path(out), {"version": _STATUSES_VERSION, "statuses": dict(sorted(statuses.items()))})
    manifest = _manifest(jobs, statuses, docked, settings, plan_info, time.time() - t0, cpu)
    write_text(out.with_suffix(".json"), json.dumps(manifest, indent=1) + "\n")
    return manifest


def _manifest(jobs: Sequence[Job], statuses: dict[str, str], docked: DockedSet, settings: DockSettings,
              plan_info: dict | None, seconds: float, cpu: float) -> dict:
    """Settings, package versions and counts of a docking run."""
    reasons = Counter(status.split(":")[0] for status in statuses.values() if status)
    checks = Counter(check for status in statuses.values() if status.startswith("posebusters: ")
                     for check in status.removeprefix("posebusters: ").split(", "))
    versions = {package: package_version(package) for package in _PACKAGES}
    return {
        "plan": plan_info or {},
        "dock_settings": asdict(settings),
        "versions": versions,
        "jobs": len(jobs),
        "pending": len(jobs) - len(statuses),
        "kept": len(docked),
        "kept_by_kind": dict(Counter(name.split(":")[0] for name in docked.name.tolist())),
        "kept_by_weight": {f"{w:g}": int((docked.weight == w).sum()) for w in sorted(set(docked.weight.tolist()))},
        "dropped": dict(reasons.most_common()),
        "posebusters_failures": dict(checks.most_common()),
        "seconds_this_run": round(seconds, 1),
        "cpu_seconds_this_run": round(cpu, 1),
    }
