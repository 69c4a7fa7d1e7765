"""QM9 sample-quality and sampling-speed benchmark: many samples per sampler setting.

    moldiff benchmark qm9 --model qm9 --n_samples 10000 --steps 50 100 250 500 1000 --out outputs/bench_qm9
    moldiff benchmark qm9 --settings ancestral@1000 ddim@50 dpm2m@25 dpm2m:spacing=logsnr@25 ...
    moldiff benchmark qm9 --settings ancestral@1000 ... --bond_decoding valence --out outputs/bench_qm9_valence

A setting is ``SAMPLER@STEPS[/ENGINE]`` (sampler strings as in ``moldiff sample --sampler``, engines as
in ``--engine``: ``dpm2m@25/bf16+compile``); ``--steps N ...`` is short for ``--sampler``'s
setting at each N. Samples every setting with the same seed, timing
each run (molecules/s, batch size, device), and saves the molecules as compact arrays
(``samples_<setting>.npz``, timings in ``timing.json``).
On a GPU, float32 matrix products use TF32 (as in ``moldiff sample``). It then evaluates them with
RDKit (stability, validity, uniqueness, novelty against the QM9 training split) beside the QM9
test split under the same code and EDM's published figures, and writes ``results.json``,
``results.md``, ``quality_vs_steps.png`` and a grid of molecules. ``--skip_eval`` only samples
(GPU machines without RDKit); ``--eval_only`` only evaluates saved samples. Prints JSON and a table.
"""
import argparse
import json
import math
import os
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.apps.benchmark import Setting
from moldiff.engine import Engine
from moldiff.samplers.decoding import DECODINGS

#: EDM (Hoogeboom et al. 2022, Table 1), QM9 with hydrogens, 1000 steps.
EDM_PUBLISHED = {"atom_stable": 0.987, "mol_stable": 0.820, "validity": 0.919, "validity_x_uniqueness": 0.907}
COLUMNS = [("atom_stable", "atom stable"), ("mol_stable", "mol stable"), ("mol_stable_valence", "mol stable (model bonds)"),
           ("validity", "validity"), ("validity_closed_shell", "valid, no radical"), ("validity_x_uniqueness", "V×U"), ("uniqueness", "uniqueness"), ("novelty", "novelty")]


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qm9", help="shipped model name or weights/checkpoint path")
    ap.add_argument("--n_samples", type=int, default=10000)
    ap.add_argument("--steps", type=int, nargs="+", default=[50, 100, 250, 500, 1000])
    ap.add_argument("--settings", nargs="+", default=None, metavar="SAMPLER@STEPS[/ENGINE]",
                    help="sampler settings to compare, e.g. ancestral@1000 dpm2m@25 dpm2m@25/bf16+compile "
                         "(overrides --steps/--sampler)")
    ap.add_argument("--batch_size", type=int, default=2500)
    ap.add_argument("--sampler", default="ancestral", help="with --steps: the sampler of every step count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bond_decoding", choices=tuple(DECODINGS), default="argmax",
                    help="last-step classes of every setting (same seed: the same trajectories, decoded differently)")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--data", default="data/cache/qm9.npz", help="QM9 cache (training SMILES and test-split reference)")
    ap.add_argument("--out", default="outputs/bench_qm9")
    ap.add_argument("--skip_eval", action="store_true", help="sample and save only (no RDKit needed)")
    ap.add_argument("--eval_only", action="store_true", help="evaluate samples already saved in --out")
    args = ap.parse_args(argv)
    if args.n_samples < 1:
        raise ValueError(f"--n_samples must be positive, got {args.n_samples}")
    args.settings = [Setting.parse(s) for s in (args.settings or [f"{args.sampler}@{n}" for n in args.steps])]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.eval_only:
        _sample(args, out)
    if not args.skip_eval:
        _evaluate(args, out)


def _sample(args, out: Path) -> None:
    import torch

    from moldiff.api import load_model
    from moldiff.utils.atomic import save_npz
    from moldiff.apps.benchmark import timed_sampling
    from moldiff.convert import pack_arrays
    from moldiff.options import SampleOptions

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tf32 = device.startswith("cuda")
    torch.backends.cuda.matmul.allow_tf32 = tf32  # as moldiff sample does on GPUs
    model = load_model(args.model, device)
    for st in args.settings:
        options = SampleOptions(st.n_steps, st.sampler, args.batch_size, st.engine, args.bond_decoding).resolve(model)
        arrays, timing = timed_sampling(model, args.n_samples, options, args.seed)
        save_npz(out / f"samples_{st.slug}.npz", pack_arrays(arrays))
        timings = _timings(out)
        timings[str(st)] = {"model": str(args.model), "explicit_h": "H" in model.vocab.elements, "tf32": tf32,
                            "bond_decoding": args.bond_decoding, **timing.to_dict()}
        write_text(out / "timing.json", json.dumps(timings, indent=2))
        print(f"{st}: {timing.n_samples} molecules in {timing.seconds:.1f} s = "
              f"{timing.molecules_per_s:.1f} molecules/s (batch {timing.batch_size}, {timing.device})", flush=True)


def _evaluate(args, out: Path) -> None:
    import numpy as np

    from moldiff.apps.benchmark import evaluate_arrays
    from moldiff.chem.arrays import MolArrays
    from moldiff.convert import unpack_arrays
    from moldiff.datasets.qm9 import load_qm9
    from moldiff.training.run import train_smiles

    data = load_qm9(args.data)
    train = train_smiles(data)
    rows = []
    for st in args.settings:
        path = out / f"samples_{st.slug}.npz"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no saved samples for {st} (run without --eval_only first)")
        arrays = unpack_arrays(np.load(path))
        timing = _timings(out)[str(st)]
        metrics = evaluate_arrays(arrays, timing["explicit_h"], train)
        suffix = "" if st.engine == Engine() else f", {st.engine}"
        suffix += "" if timing.get("bond_decoding", "argmax") == "argmax" else f", {timing['bond_decoding']} decoding"
        rows.append({"name": f"moldiff, {st.sampler}, {st.n_steps} steps{suffix}", "sampler": f"{st.sampler}{suffix}",
                     "steps": st.n_steps, "nfe": st.n_steps, **metrics, "timing": timing})
        print(f"evaluated {path.name}", flush=True)
    elements = np.asarray(data.vocab.elements)
    test = []
    for i in data.split_indices("test"):
        pos, types, charges, bonds = data.molecule(int(i))
        test.append(MolArrays(elements[types].tolist(), pos.astype(np.float64), charges, bonds))
    rows.append({"name": "QM9 test split (same code)", "steps": None, **evaluate_arrays(test, True, train)})
    rows.append({"name": "EDM (published, 1000 steps)", "steps": 1000, **EDM_PUBLISHED})
    table = _table(rows)
    write_text(out / "results.json", json.dumps(rows, indent=2))
    write_text(out / "results.md", table + "\n")
    _plot(rows, out / "quality_vs_steps.png")
    _grid(out, max(args.settings, key=lambda st: st.n_steps))
    print(json.dumps(rows, indent=2))
    print(table)


def _timings(out: Path) -> dict:
    """Timings of the sampling runs saved in ``out`` so far, by setting (``SAMPLER@STEPS``)."""
    path = out / "timing.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _pct(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f} %"


def _table(rows: list[dict]) -> str:
    head = ["samples", "n", "NFE"] + [label for _, label in COLUMNS] + ["molecules/s", "batch", "device"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = r.get("timing", {})
        cells = [r["name"], str(int(r["n_molecules"])) if "n_molecules" in r else "—", str(r.get("steps") or "—")]
        cells += [_pct(r.get(k)) for k, _ in COLUMNS]
        cells += [f"{t['molecules_per_s']:.1f}" if t else "—", str(t.get("batch_size", "—")), t.get("device", "—")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot(rows: list[dict], path: Path) -> None:
    """Molecule stability and validity against network evaluations (one line per sampler and
    engine), and molecule stability against molecules/s, with the QM9 test split and EDM marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [r for r in rows if "timing" in r]
    ref = {r["name"]: r for r in rows if "timing" not in r}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    samplers = list(dict.fromkeys(r["sampler"] for r in ours))
    for k, sampler in enumerate(samplers):
        mine = sorted((r for r in ours if r["sampler"] == sampler), key=lambda r: r["steps"])
        style = {"marker": "os^vD<>p*hX"[k % 11], "color": f"C{k % 10}", "label": sampler}
        for ax, key in zip(axes[:2], ("mol_stable", "validity")):
            ax.plot([r["steps"] for r in mine], [100 * r[key] for r in mine], **style)
        axes[2].plot([r["timing"]["molecules_per_s"] for r in mine], [100 * r["mol_stable"] for r in mine], **style)
    for ax, key, title in zip(axes, ("mol_stable", "validity", "mol_stable"),
                              ("molecule stability (EDM distance rule)", "validity", "molecule stability vs speed")):
        test, edm = ref["QM9 test split (same code)"].get(key), ref["EDM (published, 1000 steps)"].get(key)
        ax.axhline(100 * test, color="grey", ls="--", lw=1, label="QM9 test split")
        if edm is not None:
            ax.axhline(100 * edm, color="black", ls=":", lw=1, label="EDM, 1000 steps (published)")
        ax.set(xscale="log", ylabel="%", title=title,
               xlabel="molecules/s" if ax is axes[2] else "network evaluations per molecule")
    device = ours[0]["timing"].get("device", "?")
    axes[2].set_xlabel(f"molecules/s ({device})")
    axes[2].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"QM9, {int(ours[0]['n_molecules'])} samples per point")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def _grid(out: Path, setting: Setting) -> None:
    """2D drawings of the first 24 valid molecules of ``setting`` (the one with the most steps)."""
    import numpy as np

    from moldiff.api import arrays_to_mols
    from moldiff.chem.build import canonical_smiles
    from moldiff.chem.draw import grid_png
    from moldiff.convert import unpack_arrays

    slug = setting.slug
    mols = arrays_to_mols(unpack_arrays(np.load(out / f"samples_{slug}.npz"))[:200])
    valid = [m for m in mols if m.GetIntProp("moldiff_valid")][:24]
    grid_png(valid, out / f"molecules_{slug}.png", legends=[canonical_smiles(m) or "" for m in valid])
