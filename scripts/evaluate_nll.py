"""Estimate the variational bound (NLL, nats per molecule) of a model on QM9 test molecules.

python scripts/evaluate_nll.py --model qm9 [--split test] [--n 1000] [--T 1000] [--seed 0]
Prints JSON and a table: mean and standard error of each term, and -log p(N) from the size histogram.
"""
import argparse
import json
import math

from moldiff.commands import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="qm9")
    ap.add_argument("--data", default="data/cache/qm9.npz")
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--n", type=int, default=1000, help="molecules to evaluate (first n of the split)")
    ap.add_argument("--T", type=int, default=1000, help="discrete steps of the bound")
    ap.add_argument("--batch_size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    import numpy as np
    import torch
    from torch_geometric.data import Batch
    from tqdm import tqdm

    from moldiff.api import load_model
    from moldiff.datasets.molecules import MoleculeDataset
    from moldiff.datasets.qm9 import load_qm9
    from moldiff.processes.joint import clean_state
    from moldiff.processes.likelihood import nll_terms

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, device)
    arrays = load_qm9(args.data, remove_h="H" not in model.vocab.elements, aromatic=model.cfg.process.aromatic)
    ds = MoleculeDataset(arrays, arrays.split_indices(args.split)[: args.n], model.vocab)
    g = torch.Generator(device=device).manual_seed(args.seed)
    nb = None if model.process.bond is None else model.process.bond.num_classes
    terms: dict[str, list] = {}
    for start in tqdm(range(0, len(ds), args.batch_size), desc="nll"):
        batch = Batch.from_data_list([ds[i] for i in range(start, min(start + args.batch_size, len(ds)))]).to(device)
        state, topo = clean_state(batch, nb)
        for k, v in nll_terms(model.process, model.denoiser, state, topo, args.T, g).items():
            terms.setdefault(k, []).append(v.double().cpu())
        terms.setdefault("size", []).append((topo.ptr[1:] - topo.ptr[:-1]).cpu())
    hist = np.asarray(model.size_hist, dtype=float)
    sizes = torch.cat(terms.pop("size")).numpy()
    log_pn = np.log(np.maximum(hist[np.minimum(sizes, len(hist) - 1)], 1e-12) / hist.sum())
    result = {k: torch.cat(v).numpy() for k, v in terms.items()}
    result["-log p(N)"] = -log_pn
    result["nll_with_N"] = result["nll"] - log_pn
    summary = {k: {"mean": float(v.mean()), "sem": float(v.std() / math.sqrt(len(v)))} for k, v in result.items()}
    summary["meta"] = {"model": str(args.model), "split": args.split, "n": len(ds), "T": args.T, "units": "nats, Angstrom"}
    print(json.dumps(summary, indent=1))
    print("| term | mean (nats) | s.e.m. |\n|---|---|---|")
    for k, v in summary.items():
        if k != "meta":
            print(f"| {k} | {v['mean']:.2f} | {v['sem']:.2f} |")


if __name__ == "__main__":
    run(main)
