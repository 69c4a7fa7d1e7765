"""Data checks of the pocket model's training data: bond orders against geometry per source, ring
sizes and ligand sizes per training set. Prints JSON, then markdown tables; deterministic.

    python scripts/data_report.py --json docs/data_report.json --card docs/data_card.md

(a) Bond orders (``moldiff.chem.ligand_checks``). The DSDP ligands of pdb_complexes had their bond
orders perceived from geometry by Open Babel; they are compared with the other sources: the
pdb_complexes ligands per ``source`` column of its ``index.csv`` (posebusters, astex,
pdbbind_equibind, dsdp; SDF read and sanitized by RDKit) and every ligand record of the FEP
benchmark (largest fragment, heavy atoms). Rule, per bond between heavy atoms:

- its class is ``ar`` (RDKit aromatic), ``2``, ``3``, ``1c`` (single, RDKit-conjugated: amide C-N,
  ester C-O, biaryl ...) or ``1``; ``TYPICAL_BOND_LENGTHS`` gives a typical length per element pair
  and class (C-C 1.53 / 1.48 / 1.39 / 1.34 / 1.20 Å for 1 / 1c / ar / 2 / 3, C-N, C-O, C-S, N-N,
  N-O, N-S, O-P, O-S, C-P, N-P, C-halogen, S-S);
- it is *judged* if its pair and class are in the table, except bonds from a central atom to the
  terminal O/S of a delocalized group (carboxylate or acid, nitro, sulfonate, phosphate: a central
  atom with both a single- and a double-bonded terminal O/S), whose written single/double split
  geometry cannot settle, and cumulated double bonds (azide, isocyanate);
- it is *flagged* (length disagrees with order) if it is more than 0.10 Å from the typical length
  of its class and closer to the typical length of another order of the same pair;
- it is *distorted* (broken coordinates) if it is shorter than 1.10 Å or more than 0.25 Å from
  every typical length of its pair; distorted bonds are counted apart, not flagged;
- *nearest other order* (soft; conjugated systems sit between orders): with no tolerance, another
  order's typical length is closer than its own.

A molecule *looks wrong* if it has a flagged or distorted bond, or a P/S atom with two or more
terminal O and no double bond to a terminal O/S (sulfate written S(O)(O)(O)O). Crystal ligands have
noisy geometry too, so the DSDP rate is read against the pooled rate of the other crystal sources
(posebusters, astex, pdbbind_equibind): the excess times the DSDP count estimates how many DSDP
ligands are wrong beyond that noise. A softer signal, counted apart: a flat 5/6-ring (RMS from its
plane < 0.02 Å) holding an sp3 carbon (a lost double bond; NADH's dihydropyridine also qualifies).
Also per source: share of molecules with a charged atom, share of SSSR rings that are aromatic,
molecules with radical electrons, molecules with an RDKit problem before sanitization.

(b) Rings and sizes of each training set: share of molecules whose SSSR (RDKit ``GetSSSR``) holds a
ring of 3, 4, 7 atoms and of 8 or more, and heavy-atom count mean / median / 95th percentile / max.
Sets: MOSES (the ``--moses_cache`` training split if that file exists, else a seeded 20,000-SMILES
sample of the MOSES training SMILES), the clean FEP cache's train and val splits, the pdb_complexes
cache's train and val splits and its training split per origin, and the CrossDocked2020 test
ligands as a reference (not training data). Ring flags come from each cache's canonical SMILES
(the same molecule graph), heavy-atom counts from the cache.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from collections import Counter
from pathlib import Path

from moldiff.commands import run

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PDB_SOURCES: tuple[str, ...] = ("posebusters", "astex", "pdbbind_equibind", "dsdp")
CRYSTAL_REFERENCE: tuple[str, ...] = ("posebusters", "astex", "pdbbind_equibind")
CARD_BEGIN, CARD_END = "<!-- data_report:begin -->", "<!-- data_report:end -->"


# --------------------------------------------------------------------------- (a) bond orders


def _new_tally() -> dict:
    return {"molecules": 0, "unsanitizable": 0, "rdkit_problems": 0, "radicals": 0, "charged": 0,
            "bonds": 0, "judged": 0, "flagged": 0, "nearest_other": 0, "distorted": 0,
            "mol_flagged": 0, "mol_distorted": 0, "mol_oxoacid": 0, "mol_wrong": 0, "mol_planar_sp3": 0,
            "rings": 0, "aromatic_rings": 0, "flagged_types": Counter(), "wrong_names": []}


def _add_molecule(tally: dict, raw, name: str) -> None:
    """Count one ligand: ``raw`` unsanitized (an RDKit problem check), then sanitized copies."""
    from rdkit import Chem

    from moldiff.chem import ligand_checks as lc

    tally["molecules"] += 1
    if raw is None:
        tally["unsanitizable"] += 1
        return
    tally["rdkit_problems"] += bool(lc.chemistry_problems(Chem.Mol(raw)))
    mol = Chem.Mol(raw)
    try:
        Chem.SanitizeMol(mol)
        mol = Chem.RemoveHs(mol)
    except Exception:  # RDKit raises several types on bad valences
        tally["unsanitizable"] += 1
        return
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    mol = max(frags, key=lambda f: f.GetNumAtoms())
    tally["radicals"] += lc.has_radical(mol)
    tally["charged"] += lc.has_charged_atom(mol)
    aromatic, rings = lc.aromatic_ring_count(mol)
    tally["aromatic_rings"] += aromatic
    tally["rings"] += rings
    checks = lc.bond_length_checks(mol)
    flagged = [c for c in checks if c.flagged]
    distorted = any(c.distorted for c in checks)
    oxoacid = lc.oxoacid_without_double_bond(mol)
    tally["bonds"] += len(checks)
    tally["judged"] += sum(c.judged for c in checks)
    tally["flagged"] += len(flagged)
    tally["nearest_other"] += sum(c.nearest_other for c in checks)
    tally["distorted"] += sum(c.distorted for c in checks)
    tally["flagged_types"].update(f"{c.pair[0]}-{c.pair[1]} {c.cls}" for c in flagged)
    tally["mol_flagged"] += bool(flagged)
    tally["mol_distorted"] += distorted
    tally["mol_oxoacid"] += oxoacid
    tally["mol_planar_sp3"] += lc.planar_ring_with_sp3_carbon(mol)
    if flagged or distorted or oxoacid:
        tally["mol_wrong"] += 1
        tally["wrong_names"].append(name)


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else float("nan")


def _finish(tally: dict, names: bool = False) -> dict:
    """Counts and fractions of one source (with the names of its wrong-looking molecules if asked)."""
    n, judged = tally["molecules"], tally["judged"]
    out = {
        "molecules": n,
        "unsanitizable": tally["unsanitizable"],
        "bonds": tally["bonds"],
        "judged_bonds": judged,
        "flagged_bond_fraction": _ratio(tally["flagged"], judged),
        "nearest_other_order_fraction": _ratio(tally["nearest_other"], judged),
        "distorted_bond_fraction": _ratio(tally["distorted"], tally["bonds"]),
        "molecules_with_flagged_bond": tally["mol_flagged"],
        "molecules_with_distorted_bond": tally["mol_distorted"],
        "molecules_with_oxoacid_without_double_bond": tally["mol_oxoacid"],
        "molecules_look_wrong": tally["mol_wrong"],
        "look_wrong_fraction": _ratio(tally["mol_wrong"], n),
        "molecules_with_flat_ring_holding_sp3_carbon": tally["mol_planar_sp3"],
        "charged_molecule_fraction": _ratio(tally["charged"], n),
        "aromatic_ring_fraction": _ratio(tally["aromatic_rings"], tally["rings"]),
        "molecules_with_radicals": tally["radicals"],
        "molecules_with_rdkit_problems": tally["rdkit_problems"],
        "top_flagged_bond_types": dict(sorted(tally["flagged_types"].items(), key=lambda kv: (-kv[1], kv[0]))[:6]),
    }
    if names:
        out["look_wrong_names"] = sorted(tally["wrong_names"])
    return out


def bond_order_report(pdb_root: Path, fep_root: Path) -> dict:
    """Section (a): per source, plus the DSDP breakdown by subset and ligand origin."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    index = list(csv.DictReader(open(pdb_root / "index.csv", newline="")))
    meta = {row["name"]: row for row in csv.DictReader(open(pdb_root / "metadata.csv", newline=""))}
    tallies = {source: _new_tally() for source in (*PDB_SOURCES, "fep")}
    dsdp_parts: dict[str, dict] = {}
    with BlockLogs():
        for row in index:
            raw = Chem.MolFromMolFile(str(pdb_root / row["ligand"]), sanitize=False, removeHs=False)
            _add_molecule(tallies[row["source"]], raw, row["name"])
            if row["source"] == "dsdp":
                info = meta.get(row["name"], {})
                for key in (f"subset {info.get('subset') or '?'}", f"ligand from {info.get('ligand_from') or '?'}"):
                    _add_molecule(dsdp_parts.setdefault(key, _new_tally()), raw, row["name"])
        for path in sorted(fep_root.glob("*/*_ligands.sdf")):
            for k, raw in enumerate(Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)):
                _add_molecule(tallies["fep"], raw, f"{path.parent.name}/{path.name.removesuffix('_ligands.sdf')}/{k}")
    sources = {name: _finish(t, names=name == "dsdp") for name, t in tallies.items()}
    reference = _new_tally()
    for name in CRYSTAL_REFERENCE:
        for key in ("molecules", "mol_wrong"):
            reference[key] += tallies[name][key]
    ref_rate = reference["mol_wrong"] / reference["molecules"]
    dsdp = tallies["dsdp"]
    excess = dsdp["mol_wrong"] / dsdp["molecules"] - ref_rate
    return {
        "sources": sources,
        "dsdp_parts": {key: _finish(t) for key, t in sorted(dsdp_parts.items())},
        "crystal_reference_look_wrong_fraction": round(ref_rate, 4),
        "dsdp_excess_look_wrong_fraction": round(excess, 4),
        "dsdp_estimated_wrong_beyond_crystal_noise": round(excess * dsdp["molecules"]),
    }


# ------------------------------------------------------------------------- (b) rings and sizes


def _ring_row(mols_and_sizes: list[tuple[object, int]], label: str, origin: str) -> dict:
    """Ring shares and heavy-atom distribution of ``(mol, heavy atoms)`` pairs (mol None: unparsable)."""
    from moldiff.chem import ligand_checks as lc

    flags = Counter()
    parsed = 0
    for mol, _ in mols_and_sizes:
        if mol is None:
            continue
        parsed += 1
        flags.update(k for k, v in lc.ring_size_flags(mol).items() if v)
    sizes = lc.distribution(n for _, n in mols_and_sizes)
    return {"set": label, "from": origin, "molecules": len(mols_and_sizes), "unparsable": len(mols_and_sizes) - parsed,
            **{f"ring_{k}": _ratio(flags[k], parsed) for k in lc.RING_KEYS},
            **{f"heavy_{k}": round(v, 2) for k, v in sizes.items()}}


def _from_smiles(smiles: list[str], sizes: list[int] | None = None) -> list[tuple[object, int]]:
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    out = []
    with BlockLogs():
        for k, smi in enumerate(smiles):
            mol = Chem.MolFromSmiles(smi)
            n = sizes[k] if sizes is not None else (mol.GetNumHeavyAtoms() if mol is not None else 0)
            out.append((mol, int(n)))
    return out


def _cache_split(path: Path, split: str, keep=None) -> tuple[list[str], list[int]]:
    from moldiff.datasets.complexes import load_complexes

    arrays = load_complexes(path)
    idx = [int(i) for i in arrays.split_indices(split) if keep is None or keep(str(arrays.name[i]))]
    return [str(arrays.smiles[i]) for i in idx], [int(arrays.lig_num_atoms[i]) for i in idx]


def _moses_smiles_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("moses")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("molsets is not installed and no MOSES cache given: pip install --no-deps molsets")
    return Path(spec.origin).parent / "dataset" / "data" / "train.csv.gz"


def ring_report(moses_cache: Path, moses_sample: int, seed: int, fep_cache: Path, pdb_cache: Path,
                pdb_root: Path, crossdocked_test: Path) -> list[dict]:
    """Section (b): one row per set."""
    import numpy as np
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    from moldiff.datasets.ligands_prepare import read_smiles

    rows = []
    if moses_cache.is_file():
        smiles, sizes = _cache_split(moses_cache, "train")
        rows.append(_ring_row(_from_smiles(smiles, sizes), "MOSES", f"{_rel(moses_cache)} train split"))
    else:
        path = _moses_smiles_path()
        smiles = read_smiles(path)
        pick = np.sort(np.random.default_rng(seed).permutation(len(smiles))[:moses_sample])
        rows.append(_ring_row(_from_smiles([smiles[i] for i in pick]), "MOSES",
                              f"{len(pick):,} SMILES sampled (seed {seed}) from moses/dataset/data/train.csv.gz"))
    for split in ("train", "val"):
        smiles, sizes = _cache_split(fep_cache, split)
        rows.append(_ring_row(_from_smiles(smiles, sizes), f"FEP {split} (clean)", f"{_rel(fep_cache)} {split} split"))
    for split in ("train", "val"):
        smiles, sizes = _cache_split(pdb_cache, split)
        rows.append(_ring_row(_from_smiles(smiles, sizes), f"pdb_complexes {split}",
                              f"{_rel(pdb_cache)} {split} split"))
    source_of = {row["name"]: row["source"] for row in csv.DictReader(open(pdb_root / "index.csv", newline=""))}
    for source in PDB_SOURCES:
        smiles, sizes = _cache_split(pdb_cache, "train", keep=lambda name, s=source: source_of.get(name) == s)
        rows.append(_ring_row(_from_smiles(smiles, sizes), f"pdb_complexes train: {source}",
                              f"{_rel(pdb_cache)} train split, index.csv source {source}"))
    listing = crossdocked_test / "ligand_filenames.txt"
    if listing.is_file():
        mols = []
        with BlockLogs():
            for name in listing.read_text().split():
                mol = Chem.MolFromMolFile(str(crossdocked_test / name))
                mols.append((mol, mol.GetNumHeavyAtoms() if mol is not None else 0))
        rows.append(_ring_row(mols, "CrossDocked2020 test (reference, not training)",
                              "crossdocked_test100 reference ligands"))
    return rows


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------ output


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def markdown(report: dict) -> str:
    """The two tables of the report (and the DSDP estimate) as markdown."""
    a = report["bond_orders"]
    lines = ["| source | molecules | flagged bonds % | nearest-other-order % | distorted bonds % "
             "| mol. with flagged bond | with distorted bond | S/P oxoacid w/o double bond | look wrong (%) "
             "| flat ring with sp3 C (soft) | charged mol. % | aromatic rings % | radicals | RDKit problems |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in [*a["sources"].items(), *((f"dsdp: {k}", v) for k, v in a["dsdp_parts"].items())]:
        lines.append(f"| {name} | {s['molecules']} | {_pct(s['flagged_bond_fraction'])} "
                     f"| {_pct(s['nearest_other_order_fraction'])} | {_pct(s['distorted_bond_fraction'])} "
                     f"| {s['molecules_with_flagged_bond']} | {s['molecules_with_distorted_bond']} "
                     f"| {s['molecules_with_oxoacid_without_double_bond']} "
                     f"| {s['molecules_look_wrong']} ({_pct(s['look_wrong_fraction'])}) "
                     f"| {s['molecules_with_flat_ring_holding_sp3_carbon']} "
                     f"| {_pct(s['charged_molecule_fraction'])} | {_pct(s['aromatic_ring_fraction'])} "
                     f"| {s['molecules_with_radicals']} | {s['molecules_with_rdkit_problems']} |")
    lines += ["", f"Crystal reference (posebusters + astex + pdbbind_equibind) look-wrong rate: "
              f"{_pct(a['crystal_reference_look_wrong_fraction'])} %; DSDP excess "
              f"{_pct(a['dsdp_excess_look_wrong_fraction'])} points, about "
              f"{a['dsdp_estimated_wrong_beyond_crystal_noise']} DSDP ligands wrong beyond crystal-geometry noise.", ""]
    lines += ["| set | molecules | 3-ring % | 4-ring % | 7-ring % | ring ≥ 8 % "
              "| heavy atoms mean | median | p95 | max |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rings"]:
        lines.append(f"| {r['set']} | {r['molecules']:,} | {_pct(r['ring_3'])} | {_pct(r['ring_4'])} "
                     f"| {_pct(r['ring_7'])} | {_pct(r['ring_>=8'])} | {r['heavy_mean']:.1f} "
                     f"| {r['heavy_median']:g} | {r['heavy_p95']:.1f} | {r['heavy_max']:g} |")
    return "\n".join(lines)


def write_card(card: Path, table: str) -> None:
    """Replace the text between the report markers of ``card`` with ``table``."""
    text = card.read_text()
    if CARD_BEGIN not in text or CARD_END not in text:
        raise ValueError(f"{card}: no {CARD_BEGIN} ... {CARD_END} markers to put the tables between")
    head, rest = text.split(CARD_BEGIN, 1)
    tail = rest.split(CARD_END, 1)[1]
    card.write_text(f"{head}{CARD_BEGIN}\n{table}\n{CARD_END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdb_root", type=Path, default=SHARED_DATA / "pdb_complexes")
    ap.add_argument("--fep_root", type=Path, default=SHARED_DATA / "fep_benchmark")
    ap.add_argument("--crossdocked_test", type=Path, default=SHARED_DATA / "crossdocked_test100" / "test_set",
                    help="reference row of the ring table (skipped if absent)")
    ap.add_argument("--pdb_cache", type=Path, default=REPO_ROOT / "data" / "cache" / "pdb.npz")
    ap.add_argument("--fep_cache", type=Path, default=REPO_ROOT / "data" / "cache" / "fep_clean.npz")
    ap.add_argument("--moses_cache", type=Path, default=REPO_ROOT / "data" / "cache" / "moses100k.npz",
                    help="used if it exists, else --moses_sample MOSES SMILES")
    ap.add_argument("--moses_sample", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    ap.add_argument("--card", type=Path, help="put the markdown tables between the data_report markers of this file")
    args = ap.parse_args()
    for path in (args.pdb_root / "index.csv", args.pdb_root / "metadata.csv", args.pdb_cache, args.fep_cache):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
    if not args.fep_root.is_dir():
        raise FileNotFoundError(f"FEP benchmark folder {args.fep_root} not found")
    report = {
        "bond_orders": bond_order_report(args.pdb_root, args.fep_root),
        "rings": ring_report(args.moses_cache, args.moses_sample, args.seed, args.fep_cache, args.pdb_cache,
                             args.pdb_root, args.crossdocked_test),
    }
    text = json.dumps(report, indent=1, sort_keys=True, allow_nan=True)
    print(text)
    table = markdown(report)
    print()
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.card:
        write_card(args.card, table)


if __name__ == "__main__":
    run(main)
