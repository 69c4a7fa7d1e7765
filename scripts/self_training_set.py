"""Rejection-sampling fine-tuning data (issue 26): keep a pocket model's samples in training
pockets that a chemist would keep, as a complex cache to fine-tune on.

    moldiff benchmark pockets --cache data/cache/pdb_clean.npz --split train --model MODEL \\
        --n_samples 20 --vina score --posebusters dock_fast --vina_max 20 \\
        --index ../shared/data/pdb_complexes/index.csv --out outputs/self_round1
    python scripts/self_training_set.py --bench outputs/self_round1 --cache data/cache/pdb_clean.npz \\
        --max_vina -6.0 --out data/cache/self_round1.npz

Reads the benchmark folder's ``samples.npz`` and ``molecules.csv`` (the library's molecule table:
validity, rings, PoseBusters, Vina as generated) and keeps each sample that is valid, has sane
rings, passes PoseBusters and scores at most ``--max_vina``
(:func:`moldiff.datasets.self_training.rejection_reason`), with the pocket of the complex it was
sampled in. Only training complexes are accepted: judge the fine-tuned model on the validation
split. Writes the cache and ``<out stem>.json`` (settings and the count of each reason).
"""
import argparse
import json
from collections import Counter
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.commands import run

NEEDED = ("complex_index", "complex", "sample", "is_reference", "valid", "pb_valid", "vina_score")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, required=True, help="output folder of moldiff benchmark pockets (evaluated)")
    ap.add_argument("--cache", type=Path, required=True, help="the complex cache the benchmark sampled in")
    ap.add_argument("--max_vina", type=float, default=-6.0, help="keep Vina scores (as generated) up to this")
    ap.add_argument("--out", type=Path, required=True, help="complex cache to write")
    args = ap.parse_args()
    for name in ("samples.npz", "molecules.csv"):
        if not (args.bench / name).is_file():
            raise FileNotFoundError(f"{args.bench / name}: not found (run moldiff benchmark pockets with --vina score "
                                    "and --posebusters first)")

    import numpy as np
    import pandas as pd

    from moldiff.api import arrays_to_mols
    from moldiff.convert import unpack_arrays
    from moldiff.datasets.complexes import load_complexes, save_complexes
    from moldiff.datasets.self_training import MAX_THREE_RINGS, RING_SIZES_KEPT, rejection_reason, self_training_complexes

    table = pd.read_csv(args.bench / "molecules.csv")
    missing = [c for c in NEEDED if c not in table.columns]
    if missing:
        raise ValueError(f"{args.bench / 'molecules.csv'}: no column {', '.join(missing)} "
                         "(evaluate with --vina score and --posebusters)")
    source = load_complexes(args.cache)
    with np.load(args.bench / "samples.npz") as data:
        mols = arrays_to_mols(unpack_arrays(data), explicit_h=False)
    generated = table[~table["is_reference"].astype(bool)]
    kept, reasons = [], Counter()
    for row in generated.to_dict("records"):
        i, k = int(row["complex_index"]), int(row["sample"])
        if i >= len(source) or str(source.name[i]) != row["complex"] or k >= len(mols):
            raise ValueError(f"{args.bench}: molecule {k} of complex {row['complex']!r} does not match {args.cache} "
                             "(give the cache the benchmark sampled in)")
        reason = rejection_reason(row, mols[k], args.max_vina)
        reasons[reason or "kept"] += 1
        if reason is None:
            kept.append((mols[k], i))
    if not kept:
        raise ValueError(f"{args.bench}: no sample kept of {len(generated)} ({dict(reasons)})")
    save_complexes(self_training_complexes(kept, source), args.out)
    summary = {"bench": str(args.bench), "cache": str(args.cache), "max_vina": args.max_vina,
               "ring_sizes_kept": list(RING_SIZES_KEPT), "max_three_rings": MAX_THREE_RINGS,
               "samples": len(generated), "pockets": int(generated["complex_index"].nunique()),
               "kept_pockets": len({i for _, i in kept}), "reasons": dict(reasons.most_common())}
    write_text(args.out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    print(f"wrote {args.out}: kept {len(kept)} of {len(generated)} samples in {summary['kept_pockets']} pockets")
    for reason, n in reasons.most_common():
        print(f"  {reason}: {n}")


if __name__ == "__main__":
    run(main)
