"""Pocket-conditioned generation benchmark over the complexes of a cache (e.g. the CrossDocked
100-pocket test set), with the published protocol: N molecules per pocket, per-pocket metrics,
then the mean over pockets of per-pocket means and the median over pockets.

    moldiff prepare complexes --source folder --index <test100 CSV> --out data/cache/crossdocked_test100.npz
    moldiff benchmark pockets --cache data/cache/crossdocked_test100.npz --model pocket --n_samples 100 \\
        --out outputs/bench_pockets

Inpainting tasks (``--task``): ``grow`` holds each reference ligand's largest ring system fixed,
``link`` its two terminal fragments (:mod:`moldiff.chem.fragments`); pockets whose ligand has no
such fragment are skipped and counted. ``--size ref`` gives every molecule the reference ligand's
atom count (the default for inpainting; use it for ``denovo`` too when comparing on equal sizes).
Cutting the fragments needs RDKit at sampling time.

Sampling (timed per pocket; ``--skip_eval`` on GPU machines without RDKit) saves
``samples.npz`` (and ``fragments.json`` for inpainting); evaluation computes validity (sanitizes and is one fragment; both parts also
separately), uniqueness, internal
diversity, clash rate (a ligand heavy atom closer than 2 Å to a cached pocket atom), QED and SA
(raw and (10 - SA) / 9) of valid molecules, and the same for each reference ligand, and writes
``results.json``, ``per_pocket.csv``, ``molecules.csv`` (one row per molecule), ``results.md`` and
``properties.png``. For inpainting it
adds the fraction of molecules that keep the fixed atoms exactly (elements and coordinates
to 1e-3 Å) and the fraction that are valid and contain the fragment as a substructure. Vina
columns come with the evaluation toolbox; Vina and PoseBusters run in each complex's full
receptor, found under ``--receptor_root`` by CrossDocked or FEP-benchmark file names, or for a
cache prepared from a complexes CSV (``--source folder``) given by that CSV (``--index``).
"""
import argparse
import json
import os
from pathlib import Path

from moldiff.utils.atomic import write_text
from moldiff.chem.posecheck import CONFIGS

METRICS = ("validity", "sanitizes", "connected", "uniqueness", "diversity", "clash_rate", "qed", "sa_raw", "sa",
           "logp", "lipinski")
INPAINT_METRICS = ("fixed_kept", "has_fragment")
TASKS = ("denovo", "grow", "link")


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True, help="complex cache from moldiff prepare complexes")
    ap.add_argument("--split", default="test", help="which split of the cache (default test)")
    ap.add_argument("--model", default="pocket")
    ap.add_argument("--n_samples", type=int, default=100, help="molecules per pocket")
    ap.add_argument("--n_steps", type=int, default=None)
    ap.add_argument("--sampler", default=None, help="sampler string as in moldiff sample (default: the model's)")
    ap.add_argument("--engine", default="fp32", help="network precision/compilation as in moldiff sample --engine")
    ap.add_argument("--bond_decoding", default=None, choices=["argmax", "valence"],
                    help="final-step bond classes as in moldiff sample --bond_decoding (default: the model's)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N pockets")
    ap.add_argument("--per_protein", type=int, default=None,
                    help="only the first N complexes of each protein (congeneric series share a pocket)")
    ap.add_argument("--task", choices=TASKS, default="denovo", help="de novo, or inpainting: grow / link")
    ap.add_argument("--size", choices=("model", "ref"), default=None,
                    help="molecule sizes from the model's size distribution or the reference ligand's atom count "
                         "(default: model for denovo, ref for inpainting)")
    ap.add_argument("--resamplings", type=int, default=1)
    ap.add_argument("--steric", type=float, default=None, metavar="DIST",
                    help="steric guidance: keep generated atoms DIST Å from pocket atoms while sampling "
                         "(default: the model's own default; 0: off)")
    ap.add_argument("--jump_length", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=0.0, metavar="W",
                    help="classifier-free guidance scale with respect to the pocket (0: off)")
    ap.add_argument("--guidance_interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("T_LO", "T_HI"),
                    help="apply guidance only at diffusion times in [T_LO, T_HI] (default 0 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default="outputs/bench_pockets")
    ap.add_argument("--skip_eval", action="store_true")
    ap.add_argument("--vina", choices=("off", "score", "dock"), default="off",
                    help="Vina score-only + local minimization of valid molecules and the reference ligand "
                         "(dock: also re-docking, slow); needs --receptor_root or --index")
    ap.add_argument("--receptor_root", default=None,
                    help="folder of the full receptors: the CrossDocked test_set folder (<target>/<pdb>_rec.pdb) "
                         "or the FEP benchmark folder (<subset>/<system>_protein.pdb)")
    ap.add_argument("--index", default=None,
                    help="instead of --receptor_root: the complexes index CSV the cache was prepared from "
                         "(moldiff prepare complexes --source folder; columns protein,ligand[,name]); each complex's "
                         "receptor is the protein file of its row")
    ap.add_argument("--posebusters", nargs="?", const="dock", default=None, choices=CONFIGS,
                    help="PoseBusters checks of valid molecules and the reference in the full receptor (--receptor_root or "
                         "--index); dock_fast skips the slow internal-energy check (the choice for large batches)")
    ap.add_argument("--vina_max", type=int, default=None,
                    help="Vina/PoseBusters: only the first N valid molecules of each pocket (sample order; default all)")
    ap.add_argument("--dock_max", type=int, default=None,
                    help="--vina dock: re-dock only the first N of those molecules (docking costs 10-100 times a "
                         "minimization; the reference is always docked; default all)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for Vina")
    ap.add_argument("--train_cache", default=None,
                    help="complex cache whose training-split ligands are the reference for bond-length, angle and "
                         "torsion distributions (Wasserstein-1 per type; e.g. data/cache/fep.npz)")
    ap.add_argument("--eval_only", action="store_true")
    args = ap.parse_args(argv)
    from moldiff.datasets.complexes import load_complexes

    if args.dock_max is not None and (args.vina != "dock" or args.dock_max < 1):
        raise ValueError(f"--dock_max {args.dock_max}: needs --vina dock and a count of at least 1")
    args.size = args.size or ("model" if args.task == "denovo" else "ref")
    arrays = load_complexes(args.cache)
    idx = arrays.split_indices(args.split)
    if args.per_protein is not None:
        idx = _first_per_protein(arrays.protein, idx, args.per_protein)
    idx = idx[: args.limit]
    if len(idx) == 0:
        raise ValueError(f"{args.cache}: no complexes in split {args.split!r}")
    receptors = _receptors(arrays, idx, args) if (args.vina != "off" or args.posebusters) and not args.skip_eval else {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.eval_only:
        _sample(args, arrays, idx, out)
    if not args.skip_eval:
        _evaluate(arrays, out, args, receptors)


def _first_per_protein(protein, idx, n: int):
    """The first ``n`` complexes of each protein among ``idx``, in order."""
    import numpy as np

    count: dict[str, int] = {}
    keep = []
    for i in idx:
        if count.get(protein[i], 0) < n:
            keep.append(i)
            count[protein[i]] = count.get(protein[i], 0) + 1
    return np.asarray(keep, dtype=np.int64)


def _pocket(arrays, i: int, representation: str):
    from moldiff.pocket import Pocket

    c = arrays.complex(int(i))
    return Pocket.from_arrays(c["pocket_pos"], c["pocket_element"], c["pocket_residue"], c["pocket_backbone"],
                              c["pocket_ca"], representation, str(arrays.name[i]))


def _sample(args, arrays, idx, out: Path) -> None:
    import time
    from dataclasses import replace

    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from moldiff.api import load_model
    from moldiff.utils.atomic import save_npz
    from moldiff.apps.benchmark import device_name, synchronize
    from moldiff.utils.malloc import keep_freed_memory
    from moldiff.options import SampleOptions

    sampling = SampleOptions.parse(args.n_steps, args.sampler, None, args.engine, args.bond_decoding, args.steric,
                                   args.guidance, tuple(args.guidance_interval), args.resamplings, args.jump_length)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = device.startswith("cuda")
    if device == "cpu":
        keep_freed_memory()
    model = load_model(args.model, device)
    # one batch per pocket: every molecule of a pocket is sampled together
    options = replace(sampling, batch_size=args.n_samples).resolve(model)
    rep = model.cfg.data.pocket_representation
    fragments = _fragments(arrays, idx, args.task, model.vocab) if args.task != "denovo" else {}
    warm = _pocket(arrays, idx[0], rep)  # CUDA initialisation (and compilation) is not timed
    model.sample(torch.tensor([10, 10]), torch.Generator(device=model.device).manual_seed(0),
                 replace(options, n_steps=2, resamplings=1), warm)
    settings = {"model": str(args.model), "task": args.task, "size": args.size, "sampler": str(options.sampler),
                "n_steps": options.n_steps, "engine": str(options.engine), "guidance": str(options.guidance),
                "bond_decoding": options.bond_decoding, "resamplings": options.resamplings,
                "jump_length": options.jump_length, "steric": options.steric_distance,
                "n_samples_per_pocket": args.n_samples, "seed": args.seed, "cache": str(args.cache),
                "pockets": [int(i) for i in idx]}
    mols, which, seconds, skipped, done = _resume(out, settings)
    last_save = time.perf_counter()
    for k, i in enumerate(tqdm(idx, desc="pockets")):
        if int(i) in done:
            continue
        fixed = None
        if args.task != "denovo":
            if "skipped" in fragments[int(i)]:
                skipped[str(arrays.name[i])] = fragments[int(i)]["skipped"]
                done.add(int(i))
                continue
            fixed = fragments[int(i)]["fixed"]
        pocket = _pocket(arrays, i, rep)
        if args.size == "ref":
            sizes = torch.full((args.n_samples,), int(arrays.complex(int(i))["lig_types"].shape[0]))
        else:
            sizes = model.sample_sizes(args.n_samples, torch.Generator().manual_seed(args.seed + k), len(pocket.pos),
                                       1 if fixed is None else len(fixed.elements) + 1)
        gen = torch.Generator(device=model.device).manual_seed(args.seed + k)
        synchronize(model.device)
        start = time.perf_counter()
        got = model.sample(sizes, gen, options, pocket, fixed)
        synchronize(model.device)
        seconds.append(time.perf_counter() - start)
        mols += got
        which += [int(i)] * len(got)
        done.add(int(i))
        if time.perf_counter() - last_save > SAVE_EVERY_S:  # a killed run resumes from here (outside the timing)
            _save_partial(out, settings, mols, which, seconds, skipped, done)
            last_save = time.perf_counter()
    save_npz(out / "samples.npz", _pack(mols, which))
    for name in PARTIAL_FILES:
        (out / name).unlink(missing_ok=True)
    if fragments:
        write_text(out / "fragments.json", json.dumps(
            {str(i): {k: v for k, v in f.items() if k != "fixed"} | _fixed_json(f.get("fixed"))
             for i, f in fragments.items()}, indent=1))
    timing = {k: v for k, v in settings.items() if k not in ("seed", "cache", "pockets")} | {
              "n_pockets": len(seconds), "skipped": skipped,
              "device": device_name(model.device), "tf32": device.startswith("cuda"),
              "seconds_per_pocket": seconds, "mean_seconds_per_pocket": float(np.mean(seconds))}
    write_text(out / "timing.json", json.dumps(timing, indent=2))
    print(f"{len(seconds)} pockets x {args.n_samples} molecules ({args.task}, {len(skipped)} skipped), "
          f"{options.sampler}, {options.n_steps} steps, {options.engine}, guidance {options.guidance}, "
          f"{options.bond_decoding} bonds: {timing['mean_seconds_per_pocket']:.2f} s per pocket on {timing['device']}",
          flush=True)


#: seconds between checkpoints of an unfinished sampling run, and the files they write
SAVE_EVERY_S = 30.0
PARTIAL_FILES = ("samples.partial.npz", "progress.json")


def _pack(mols: list, which: list) -> dict:
    """Molecules as the arrays of ``samples.npz``, with the complex index of each."""
    import numpy as np

    from moldiff.convert import pack_arrays

    packed = pack_arrays(mols)
    packed["complex_index"] = np.asarray(which, dtype=np.int64)
    return packed


def _save_partial(out: Path, settings: dict, mols: list, which: list, seconds: list, skipped: dict, done: set) -> None:
    """Checkpoint of an unfinished run: the molecules so far and which pockets are done."""
    from moldiff.utils.atomic import save_npz

    save_npz(out / PARTIAL_FILES[0], _pack(mols, which))
    write_text(out / PARTIAL_FILES[1], json.dumps({"settings": settings, "done": sorted(done), "seconds": seconds,
                                                    "skipped": skipped}))


def _resume(out: Path, settings: dict) -> tuple[list, list, list, dict, set]:
    """Molecules, pocket indices, timings, skips and done pockets of an unfinished run in ``out``
    with the same settings (else an empty start)."""
    import numpy as np

    from moldiff.convert import unpack_arrays

    progress, partial = out / PARTIAL_FILES[1], out / PARTIAL_FILES[0]
    if not (progress.exists() and partial.exists()):
        return [], [], [], {}, set()
    state = json.loads(progress.read_text())
    if state["settings"] != settings:
        print(f"{out}: an unfinished run with other settings is there; starting over", flush=True)
        return [], [], [], {}, set()
    with np.load(partial) as data:
        mols, which = unpack_arrays(data), data["complex_index"].tolist()
    print(f"{out}: resuming after {len(state['done'])} pockets", flush=True)
    return mols, which, state["seconds"], state["skipped"], set(state["done"])


def _reference(arrays, i: int):
    """The reference ligand of complex ``i`` as a sanitized RDKit molecule (None if it fails)."""
    import numpy as np

    from moldiff.chem.build import build_molecule, sanitize_or_none

    c = arrays.complex(int(i))
    elements = np.asarray(arrays.vocab.elements)[c["lig_types"]].tolist()
    return sanitize_or_none(build_molecule(elements, c["lig_pos"], c["lig_charges"], c["lig_bonds"],
                                           explicit_h=False))[0]


def _fragments(arrays, idx, task: str, vocab) -> dict[int, dict]:
    """Per complex: the fixed atoms of the task cut from its reference ligand and the fragment's
    SMARTS, or the reason it is skipped."""
    from moldiff.chem.fragments import fixed_arrays, fragment_smarts, ring_systems, terminal_fragments

    out = {}
    for i in idx:
        ref = _reference(arrays, i)
        if ref is None:
            out[int(i)] = {"skipped": "reference ligand does not sanitize"}
            continue
        if task == "grow":
            systems = ring_systems(ref)
            parts = systems[:1]
            reason = "reference ligand has no ring"
        else:
            pair = terminal_fragments(ref)
            parts = list(pair) if pair else []
            reason = "reference ligand has no two terminal fragments (>= 3 atoms) with atoms between them"
        if not parts:
            out[int(i)] = {"skipped": reason}
            continue
        atoms = [a for p in parts for a in p]
        out[int(i)] = {"fixed": fixed_arrays(ref, atoms, vocab, str(arrays.name[i])),
                       "smarts": [fragment_smarts(ref, p) for p in parts], "ref_atoms": ref.GetNumAtoms()}
    return out


def _fixed_json(fixed) -> dict:
    if fixed is None:
        return {}
    return {"elements": fixed.elements, "pos": fixed.pos.tolist(), "charges": fixed.charges.tolist(),
            "bonds": fixed.bonds.tolist()}


def _receptor(root: str, name: str) -> Path:
    """The full receptor of a complex: ``<target>/<pdb>_rec.pdb`` for a CrossDocked name
    ``<target>/<pdb>_rec_<ligand>``, ``<subset>/<system>_protein.pdb`` for an FEP-benchmark name
    ``<subset>/<system>/<ligand>`` (ligand names may contain slashes themselves)."""
    if "_rec_" in name:
        path = Path(root) / (name.split("_rec_")[0] + "_rec.pdb")
    else:
        path = Path(root) / ("/".join(name.split("/")[:2]) + "_protein.pdb")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: receptor of {name} not found")
    return path


def _receptors(arrays, idx, args) -> dict[int, Path]:
    """The full receptor (for Vina and PoseBusters) of each complex in ``idx``: the protein file
    of its row in ``--index`` (rows are named as preparation names complexes: the name column,
    else the ligand path), else found under ``--receptor_root`` by the complex name (:func:`_receptor`).
    Looked up before sampling, so that a missing receptor does not end a long run."""
    if bool(args.index) == bool(args.receptor_root):
        raise ValueError("--vina and --posebusters need the full receptors: give --receptor_root (CrossDocked or "
                         "FEP-benchmark folder) or --index (the complexes CSV the cache was prepared from), not both")
    if args.receptor_root:
        return {int(i): _receptor(args.receptor_root, str(arrays.name[i])) for i in idx}
    from moldiff.datasets.complexes_prepare import folder_entries

    proteins: dict[str, Path] = {}
    for entry in folder_entries(args.index):
        if proteins.setdefault(entry.name, Path(entry.protein)) != Path(entry.protein):
            raise ValueError(f"{args.index}: complex {entry.name!r} has two protein files, "
                             f"{proteins[entry.name]} and {entry.protein}")
    out = {}
    for i in idx:
        name = str(arrays.name[i])
        if name not in proteins:
            raise ValueError(f"{args.index}: no row for complex {name!r} of {args.cache} "
                             "(rows are named by their name column, else their ligand path)")
        if not proteins[name].is_file():
            raise FileNotFoundError(f"{proteins[name]}: receptor of {name} not found")
        out[int(i)] = proteins[name]
    return out


def _table_task(job: tuple):
    """The library's molecule table of one pocket (:func:`moldiff.chem.report.molecule_table`; runs
    in a worker process)."""
    from moldiff.chem.report import molecule_table

    mols, receptor, reference, pocket_pos, vina, posebusters, vina_max, dock_max = job
    return molecule_table(mols, receptor, reference, vina, posebusters, pocket_pos=pocket_pos, vina_max=vina_max,
                          dock_max=dock_max)


def _molecule_tables(arrays, groups: dict[int, list], args, receptors: dict[int, Path]) -> dict:
    """Per complex: the molecule table of its molecules and reference ligand, with clashes against
    the cached pocket atoms and, as asked, Vina and PoseBusters in the full receptor on the first
    ``--vina_max`` valid molecules; pockets in ``--workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    keys = list(groups)
    jobs = [(groups[i], receptors.get(i), _reference(arrays, i), arrays.complex(i)["pocket_pos"], args.vina,
             args.posebusters, args.vina_max, args.dock_max) for i in keys]
    bar = dict(total=len(jobs), desc="evaluating pockets")
    if args.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(args.workers, len(jobs))) as pool:
            tables = list(tqdm(pool.map(_table_task, jobs), **bar))
    else:
        tables = [_table_task(job) for job in tqdm(jobs, **bar)]
    return dict(zip(keys, tables))


def _pocket_row(name: str, table, mols: list, fragment: dict | None) -> dict:
    """One complex's row of ``per_pocket.csv`` from the library's summary of its molecule table
    (:func:`moldiff.chem.report.summarize`), under the benchmark's column names: ``sa_raw`` is the
    raw SA score and ``sa`` its (10 - SA) / 9; with a fragment (inpainting) the fraction of
    molecules that keep the fixed atoms and of those valid that hold the fragment."""
    import numpy as np

    from moldiff.chem.fragments import has_fragment, keeps_fixed_atoms
    from moldiff.chem.report import PB_CHECK, summarize

    s = {k: np.nan if v is None else v for k, v in summarize(table).items()}
    row = {"complex": name, "n": s["n_molecules"]}
    row |= {k: s.get(k, np.nan) for k in ("validity", "sanitizes", "connected", "uniqueness", "diversity", "clash_rate")}
    row |= {"qed": s.get("qed_mean", np.nan), "sa_raw": s.get("sa_mean", np.nan),
            "sa": (10 - s.get("sa_mean", np.nan)) / 9, "logp": s.get("logp_mean", np.nan),
            "lipinski": s.get("lipinski_mean", np.nan)}
    if fragment is not None:
        row["fixed_kept"] = float(np.mean([keeps_fixed_atoms(m, fragment["fixed"]) for m in mols]))
        row["has_fragment"] = float(np.mean([bool(m.GetIntProp("moldiff_valid"))
                                             and all(has_fragment(m, q) for q in fragment["smarts"]) for m in mols]))
    renamed = {"ref_sa": "ref_sa_raw"}
    row |= {renamed.get(k, k): v for k, v in s.items() if k.startswith("ref_")}
    for k in ("vina_score", "vina_min", "vina_dock"):
        if f"{k}_mean" in s or f"ref_{k}" in s:
            row[k] = s.get(f"{k}_mean", np.nan)
    return row | {k: v for k, v in s.items() if k in ("vina_failed", "pb_valid") or k.startswith(PB_CHECK)}


def _evaluate(arrays, out: Path, args, receptors: dict[int, Path]) -> None:
    """Score saved samples with the library's evaluation (:mod:`moldiff.chem.report`, as
    ``moldiff evaluate`` does) per complex, aggregate over pockets and write the results files."""
    import numpy as np
    import pandas as pd

    from moldiff.api import arrays_to_mols
    from moldiff.chem.batch import ring_shares
    from moldiff.chem.build import canonical_smiles
    from moldiff.chem.draw import grid_png
    from moldiff.chem.report import aggregate_over_pockets
    from moldiff.convert import unpack_arrays
    from moldiff.datasets.complexes import load_complexes

    path = out / "samples.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no saved samples (run without --eval_only first)")
    data = np.load(path)
    mols = arrays_to_mols(unpack_arrays(data), explicit_h=False)
    fragments = _load_fragments(out / "fragments.json")
    which = data["complex_index"]
    groups = {int(i): [m for m, w in zip(mols, which) if w == i] for i in np.unique(which)}
    tables = _molecule_tables(arrays, groups, args, receptors)
    table = pd.DataFrame([_pocket_row(str(arrays.name[i]), tables[i], groups[i], fragments.get(i)) for i in groups])
    table.to_csv(out / "per_pocket.csv", index=False)
    molecules = pd.concat(tables.values(), ignore_index=True)
    summary = {"n_pockets": len(table), "n_molecules": int(table["n"].sum())}
    summary |= aggregate_over_pockets(
        table, METRICS + (INPAINT_METRICS if fragments else ()) + ("vina_score", "vina_min", "vina_dock", "vina_failed",
                                                                  "pb_valid"),
        mean_only=("ref_qed", "ref_sa_raw", "ref_clash", "ref_logp", "ref_lipinski", "ref_vina_score", "ref_vina_min",
                   "ref_vina_dock", "ref_pb_valid"))
    if args.vina == "dock":
        limits = [n for n in (args.dock_max, args.vina_max) if n is not None]
        summary["docked_per_pocket"] = min(limits) if limits else "all valid"
    if args.posebusters:
        summary["posebusters_config"] = args.posebusters
        summary["posebusters_checks"] = _check_pass_rates(table)
    summary["rings"] = ring_shares(molecules)
    if args.train_cache:
        from moldiff.chem.geometry_stats import geometry_report

        train = load_complexes(args.train_cache)
        train_ligands = [m for m in (_reference(train, i) for i in train.split_indices("train")) if m is not None]
        reference_set = f"{args.train_cache} (training split, {len(train_ligands)} ligands)"
        refs = [m for m in (_reference(arrays, i) for i in groups) if m is not None]
        summary["geometry"] = geometry_report([m for m in mols if m.GetIntProp("moldiff_valid")], train_ligands) | {
            "reference_set": reference_set}
        # the benchmark's own reference ligands against the same set: the floor to compare with
        summary["geometry_reference"] = geometry_report(refs, train_ligands) | {"reference_set": reference_set}
    timing = json.loads((out / "timing.json").read_text()) if (out / "timing.json").exists() else {}
    summary["timing"] = {k: v for k, v in timing.items() if k != "seconds_per_pocket"}
    md = _markdown(summary)
    write_text(out / "results.json", json.dumps(summary, indent=2))
    write_text(out / "results.md", md + "\n")
    valid = molecules[molecules["valid"]]
    _plot(valid[~valid["is_reference"]], valid[valid["is_reference"]], out / "properties.png")
    shown = [next(m for m in group if m.GetIntProp("moldiff_valid")) for group in groups.values()
             if any(m.GetIntProp("moldiff_valid") for m in group)]
    grid_png(shown, out / "molecules.png", legends=[canonical_smiles(m) or "" for m in shown[:24]])
    _molecules_csv(tables, arrays, which).to_csv(out / "molecules.csv", index=False)
    print(json.dumps(summary, indent=2))
    print(md)


def _molecules_csv(tables: dict, arrays, which):
    """Every molecule's row of the library's table, with the complex it was sampled in (index into
    the cache and name) and its index in ``samples.npz`` (-1 for the reference ligand's row): what
    ``scripts/self_training_set.py`` selects from."""
    import numpy as np
    import pandas as pd

    parts = []
    for i, t in tables.items():
        t = t.copy()
        t.insert(0, "sample", np.concatenate([np.flatnonzero(which == i), np.full(len(t) - (which == i).sum(), -1)]))
        t.insert(0, "complex", str(arrays.name[i]))
        t.insert(0, "complex_index", i)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _check_pass_rates(table) -> dict[str, dict[str, float]]:
    """Per PoseBusters check: the mean over pockets of the fraction of generated molecules that
    pass it, and the fraction of reference ligands that pass it."""
    from moldiff.chem.report import PB_CHECK

    checks = [c[len(PB_CHECK):] for c in table.columns if c.startswith(PB_CHECK)]
    return {c: {"generated": float(table[PB_CHECK + c].mean()), "reference": float(table[f"ref_{PB_CHECK}{c}"].mean())}
            for c in checks}


def _load_fragments(path: Path) -> dict[int, dict]:
    """fragments.json (inpainting runs) with the fixed atoms as MolArrays; {} for de novo runs."""
    import numpy as np

    from moldiff.chem.arrays import MolArrays

    if not path.exists():
        return {}
    out = {}
    for i, f in json.loads(path.read_text()).items():
        if "elements" in f:
            f["fixed"] = MolArrays(f["elements"], np.asarray(f["pos"]), np.asarray(f["charges"]),
                                   np.asarray(f["bonds"]).reshape(-1, 3))
        out[int(i)] = f
    return out


def _markdown(s: dict) -> str:
    pct = {"validity", "sanitizes", "connected", "uniqueness", "clash_rate", *INPAINT_METRICS}
    lines = ["| metric | mean over pockets | median over pockets |", "|---|---|---|"]
    for k in METRICS + tuple(k for k in INPAINT_METRICS if k + "_mean" in s):
        f = (lambda v: f"{100 * v:.1f} %") if k in pct else (lambda v: f"{v:.3f}")
        lines.append(f"| {k} | {f(s[k + '_mean'])} | {f(s[k + '_median'])} |")
    if "ref_qed_mean" in s:
        lines.append(f"| reference ligands: QED / SA raw / clash / logP / Lipinski | {s['ref_qed_mean']:.3f} / "
                     f"{s['ref_sa_raw_mean']:.2f} / {100 * s['ref_clash_mean']:.1f} % / {s['ref_logp_mean']:.2f} / "
                     f"{s['ref_lipinski_mean']:.2f} | |")
    for k in ("vina_score", "vina_min", "vina_dock"):
        if k + "_mean" in s:
            docked = s.get("docked_per_pocket") if k == "vina_dock" else None
            which = f"first {docked} valid per pocket; " if docked is not None else ""
            lines.append(f"| {k} (kcal/mol; {which}reference {s['ref_' + k + '_mean']:.2f}) | {s[k + '_mean']:.2f} | "
                         f"{s[k + '_median']:.2f} |")
    if "vina_failed_mean" in s:
        lines.append(f"| valid molecules Vina could not score | {100 * s['vina_failed_mean']:.1f} % | |")
    if "pb_valid_mean" in s:
        lines.append(f"| PoseBusters-valid ({s.get('posebusters_config', 'dock')} checks; of valid molecules; "
                     f"reference {100 * s['ref_pb_valid_mean']:.1f} %) | "
                     f"{100 * s['pb_valid_mean']:.1f} % | {100 * s['pb_valid_median']:.1f} % |")
    worst = sorted(s.get("posebusters_checks", {}).items(), key=lambda kv: kv[1]["generated"])[:6]
    if worst:
        cells = ", ".join(f"{c} {100 * r['generated']:.1f} % (reference {100 * r['reference']:.1f} %)" for c, r in worst)
        lines.append(f"| PoseBusters checks passed least often | {cells} | |")
    rings = s.get("rings")
    if rings:
        for who, f in rings.items():
            cells = " / ".join(f"{k[5:]}: " + ("n/a" if v is None else f"{100 * v:.1f} %") for k, v in f.items())
            lines.append(f"| molecules with a ring of size ({who.replace('_', ' ')}) | {cells} | |")
    geometry, floor = s.get("geometry"), s.get("geometry_reference")
    if geometry:
        for kind, unit in (("bond_length", "Å"), ("bond_angle", "°"), ("torsion", "°")):
            w, w_ref = geometry[kind]["weighted_w1"], floor[kind]["weighted_w1"]
            lines.append(f"| {kind.replace('_', ' ')} W1 vs {geometry['reference_set']}, frequency-weighted over types "
                         f"(reference ligands: {'n/a' if w_ref is None else f'{w_ref:.3f}'}) | "
                         f"{'n/a' if w is None else f'{w:.3f} {unit}'} | |")
    t = s.get("timing") or {}
    if t:
        lines.append(f"| seconds per pocket ({t['n_samples_per_pocket']} molecules, {t.get('sampler', 'ancestral')}, "
                     f"{t['n_steps']} steps, "
                     f"{t['device']}) | {t['mean_seconds_per_pocket']:.2f} | |")
        if t.get("skipped"):
            lines.append(f"| pockets skipped (no fragment for the task) | {len(t['skipped'])} | |")
    return "\n".join(lines)


def _plot(gen, ref, path: Path) -> None:
    """QED and SA histograms of the valid generated molecules and reference ligands (rows of
    molecule tables)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, k, name in [(axes[0], "qed", "QED"), (axes[1], "sa", "SA score (raw, lower = easier)")]:
        ax.hist(gen[k], bins=30, density=True, alpha=0.6, label="generated (valid)")
        if len(ref):
            ax.hist(ref[k], bins=30, density=True, alpha=0.6, label="reference ligands")
        ax.set(xlabel=name, ylabel="density")
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
