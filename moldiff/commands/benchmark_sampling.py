"""Sampler benchmark: the 1,000-step ancestral baseline against few-step settings, in one run.

    moldiff benchmark sampling --task qm9 --settings ancestral@1000 ddim@50 dpm2m@50 dpm2m@25 --n_samples 10000
    moldiff benchmark sampling --task pocket --cache data/cache/crossdocked_test100.npz \\
        --settings ancestral@100 dpm2m@25 ddim@25 [--vina score --vina_max 10 --receptor_root DIR]

A setting is ``SAMPLER@STEPS[/ENGINE]`` (sampler strings as in ``moldiff sample --sampler``, engines as
in ``--engine``, e.g. ``dpm2m@25/bf16+compile``; NFE = STEPS: every sampler calls the network once
per step). ``--task qm9`` runs ``moldiff benchmark qm9`` (molecule
stability, validity, uniqueness, novelty; molecules/s); ``--task pocket`` runs
``moldiff benchmark pockets`` once per setting into ``OUT/<setting>/`` (validity, clash rate, QED, SA,
diversity, Vina with ``--vina``; seconds per pocket) and writes ``comparison.json`` /
``comparison.md``. Other options are passed through (``--skip_eval`` to sample on a GPU box
without RDKit, ``--eval_only`` to evaluate afterwards). Prints JSON and a table.
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.apps.benchmark import Setting

POCKET_COLUMNS = [("validity_mean", "validity", "pct"), ("connected_mean", "connected", "pct"),
                  ("clash_rate_mean", "clash rate", "pct"), ("qed_mean", "QED", "f3"), ("sa_raw_mean", "SA raw", "f2"),
                  ("diversity_mean", "diversity", "f3"), ("vina_score_mean", "Vina score", "f2"),
                  ("vina_min_mean", "Vina min", "f2")]


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("qm9", "pocket"), required=True)
    ap.add_argument("--settings", nargs="+", required=True, metavar="SAMPLER@STEPS[/ENGINE]")
    ap.add_argument("--out", default=None, help="default outputs/benchmark_<task>")
    args, rest = ap.parse_known_args(argv)
    settings = [Setting.parse(s) for s in args.settings]
    out = Path(args.out or f"outputs/benchmark_{args.task}")
    if args.task == "qm9":
        _call("qm9", ["--settings", *map(str, settings), "--out", str(out), *rest])
        return
    for st in settings:
        _call("pockets", ["--sampler", str(st.sampler), "--n_steps", str(st.n_steps), "--engine", str(st.engine),
                                       "--out", str(out / st.slug), *rest])
    if "--skip_eval" not in rest:
        rows = [_pocket_row(out / st.slug, st) for st in settings]
        table = _table(rows)
        write_text(out / "comparison.json", json.dumps(rows, indent=2))
        write_text(out / "comparison.md", table + "\n")
        print(json.dumps(rows, indent=2))
        print(table)


def _call(command: str, argv: list[str]) -> None:
    """Run a sibling benchmark command in its own process (one model and one GPU context per
    setting); its failure (already reported on stderr) fails this one."""
    done = subprocess.run([sys.executable, "-m", "moldiff", "benchmark", command, *argv])
    if done.returncode:
        raise RuntimeError(f"moldiff benchmark {command} failed (exit {done.returncode})")


def _pocket_row(folder: Path, st: Setting) -> dict:
    path = folder / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results for {st}")
    res = json.loads(path.read_text())
    t = res.get("timing") or {}
    row = {"sampler": str(st.sampler), "engine": str(st.engine), "nfe": st.n_steps, "n_pockets": res["n_pockets"],
           "seconds_per_pocket": t.get("mean_seconds_per_pocket"), "device": t.get("device"),
           "molecules_per_s": t["n_samples_per_pocket"] / t["mean_seconds_per_pocket"] if t else None}
    return row | {k: res.get(k) for k, _, _ in POCKET_COLUMNS}


def _fmt(v, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{100 * v:.1f} %" if kind == "pct" else f"{v:.{kind[1]}f}"


def _table(rows: list[dict]) -> str:
    head = ["sampler", "engine", "NFE", "s / pocket", "molecules/s"] + [label for _, label, _ in POCKET_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["sampler"], r["engine"], str(r["nfe"]), _fmt(r["seconds_per_pocket"], "f2"), _fmt(r["molecules_per_s"], "f1")]
        cells += [_fmt(r[k], kind) for k, _, kind in POCKET_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    device = rows[0]["device"] if rows else "?"
    return "\n".join(lines) + f"\n\nmean over pockets; timings on {device}"
