"""Ligand-only cache for pretraining pocket models: SMILES -> RDKit 3D conformers -> complex cache
with empty pockets.

    moldiff prepare ligands --smiles moses_train.csv.gz --n 50000 --out data/cache/ligands.npz

The MOSES training set ships inside the ``molsets`` wheel (``pip download --no-deps molsets``;
``moses/dataset/data/train.csv.gz``); ``--moses`` finds it when molsets is installed.
"""
import argparse



def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--smiles", help=".smi/.txt (first column) or CSV(.gz) with a SMILES column")
    src.add_argument("--moses", action="store_true", help="the MOSES training SMILES of an installed molsets package")
    ap.add_argument("--n", type=int, default=None, help="a seeded random subset of this many SMILES")
    ap.add_argument("--out", default="data/cache/ligands.npz")
    ap.add_argument("--val_fraction", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    import numpy as np

    from moldiff.datasets.ligands_prepare import moses_smiles_path, prepare_ligands, read_smiles

    smiles = read_smiles(args.smiles or moses_smiles_path())
    if args.n is not None:
        if args.n < 1:
            raise ValueError(f"--n must be positive, got {args.n}")
        pick = np.random.default_rng(args.seed).permutation(len(smiles))[: args.n]
        smiles = [smiles[i] for i in sorted(pick)]
    summary = prepare_ligands(smiles, args.out, args.val_fraction, args.seed, args.workers)
    print(f"wrote {summary['path']}: kept {summary['n_kept']} of {summary['n_in']} in {summary['seconds']:.0f} s; "
          f"per split {summary['kept_by_split']}; skipped {summary['skipped'] or 'none'}")
