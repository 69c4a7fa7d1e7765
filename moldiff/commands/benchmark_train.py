"""Profile training throughput: data loading, edge building, network forward+backward per batch size.

moldiff benchmark train --config configs/qm9.yaml --batch_sizes 128 256 512 [--bf16] [--compile] [--steps 20]
Steps cycle over 3 loaded batches (different sizes, as in training: ``--compile`` then shows
whether dynamic shapes recompile). Prints JSON and a table (molecules/s). Run on the GPU
machine for numbers worth quoting.
"""
import argparse
import json
import time



def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__)
    ap.add_argument("--config", default="configs/qm9.yaml")
    ap.add_argument("--batch_sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the denoiser (as train.compile)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    import torch

    from moldiff.config import load_config
    from moldiff.datasets.molecules import MoleculeDataModule
    from moldiff.graph import all_pairs
    from moldiff.model import MolDiffModel
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
        batches = [b.to(device) for b in batches]
        batch = batches[0]
        nb = None if model.process.bond is None else model.process.bond.num_classes
        denoiser = torch.compile(model.denoiser, dynamic=True) if args.compile else model.denoiser

        def step(k: int = 0):
            state, topo = clean_state(batches[k % len(batches)], nb)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16):
                loss = model.process.loss(denoiser, state, topo)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        t0 = time.perf_counter()
        for k in range(3):
            step(k)
        sync()
        t_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k in range(args.steps):
            step(k)
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
                     "bf16": args.bf16, "compile": args.compile, "warmup_s": t_warm, "params": sum(p.numel() for p in model.denoiser.parameters())})
    print(json.dumps(rows, indent=1))
    print("| batch | compile | load ms | pairs ms | first 3 steps s | step ms | mol/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch_size']} | {r['compile']} | {r['load_ms']:.1f} | {r['edges_ms']:.2f} | {r['warmup_s']:.1f} | "
              f"{r['step_ms']:.1f} | {r['mol_per_s']:.0f} |")
