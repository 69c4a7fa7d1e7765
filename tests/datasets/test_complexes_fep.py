"""FEP benchmark source: systems that overlap the CrossDocked2020 test proteins are left out of
training and validation (synthetic FEP-like folders, plus checks against the shared data)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from clitools import cli, one_line_error

from moldiff.datasets.complexes import load_complexes
from moldiff.datasets.complexes_prepare import (
    CROSSDOCKED_OVERLAP_FEP_SYSTEMS,
    DEFAULT_FEP_TEST_PROTEINS,
    fep_entries,
    prepare_complexes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "data" / "examples"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PDB_COMPLEXES_README = SHARED_DATA / "pdb_complexes" / "README.md"

#: (subset, system, protein, number of ligand records) of the synthetic benchmark.
SYSTEMS = [
    ("alpha", "kin_a", "KinA", 2),
    ("alpha", "kin_a_extra", "KinA", 1),
    ("alpha", "tyk2", "TYK2", 2),
    ("beta", "kin_a", "KinA", 1),  # same system name in another subset
    ("beta", "prot_b", "ProtB", 3),
    ("beta", "prot_c", "ProtC", 1),
    ("beta", "prot_d", "ProtD", 1),
]


def _ligand_block(dg: float) -> str:
    """The 1ia1 demo ligand as one SDF record carrying an experimental dG."""
    block = (EXAMPLES / "1ia1_ligand.sdf").read_text().split("$$$$")[0].rstrip("\n")
    block = re.sub(r"\n> .*", "", block, flags=re.S).rstrip("\n")  # drop any existing properties
    return f"{block}\n> <r_exp_dg>\n{dg}\n\n$$$$\n"


def write_fep_folder(root: Path, systems: list[tuple[str, str, str, int]] = SYSTEMS) -> Path:
    """A small FEP-benchmark-like tree: ``<subset>/subset_metadata.csv`` plus the protein (the
    1ia1 demo protein) and ligand files of each of ``systems``."""
    protein = (EXAMPLES / "1ia1_protein.pdb").read_bytes()
    by_subset: dict[str, list[tuple[str, str, int]]] = {}
    for subset, system, name, n in systems:
        by_subset.setdefault(subset, []).append((system, name, n))
    for subset, systems in by_subset.items():
        folder = root / subset
        folder.mkdir(parents=True)
        with open(folder / "subset_metadata.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Group name", "Protein", "Input file naming scheme", "Reference PDB"])
            for system, name, n in systems:
                writer.writerow([subset, name, system, "1IA1"])
                (folder / f"{system}_protein.pdb").write_bytes(protein)
                (folder / f"{system}_ligands.sdf").write_text("".join(_ligand_block(-8.0 - k) for k in range(n)))
    return root


def systems_of(entries) -> set[tuple[str, str]]:
    """``(subset, system)`` of each entry, from its name ``<subset>/<system>/<k>:<title>``."""
    return {tuple(e.name.split("/")[:2]) for e in entries}


def test_default_exclusion_must_match_the_folder(tmp_path):
    root = write_fep_folder(tmp_path / "fep")
    with pytest.raises(ValueError, match=r"46 excluded FEP system\(s\) not in the metadata.*exclude=\(\)"):
        fep_entries(root, test_proteins=("TYK2",))
    entries = fep_entries(root, test_proteins=("TYK2",), exclude=())
    assert len(entries) == sum(n for *_, n in SYSTEMS)


def test_excluded_systems_leave_train_and_val_only(tmp_path):
    root = write_fep_folder(tmp_path / "fep")
    kw = dict(test_proteins=("TYK2",), val_fraction=0.3, seed=1)
    everything = fep_entries(root, exclude=(), **kw)
    split_of = {e.protein_id: e.split for e in everything}
    assert split_of["TYK2"] == "test" and "val" in split_of.values() and "train" in split_of.values()

    exclude = [("alpha", "kin_a"), ("alpha", "tyk2"), ("beta", "prot_b")]
    entries = fep_entries(root, exclude=exclude, **kw)
    # exact (subset, system) pairs: beta/kin_a and alpha/kin_a_extra stay; the test protein's system stays test
    assert systems_of(entries) == systems_of(everything) - {("alpha", "kin_a"), ("beta", "prot_b")}
    assert [e for e in everything if tuple(e.name.split("/")[:2]) not in {("alpha", "kin_a"), ("beta", "prot_b")}
            ] == entries  # the others unchanged, splits included
    assert {e.split for e in entries if e.protein_id == "TYK2"} == {"test"}
    assert not any(e.protein_id == "ProtB" for e in entries)


@pytest.mark.parametrize("pair", [("beta", "kin_a_extra"), ("gamma", "kin_a"), ("alpha", "KIN_A")])
def test_unmatched_exclusion_is_an_error(tmp_path, pair):
    root = write_fep_folder(tmp_path / "fep")
    with pytest.raises(ValueError, match=f"1 excluded FEP system.*{pair[0]}/{pair[1]}"):
        fep_entries(root, test_proteins=("TYK2",), exclude=[("alpha", "kin_a"), pair])


def test_prepare_script_keeps_overlap_only_when_asked(tmp_path):
    # every default test protein present (one record each), so the script's default split works
    others = [("gamma", re.sub(r"\W", "", p).lower(), p, 1) for p in DEFAULT_FEP_TEST_PROTEINS if p != "TYK2"]
    root = write_fep_folder(tmp_path / "fep", SYSTEMS + others)
    out = tmp_path / "fep.npz"
    # the synthetic folder lacks the real overlap systems, so the default run stops with one line
    one_line_error(cli("prepare_complexes.py", "--source", "fep", "--root", root, "--out", out, "--workers", "1"),
                   "46 excluded FEP system(s) not in the metadata", "--keep_crossdocked_overlap")
    assert not out.exists()
    res = cli("prepare_complexes.py", "--source", "fep", "--root", root, "--out", out, "--workers", "1",
              "--keep_crossdocked_overlap")
    assert res.returncode == 0, res.stderr
    arrays = load_complexes(out)
    assert len(arrays) == sum(n for *_, n in SYSTEMS + others) and not np.isnan(arrays.dg).any()
    one_line_error(cli("prepare_complexes.py", "--source", "folder", "--index", tmp_path / "x.csv",
                       "--keep_crossdocked_overlap"), "--source fep only")


def test_prepared_cache_lacks_excluded_systems(tmp_path):
    root = write_fep_folder(tmp_path / "fep")
    entries = fep_entries(root, test_proteins=("TYK2",), val_fraction=0.3, seed=1, exclude=[("beta", "prot_b")])
    summary = prepare_complexes(entries, tmp_path / "c.npz", num_workers=1, verbose=False)
    assert summary["n_kept"] == len(entries) == sum(n for *_, n in SYSTEMS) - 3
    arrays = load_complexes(tmp_path / "c.npz")
    assert "ProtB" not in arrays.protein.tolist() and not np.isnan(arrays.dg).any()


# ------------------------------------------------------------------ shared data


def readme_overlap_table() -> list[tuple[str, str, str]]:
    """``(subset, system, protein)`` rows of section (d) of the pdb_complexes README."""
    text = PDB_COMPLEXES_README.read_text()
    section = text.split("## (d)")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    return [(r[0], r[1], r[2]) for r in rows[1:]]  # rows[0] is the header


@pytest.mark.skipif(not PDB_COMPLEXES_README.is_file(), reason=f"{PDB_COMPLEXES_README} not found")
def test_constant_is_the_readme_table():
    table = readme_overlap_table()
    assert len(table) == 46 and len({p for *_, p in table}) == 19
    assert "46 systems" in PDB_COMPLEXES_README.read_text()
    assert len(CROSSDOCKED_OVERLAP_FEP_SYSTEMS) == len(set(CROSSDOCKED_OVERLAP_FEP_SYSTEMS)) == 46
    assert set(CROSSDOCKED_OVERLAP_FEP_SYSTEMS) == {(s, n) for s, n, _ in table}


@pytest.mark.skipif(not (SHARED_DATA / "fep_benchmark").is_dir(), reason="shared FEP benchmark not found")
def test_shared_fep_leaves_out_the_overlap():
    root = SHARED_DATA / "fep_benchmark"
    everything = fep_entries(root, exclude=())
    entries = fep_entries(root)  # every listed pair matches a system, or this raises
    assert not systems_of(entries) & set(CROSSDOCKED_OVERLAP_FEP_SYSTEMS)
    assert systems_of(everything) - systems_of(entries) == set(CROSSDOCKED_OVERLAP_FEP_SYSTEMS)
    assert [e for e in everything if tuple(e.name.split("/")[:2]) not in set(CROSSDOCKED_OVERLAP_FEP_SYSTEMS)
            ] == entries
    assert {e.split for e in entries if e.protein_id in ("TNKS2", "BACE1", "CDK2", "CHK1")} == set()
    assert [e for e in entries if e.split == "test"] == [e for e in everything if e.split == "test"]
    assert {"train", "val", "test"} == {e.split for e in entries}
