"""Docked training complexes (CrossDocked-style) from the crystal-complex folder, in three steps:

  plan     the job list (deterministic): each training ligand into the other training pockets of
           its protein cluster, optionally N MOSES molecules into every training pocket
  dock     dock the plan with rustina (CPU worker pool, or --mode gpu), keep poses that pass the
           PoseBusters filter; resumable (rerun the same command after an interruption)
  convert  the docked set as complex caches for training, one per ligand weight

and two that split `dock` across machines, for a GPU machine without RDKit or the data:

  stage    write each pocket's receptor and ligand PDBQTs to <out>.parts/*.stage.json.gz
  search   (there; needs only rustina) search the stage files into *.result.json.gz beside them
  dock --searched_only   (back here) check and keep the searched poses; other pockets stay pending

Each docking run writes <set>.statuses.json.gz beside its set (every finished job's status);
`plan --exclude` leaves out the jobs of earlier runs, e.g. a CPU run's, before a GPU run.

Usage:
  python scripts/dock_complexes.py plan --data_root shared/data/pdb_complexes --out data/docking/plan.json \\
      --moses_per_pocket 4
  python scripts/dock_complexes.py dock --plan data/docking/plan.json --data_root shared/data/pdb_complexes \\
      --out data/docking/docked.npz --workers 16
  python scripts/dock_complexes.py convert --docked data/docking/docked.npz \\
      --data_root shared/data/pdb_complexes --out data/cache/docked.npz

Split across machines (the GPU one gets only the stage files and the rustina wheel):
  python scripts/dock_complexes.py stage --plan data/docking/plan.json --data_root shared/data/pdb_complexes \\
      --out data/docking/docked.npz --mode gpu --workers 2
  python scripts/dock_complexes.py search --stage data/docking/docked.npz.parts --workers 4     # on the GPU machine
  python scripts/dock_complexes.py dock --plan data/docking/plan.json --data_root shared/data/pdb_complexes \\
      --out data/docking/docked.npz --mode gpu --searched_only

GPU mode (rustina's wgpu search on Vulkan) needs the Vulkan loader (Debian libvulkan1) and, in
containers, VK_DRIVER_FILES pointing at the NVIDIA ICD JSON; a run that finds no hardware GPU
stops with an error instead of docking on a software adapter.
"""
import argparse
import os
from pathlib import Path

from moldiff.commands import run


def _plan(args: argparse.Namespace) -> None:
    from moldiff.datasets.docked_prepare import (
        PlanSettings,
        exclude_done,
        plan_jobs,
        save_plan,
    )
    from moldiff.datasets.ligands_prepare import moses_smiles_path, read_smiles

    settings = PlanSettings(args.seed, args.moses_per_pocket, args.rigid_max, args.flexible_max, args.flexible_weight)
    moses = read_smiles(args.moses_csv or moses_smiles_path()) if args.moses_per_pocket > 0 else []
    jobs, excluded = exclude_done(plan_jobs(args.data_root, settings, moses), args.exclude)
    save_plan(args.out, jobs, settings, args.data_root, excluded)
    for record in excluded:
        print(f"left out {record['jobs']} jobs done in {record['path']}")
    kinds = {kind: sum(j.kind == kind for j in jobs) for kind in ("crossdock", "moses")}
    print(f"wrote {args.out}: {len(jobs)} jobs ({kinds['crossdock']} cross-docking, {kinds['moses']} MOSES) "
          f"into {len({j.receptor for j in jobs})} pockets")


def _planned(args: argparse.Namespace):
    """(jobs, plan header, dock settings, workers) of a stage or dock command."""
    from moldiff.chem.rustina_search import SearchSettings, require_rustina
    from moldiff.utils.atomic import file_sha1
    from moldiff.datasets.docked_prepare import DockSettings, load_plan

    require_rustina()
    jobs, header = load_plan(args.plan)
    if header["index_sha1"] != file_sha1(Path(args.data_root) / "index.csv"):
        raise ValueError(f"{args.data_root}/index.csv is not the index {args.plan} was planned from")
    if args.limit is not None:
        jobs = jobs[:args.limit]
    cores = os.cpu_count() or 1
    workers = args.workers or (min(4, cores) if args.mode == "gpu" else cores)
    threads = 1 if args.mode == "cpu" else max(1, cores // workers)
    settings = DockSettings(SearchSettings(args.mode, args.runs, threads), args.seed, args.start, args.padding,
                            args.min_size)
    return jobs, header, settings, workers


def _stage(args: argparse.Namespace) -> None:
    from moldiff.datasets.docked_prepare import stage_jobs

    jobs, _, settings, workers = _planned(args)
    counts = stage_jobs(jobs, args.data_root, args.out, settings, workers)
    print(f"staged {counts['pockets']} pockets ({counts['jobs']} jobs) in {args.out}.parts; "
          f"{counts['pockets_before']} were staged or docked before")


def _search(args: argparse.Namespace) -> None:
    from moldiff.chem.rustina_search import NoGpuError, require_rustina
    from moldiff.datasets.docked_search import search_staged

    require_rustina()
    try:
        searched, before = search_staged(args.stage, args.workers, args.threads)
    except NoGpuError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"searched {searched} staged pockets in {args.stage} ({before} searched before)")


def _dock(args: argparse.Namespace) -> None:
    from moldiff.chem.rustina_search import NoGpuError
    from moldiff.datasets.docked_prepare import dock_jobs

    jobs, header, settings, workers = _planned(args)
    try:
        manifest = dock_jobs(jobs, args.data_root, args.out, settings, workers,
                             plan_info=header | {"path": str(args.plan)}, searched_only=args.searched_only)
    except NoGpuError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"kept {manifest['kept']} of {manifest['jobs'] - manifest['pending']} jobs {manifest['kept_by_weight']} "
          f"(by weight), {manifest['pending']} pending; dropped {manifest['dropped']}; "
          f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")


def _convert(args: argparse.Namespace) -> None:
    from moldiff.datasets.docked import write_complex_caches

    written = write_complex_caches(args.docked, args.data_root, args.out, args.pocket_cutoff)
    for weight, (path, n) in written.items():
        print(f"wrote {path}: {n} complexes of weight {weight:g} (share in data.weights ~ {weight * n:g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="write the job list")
    plan.add_argument("--data_root", required=True, help="crystal-complex folder with index.csv")
    plan.add_argument("--out", type=Path, required=True, help="plan JSON to write")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument("--moses_per_pocket", type=int, default=0, help="MOSES molecules per training pocket")
    plan.add_argument("--moses_csv", help="MOSES train.csv(.gz) (default: the one inside the molsets package)")
    plan.add_argument("--rigid_max", type=int, default=5, help="weight 1 up to this many rotatable bonds")
    plan.add_argument("--flexible_max", type=int, default=10, help="ligands with more rotatable bonds are left out")
    plan.add_argument("--flexible_weight", type=float, default=0.5, help="weight of ligands above --rigid_max")
    plan.add_argument("--exclude", nargs="+", default=[], metavar="STATUSES",
                      help="leave out the jobs these runs did (their <set>.statuses.json.gz, kept or not)")
    dock = sub.add_parser("dock", help="dock a plan (resumable)")
    stage = sub.add_parser("stage", help="write the PDBQTs of a plan's pockets for a search elsewhere (resumable)")
    for command in (dock, stage):  # a stage and the dock that finishes it must agree on all of these
        command.add_argument("--plan", type=Path, required=True)
        command.add_argument("--data_root", required=True)
        command.add_argument("--out", type=Path, required=True, help="docked set (.npz); parts go to <out>.parts/")
        command.add_argument("--mode", choices=("cpu", "gpu"), default="cpu")
        command.add_argument("--workers", type=int, help="worker processes (default: all cores; 4 with --mode gpu)")
        command.add_argument("--seed", type=int, default=0, help="docking seed (conformers are seeded by the plan)")
        command.add_argument("--runs", type=int, help="Monte Carlo runs per ligand (default: rustina's, 16 on the CPU)")
        command.add_argument("--start", choices=("crystal", "etkdg"), default="crystal",
                             help="start conformer of cross-docked ligands (MOSES molecules: always ETKDG + MMFF)")
        command.add_argument("--padding", type=float, default=8.0, help="box: reference ligand extent + this (Å)")
        command.add_argument("--min_size", type=float, default=18.0, help="box: smallest edge (Å)")
        command.add_argument("--limit", type=int, help="only the first N jobs of the plan (trial runs)")
    dock.add_argument("--searched_only", action="store_true",
                      help="finish only pockets searched elsewhere (search); leave the others pending")
    search = sub.add_parser("search", help="search staged pockets (needs only rustina; resumable)")
    search.add_argument("--stage", type=Path, required=True, help="the parts folder holding *.stage.json.gz")
    search.add_argument("--workers", type=int, default=4, help="pockets searched at once")
    search.add_argument("--threads", type=int, help="CPU threads per search (default: the cores shared out)")
    convert = sub.add_parser("convert", help="docked set -> complex caches for training")
    convert.add_argument("--docked", type=Path, required=True)
    convert.add_argument("--data_root", required=True)
    convert.add_argument("--out", type=Path, required=True, help="cache path; writes <stem>.w<weight>.npz beside it")
    convert.add_argument("--pocket_cutoff", type=float, default=8.0)
    args = ap.parse_args()
    {"plan": _plan, "stage": _stage, "search": _search, "dock": _dock, "convert": _convert}[args.command](args)


if __name__ == "__main__":
    run(main)
