"""Sample molecules to SDF: python scripts/sample.py --model qm9 --n_samples 1000 --n_steps 500 --outfile out.sdf"""
import argparse

from moldiff.cli import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="qm9", help="shipped model name or checkpoint/weights path")
    ap.add_argument("--n_samples", type=int, default=100)
    ap.add_argument("--n_steps", type=int, default=None, help="reverse steps (default: the model's)")
    ap.add_argument("--num_atoms", type=int, default=None, help="atoms per molecule (default: training histogram)")
    ap.add_argument("--sampler", default=None, help="sampler name (default: the model's)")
    ap.add_argument("--batch_size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if _cuda() else "cpu")
    ap.add_argument("--drop_invalid", action="store_true", help="do not write molecules that fail sanitization")
    ap.add_argument("--outfile", default="samples.sdf")
    args = ap.parse_args()
    if args.n_samples < 1:
        raise ValueError(f"--n_samples must be >= 1, got {args.n_samples}")
    from moldiff.api import load_model, sample
    from moldiff.chem.io import write_sdf

    model = load_model(args.model, args.device)
    mols = sample(model, args.n_samples, args.n_steps, args.num_atoms, args.seed, args.batch_size, args.sampler)
    n_valid = sum(m.GetIntProp("moldiff_valid") for m in mols)
    if args.drop_invalid:
        mols = [m for m in mols if m.GetIntProp("moldiff_valid")]
    write_sdf(mols, args.outfile)
    print(f"wrote {len(mols)} molecules to {args.outfile} ({n_valid}/{args.n_samples} sanitize)")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    run(main)
