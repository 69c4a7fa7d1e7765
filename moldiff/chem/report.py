"""Per-molecule property table and its summary, for reports (no torch): validity (and its two
parts, sanitization and one fragment), QED, SA, logP, Lipinski rules, ring sizes, optionally the
local MMFF strain energy, and in a pocket clashes with the pocket atoms, the Vina scores and the
PoseBusters verdict (with each check), with the reference ligand on the same footing; the
per-pocket summary (validity, uniqueness, diversity, clash rate, means) and the aggregation over
pockets used by the per-pocket benchmarks (mean of per-pocket values and median over pockets);
and the reading of generated SDFs, where a bad record is counted, not fatal. ``moldiff evaluate`` and
``moldiff benchmark pockets`` both evaluate through this module."""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import pandas as pd
from rdkit import Chem

from moldiff.chem.build import canonical_smiles, sanitize_or_none
from moldiff.chem.io import read_sdf
from moldiff.chem.metrics import internal_diversity, min_protein_distance, ring_size_fractions, valid_copy
from moldiff.chem.properties import lipinski_rules, logp, qed, ring_sizes, sa_score

#: Per-molecule numeric columns summarised by mean and median.
NUMERIC = ("qed", "sa", "logp", "lipinski", "vina_score", "vina_min", "vina_dock", "strain")
#: A molecule clashes when one of its heavy atoms lies closer than this to a pocket atom (Angstrom).
CLASH_DISTANCE = 2.0
#: Column prefix of each PoseBusters check's verdict (``pb_check_<check>``).
PB_CHECK = "pb_check_"


def read_generated(path: str | os.PathLike) -> tuple[list[Chem.Mol], list[int], list[int]]:
    """The molecules of a generated SDF that can be parsed, their record numbers and the numbers
    of the records that cannot (1-based), so one broken record does not void a whole run;
    ``ValueError("<path>: ...")`` when the file is missing or no record is usable."""
    records = read_sdf(path, strict=False)
    good = [k + 1 for k, m in enumerate(records) if m is not None]
    if not good:
        raise ValueError(f"{path}: none of its {len(records)} records could be parsed" if records
                         else f"{path}: file contains no molecules")
    return [records[k - 1] for k in good], good, [k + 1 for k, m in enumerate(records) if m is None]


def skipped_records(path: str | os.PathLike, bad: Sequence[int], usable: int, shown: int = 20) -> str:
    """One line on the records of ``path`` that could not be parsed: how many and which."""
    which = ", ".join(map(str, bad[:shown])) + (f", ... ({len(bad) - shown} more)" if len(bad) > shown else "")
    return (f"{path}: {len(bad)} of {len(bad) + usable} records could not be parsed (record{'s' * (len(bad) > 1)} "
            f"{which}); evaluated the other {usable}")


def _properties(mol: Chem.Mol, pocket_pos: np.ndarray | None) -> dict:
    clean, error = valid_copy(mol)
    row = {"valid": not error, "error": error,
           "sanitizes": clean is not None or sanitize_or_none(mol)[0] is not None,  # sanitized again only if invalid
           "connected": len(Chem.GetMolFrags(mol)) == 1, "smiles": None, "n_heavy_atoms": mol.GetNumHeavyAtoms()}
    if pocket_pos is not None:
        row["clash"] = min_protein_distance(mol, pocket_pos) < CLASH_DISTANCE
    if not error:
        clean = Chem.RemoveHs(clean)  # explicit hydrogens would count as fragments in SA (paracetamol: 7.1, not 1.4)
        row |= {"smiles": canonical_smiles(clean), "qed": qed(clean), "sa": sa_score(clean), "logp": logp(clean),
                "lipinski": lipinski_rules(clean), "ring_sizes": " ".join(map(str, sorted(ring_sizes(clean))))}
    return row


def molecule_table(mols: Sequence[Chem.Mol], protein: str | os.PathLike | None = None,
                   reference: Chem.Mol | None = None, vina: str = "off", posebusters: str | None = None,
                   strain: bool = False, pocket_pos: np.ndarray | None = None, vina_max: int | None = None,
                   dock_max: int | None = None) -> pd.DataFrame:
    """One row per molecule (in order) and, with a ``reference``, a last row for it (``is_reference``).
    Vina (``"score"``: score-only + minimization, ``"dock"``: also re-docking) and PoseBusters
    need the ``protein`` file and run on valid molecules only, the first ``vina_max`` of them (all
    when None) and the reference; Vina needs the reference for its box and re-docks only the first
    ``dock_max`` (:func:`~moldiff.chem.docking.vina_scores`).
    ``posebusters``: None (off) or a configuration of :data:`moldiff.chem.posecheck.CONFIGS`; the
    verdict of each check is a ``pb_check_<check>`` column beside ``pb_valid``.
    ``pocket_pos``: pocket atom coordinates [M, 3]; each molecule gets ``clash`` (a heavy atom
    closer than :data:`CLASH_DISTANCE`).
    ``strain`` adds the local MMFF94 strain energy of each valid molecule
    (:func:`moldiff.chem.geometry_stats.strain_energy`: ``strain`` in kcal/mol and ``strain_rmsd``,
    or ``strain_error``); it costs a few tens of milliseconds per drug-sized molecule."""
    from moldiff.chem.docking import vina_scores
    from moldiff.chem.posecheck import posebusters_table

    everything = list(mols) + ([reference] if reference is not None else [])
    rows = [_properties(m, pocket_pos) for m in everything]
    for row, is_ref in zip(rows, [False] * len(mols) + [True] * (reference is not None)):
        row["is_reference"] = is_ref
    valid = [k for k, r in enumerate(rows) if r["valid"]]
    docked = [k for k in valid if k < len(mols)][:vina_max] + [k for k in valid if k >= len(mols)]
    if vina != "off":
        if protein is None or reference is None:
            raise ValueError("Vina scores need the protein (--pocket) and a reference ligand for the box (--ref_ligand)")
        scored, ref_scores = vina_scores(protein, [everything[k] for k in docked if k < len(mols)], reference,
                                         dock=vina == "dock", dock_max=dock_max)
        for k, s in zip([k for k in docked if k < len(mols)], scored):
            rows[k] |= s
        rows[-1] |= ref_scores
    if strain:
        from moldiff.chem.geometry_stats import strain_energy

        for k in valid:
            r = strain_energy(everything[k])
            rows[k] |= ({"strain_error": r["error"]} if "error" in r
                        else {"strain": r["strain"], "strain_rmsd": r["rmsd"]})
    if posebusters:
        if protein is None:
            raise ValueError("PoseBusters checks need the protein (--pocket)")
        verdicts = posebusters_table([everything[k] for k in docked], protein, posebusters)
        for k, (_, verdict) in zip(docked, verdicts.iterrows()):
            rows[k]["pb_valid"] = bool(verdict["pb_valid"])
            rows[k] |= {f"{PB_CHECK}{c}": bool(v) for c, v in verdict.drop("pb_valid").items()}
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> dict:
    """Validity and its two parts (``sanitizes``, ``connected``) and the clash rate over the
    generated molecules; over the valid ones uniqueness, internal diversity, ring-size fractions,
    means and medians of the numeric columns, the fractions that Vina could not score (of those
    it was run on) and whose strain could not be computed, the PoseBusters-valid fraction and each
    check's pass rate (``pb_check_<check>``); and the reference's values (``ref_*``)."""
    gen = table[~table["is_reference"]]
    valid = gen[gen["valid"]]
    rate = lambda column: float(gen[column].astype(float).mean()) if len(gen) else math.nan  # noqa: E731
    sized = [m for m in (Chem.MolFromSmiles(s) for s in valid["smiles"]) if m is not None]
    out: dict = {"n_molecules": len(gen), "validity": rate("valid"), "sanitizes": rate("sanitizes"),
                 "connected": rate("connected"),
                 "uniqueness": valid["smiles"].nunique() / len(valid) if len(valid) else math.nan,
                 "diversity": internal_diversity(sized)}
    if "clash" in gen:
        out["clash_rate"] = rate("clash")
    for k in NUMERIC:
        if k in valid and valid[k].notna().any():
            out[f"{k}_mean"], out[f"{k}_median"] = float(valid[k].mean()), float(valid[k].median())
    if "vina_error" in valid or "vina_score" in valid:
        failed, scored = _given(valid, "vina_error"), _given(valid, "vina_score")
        out["vina_failed"] = float(failed[failed | scored].mean())  # of the molecules Vina was run on
    if "strain_error" in valid or "strain" in valid:
        out["strain_failed"] = float(valid["strain_error"].notna().mean()) if "strain_error" in valid else 0.0
    checks = [c for c in valid if c == "pb_valid" or c.startswith(PB_CHECK)]
    out |= {c: float(valid[c].astype(float).mean()) for c in checks}
    out["rings"] = ring_size_fractions(sized)
    ref = table[table["is_reference"]]
    if len(ref):
        for k in (*NUMERIC, "clash", *checks):
            if k in ref and pd.notna(ref[k].iloc[0]):
                out[f"ref_{k}"] = float(ref[k].iloc[0])
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}


def _given(table: pd.DataFrame, column: str) -> pd.Series:
    """Which rows have a value in ``column`` (none when the column is absent)."""
    return table[column].notna() if column in table else pd.Series(False, index=table.index)


def aggregate_over_pockets(table: pd.DataFrame, columns: Sequence[str], mean_only: Sequence[str] = ()) -> dict:
    """The published per-pocket aggregation of a table with one row per pocket: for each of
    ``columns`` present, ``<column>_mean`` (mean over pockets of the per-pocket values) and
    ``<column>_median`` (median over pockets); ``mean_only`` columns get the mean alone. Pockets
    with no value in a column (NaN, e.g. no valid molecule) are left out of that column."""
    out: dict = {}
    for k in columns:
        if k in table:
            out[f"{k}_mean"] = float(table[k].mean())
            out[f"{k}_median"] = float(table[k].median())
    for k in mean_only:
        if k in table:
            out[f"{k}_mean"] = float(table[k].mean())
    return out
