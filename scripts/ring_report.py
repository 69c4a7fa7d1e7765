"""Validity and ring sizes of saved samples, overall and by molecule size (issue 26's diagnosis).

    python scripts/ring_report.py outputs/bench/samples.npz [more.npz ...] --out rings.json

Reads the ``samples.npz`` that ``moldiff benchmark pockets`` writes (or its
``samples.partial.npz`` of an unfinished run), builds each molecule with its own bonds (heavy atoms,
implicit hydrogens), and reports the validity (sanitizes and is one fragment;
:func:`moldiff.chem.metrics.valid_copy`) and the share of
valid molecules with a ring of each size (:func:`moldiff.chem.metrics.ring_size_fractions`), for
all molecules and for each heavy-atom class of :data:`SIZE_CLASSES`: large molecules are where
the pocket models' macrocycles are.
"""
import argparse
import json
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.commands import run

#: Upper ends of the heavy-atom classes; MOSES molecules (ligand-only training data) have at most 26.
SIZE_CLASSES = (20, 26, 35)


def size_class(n: int) -> str:
    """The class of :data:`SIZE_CLASSES` that ``n`` atoms fall in, e.g. ``"21-26"`` or ``">35"``."""
    low = 1
    for high in SIZE_CLASSES:
        if n <= high:
            return f"{low}-{high}"
        low = high + 1
    return f">{SIZE_CLASSES[-1]}"


def class_order() -> list[str]:
    """All class names, smallest molecules first."""
    return [size_class(high) for high in SIZE_CLASSES] + [size_class(SIZE_CLASSES[-1] + 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("samples", nargs="+", type=Path, help="samples.npz files of moldiff benchmark pockets")
    ap.add_argument("--out", type=Path, default=None, help="JSON file to write (default: print only)")
    args = ap.parse_args()
    for path in args.samples:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such samples file")

    import numpy as np

    from moldiff.chem.metrics import ring_size_fractions, valid_copy
    from moldiff.api import arrays_to_mols
    from moldiff.convert import unpack_arrays

    groups: dict[str, list] = {name: [0, []] for name in ["all", *class_order()]}
    for path in args.samples:
        try:
            with np.load(path) as data:
                mols = arrays_to_mols(unpack_arrays(data), explicit_h=False)
        except (KeyError, ValueError, OSError) as err:
            raise ValueError(f"{path}: not a samples file of moldiff benchmark pockets ({err})") from None
        for mol in mols:
            clean, _ = valid_copy(mol)
            for name in ("all", size_class(mol.GetNumAtoms())):
                groups[name][0] += 1
                if clean is not None:
                    groups[name][1].append(clean)
    rows = {name: {"n": n, "validity": len(valid) / n, "rings": ring_size_fractions(valid)}
            for name, (n, valid) in groups.items() if n}
    result = {"samples": [str(p) for p in args.samples], "size_classes": list(SIZE_CLASSES), "by_size": rows}
    text = json.dumps(result, indent=1)
    print(text)
    columns = list(rows["all"]["rings"])
    print("| heavy atoms | molecules | validity | " + " | ".join(columns) + " |")
    for name, row in rows.items():
        print(f"| {name} | {row['n']} | {row['validity']:.1%} | "
              + " | ".join(f"{row['rings'][c]:.1%}" for c in columns) + " |")
    if args.out:
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    run(main)
