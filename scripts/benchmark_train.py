"""Profile training throughput: data loading, edge building, network forward+backward per batch size.

python scripts/benchmark_train.py --config configs/qm9.yaml --batch_sizes 128 256 512 [--bf16] [--steps 20]
Prints JSON and a table (molecules/s). Run on the GPU machine for numbers worth quoting.
"""
import argparse
import json
import time

from moldiff.cli import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="configs/qm9.yaml")
    ap.add_argument("--batch_sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    import torch

    from moldiff.config import load_config
    from moldiff.datasets.molecules import MoleculeDataModule
    from moldiff.nn.graph import all_pairs
    from moldiff.pipeline import MolDiffModel
    from moldiff.processes.joint import clean_state
    from moldiff.training.run import dataset_statistics, load_dataset

    cfg = load_config(args.config, args.overrides)
    arrays, vocab = load_dataset(cfg.data, cfg.process.aromatic)
    stats = dataset_statistics(arrays, cfg.data)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = MolDiffModel(cfg, vocab, stats["marginals"], stats["size_hist"], stats["size_model"]).to(device)
    opt = torch.optim.AdamW(model.denoiser.parameters(), lr=1e-4)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows = []
    for bs in args.batch_sizes:
        dm = MoleculeDataModule(arrays, vocab, bs, args.workers, pocket_representation=(
            cfg.data.pocket_representation if cfg.data.name == "complexes" else None))
        it = iter(dm.train_dataloader())
        batches = [next(it) for _ in range(3)]
        t0 = time.perf_counter()
        for _ in range(args.steps):
            next(it)
        t_load = (time.perf_counter() - t0) / args.steps
        batch = batches[0].to(device)
        nb = None if model.process.bond is None else model.process.bond.num_classes

        def step():
            state, topo = clean_state(batch, nb)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16):
                loss = model.process.loss(model.denoiser, state, topo)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        t_step = (time.perf_counter() - t0) / args.steps
        t0 = time.perf_counter()
        for _ in range(args.steps):
            all_pairs(batch.ptr)
        sync()
        t_edges = (time.perf_counter() - t0) / args.steps
        rows.append({"batch_size": bs, "atoms": int(batch.num_nodes), "load_ms": 1e3 * t_load,
                     "edges_ms": 1e3 * t_edges, "step_ms": 1e3 * t_step, "mol_per_s": bs / t_step,
                     "loader_bound": t_load > t_step, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                     "bf16": args.bf16, "params": sum(p.numel() for p in model.denoiser.parameters())})
    print(json.dumps(rows, indent=1))
    print("| batch | load ms | pairs ms | step ms | mol/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch_size']} | {r['load_ms']:.1f} | {r['edges_ms']:.2f} | {r['step_ms']:.1f} | {r['mol_per_s']:.0f} |")


if __name__ == "__main__":
    run(main)
