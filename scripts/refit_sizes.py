"""A pocket model with its ligand-size model refitted on other complexes; the network is untouched
(issue 26's diagnosis: macrocycles grow with molecule size, and the shipped size model, fitted on
FEP ligands, draws larger molecules than crystal ligands).

    python scripts/refit_sizes.py --model pocket --cache data/cache/pdb_clean.npz data/cache/fep_clean.npz \\
        --out outputs/pocket_refit.pt

Fits p(ligand atoms | pocket atoms) on the training split of the caches, as training does
(:func:`moldiff.datasets.pockets.complex_statistics`), in the model's pocket representation. The
largest pocket the model accepts stays the one it was trained on: the size guard protects the
network, not the size model.
"""
import argparse

from moldiff.commands import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="pocket model: shipped name or weights path")
    ap.add_argument("--cache", nargs="+", required=True, help="complex caches whose training complexes give the sizes")
    ap.add_argument("--out", required=True, help="weights file to write")
    args = ap.parse_args()
    from moldiff.api import load_model
    from moldiff.datasets.complexes import concat_complexes, load_complexes
    from moldiff.datasets.pockets import complex_statistics
    from moldiff.utils.atomic import check_writable

    check_writable(args.out)
    model = load_model(args.model)
    if model.size_model is None:
        raise ValueError(f"{args.model}: not a pocket model (it has no pocket-size model)")
    arrays = concat_complexes([load_complexes(p) for p in args.cache])
    if tuple(arrays.vocab.elements) != tuple(model.vocab.elements):
        raise ValueError(f"{args.cache[0]}: elements {arrays.vocab.elements} differ from the model's {model.vocab.elements}")
    fitted = complex_statistics(arrays, model.cfg.data.pocket_representation)["size_model"]
    fitted["max_pocket_atoms"] = model.size_model["max_pocket_atoms"]
    model.size_model = fitted
    model.save(args.out)
    print(f"wrote {args.out}: sizes from {len(arrays.split_indices('train'))} training complexes")


if __name__ == "__main__":
    run(main)
