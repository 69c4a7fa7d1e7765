"""Evaluate molecules in an SDF: python scripts/evaluate.py out.sdf [--train_smiles file] [--out dir]"""
import argparse
import json
from pathlib import Path

from moldiff.atomic import write_text
from moldiff.cli import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("sdf", help="generated molecules")
    ap.add_argument("--train_smiles", default=None,
                    help="text file of training SMILES for novelty (default: QM9 cache if present)")
    ap.add_argument("--out", default=None, help="folder for metrics.json and metrics.md (default: beside the SDF)")
    args = ap.parse_args()
    from moldiff.chem.io import read_sdf
    from moldiff.chem.metrics import evaluate_molecules, format_table

    mols = read_sdf(args.sdf)
    train = _train_smiles(args.train_smiles)
    metrics = evaluate_molecules(mols, train)
    out = Path(args.out) if args.out else Path(args.sdf).parent
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(metrics)
    write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    write_text(out / "metrics.md", table + "\n")
    from moldiff.chem.build import canonical_smiles
    from moldiff.chem.draw import grid_png

    valid = [m for m in mols if canonical_smiles(m) is not None]
    grid_png(valid, out / "molecules.png", legends=[canonical_smiles(m) for m in valid[:24]])
    print(table)
    print(f"wrote {out / 'metrics.json'}, {out / 'metrics.md'} and {out / 'molecules.png'} (first 24 valid molecules)")


def _train_smiles(path: str | None):
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: training SMILES file not found")
        return {line.split()[0] for line in p.read_text().splitlines() if line.strip()}
    cache = Path("data/cache/qm9.npz")
    if cache.exists():
        from moldiff.datasets.qm9 import load_qm9
        from moldiff.training.run import train_smiles

        return train_smiles(load_qm9(cache))
    return None



if __name__ == "__main__":
    run(main)
