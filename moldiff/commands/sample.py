"""Sample molecules to SDF.

Unconditional (QM9):  moldiff sample --model qm9 --n_samples 1000 --outfile out.sdf   (--sampler, --n_steps, --engine: speed)
In a protein pocket:  moldiff sample --pocket target.pdb --ref_ligand ligand.sdf --n_samples 100 --outfile out.sdf
(the pocket is one of: --ref_ligand, --resi_list A:45 A:46, or --center x y z --radius r;
 steric guidance keeps generated atoms 2.5 Å from the pocket atoms while sampling: --steric DIST, 0 = off)

Many pockets:        moldiff sample --pockets pockets.csv --out_dir screen/ [--devices N]
(a CSV with columns protein and one of ref_ligand / resi_list / center + radius per row, optionally
 name and n_samples; one SDF per pocket plus index.csv; a rerun skips finished pockets;
 --devices N spreads the pockets over N GPUs, or N processes on the CPU)

Property-conditioned QM9:  moldiff sample --model qm9-alpha --property 80.0 --guidance 1
(or --model qm9_props --property alpha=80 gap=6.5; properties left out are free)
Classifier-free guidance (pocket and property models): --guidance W (0: plain conditional model),
 --guidance_interval T_LO T_HI applies it only at those diffusion times

Inpainting (fixed atoms stay exactly in place and come first in every molecule, in file order):
  grow a fragment:    --fix_atoms fragment.sdf --num_atoms 25
  link fragments:     --fix_atoms frag1.sdf frag2.sdf --num_atoms 24
  elaborate / hop:    --fix_atoms ligand.sdf --fix_smarts "c1ccc2ncncc2c1"   (or --fix_indices 0,1,5)
  --resamplings r --jump_length j: RePaint resampling (about r times the cost, better joins)
"""
import argparse
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from moldiff.options import SampleOptions


def main(argv: list[str] | None = None, prog: str | None = None) -> int | None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="shipped model name or checkpoint/weights path "
                    "(default: 'pocket' with --pocket, else 'qm9')")
    ap.add_argument("--n_samples", type=int, default=100)
    ap.add_argument("--n_steps", type=int, default=None, help="reverse steps (default: the model's)")
    ap.add_argument("--num_atoms", default=None,
                    help="atoms per molecule, N or a range LO-HI (default: the model's size distribution)")
    ap.add_argument("--sampler", default=None,
                    help="ancestral, ddim[:eta=E] or dpm2m, optionally with ,spacing=uniform|quadratic|cubic|logsnr|karras "
                         "and restart sampling ,restart=K,restart_steps=N,restart_tmax=T "
                         "and connectivity guidance ,connect=T (stray pieces moved next to the molecule below t=T) "
                         "(e.g. dpm2m:spacing=logsnr; default: the model's)")
    ap.add_argument("--engine", default=None,
                    help="network precision: fp32 (default) or bf16 (GPUs), optionally +compile (torch.compile), "
                         "e.g. bf16+compile")
    ap.add_argument("--bond_decoding", default=None, choices=["argmax", "valence"],
                    help="how the last step picks bond classes: argmax, or valence (bonds that would overload an "
                         "atom are lowered, by the predicted probabilities; nothing is dropped). Default: the model's")
    ap.add_argument("--batch_size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    ap.add_argument("--sanitize", "--drop_invalid", dest="sanitize", action="store_true",
                    help="write only valid molecules (RDKit sanitization passes, one connected fragment)")
    ap.add_argument("--outfile", default="samples.sdf")
    pocket = ap.add_argument_group("pocket (pocket models)")
    pocket.add_argument("--pocket", default=None, help="protein structure, PDB, PDBQT or mmCIF")
    pocket.add_argument("--ref_ligand", default=None, help="SDF: the pocket is every residue within --pocket_cutoff of it")
    pocket.add_argument("--resi_list", nargs="+", default=None, help="pocket residues as CHAIN:NUMBER[ICODE], e.g. A:45 A:46B")
    pocket.add_argument("--center", nargs=3, type=float, default=None, metavar=("X", "Y", "Z"))
    pocket.add_argument("--radius", type=float, default=None, help="with --center: residues with an atom this close (Å)")
    pocket.add_argument("--pocket_cutoff", type=float, default=8.0, help="with --ref_ligand (Å, default 8)")
    pocket.add_argument("--keep_hetero", action="store_true", help="keep ions and cofactors as pocket atoms")
    pocket.add_argument("--prepare", action="store_true",
                        help="prepare the protein first (PDBFixer: missing heavy atoms of present residues, hydrogens "
                             "at --ph; reproducible; hetero groups removed); writes <outfile>.prepared.pdb and "
                             "reports what was added")
    pocket.add_argument("--ph", type=float, default=7.4, help="with --prepare: pH for the hydrogens (default 7.4)")
    pocket.add_argument("--steric", type=float, default=None, metavar="DIST",
                        help="steric guidance: keep generated atoms at least DIST Å from pocket atoms while sampling "
                             "(default: the model's, 2.5 for the shipped pocket model; 0 turns it off)")
    pocket.add_argument("--pockets", default=None, metavar="CSV",
                        help="sample in every pocket of a CSV (see above) into --out_dir")
    pocket.add_argument("--out_dir", default=None, help="with --pockets: folder of per-pocket SDFs and index.csv")
    pocket.add_argument("--devices", type=int, default=1, help="with --pockets: GPUs (or CPU processes) to use")
    pocket.add_argument("--relax", action="store_true",
                        help="relax each valid ligand with MMFF94, pocket atoms fixed (writes relax_rmsd)")
    cond = ap.add_argument_group("guidance and properties")
    cond.add_argument("--property", nargs="+", default=None, metavar="[NAME=]VALUE",
                      help="property values to generate for (property models; a bare VALUE for a qm9-<name> model)")
    cond.add_argument("--guidance", type=float, default=0.0, metavar="W",
                      help="classifier-free guidance scale w >= 0 with respect to the pocket / properties (default 0)")
    cond.add_argument("--guidance_interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("T_LO", "T_HI"),
                      help="apply guidance only at diffusion times in [T_LO, T_HI] (default 0 1: always)")
    fix = ap.add_argument_group("inpainting (fixed atoms)")
    fix.add_argument("--fix_atoms", nargs="+", default=None, metavar="SDF",
                     help="hold these atoms fixed (every atom of each file; several files are linked)")
    fix.add_argument("--fix_smarts", default=None, help="with one --fix_atoms file: fix only the first match")
    fix.add_argument("--fix_indices", default=None, help="with one --fix_atoms file: fix atoms i,j,k (0-based)")
    fix.add_argument("--resamplings", type=int, default=1, help="RePaint resamplings per window (default 1: none)")
    fix.add_argument("--jump_length", type=int, default=10, help="RePaint window in steps (default 10)")
    args = ap.parse_args(argv)
    from moldiff.chem.pocket import positive_distance
    from moldiff.options import SampleOptions

    sampling = SampleOptions.parse(args.n_steps, args.sampler, args.batch_size, args.engine, args.bond_decoding,
                                   args.steric, args.guidance, tuple(args.guidance_interval), args.resamplings,
                                   args.jump_length)  # bad settings fail before anything is loaded
    for name in ("radius", "pocket_cutoff"):
        if getattr(args, name) is not None:
            positive_distance(getattr(args, name), f"--{name}")
    if args.pocket is None and (args.ref_ligand or args.resi_list or args.center):
        raise ValueError("--ref_ligand, --resi_list and --center define a pocket: give the protein with --pocket")
    from moldiff.utils.atomic import check_writable

    if args.prepare and (args.pockets or not args.pocket or args.keep_hetero):
        raise ValueError("--prepare prepares the protein of --pocket (not --pockets), and removes hetero groups: "
                         "leave out --keep_hetero")
    if not 0.0 <= args.ph <= 14.0:
        raise ValueError(f"--ph must lie between 0 and 14, got {args.ph:g}")
    if not args.pockets:  # outputs are checked before any work, not after sampling
        check_writable(args.outfile)
        if args.prepare:
            check_writable(_prepared_path(args.outfile))
    elif args.out_dir:
        check_writable(Path(args.out_dir) / "index.csv")
    import torch

    from moldiff.api import load_fixed_atoms, load_model, load_pocket, relax, sample_with
    from moldiff.chem.io import write_sdf
    from moldiff.utils.malloc import keep_freed_memory

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = device.startswith("cuda")  # TF32 matrix products on GPUs (faster)
    if device == "cpu":
        keep_freed_memory()  # ~1.8x faster CPU sampling (moldiff.utils.malloc)
    if args.pockets:
        return _screen(args, device, sampling)
    model = load_model(args.model or ("pocket" if args.pocket else "qm9"), device)
    pocket = None
    if args.prepare:
        args.pocket = _prepare(args.pocket, args.ph, _prepared_path(args.outfile))
    if args.pocket:
        pocket = load_pocket(args.pocket, args.ref_ligand, args.resi_list, args.center, args.radius,
                             args.pocket_cutoff, args.keep_hetero, model.cfg.data.pocket_representation)
    fixed = None
    if args.fix_atoms:
        fixed = load_fixed_atoms(model, args.fix_atoms, args.fix_smarts, _indices(args.fix_indices))
    elif args.fix_smarts or args.fix_indices:
        raise ValueError("--fix_smarts and --fix_indices choose atoms of the --fix_atoms file: give it")
    mols = sample_with(model, sampling.resolve(model), args.n_samples, _num_atoms(args.num_atoms), args.seed, pocket,
                       fixed, _properties(model, args.property))
    if args.relax:
        if pocket is None:
            raise ValueError("--relax needs a pocket (--pocket)")
        mols = relax(mols, pocket)
    n_valid = sum(m.GetIntProp("moldiff_valid") for m in mols)
    if args.sanitize:
        mols = [m for m in mols if m.GetIntProp("moldiff_valid")]
    write_sdf(mols, args.outfile)
    print(f"wrote {len(mols)} molecules to {args.outfile} ({n_valid}/{args.n_samples} valid)")


def _screen(args, device: str, sampling: "SampleOptions") -> int:
    """--pockets: every pocket of the CSV, spread over --devices, resumable, with the sampling
    settings resolved once against the model."""
    import torch

    from moldiff.api import load_model
    from moldiff.apps.screen import ScreenOptions, read_requests, sample_pockets

    if args.pocket or args.fix_atoms or args.relax:
        raise ValueError("--pockets takes the pockets from its CSV: leave out --pocket, --fix_atoms and --relax")
    if not args.out_dir:
        raise ValueError("--pockets needs --out_dir (one SDF per pocket and index.csv are written there)")
    if args.devices < 1:
        raise ValueError(f"--devices must be >= 1, got {args.devices}")
    if device.startswith("cuda") and args.devices > torch.cuda.device_count():
        raise ValueError(f"--devices {args.devices}: only {torch.cuda.device_count()} GPU(s) visible")
    requests = read_requests(args.pockets, args.n_samples)
    devices = [f"cuda:{k}" for k in range(args.devices)] if device.startswith("cuda") else ["cpu"] * args.devices
    # loaded here to refuse a non-pocket model once; sampling reuses it when it runs in this process
    model = load_model(args.model or "pocket", devices[0] if len(devices) == 1 else "cpu")
    model.check_pocket_given(True)
    options = ScreenOptions(sampling.resolve(model), args.model or "pocket", _num_atoms(args.num_atoms), args.seed,
                            args.pocket_cutoff, args.keep_hetero, args.sanitize)
    rows = sample_pockets(requests, args.out_dir, options, devices, model=model if len(devices) == 1 else None)
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{len(rows) - len(failed)} of {len(rows)} pockets sampled into {args.out_dir} (index.csv)")
    for r in failed:
        print(f"  {r['name']}: {r.get('error') or r['status']}")
    return 1 if len(failed) == len(rows) else 0


def _prepared_path(outfile: str) -> Path:
    """Where --prepare writes the prepared protein: beside the SDF, ``ligands.sdf`` -> ``ligands.prepared.pdb``."""
    return Path(outfile).with_suffix(".prepared.pdb")


def _prepare(protein: str, ph: float, out: Path) -> str:
    """--prepare: the prepared protein written to ``out`` (atomically), what was added printed; its path."""
    from moldiff.utils.atomic import write_text
    from moldiff.chem.prepare import prepare_protein

    prepared = prepare_protein(protein, ph)
    write_text(out, prepared.pdb)
    print(f"prepared {protein} at pH {ph:g} -> {out}: {prepared.summary()}")
    return str(out)


def _properties(model, items: list[str] | None) -> dict[str, float] | None:
    """'alpha=80 gap=6.5' -> {'alpha': 80.0, 'gap': 6.5}; a bare value is the model's own property
    (a qm9-<name> model, or a model conditioned on one property)."""
    if not items:
        return None
    if model.properties is None:
        raise ValueError(f"{model.source} is not property-conditioned: --property needs a model such as qm9-alpha")
    values = {}
    for item in items:
        name, eq, text = item.rpartition("=")
        if not eq:
            name = model.default_property
            if name is None:
                raise ValueError(f"--property {item}: say which property, as NAME=VALUE "
                                 f"(this model: {', '.join(model.properties.names)})")
        try:
            values[name] = float(text)
        except ValueError:
            raise ValueError(f"--property {item}: {text!r} is not a number") from None
    return values


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


def _indices(text: str | None) -> list[int] | None:
    """'0,1,5' -> [0, 1, 5]."""
    if text is None:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"--fix_indices: expected comma-separated atom indices like 0,1,5, got {text!r}") from None
