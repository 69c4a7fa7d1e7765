"""What a full evaluation report costs: the wall time of each metric on N molecules (CPU).

    moldiff benchmark metrics --sdf generated.sdf --pocket receptor.pdb --ref_ligand ligand.sdf \\
        [--train_sdf train.sdf] [--n 100] [--dock_n 3] [--out timing.json]

Times, on the first ``--n`` molecules of the SDF (one process): validity, QED, SA, logP +
Lipinski, ring sizes, uniqueness, internal diversity, geometry distributions (and, with
``--train_sdf``, their Wasserstein distances to it), local MMFF strain, and in the pocket: receptor
preparation, Vina maps, Vina score + local minimization per molecule, Vina re-docking (on
``--dock_n`` molecules only: it takes minutes each) and PoseBusters. Property metrics run on the
valid molecules, as in the reports. Prints JSON and a table; ``--out`` writes the JSON.
"""
import argparse
import json
import os
import time

from moldiff.utils.atomic import write_text


class Clock:
    """Collects (name, seconds, molecules) rows."""

    def __init__(self):
        self.rows: list[dict] = []

    def time(self, name: str, n: int, fn):
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        self.rows.append({"metric": name, "molecules": n, "seconds": seconds,
                          "ms_per_molecule": 1000 * seconds / n if n else None})
        print(f"{name}: {seconds:.2f} s for {n}", flush=True)
        return out


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdf", required=True, help="generated molecules")
    ap.add_argument("--pocket", default=None, help="receptor PDB (Vina and PoseBusters timings)")
    ap.add_argument("--ref_ligand", default=None, help="reference ligand SDF (the Vina box)")
    ap.add_argument("--train_sdf", default=None, help="reference molecules for the geometry distances")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--dock_n", type=int, default=3, help="molecules to re-dock (0: skip docking)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if bool(args.pocket) != bool(args.ref_ligand):
        raise ValueError("--pocket and --ref_ligand go together (the Vina box is drawn around the reference)")
    import platform

    import numpy as np
    from rdkit import Chem

    from moldiff.chem.build import canonical_smiles
    from moldiff.chem.geometry_stats import geometry_report, geometry_values, strain_energy
    from moldiff.chem.io import read_sdf
    from moldiff.chem.metrics import internal_diversity, validity_error
    from moldiff.chem.properties import lipinski_rules, logp, qed, ring_sizes, sa_score

    mols = read_sdf(args.sdf)[: args.n]
    clock = Clock()
    errors = clock.time("validity (sanitize + one fragment)", len(mols), lambda: [validity_error(m) for m in mols])
    valid = []
    for m, e in zip(mols, errors):
        if not e:
            clean = Chem.Mol(m)
            Chem.SanitizeMol(clean)
            valid.append(clean)
    n = len(valid)
    clock.time("QED", n, lambda: [qed(m) for m in valid])
    clock.time("SA score", n, lambda: [sa_score(m) for m in valid])
    clock.time("logP + Lipinski", n, lambda: [(logp(m), lipinski_rules(m)) for m in valid])
    clock.time("ring sizes", n, lambda: [ring_sizes(m) for m in valid])
    clock.time("uniqueness (canonical SMILES)", n, lambda: len({canonical_smiles(m) for m in valid}))
    clock.time("internal diversity (Morgan, Tanimoto)", n, lambda: internal_diversity(valid))
    values = clock.time("geometry values (bonds, angles, torsions)", n, lambda: geometry_values(valid))
    if args.train_sdf:
        train = read_sdf(args.train_sdf)
        ref = clock.time(f"geometry values of the reference set ({len(train)} molecules)", len(train),
                         lambda: geometry_values(train))
        clock.time("geometry Wasserstein distances", n, lambda: geometry_report(values, ref))
    clock.time("strain (local MMFF94)", n, lambda: [strain_energy(m) for m in valid])
    if args.pocket:
        from moldiff.chem.docking import DockingError, VinaScorer, box_around, prepare_receptor
        from moldiff.chem.posecheck import posebusters_table

        reference = read_sdf(args.ref_ligand, sanitize=True)[0]
        receptor = clock.time("Vina receptor preparation (PDBFixer + Open Babel)", 1, lambda: prepare_receptor(args.pocket))
        pos = np.concatenate([m.GetConformer().GetPositions() for m in [reference, *valid]])
        box = box_around(pos, reference.GetConformer().GetPositions().mean(0))
        scorer = clock.time("Vina maps (one box per pocket)", 1, lambda: VinaScorer(receptor, *box))

        def evaluate(ms, dock=False):
            out = []
            for m in ms:
                try:
                    out.append(scorer.evaluate(m, dock))
                except DockingError as e:
                    out.append({"vina_error": str(e)})
            return out

        scores = clock.time("Vina score + local minimization", n, lambda: evaluate(valid))
        if args.dock_n > 0:
            clock.time("Vina re-docking (exhaustiveness 8)", min(args.dock_n, n), lambda: evaluate(valid[: args.dock_n], True))
        clock.time("PoseBusters (dock configuration)", n, lambda: posebusters_table(valid, args.pocket))
        failed = sum("vina_error" in s for s in scores)
        print(f"Vina could not score {failed} of {n} valid molecules")
    result = {"sdf": args.sdf, "n_molecules": len(mols), "n_valid": n, "machine": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "timings": clock.rows}
    text = json.dumps(result, indent=2)
    print(text)
    print("\n| metric | molecules | seconds | ms per molecule |\n|---|---|---|---|")
    for r in clock.rows:
        per = "" if r["ms_per_molecule"] is None else f"{r['ms_per_molecule']:.1f}"
        print(f"| {r['metric']} | {r['molecules']} | {r['seconds']:.2f} | {per} |")
    if args.out:
        write_text(args.out, text + "\n")
