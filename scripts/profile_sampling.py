"""Where the time of one sampling step goes, per engine (network precision / compilation).

    python scripts/profile_sampling.py --model qm9 --batch_size 5000 --engines fp32 bf16 fp32+compile bf16+compile
    python scripts/profile_sampling.py --model pocket --cache data/cache/crossdocked_test100.npz --batch_size 100

For one batch (sizes from the model's distribution; for pocket models in the first pocket of a
complex cache, steric guidance at the model's default): the network alone, a whole step of a real
run and the rest (sampler update, constraints), the edge construction alone, and the accuracy of
each engine against plain float32 (coordinate error, atom-type and bond argmax agreement). GPU
runs use TF32 matrix products, as `moldiff sample` does. ``--trace`` adds torch.profiler's top operators
of one fp32 step. Prints JSON and a table; ``--out`` also writes them to files.
"""
import argparse
import json
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.commands import run

COLUMNS = [("engine", "engine", "s"), ("network_ms", "network ms", "f2"), ("step_ms", "step ms", "f2"),
           ("overhead_ms", "rest of step ms", "f2"), ("edges_ms", "edges ms", "f2"),
           ("first_call_ms", "first call ms", "f0"), ("pos_rel_error", "coord rel. error", "e"),
           ("atom_type_agreement", "type argmax agree", "p"), ("bond_agreement", "bond argmax agree", "p")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qm9")
    ap.add_argument("--batch_size", type=int, default=5000, help="molecules in the batch")
    ap.add_argument("--engines", nargs="+", default=["fp32", "bf16", "fp32+compile", "bf16+compile"])
    ap.add_argument("--sampler", default="dpm2m")
    ap.add_argument("--n_steps", type=int, default=20, help="steps of the timed whole runs")
    ap.add_argument("--cache", default=None, help="pocket models: a complex cache (its first complex's pocket)")
    ap.add_argument("--steric", type=float, default=None, help="pocket models: steric distance (default: the model's)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default=None)
    ap.add_argument("--trace", action="store_true", help="also list torch.profiler's top operators of one step")
    ap.add_argument("--out", default=None, help="folder for profile.json / profile.md (and trace.txt)")
    args = ap.parse_args()
    import torch

    from moldiff.api import load_model
    from moldiff.apps.benchmark import profile_sampling
    from moldiff.engine import Engine

    from moldiff.options import SampleOptions

    engines = [Engine.parse(e) for e in args.engines]
    sampling = SampleOptions.parse(args.n_steps, args.sampler, args.batch_size, steric=args.steric)
    if args.n_steps < 2 or args.repeats < 1:
        raise ValueError("--repeats must be >= 1 and --n_steps >= 2")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = device.startswith("cuda")
    if device == "cpu":
        from moldiff.utils.malloc import keep_freed_memory

        keep_freed_memory()
    model = load_model(args.model, device)
    options = sampling.resolve(model)
    pocket = None
    if model.conditional:
        if not args.cache:
            raise ValueError(f"{args.model} is a pocket model: give a complex cache (--cache)")
        from moldiff.datasets.complexes import load_complexes
        from moldiff.pocket import Pocket

        arrays = load_complexes(args.cache)
        c = arrays.complex(0)
        pocket = Pocket.from_arrays(c["pocket_pos"], c["pocket_element"], c["pocket_residue"], c["pocket_backbone"],
                                    c["pocket_ca"], model.cfg.data.pocket_representation, str(arrays.name[0]))
    sizes = model.sample_sizes(args.batch_size, torch.Generator().manual_seed(0), None if pocket is None else len(pocket.pos))
    rows = profile_sampling(model, sizes, engines, options, pocket, args.repeats)
    table = _table(rows)
    print(json.dumps(rows, indent=2))
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "profile.json", json.dumps(rows, indent=2))
        write_text(out / "profile.md", table + "\n")
    if args.trace:
        text = _trace(model, sizes, options, pocket)
        print(text)
        if args.out:
            write_text(Path(args.out) / "trace.txt", text)


def _trace(model, sizes, options, pocket) -> str:
    """torch.profiler's operator table for a short fp32 run (top 25 by device time, else CPU time)."""
    from dataclasses import replace

    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if model.device.type == "cuda" else [])
    gen = torch.Generator(device=model.device).manual_seed(0)
    with profile(activities=activities) as prof:
        model.sample(sizes, gen, replace(options, n_steps=5, batch_size=len(sizes)), pocket)
    key = "cuda_time_total" if model.device.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=25)


def _fmt(v, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "s":
        return str(v)
    if kind == "p":
        return f"{100 * v:.2f} %"
    if kind == "e":
        return f"{v:.1e}"
    return f"{v:.{kind[1]}f}"


def _table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(label for _, label, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[k], kind) for k, _, kind in COLUMNS) + " |" for r in rows]
    r = rows[0]
    return "\n".join(lines) + (f"\n\n{r['n_molecules']} molecules, {r['n_atoms']} atoms, {r['n_pairs']} pairs, "
                               f"{r['n_context']} context atoms; {r['sampler']}, {r['n_steps']}-step runs; "
                               f"steric {r['steric']}; {r['device']}, TF32 {'on' if r['tf32'] else 'off'}")


if __name__ == "__main__":
    run(main)
