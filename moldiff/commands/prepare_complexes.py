"""Build a protein-ligand complex cache (``data/cache/<name>.npz``) from CrossDocked2020, the FEP
benchmark or a CSV of (protein, ligand) files.

Usage:
  moldiff prepare complexes --source crossdocked --root crossdocked_pocket10 --split_file split_by_name.pt
  moldiff prepare complexes --source fep --root fep_benchmark --out data/cache/fep.npz
  moldiff prepare complexes --source folder --index complexes.csv --out data/cache/mine.npz

The FEP source leaves out the 46 training systems that overlap CrossDocked2020 test proteins
(``CROSSDOCKED_OVERLAP_FEP_SYSTEMS`` in moldiff.datasets.complexes_prepare) unless
--keep_crossdocked_overlap is given; the 10 FEP test proteins are test either way.
"""
import argparse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, choices=("crossdocked", "fep", "folder"))
    ap.add_argument("--root", help="data folder (crossdocked: the pocket10 folder; fep: the benchmark folder)")
    ap.add_argument("--split_file", help="crossdocked: split_by_name.pt, or a .txt list of ligand SDFs (all test pairs)")
    ap.add_argument("--index", help="folder: CSV with columns protein,ligand[,name,split,protein_id]")
    ap.add_argument("--out", type=Path, help="cache path (default: data/cache/<source>.npz)")
    ap.add_argument("--pocket_cutoff", type=float, default=8.0,
                    help="pocket: whole residues within this many Å of the ligand (default: %(default)s)")
    ap.add_argument("--keep_hetero", action="store_true",
                    help="keep ions, cofactors and other hetero groups in pockets")
    ap.add_argument("--keep_crossdocked_overlap", action="store_true",
                    help="fep: keep the 46 training systems with >= 30 %% identity to a CrossDocked2020 test "
                         "protein (left out by default; only for models never evaluated on CrossDocked)")
    ap.add_argument("--drop_suspect_ligands", action="store_true",
                    help="skip training-split ligands with a structure error (a distorted bond, an S/P oxoacid "
                         "without a double bond, a flat ring holding an sp3 carbon; "
                         "moldiff.chem.ligand_checks.suspect_ligand); validation and test complexes are kept")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    ap.add_argument("--shard_size", type=int, default=None,
                    help="stream to shards of this many complexes (bounded memory for CrossDocked-sized sets); "
                         "--out is then a manifest read like any cache")
    args = ap.parse_args(argv)
    from moldiff.datasets.complexes_prepare import (
        CROSSDOCKED_OVERLAP_FEP_SYSTEMS,
        crossdocked_entries,
        fep_entries,
        folder_entries,
        prepare_complexes,
    )

    needed = {"crossdocked": ("root", "split_file"), "fep": ("root",), "folder": ("index",)}[args.source]
    for name in needed:
        if getattr(args, name) is None:
            raise ValueError(f"--source {args.source} needs --{name}")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.shard_size is not None and args.shard_size < 1:
        raise ValueError("--shard_size must be at least 1")
    if args.keep_crossdocked_overlap and args.source != "fep":
        raise ValueError("--keep_crossdocked_overlap applies to --source fep only")
    if args.source == "crossdocked":
        entries = crossdocked_entries(args.root, args.split_file)
    elif args.source == "fep":
        entries = fep_entries(args.root, exclude=())
        if not args.keep_crossdocked_overlap:
            n_all = len(entries)
            entries = fep_entries(args.root)
            print(f"left out {n_all - len(entries)} ligand records of the {len(CROSSDOCKED_OVERLAP_FEP_SYSTEMS)} FEP "
                  "training systems that overlap CrossDocked2020 test proteins (--keep_crossdocked_overlap keeps them)")
    else:
        entries = folder_entries(args.index)
    out = args.out or REPO_ROOT / "data" / "cache" / f"{args.source}.npz"
    prepare_complexes(entries, out, args.pocket_cutoff, args.keep_hetero, args.workers, verbose=True,
                      shard_size=args.shard_size, drop_suspect=args.drop_suspect_ligands)
