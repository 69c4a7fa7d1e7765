"""Train a QM9 property regressor (EDM's property-conditioning judge) on one half of the training split:
python scripts/train_regressor.py --properties alpha --half a --minutes 9 --out runs/regressor_alpha"""
import argparse

from moldiff.commands import run


def main() -> None:
    from moldiff.datasets.qm9 import DEFAULT_CACHE_PATH, PROPERTIES

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache", default=str(DEFAULT_CACHE_PATH), help="QM9 cache from moldiff prepare qm9")
    ap.add_argument("--properties", nargs="+", required=True, choices=sorted(PROPERTIES),
                    help="properties to predict (one model for all of them)")
    ap.add_argument("--half", default="a", choices=["a", "b"], help="training half (EDM: regressor on a, generator on b)")
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget; the learning rate anneals over it")
    ap.add_argument("--out", required=True, help="output folder (regressor.pt and logs)")
    ap.add_argument("--batch_size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=7)
    ap.add_argument("--val_every", type=int, default=1000, help="validate (and keep the best model) every N steps")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from moldiff.datasets.qm9 import load_qm9
    from moldiff.training.regressor import train_regressor

    path = train_regressor(load_qm9(args.cache), args.properties, args.out, args.half, args.minutes, args.batch_size,
                           args.lr, args.hidden, args.layers, args.val_every, args.workers, args.precision, args.seed)
    print(f"wrote {path}")


if __name__ == "__main__":
    run(main)
