"""Sample molecules to SDF.

Unconditional (QM9):  python scripts/sample.py --model qm9 --n_samples 1000 --n_steps 500 --outfile out.sdf
In a protein pocket:  python scripts/sample.py --pocket target.pdb --ref_ligand ligand.sdf --n_samples 100 --outfile out.sdf
(the pocket is one of: --ref_ligand, --resi_list A:45 A:46, or --center x y z --radius r)
"""
import argparse

from moldiff.cli import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="shipped model name or checkpoint/weights path "
                    "(default: 'pocket' with --pocket, else 'qm9')")
    ap.add_argument("--n_samples", type=int, default=100)
    ap.add_argument("--n_steps", type=int, default=None, help="reverse steps (default: the model's)")
    ap.add_argument("--num_atoms", default=None,
                    help="atoms per molecule, N or a range LO-HI (default: the model's size distribution)")
    ap.add_argument("--sampler", default=None, help="sampler name (default: the model's)")
    ap.add_argument("--batch_size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    ap.add_argument("--sanitize", "--drop_invalid", dest="sanitize", action="store_true",
                    help="write only valid molecules (RDKit sanitization passes, one connected fragment)")
    ap.add_argument("--outfile", default="samples.sdf")
    pocket = ap.add_argument_group("pocket (pocket models)")
    pocket.add_argument("--pocket", default=None, help="protein structure, PDB or mmCIF")
    pocket.add_argument("--ref_ligand", default=None, help="SDF: the pocket is every residue within --pocket_cutoff of it")
    pocket.add_argument("--resi_list", nargs="+", default=None, help="pocket residues as CHAIN:NUMBER[ICODE], e.g. A:45 A:46B")
    pocket.add_argument("--center", nargs=3, type=float, default=None, metavar=("X", "Y", "Z"))
    pocket.add_argument("--radius", type=float, default=None, help="with --center: residues with an atom this close (Å)")
    pocket.add_argument("--pocket_cutoff", type=float, default=8.0, help="with --ref_ligand (Å, default 8)")
    pocket.add_argument("--keep_hetero", action="store_true", help="keep ions and cofactors as pocket atoms")
    pocket.add_argument("--relax", action="store_true",
                        help="relax each valid ligand with MMFF94, pocket atoms fixed (writes relax_rmsd)")
    args = ap.parse_args()
    if args.n_samples < 1:
        raise ValueError(f"--n_samples must be >= 1, got {args.n_samples}")
    if args.pocket is None and (args.ref_ligand or args.resi_list or args.center):
        raise ValueError("--ref_ligand, --resi_list and --center define a pocket: give the protein with --pocket")
    import torch

    from moldiff.api import load_model, load_pocket, relax, sample
    from moldiff.chem.io import write_sdf

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = device.startswith("cuda")  # TF32 matrix products on GPUs (faster)
    model = load_model(args.model or ("pocket" if args.pocket else "qm9"), device)
    pocket = None
    if args.pocket:
        pocket = load_pocket(args.pocket, args.ref_ligand, args.resi_list, args.center, args.radius,
                             args.pocket_cutoff, args.keep_hetero, model.cfg.data.pocket_representation)
    mols = sample(model, args.n_samples, args.n_steps, _num_atoms(args.num_atoms), args.seed, args.batch_size,
                  args.sampler, pocket=pocket)
    if args.relax:
        if pocket is None:
            raise ValueError("--relax needs a pocket (--pocket)")
        mols = relax(mols, pocket)
    n_valid = sum(m.GetIntProp("moldiff_valid") for m in mols)
    if args.sanitize:
        mols = [m for m in mols if m.GetIntProp("moldiff_valid")]
    write_sdf(mols, args.outfile)
    print(f"wrote {len(mols)} molecules to {args.outfile} ({n_valid}/{args.n_samples} valid)")


def _num_atoms(text: str | None):
    """'N' -> N, 'LO-HI' -> range(LO, HI + 1), None -> None."""
    if text is None:
        return None
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            return range(lo, hi + 1)
        return int(text)
    except ValueError:
        raise ValueError(f"--num_atoms: expected N or LO-HI, got {text!r}") from None


if __name__ == "__main__":
    run(main)
