"""Hostile input to the Python API and to pocket screening (issue 28): counts and sizes refused
before any sampling, pocket definitions checked where they enter, and a screen that resumes only
from SDFs it can verify."""
import csv
import re

import pytest
import moldiff.api as api
from clitools import ROOT
from moldiff.api import load_pocket, sample
from moldiff.options import SampleOptions
from moldiff.apps.screen import ScreenOptions, read_requests, sample_pockets
from moldiff.testing import untrained_model
from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB

PROTEIN, LIGAND = ROOT / "data/examples/1ia1_protein.pdb", ROOT / "data/examples/1ia1_ligand.sdf"


def test_sample_refuses_bad_counts_and_sizes_before_sampling(monkeypatch):
    """The untrained model's size distribution ends at 11 atoms, so 13 (1.25 x 11) is the most it takes."""
    model = untrained_model("tiny.yaml", QM9_VOCAB)
    real = model._sample_batch
    monkeypatch.setattr(model, "_sample_batch", lambda *a, **k: pytest.fail("sampled despite bad input"))
    for given, message in [({"n_samples": 0}, "n_samples must be a positive integer, got 0"),
                           ({"n_samples": 2.5}, "n_samples must be a positive integer, got 2.5"),
                           ({"n_steps": 0}, "n_steps must be a positive integer, got 0"),
                           ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
                           ({"num_atoms": 500}, "num_atoms 500 is too large for this model: at most 13 atoms "
                                                "(1.25 x its largest training molecule, 11 atoms)"),
                           ({"num_atoms": range(5, 15)}, "num_atoms 14 is too large")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            sample(model, **({"n_samples": 1, "n_steps": 1, "num_atoms": 5} | given), progress=False)
    monkeypatch.setattr(model, "_sample_batch", real)
    mols = sample(model, 1, n_steps=1, num_atoms=13, progress=False)
    assert mols[0].GetNumAtoms() == 13 and mols[0].GetProp("n_steps") == "1"


def test_load_pocket_checks_its_definition(tmp_path):
    assert (load_pocket(PROTEIN, residues="A:13").pos == load_pocket(PROTEIN, residues=["A:13"]).pos).all()
    with pytest.raises(ValueError, match="^radius must be a positive distance in Å, got -5$"):
        load_pocket(PROTEIN, center=(20.0, 5.0, 2.0), radius=-5)
    with pytest.raises(ValueError, match="^cutoff must be a positive distance in Å, got -1$"):
        load_pocket(PROTEIN, ref_ligand=LIGAND, cutoff=-1)
    pdbqt = tmp_path / "ligand.pdbqt"
    pdbqt.write_text("ROOT\nATOM      1  C1  LIG A   1      20.000   5.000   2.000  0.00  0.00    +0.000 A \n"
                     "ENDROOT\nTORSDOF 0\n")
    with pytest.raises(ValueError, match=re.escape(f"{pdbqt}: record 1 could not be parsed; the reference ligand "
                                                   "must be an SDF file (convert it, e.g. obabel ligand.pdbqt -O "
                                                   "ligand.sdf)")):
        load_pocket(PROTEIN, ref_ligand=pdbqt)


def _index(out) -> dict[str, dict]:
    with (out / "index.csv").open(newline="") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def _write_index(out, rows: list[dict]) -> None:
    with (out / "index.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_screen_resumes_only_from_verified_sdfs(tmp_path, monkeypatch):
    protein = tmp_path / "four_residues.pdb"  # small: quick to read for every pocket
    protein.write_text("".join(line for line in PROTEIN.read_text().splitlines(keepends=True)
                               if line.startswith("ATOM") and line[21:26] in ("A  13", "A  14", "A  20", "A  21")))
    table = tmp_path / "pockets.csv"
    table.write_text(f"protein,resi_list,name,n_samples\n{protein},A:13 A:14,a,2\n{protein},A:20 A:21,b,2\n")
    requests = read_requests(table, 2)
    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    out, sampled = tmp_path / "screen", []
    real = api.sample_with
    monkeypatch.setattr(api, "sample_with", lambda *a, **k: sampled.append(a[4]) or real(*a, **k))  # a[4]: the seed

    def screen(sanitize: bool = False) -> dict[str, dict]:
        sampled.clear()
        options = ScreenOptions(SampleOptions(1).resolve(model), num_atoms=5, sanitize=sanitize)
        sample_pockets(requests, out, options, ["cpu"], progress=False, model=model)
        return _index(out)

    first = screen()
    assert sampled == [0, 1] and [first[n]["n_molecules"] for n in "ab"] == ["2", "2"]
    text = (out / "a.sdf").read_text()
    (out / "a.sdf").write_text(text[:len(text) // 2])  # cut mid-record
    assert screen()["a"]["n_molecules"] == "2"
    assert sampled == [0] and (out / "a.sdf").read_text() == text  # sampled again, same seed: same molecules
    (out / "a.sdf").write_text("")  # empty, though its row counts 2
    assert screen()["a"]["n_molecules"] == "2" and sampled == [0]

    # killed between writing b.sdf and its index row: b.sdf is verified (2 records), its counts read from it
    _write_index(out, [first["a"], {k: "" for k in first["b"]} | {"name": "b", "status": "pending"}])
    rows = screen()
    assert sampled == [] and rows["b"]["status"] == "ok"
    assert rows["b"]["n_molecules"] == "2" and rows["b"]["n_valid"] == first["b"]["n_valid"]
    _write_index(out, [rows["a"], {k: "" for k in first["b"]} | {"name": "b", "status": "pending"}])
    rows = screen(sanitize=True)  # invalid molecules dropped: without a row, no count to check the SDF against
    assert sampled == [1] and rows["b"]["status"] == "ok"
    assert rows["b"]["n_molecules"] == rows["b"]["n_valid"] == "0" and (out / "b.sdf").read_text() == ""
    assert screen(sanitize=True) == rows and sampled == []  # an empty SDF that its row counts as empty is finished
