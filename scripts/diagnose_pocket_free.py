"""Pocket-free samples of a pocket model: do its ring pathologies come from the pocket or from
the network's chemistry? (issue 26's first diagnosis)

    python scripts/diagnose_pocket_free.py --model pocket --cache data/cache/pdb.npz --split val \\
        --n_samples 200 --out outputs/diagnose/pocket_free_shipped.json

What an empty pocket (no context atoms) means depends on the training: a model trained without
``data.flag_ligand_only`` (the shipped ``pocket``) saw empty pockets only on its ligand-only MOSES
molecules; a model trained with it reads the flag as 0 when sampling, so an empty pocket is its
classifier-free-guidance null mode (complex ligands whose pocket was dropped). Molecule sizes are drawn, with the seed, from the
ligands of ``--split`` in ``--cache``, so that they match the pocket-conditioned benchmark on the
same split. Prints and writes JSON with the validity (sanitizes and is one fragment) and the
ring-size shares of the valid molecules (:func:`moldiff.chem.metrics.ring_size_fractions`).
"""
import argparse
import json
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.commands import run

#: The network's own protocol of the pocket benchmarks: restarts, no connectivity guidance.
NETWORK_SAMPLER = "ancestral:restart=2,restart_steps=10,restart_tmax=0.2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="pocket", help="pocket model (name or weights file)")
    ap.add_argument("--cache", required=True, help="complex cache whose ligands give the molecule sizes")
    ap.add_argument("--split", default="val")
    ap.add_argument("--n_samples", type=int, default=200)
    ap.add_argument("--n_steps", type=int, default=100)
    ap.add_argument("--sampler", default=NETWORK_SAMPLER, help="sampler string (default: %(default)s)")
    ap.add_argument("--batch_size", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=None, help="JSON file to write (default: print only)")
    args = ap.parse_args()
    if args.n_samples < 1:
        raise ValueError(f"--n_samples must be positive, got {args.n_samples}")

    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from moldiff.api import load_model
    from moldiff.chem.build import build_molecule
    from moldiff.chem.metrics import ring_size_fractions, valid_copy
    from moldiff.datasets.complexes import load_complexes
    from moldiff.options import SampleOptions
    from moldiff.pocket import POCKET_FEATURE_DIM, Pocket

    if args.threads:
        torch.set_num_threads(args.threads)
    options = SampleOptions.parse(args.n_steps, args.sampler, args.batch_size, steric=0)
    model = load_model(args.model)
    if not model.conditional:
        raise ValueError(f"{args.model} is not a pocket model")
    options = options.resolve(model)
    arrays = load_complexes(args.cache)
    ligand_sizes = arrays.lig_num_atoms[arrays.split_indices(args.split)]
    if not len(ligand_sizes):
        raise ValueError(f"{args.cache}: no complex in split {args.split!r}")
    sizes = np.random.default_rng(args.seed).choice(ligand_sizes, args.n_samples)
    empty = Pocket(np.zeros((0, 3)), np.zeros((0, POCKET_FEATURE_DIM), np.float32),
                   model.cfg.data.pocket_representation, "no pocket")
    valid = []
    for start in tqdm(range(0, args.n_samples, args.batch_size), desc="batches"):
        chunk = torch.as_tensor(sizes[start:start + args.batch_size], dtype=torch.long)
        generator = torch.Generator(device=model.device).manual_seed(args.seed + start)
        for mol in model.sample(chunk, generator, options, pocket=empty):
            clean, _ = valid_copy(build_molecule(mol.elements, mol.pos, mol.charges, mol.bonds, explicit_h=False))
            if clean is not None:
                valid.append(clean)
    result = {"model": args.model, "cache": str(args.cache), "split": args.split, "n_samples": args.n_samples,
              "n_steps": args.n_steps, "sampler": str(options.sampler), "decoding": options.bond_decoding,
              "seed": args.seed, "validity": len(valid) / args.n_samples, "rings": ring_size_fractions(valid)}
    text = json.dumps(result, indent=1)
    print(text)
    print("| validity | " + " | ".join(result["rings"]) + " |")
    print("| " + " | ".join([f"{result['validity']:.1%}", *(f"{v:.1%}" for v in result["rings"].values())]) + " |")
    if args.out:
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    run(main)
