"""moldiff evaluate: geometry against a training SDF, strain, the batch mode over pockets
(per-pocket table, mean of per-pocket means and median over pockets, failed pockets counted),
and unparsable SDF records (counted, named, skipped)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from clitools import ROOT, cli, one_line_error

PROTEIN, LIGAND = ROOT / "data/examples/1ia1_protein.pdb", ROOT / "data/examples/1ia1_ligand.sdf"
SMILES = ("CC(=O)Nc1ccc(O)cc1", "CCOC(=O)c1ccccc1N", "O=C(O)CCc1ccccc1", "CN1CCN(C)CC1", "Cc1ncc(CO)cn1")


def write_sdf(path: Path, mols) -> Path:
    with Chem.SDWriter(str(path)) as w:
        for m in mols:
            w.write(m)
    return path


def embedded(smiles: str, seed: int) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return Chem.RemoveHs(mol)


def test_train_sdf_writes_geometry_report_and_plot(tmp_path):
    train = write_sdf(tmp_path / "train.sdf", [embedded(s, k) for k in range(4) for s in SMILES])
    gen = write_sdf(tmp_path / "gen.sdf", [embedded(s, 10 + k) for k in range(2) for s in SMILES[:3]])
    res = cli("evaluate.py", gen, "--train_sdf", train, "--min_count", 5, "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "report" / "geometry.json").read_text())
    assert report["n_generated"] == 6 and report["n_reference"] == 20 and report["n_generated_skipped"] == 0
    bonds = report["bond_length"]
    assert "C:C" in bonds["w1"] and 0.0 <= bonds["w1"]["C:C"] < 0.05  # ETKDG against ETKDG
    assert bonds["count_generated"]["C:C"] == 6 * 6  # one benzene ring in each generated molecule
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["geometry"]["bond_length_w1"] == pytest.approx(bonds["weighted_w1"])
    assert metrics["novelty"] == 0.0  # every generated SMILES is in the training SDF (no --train_smiles)
    assert "Geometry vs the reference set" in (tmp_path / "report" / "metrics.md").read_text()
    assert (tmp_path / "report" / "geometry.png").stat().st_size > 10_000


def test_bad_train_sdf_is_one_line(tmp_path):
    gen = write_sdf(tmp_path / "gen.sdf", [embedded("CCO", 0)])
    one_line_error(cli("evaluate.py", gen, "--train_sdf", tmp_path / "missing.sdf", "--out", tmp_path / "r"), "missing.sdf")
    (tmp_path / "notes.sdf").write_text("this is not an SDF\n")
    one_line_error(cli("evaluate.py", gen, "--train_sdf", tmp_path / "notes.sdf", "--out", tmp_path / "r"), "notes.sdf")
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_batch_aggregates_per_pocket_means_and_counts_failed_pockets(tmp_path):
    from moldiff.chem.properties import qed

    data = tmp_path / "data"
    data.mkdir()
    crystal = Chem.MolFromMolFile(str(LIGAND))
    others = [embedded(s, 0) for s in SMILES[:2]]
    write_sdf(data / "gen2.sdf", [crystal, *others])
    csv = tmp_path / "pockets.csv"
    csv.write_text("name,protein,ref_ligand,generated\n"
                   f"crystal,{PROTEIN},{LIGAND},{LIGAND}\n"
                   f"three,{PROTEIN},{LIGAND},data/gen2.sdf\n"  # relative to the CSV's folder
                   f"lost,{PROTEIN},{LIGAND},data/missing.sdf\n")
    res = cli("evaluate.py", "--batch", csv, "--strain", "--workers", 2, "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "warning: pocket lost failed" in res.stderr and "missing.sdf" in res.stderr
    out = tmp_path / "report"
    per_pocket = pd.read_csv(out / "per_pocket.csv").set_index("pocket")
    assert list(per_pocket.index) == ["crystal", "three", "lost"]
    assert per_pocket.loc["crystal", "n_molecules"] == 1 and per_pocket.loc["three", "n_molecules"] == 3
    assert "missing.sdf" in per_pocket.loc["lost", "error"] and np.isnan(per_pocket.loc["lost", "qed"])
    q = [qed(crystal), *map(qed, others)]
    assert per_pocket.loc["three", "qed"] == pytest.approx(np.mean(q))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_pockets"] == 3 and metrics["n_pockets_evaluated"] == 2 and metrics["n_pockets_failed"] == 1
    assert "missing.sdf" in metrics["failed"]["lost"] and metrics["n_molecules"] == 4
    mean_of_means = (q[0] + np.mean(q)) / 2
    assert metrics["qed_mean"] == pytest.approx(mean_of_means) and metrics["qed_median"] == pytest.approx(mean_of_means)
    assert abs(metrics["qed_mean"] - np.mean([q[0], *q])) > 1e-3  # not the pooled mean over molecules
    assert metrics["ref_qed_mean"] == pytest.approx(q[0]) and metrics["strain_mean"] > 0
    assert metrics["uniqueness_mean"] == pytest.approx(1.0)
    assert metrics["n_strain_failed"] == 0 and metrics["strain_failed_mean"] == 0.0  # a count and a share
    molecules = pd.read_csv(out / "molecules.csv")
    assert molecules["pocket"].tolist() == ["crystal"] * 2 + ["three"] * 4  # reference ligand last per pocket
    assert molecules["is_reference"].sum() == 2 and molecules["strain"].notna().all()
    md = (out / "metrics.md").read_text()
    assert "mean over pockets" in md and "lost:" in md


def test_batch_bad_input_is_one_line(tmp_path):
    one_line_error(cli("evaluate.py", "--batch", tmp_path / "nope.csv"), "nope.csv")
    (tmp_path / "cols.csv").write_text(f"protein,ligand\n{PROTEIN},{LIGAND}\n")
    one_line_error(cli("evaluate.py", "--batch", tmp_path / "cols.csv"), "cols.csv", "generated")
    (tmp_path / "gone.csv").write_text(f"protein,ref_ligand,generated\n{PROTEIN},{LIGAND},missing.sdf\n")
    res = cli("evaluate.py", "--batch", tmp_path / "gone.csv", "--out", tmp_path / "r")  # reports written, then an error
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "missing.sdf: no such file" in res.stderr and res.stderr.splitlines()[-1].startswith("error: ")
    assert "none of the 1 pockets" in res.stderr.splitlines()[-1]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["n_pockets_failed"] == 1
    one_line_error(cli("evaluate.py", LIGAND, "--batch", tmp_path / "gone.csv"), "not both")


def test_batch_with_vina_and_posebusters(tmp_path):
    """Two pockets in two worker processes with Vina and PoseBusters (~15 s on 2 CPU cores)."""
    csv = tmp_path / "pockets.csv"
    csv.write_text(f"protein,ref_ligand,generated\n{PROTEIN},{LIGAND},{LIGAND}\n{PROTEIN},{LIGAND},{LIGAND}\n")
    res = cli("evaluate.py", "--batch", csv, "--vina", "score", "--posebusters", "dock_fast", "--workers", 2,
              "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    per_pocket = pd.read_csv(tmp_path / "report" / "per_pocket.csv")
    assert (per_pocket["vina_score"] < -5).all() and (per_pocket["vina_failed"] == 0).all()
    assert per_pocket["vina_score"].tolist() == pytest.approx(per_pocket["ref_vina_score"].tolist(), abs=1e-3)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["pb_valid_mean"] == 1.0 and metrics["n_vina_failed"] == 0 and metrics["vina_failed_mean"] == 0.0


def test_benchmark_metrics_times_every_chemistry_metric(tmp_path):
    gen = write_sdf(tmp_path / "gen.sdf", [embedded(s, 3) for s in SMILES])
    train = write_sdf(tmp_path / "train.sdf", [embedded(s, 7) for s in SMILES])
    res = cli("benchmark_metrics.py", "--sdf", gen, "--train_sdf", train, "--out", tmp_path / "t.json")
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads((tmp_path / "t.json").read_text())
    names = [r["metric"] for r in result["timings"]]
    assert result["n_valid"] == len(SMILES) and "QED" in names and "strain (local MMFF94)" in names
    assert "geometry Wasserstein distances" in names and all(r["seconds"] >= 0 for r in result["timings"])
    one_line_error(cli("benchmark_metrics.py", "--sdf", gen, "--pocket", PROTEIN), "--ref_ligand")


def _with_broken_records(path: Path, mols, broken: set[int]) -> Path:
    """An SDF of ``mols`` where the records numbered in ``broken`` (1-based) have no counts line."""
    blocks = [Chem.MolToMolBlock(m) for m in mols]
    blocks = ["broken\n\n\nnot a counts line\nM  END\n" if k + 1 in broken else b for k, b in enumerate(blocks)]
    path.write_text("".join(b + "$$$$\n" for b in blocks))
    return path


def test_unparsable_records_are_counted_named_and_skipped(tmp_path):
    gen = _with_broken_records(tmp_path / "gen.sdf", [embedded(s, 0) for s in SMILES], {2, 4})
    res = cli("evaluate.py", gen, "--out", tmp_path / "r")
    assert res.returncode == 0, res.stderr[-2000:]
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert warnings == [f"warning: {gen}: 2 of 5 records could not be parsed (records 2, 4); evaluated the other 3"]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["n_molecules"] == 3 and metrics["unparsable_records"] == [2, 4]
    assert pd.read_csv(tmp_path / "r" / "molecules.csv")["record"].tolist() == [1, 3, 5]
    assert "records 2, 4" in (tmp_path / "r" / "metrics.md").read_text()
    none = _with_broken_records(tmp_path / "none.sdf", [embedded("CCO", 0)] * 2, {1, 2})
    one_line_error(cli("evaluate.py", none, "--out", tmp_path / "r2"), "none.sdf", "none of its 2 records")


def test_batch_skips_unparsable_records_per_pocket(tmp_path):
    _with_broken_records(tmp_path / "gen.sdf", [Chem.MolFromMolFile(str(LIGAND))] * 3, {2})
    csv = tmp_path / "pockets.csv"
    csv.write_text(f"name,protein,ref_ligand,generated\nsite,{PROTEIN},{LIGAND},gen.sdf\n")
    res = cli("evaluate.py", "--batch", csv, "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "warning: pocket site: " in res.stderr and "1 of 3 records could not be parsed (record 2)" in res.stderr
    per_pocket = pd.read_csv(tmp_path / "report" / "per_pocket.csv")
    assert per_pocket["n_molecules"].tolist() == [2] and "(record 2)" in per_pocket["skipped_records"][0]
    assert pd.read_csv(tmp_path / "report" / "molecules.csv")["record"].tolist()[:2] == [1, 3]


def test_properties_ignore_explicit_hydrogens():
    from moldiff.chem.report import molecule_table

    heavy = embedded("CC(=O)Nc1ccc(O)cc1", 0)
    table = molecule_table([heavy, Chem.AddHs(heavy, addCoords=True)])
    numbers = table[["qed", "sa", "logp", "lipinski"]].to_numpy(float)
    np.testing.assert_allclose(numbers[0], numbers[1])
    assert table["ring_sizes"][0] == table["ring_sizes"][1] and table["smiles"][0] == table["smiles"][1]
    assert table["sa"][0] < 2  # paracetamol is easy to make (7.1 when its hydrogens counted)


def test_summary_counts_fragments_clashes_diversity_and_rings():
    from moldiff.chem.batch import ring_shares
    from moldiff.chem.report import molecule_table, summarize

    crystal = Chem.MolFromMolFile(str(LIGAND))
    pos = crystal.GetConformer().GetPositions()
    two = embedded("CCO.CC", 0)  # sanitizes, but two fragments: not valid
    table = molecule_table([crystal, embedded(SMILES[1], 0), two], reference=crystal, pocket_pos=pos[:1] + [0, 0, 1.0])
    assert table["connected"].tolist() == [True, True, False, True] and table["sanitizes"].all()
    assert table["clash"].tolist()[:2] == [True, False]  # a pocket atom 1 A from the crystal ligand's first atom
    s = summarize(table)
    assert s["validity"] == pytest.approx(2 / 3) and s["connected"] == pytest.approx(2 / 3) and s["sanitizes"] == 1.0
    assert s["clash_rate"] == pytest.approx(1 / 3) and s["ref_clash"] == 1.0 and 0.0 < s["diversity"] < 1.0
    rings = ring_shares(table)
    assert rings["generated_valid"]["ring_6"] == 1.0 and rings["reference"]["ring_6"] == 1.0


def test_summary_table_gives_the_reference_clash():
    """The clash row of a one-pocket summary shows the reference ligand's clash beside the share."""
    from moldiff.commands.evaluate import _summary_table

    table = _summary_table({"clash_rate": 0.25, "ref_clash": 1.0, "vina_failed": 0.5, "rings": {"ring_3": 0.0}})
    assert "| clash with the protein (all molecules) | 25.0 % | | 100 % |" in table
    assert "| Vina could not score | 50.0 % | |  |" in table
