"""Train a model: moldiff train --config configs/qm9.yaml [section.key=value ...]"""
import argparse



def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__)
    ap.add_argument("--config", default="configs/qm9.yaml", help="YAML config")
    ap.add_argument("--resume", default=None, help="checkpoint to resume (default: <out_dir>/checkpoints/last.ckpt)")
    ap.add_argument("--devices", type=int, default=None, help="GPUs (or processes) per node; >1 uses DDP")
    ap.add_argument("--num_nodes", type=int, default=None)
    ap.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.max_steps=1000 data.batch_size=64")
    args = ap.parse_args(argv)
    from moldiff.config import load_config
    from moldiff.training.run import train

    overrides = list(args.overrides)
    if args.devices is not None:
        overrides.append(f"train.devices={args.devices}")
        if args.devices > 1:
            overrides.append("train.strategy=ddp")
    if args.num_nodes is not None:
        overrides.append(f"train.num_nodes={args.num_nodes}")
    path = train(load_config(args.config, overrides), args.resume)
    print(f"wrote {path}")
