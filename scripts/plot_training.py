"""Plot a training log (Lightning CSV): loss and validation molecule stability vs. step.

python scripts/plot_training.py docs/assets/qm9_training_log.csv --out docs/assets/qm9_training_curve.png
"""
import argparse

from moldiff.commands import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv", nargs="+", help="metrics.csv files (concatenated in order)")
    ap.add_argument("--out", default="training_curve.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    d = pd.concat([_read_log(pd, p) for p in args.csv], ignore_index=True)
    train = d.dropna(subset=["train/loss"])
    val = d.dropna(subset=["val/loss"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(train["step"], train["train/loss"].rolling(10, min_periods=1).mean(), label="train (rolling mean of 10 logs)")
    ax1.plot(val["step"], val["val/loss"], "o-", label="validation (EMA weights)")
    ax1.set(xlabel="optimizer step", ylabel="weighted loss", title="loss")
    ax1.legend()
    quality = [(k, label) for k, label in [("val/mol_stable", "molecule stability (EDM rule)"),
                                          ("val/atom_stable", "atom stability (EDM rule)"), ("val/validity", "validity")]
               if k in val and val[k].notna().any()]
    if quality:
        for key, label in quality:
            ax2.plot(val["step"], 100 * val[key], "o-", label=label)
        ax2.set(xlabel="optimizer step", ylabel="%", ylim=(0, 100), title="samples during training")
    else:  # no sample metrics logged (e.g. heavy-atom models trained without RDKit): per-field losses
        for key in [c for c in val.columns if c.startswith("val/") and c != "val/loss" and val[c].notna().any()]:
            ax2.plot(val["step"], val[key], "o-", label=key)
        ax2.set(xlabel="optimizer step", ylabel="unweighted loss", title="validation loss per field")
    ax2.legend()
    fig.tight_layout()
    tmp = args.out + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    import os

    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


def _read_log(pd, path: str):
    """One Lightning CSV log; a one-line error naming the file if it is not one."""
    try:
        d = pd.read_csv(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a CSV training log ({str(e).splitlines()[0]})") from None
    if not {"step", "train/loss", "val/loss"} <= set(d.columns):
        raise ValueError(f"{path}: not a training log (needs step, train/loss and val/loss columns)")
    return d


if __name__ == "__main__":
    run(main)
