"""Evaluate generated molecules in an SDF, alone or in a protein pocket:

    python scripts/evaluate.py generated.sdf [--train_smiles file] [--out report/]
    python scripts/evaluate.py generated.sdf --pocket protein.pdb --ref_ligand ligand.sdf --vina score --posebusters

Writes ``metrics.json`` (stability/validity metrics and a property summary), ``metrics.md``,
``molecules.csv`` (one row per molecule: validity and its reason, SMILES, QED, SA, logP, Lipinski
rules, ring sizes; Vina score-only/minimized/docked and the PoseBusters verdict with a pocket;
the reference ligand as the last row), ``properties.png`` (histograms against the reference) and
``molecules.png`` (the first 24 valid molecules in 2D).
"""
import argparse
import json
import os
from pathlib import Path

from moldiff.atomic import write_text
from moldiff.cli import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sdf", help="generated molecules")
    ap.add_argument("--train_smiles", default=None,
                    help="text file of training SMILES for novelty (default: QM9 cache if present)")
    ap.add_argument("--out", default=None, help="report folder (default: beside the SDF)")
    ap.add_argument("--pocket", default=None, help="protein PDB the molecules were generated in")
    ap.add_argument("--ref_ligand", default=None, help="reference ligand SDF (compared on the same footing)")
    ap.add_argument("--vina", choices=("off", "score", "dock"), default="off",
                    help="Vina score-only + local minimization (dock: also re-docking, slow); needs --pocket and --ref_ligand")
    ap.add_argument("--posebusters", action="store_true", help="PoseBusters checks in the protein (needs --pocket)")
    args = ap.parse_args()
    from moldiff.chem.io import read_sdf
    from moldiff.chem.metrics import evaluate_molecules, format_table
    from moldiff.chem.report import molecule_table, summarize

    if args.pocket and not os.path.isfile(args.pocket):
        raise FileNotFoundError(f"{args.pocket}: no such file")
    if args.vina != "off" and not (args.pocket and args.ref_ligand):  # refuse before any work
        raise ValueError("Vina scores need the protein (--pocket) and a reference ligand for the box (--ref_ligand)")
    if args.posebusters and not args.pocket:
        raise ValueError("PoseBusters checks need the protein (--pocket)")
    mols = read_sdf(args.sdf)
    reference = read_sdf(args.ref_ligand, sanitize=True)[0] if args.ref_ligand else None
    metrics = evaluate_molecules(mols, _train_smiles(args.train_smiles))
    table = molecule_table(mols, args.pocket, reference, args.vina, args.posebusters)
    summary = summarize(table)
    out = Path(args.out) if args.out else Path(args.sdf).parent
    out.mkdir(parents=True, exist_ok=True)
    text = format_table(metrics) + "\n\n" + _summary_table(summary)
    write_text(out / "metrics.json", json.dumps({**metrics, "summary": summary}, indent=2))
    write_text(out / "metrics.md", text + "\n")
    write_text(out / "molecules.csv", table.to_csv(index=False))
    _plot(table, out / "properties.png")
    from moldiff.chem.draw import grid_png

    valid = [m for m, ok in zip(mols, table["valid"]) if ok]
    grid_png(valid, out / "molecules.png", legends=list(table.loc[table["valid"] & ~table["is_reference"], "smiles"])[:24])
    print(text)
    print(f"wrote metrics.json, metrics.md, molecules.csv, properties.png and molecules.png to {out}")


def _summary_table(s: dict) -> str:
    lines = ["| property (valid molecules) | mean | median | reference |", "|---|---|---|---|"]
    for k in ("qed", "sa", "logp", "lipinski", "vina_score", "vina_min", "vina_dock"):
        if s.get(f"{k}_mean") is not None:
            ref = s.get(f"ref_{k}")
            lines.append(f"| {k} | {s[k + '_mean']:.3f} | {s[k + '_median']:.3f} | {'' if ref is None else f'{ref:.3f}'} |")
    for k, name in (("vina_failed", "Vina could not score"), ("pb_valid", "PoseBusters-valid")):
        if s.get(k) is not None:
            ref = s.get(f"ref_{k}")
            lines.append(f"| {name} | {100 * s[k]:.1f} % | | {'' if ref is None else f'{100 * ref:.0f} %'} |")
    rings = " / ".join(f"{k[5:]}: {100 * v:.0f} %" for k, v in s["rings"].items() if v is not None)
    lines.append(f"| molecules with a ring of size | {rings} | | |")
    return "\n".join(lines)


def _plot(table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [k for k in ("qed", "sa", "vina_score", "vina_min") if k in table and table[k].notna().any()]
    fig, axes = plt.subplots(1, max(1, len(cols)), figsize=(4 * max(1, len(cols)), 3.4), squeeze=False)
    if not cols:
        axes[0, 0].text(0.5, 0.5, "no valid molecules", ha="center", va="center")
        axes[0, 0].set_axis_off()
    gen, ref = table[~table["is_reference"]], table[table["is_reference"]]
    for ax, k in zip(axes[0], cols):
        ax.hist(gen[k].dropna(), bins=30, alpha=0.7, label="generated (valid)")
        if len(ref) and ref[k].notna().any():
            ax.axvline(float(ref[k].iloc[0]), color="k", linestyle="--", label="reference")
        ax.set(xlabel=k, ylabel="molecules")
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)


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
