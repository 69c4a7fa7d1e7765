"""Evaluate generated molecules in an SDF, alone or in a protein pocket, or many pockets at once:

    moldiff evaluate generated.sdf [--train_smiles file] [--train_sdf train.sdf] [--strain] [--out report/]
    moldiff evaluate generated.sdf --pocket protein.pdb --ref_ligand ligand.sdf --vina score --posebusters
    moldiff evaluate --batch pockets.csv --out report/ [--vina score|dock] [--posebusters] [--strain] \\
        [--workers N]

Writes ``metrics.json`` (stability/validity metrics and a property summary), ``metrics.md``,
``molecules.csv`` (one row per molecule: its SDF record number, validity and its reason (whether it
sanitizes, whether it is one fragment), SMILES, QED, SA, logP, Lipinski rules, ring sizes; with a
pocket a clash flag (a heavy atom within 2 Å of a protein heavy atom), Vina score-only/minimized/
docked and the PoseBusters verdict with each check; the local MMFF94 strain energy with ``--strain``; the reference ligand as
the last row), ``properties.png`` (histograms against the reference), ``molecules.png`` (the top
24 valid molecules in 2D: best Vina minimized score when Vina ran, else highest QED) and
``report.html`` (one self-contained page that opens offline: the molecules in 3D in the pocket,
a sortable table with 2D depictions, the plots; see ``moldiff.chem.html_report``). Records of
the SDF that cannot be parsed are counted and named in one warning line (and in
``metrics.json``), the others are evaluated; the run fails only when no record is usable.

``--train_sdf`` (training or reference molecules with 3D coordinates) adds ``geometry.json``
(per-type Wasserstein-1 distances of heavy-atom bond lengths, bond angles and torsions against
the training molecules, and their reference-weighted means, also in ``metrics.json``) and
``geometry.png`` (bond-length histograms of the most frequent bond types); its molecules are the
novelty reference unless ``--train_smiles`` is given. ``--strain``: pose energy minus locally
relaxed energy in MMFF94 (kcal/mol) per valid molecule (tens of ms each).

``--batch``: a CSV with columns ``protein`` (PDB) and ``generated`` (SDF), and optionally
``ref_ligand`` (SDF; needed for Vina) and ``name`` (paths relative to the CSV's folder); the
``index.csv`` that ``moldiff sample --pockets`` writes is one, as it stands. Every pocket gets the
per-molecule table above; writes ``per_pocket.csv`` (one row per pocket: molecules, validity and
its parts, uniqueness, diversity, clash rate, the pocket's means of QED/SA/logP/Lipinski/Vina/
strain, Vina failures, PoseBusters-valid fraction, the reference ligand's values, ``error`` for
pockets that failed), ``molecules.csv`` (all molecules, with a ``pocket`` column), and
``metrics.json``/``metrics.md`` with the mean over pockets of per-pocket means and the median over
pockets, and the ring-size shares of all valid molecules. Pockets run in ``--workers`` processes;
a pocket with missing files, a failed evaluation or a failed sampling (index status) is counted,
listed and printed, never dropped.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.chem.posecheck import CONFIGS


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sdf", nargs="?", default=None, help="generated molecules (or use --batch)")
    ap.add_argument("--batch", default=None, metavar="CSV",
                    help="evaluate many pockets: CSV with columns protein, generated [, ref_ligand, name] "
                         "(e.g. the index.csv of moldiff sample --pockets)")
    ap.add_argument("--train_smiles", default=None,
                    help="text file of training SMILES for novelty "
                         "(default: the --train_sdf molecules, else the QM9 cache if present)")
    ap.add_argument("--train_sdf", default=None,
                    help="SDF of training/reference molecules: geometry distributions (geometry.json/png) and novelty")
    ap.add_argument("--min_count", type=int, default=20,
                    help="geometry: compare a bond/angle/torsion type only with this many values on both sides")
    ap.add_argument("--out", default=None, help="report folder (default: beside the SDF or the batch CSV)")
    ap.add_argument("--pocket", default=None, help="protein PDB the molecules were generated in")
    ap.add_argument("--ref_ligand", default=None, help="reference ligand SDF (compared on the same footing)")
    ap.add_argument("--vina", choices=("off", "score", "dock"), default="off",
                    help="Vina score-only + local minimization (dock: also re-docking, slow); needs --pocket and --ref_ligand")
    ap.add_argument("--posebusters", nargs="?", const="dock", default=None, choices=CONFIGS,
                    help="PoseBusters checks in the protein (needs --pocket); dock_fast skips the slow internal-energy check")
    ap.add_argument("--strain", action="store_true",
                    help="local MMFF94 strain energy of every valid molecule (kcal/mol; tens of ms per molecule)")
    ap.add_argument("--workers", type=int, default=1, help="--batch: processes evaluating pockets in parallel")
    args = ap.parse_args(argv)
    if (args.sdf is None) == (args.batch is None):
        raise ValueError("give one generated SDF or --batch pockets.csv (not both)")
    if args.min_count < 1:
        raise ValueError(f"--min_count must be at least 1 (got {args.min_count})")
    if args.batch:
        return _batch(args)
    import pandas as pd

    from moldiff.chem.html_report import write_html_report
    from moldiff.chem.io import read_sdf
    from moldiff.chem.metrics import evaluate_molecules, format_table
    from moldiff.chem.pocket import read_structure
    from moldiff.chem.report import molecule_table, read_generated, skipped_records, summarize

    if args.pocket and not os.path.isfile(args.pocket):
        raise FileNotFoundError(f"{args.pocket}: no such file")
    if args.vina != "off" and not (args.pocket and args.ref_ligand):  # refuse before any work
        raise ValueError("Vina scores need the protein (--pocket) and a reference ligand for the box (--ref_ligand)")
    if args.posebusters and not args.pocket:
        raise ValueError("PoseBusters checks need the protein (--pocket)")
    mols, records, bad = read_generated(args.sdf)
    notes = [skipped_records(args.sdf, bad, len(mols))] if bad else []
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    reference = read_sdf(args.ref_ligand, sanitize=True)[0] if args.ref_ligand else None
    train_mols = read_sdf(args.train_sdf) if args.train_sdf else None
    metrics = evaluate_molecules(mols, _novelty_reference(args.train_smiles, train_mols))
    pocket_pos = read_structure(args.pocket).pos if args.pocket else None
    table = molecule_table(mols, args.pocket, reference, args.vina, args.posebusters, args.strain, pocket_pos)
    table.insert(0, "record", pd.array(records + [None] * (reference is not None), dtype="Int64"))  # SDF record
    summary = summarize(table) | ({"posebusters_config": args.posebusters} if args.posebusters else {})
    out = Path(args.out) if args.out else Path(args.sdf).parent
    out.mkdir(parents=True, exist_ok=True)
    text = format_table(metrics) + "\n\n" + _summary_table(summary)
    if bad:
        text = f"Skipped: {notes[0]}.\n\n{text}"
    extra = {"unparsable_records": bad} if bad else {}
    written = ["metrics.json", "metrics.md", "molecules.csv", "properties.png", "molecules.png", "report.html"]
    if train_mols is not None:
        geo_md, extra["geometry"] = _geometry(mols, train_mols, args.min_count, out)
        text += "\n\n" + geo_md
        written += ["geometry.json", "geometry.png"]
    write_text(out / "metrics.json", json.dumps({**metrics, "summary": summary, **extra}, indent=2))
    write_text(out / "metrics.md", text + "\n")
    write_text(out / "molecules.csv", table.to_csv(index=False))
    _plot(table, out / "properties.png")
    _top_grid(mols, table, out / "molecules.png")
    title = f"moldiff report: {Path(args.sdf).name}" + (f" in {Path(args.pocket).name}" if args.pocket else "")
    write_html_report(out / "report.html", mols, table, protein=args.pocket, reference=reference, records=records,
                      plots=[out / name for name in written if name.endswith(".png") and name != "molecules.png"],
                      title=title, notes=notes)
    print(text)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _batch(args) -> int:
    """Evaluate the pockets of a CSV (see the module docstring); exit status 1 if none could be."""
    from moldiff.chem import batch
    from moldiff.chem.io import read_sdf
    from moldiff.chem.report import read_generated

    if args.pocket or args.ref_ligand or args.train_smiles:
        raise ValueError("--batch takes the proteins and reference ligands from the CSV: drop --pocket, --ref_ligand "
                         "and --train_smiles")
    jobs = batch.read_pocket_csv(args.batch)
    train_mols = read_sdf(args.train_sdf) if args.train_sdf else None  # read (and refused) before any work
    out = Path(args.out) if args.out else Path(args.batch).parent
    out.mkdir(parents=True, exist_ok=True)
    per_pocket, molecules, failed = batch.evaluate_pockets(jobs, args.vina, args.posebusters, args.strain,
                                                           max(1, args.workers))
    summary = batch.aggregate(per_pocket, failed)
    if len(molecules):
        summary["rings"] = batch.ring_shares(molecules)
    text = batch.markdown(summary)
    written = ["per_pocket.csv", "molecules.csv", "metrics.json", "metrics.md"]
    if train_mols is not None:
        generated = [m for job in jobs if job.name not in failed for m in read_generated(job.generated)[0]]
        geo_md, summary["geometry"] = _geometry(generated, train_mols, args.min_count, out)
        text += "\n\n" + geo_md
        written += ["geometry.json", "geometry.png"]
    write_text(out / "per_pocket.csv", per_pocket.to_csv(index=False))
    write_text(out / "molecules.csv", molecules.to_csv(index=False))
    write_text(out / "metrics.json", json.dumps(summary, indent=2))
    write_text(out / "metrics.md", text + "\n")
    print(text)
    for name, note in zip(per_pocket["pocket"], per_pocket.get("skipped_records", ())):
        if isinstance(note, str) and note:
            print(f"warning: pocket {name}: {note}", file=sys.stderr)
    for name, reason in failed.items():
        print(f"warning: pocket {name} failed: {reason}", file=sys.stderr)
    print(f"wrote {', '.join(written)} to {out}")
    if not summary["n_pockets_evaluated"]:
        raise ValueError(f"{args.batch}: none of the {len(jobs)} pockets could be evaluated "
                         f"(reasons in {out / 'metrics.json'})")
    return 0


def _geometry(mols, train_mols, min_count: int, out: Path) -> tuple[str, dict]:
    """Write geometry.json and geometry.png; return the markdown section and the weighted W1 values."""
    from moldiff.chem.geometry_stats import KINDS, geometry_markdown, geometry_report, geometry_values

    gen, ref = geometry_values(mols), geometry_values(train_mols)
    report = geometry_report(gen, ref, min_count)
    write_text(out / "geometry.json", json.dumps(report, indent=2))
    _plot_bond_lengths(gen.bond_length, ref.bond_length, report["bond_length"]["w1"], out / "geometry.png")
    weighted = {f"{kind}_w1": report[kind]["weighted_w1"] for kind in KINDS}
    return geometry_markdown(report), weighted


def _plot_bond_lengths(gen: dict, ref: dict, w1: dict, path: Path, top: int = 6) -> None:
    """Histograms of the ``top`` most frequent bond types of the reference, generated vs training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    types = sorted(ref, key=lambda k: -len(ref[k]))[:top]
    cols = min(3, max(1, len(types)))
    rows = max(1, -(-len(types) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(types):]:
        ax.set_axis_off()
    if not types:
        axes[0, 0].text(0.5, 0.5, "no bonds in the training molecules", ha="center", va="center")
    for ax, k in zip(axes.flat, types):
        bins = np.linspace(ref[k].min() - 0.15, ref[k].max() + 0.15, 40)  # generated outliers beyond: off the plot
        ax.hist(ref[k], bins=bins, density=True, alpha=0.6, label=f"training ({len(ref[k])})")
        if len(gen.get(k, ())):
            ax.hist(gen[k], bins=bins, density=True, alpha=0.6, label=f"generated ({len(gen[k])})")
        ax.set_title(f"{k}   W1 = {w1[k]:.3f} Å" if k in w1 else f"{k}   W1 n/a (too few values)", fontsize=10)
        ax.set(xlabel="bond length (Å)", ylabel="density")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _novelty_reference(train_smiles: str | None, train_mols):
    """Canonical SMILES for novelty: the --train_smiles file, else the --train_sdf molecules,
    else the QM9 cache if present (None: novelty n/a)."""
    if train_smiles is None and train_mols is not None:
        from moldiff.chem.build import canonical_smiles

        return {s for s in map(canonical_smiles, train_mols) if s}
    return _train_smiles(train_smiles)


def _top_grid(mols, table, path: Path, n: int = 24) -> None:
    """The ``n`` best valid molecules in 2D: lowest Vina minimized score if scored, else highest QED."""
    from moldiff.chem.draw import grid_png

    gen = table.iloc[: len(mols)]
    key = "vina_min" if "vina_min" in gen and gen["vina_min"].notna().any() else "qed"
    if key not in gen:  # no valid molecule: nothing to draw
        return
    ranked = gen[gen["valid"] & gen[key].notna()].sort_values(key, ascending=key == "vina_min").head(n)
    grid_png([mols[i] for i in ranked.index], path, n,
             legends=[f"{s}\n{key} {v:.2f}" for s, v in zip(ranked["smiles"], ranked[key])])


def _summary_table(s: dict) -> str:
    lines = ["| property (valid molecules) | mean | median | reference |", "|---|---|---|---|"]
    for k in ("qed", "sa", "logp", "lipinski", "vina_score", "vina_min", "vina_dock", "strain"):
        if s.get(f"{k}_mean") is not None:
            ref = s.get(f"ref_{k}")
            lines.append(f"| {k} | {s[k + '_mean']:.3f} | {s[k + '_median']:.3f} | {'' if ref is None else f'{ref:.3f}'} |")
    for k, name in (("clash_rate", "clash with the protein (all molecules)"), ("vina_failed", "Vina could not score"),
                    ("strain_failed", "no strain (no MMFF parameters)"),
                    ("pb_valid", f"PoseBusters-valid ({s.get('posebusters_config', 'dock')} checks)")):
        if s.get(k) is not None:
            ref = s.get("ref_clash" if k == "clash_rate" else f"ref_{k}")
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
    _save(fig, path)


def _save(fig, path: Path) -> None:
    """Save a figure atomically and close it."""
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.name + ".tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
