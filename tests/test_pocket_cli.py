"""Pocket models end to end on the demo complex: prepare a cache, train a tiny model, sample
ligands in the pocket with the CLI; and one-line errors for bad pocket input."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from clitools import ROOT, cli, one_line_error

PROTEIN, LIGAND = ROOT / "data/examples/1ia1_protein.pdb", ROOT / "data/examples/1ia1_ligand.sdf"


@pytest.fixture(scope="module")
def pocket_model(tmp_path_factory):
    """A tiny pocket model trained for 4 steps on copies of the demo complex."""
    tmp = tmp_path_factory.mktemp("pocket")
    index = tmp / "index.csv"
    with index.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["protein", "ligand", "name", "split", "protein_id"])
        for k, split in enumerate(["train"] * 4 + ["val"] * 2):
            w.writerow([PROTEIN, LIGAND, f"copy{k}", split, f"p{k}"])
    cache = tmp / "demo.npz"
    res = cli("prepare_complexes.py", "--source", "folder", "--index", index, "--out", cache, "--workers", 1)
    assert res.returncode == 0, res.stderr[-2000:]
    res = cli("train.py", "--config", "configs/tiny_pocket.yaml", f"data.path={cache}", f"train.out_dir={tmp / 'run'}")
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "run" / "model.pt"


def test_sample_in_demo_pocket(pocket_model, tmp_path):
    out = tmp_path / "ligands.sdf"
    res = cli("sample.py", "--model", pocket_model, "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--n_samples", 3,
              "--n_steps", 4, "--num_atoms", "8-10", "--device", "cpu", "--outfile", out)
    assert res.returncode == 0, res.stderr[-2000:]
    mols = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    assert len(mols) == 3 and all(8 <= m.GetNumAtoms() <= 10 for m in mols)
    assert all(m.GetProp("n_steps") == "4" and m.HasProp("moldiff_valid") for m in mols)
    ref = Chem.MolFromMolFile(str(LIGAND)).GetConformer().GetPositions().mean(axis=0)
    for m in mols:  # written in the protein's frame, around the pocket
        assert np.linalg.norm(m.GetConformer().GetPositions().mean(axis=0) - ref) < 12.0
        assert {a.GetSymbol() for a in m.GetAtoms()} <= {"C", "N", "O", "F", "P", "S", "Cl", "Br", "I"}


def test_ligand_only_flag_is_taken_before_pocket_dropout(pocket_model, monkeypatch):
    """With every pocket dropped, the complexes still carry flag 0: the null mode guidance uses is
    learned from the complexes' own ligands, apart from ligand-only training molecules."""
    import moldiff.training.system as system_module
    from moldiff.config import load_config
    from moldiff.datasets.molecules import MoleculeDataModule
    from moldiff.graph import Context
    from moldiff.training.run import dataset_statistics, load_dataset
    from moldiff.training.system import DiffusionSystem

    cfg = load_config("configs/tiny_pocket.yaml", [f"data.path={pocket_model.parent.parent / 'demo.npz'}",
                                                   "data.flag_ligand_only=true"])
    arrays, vocab = load_dataset(cfg.data, False)
    stats = dataset_statistics(arrays, cfg.data)
    system = DiffusionSystem(cfg.to_dict(), vocab.to_dict(), stats["marginals"], stats["size_hist"],
                             stats["size_model"], stats["conditions"])
    assert system.net.denoiser.cond_in == 1
    batch = next(iter(MoleculeDataModule(arrays, vocab, 3, pocket_representation="full").train_dataloader()))
    real_clean_state = system_module.clean_state

    def without_first_pocket(*args):  # graph 0 becomes a ligand-only molecule (as MOSES ones are)
        state, topo = real_clean_state(*args)
        keep = topo.context.batch != 0
        topo.context = Context(topo.context.pos[keep], topo.context.h[keep], topo.context.batch[keep])
        return state, topo

    monkeypatch.setattr(system_module, "clean_state", without_first_pocket)
    seen = {}
    monkeypatch.setattr(system.process, "loss", lambda model, state, topo, generator=None: seen.update(topo=topo))
    system._losses(batch, system.net.denoiser, dropout=0.0)
    assert set(seen["topo"].context.batch.tolist()) == {1, 2}
    assert seen["topo"].cond.flatten().tolist() == [1.0, 0.0, 0.0]
    system._losses(batch, system.net.denoiser, dropout=1.0)  # every pocket dropped
    assert seen["topo"].context.pos.shape[0] == 0
    assert seen["topo"].cond.flatten().tolist() == [1.0, 0.0, 0.0]


def test_flagged_model_warm_starts_from_an_unflagged_one(pocket_model, tmp_path):
    """The flag is a new input column that starts at zero and every other weight is copied, so the
    warm-started model samples exactly what its source does (with guidance too)."""
    cache = pocket_model.parent.parent / "demo.npz"
    res = cli("train.py", "--config", "configs/tiny_pocket.yaml", f"data.path={cache}", f"train.out_dir={tmp_path / 'run'}",
              "data.flag_ligand_only=true", "train.cond_dropout=0.5", f"train.init_weights={pocket_model}",
              "train.max_steps=0")
    assert res.returncode == 0, res.stderr[-3000:]
    outs = []
    for model in (pocket_model, tmp_path / "run" / "model.pt"):
        out = tmp_path / f"{len(outs)}.sdf"
        res = cli("sample.py", "--model", model, "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--n_samples", 2,
                  "--n_steps", 3, "--num_atoms", 9, "--device", "cpu", "--outfile", out, "--guidance", 1.0)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append([m.GetConformer().GetPositions() for m in Chem.SDMolSupplier(str(out), sanitize=False)])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, atol=1e-4)
    import torch

    from moldiff.api import load_model

    src, grown = load_model(pocket_model).denoiser.state_dict(), load_model(tmp_path / "run" / "model.pt").denoiser.state_dict()
    w_src, w_new = src["embed_h.0.weight"], grown["embed_h.0.weight"]
    assert w_new.shape[1] == w_src.shape[1] + 1 and not w_new[:, -1].any()  # the flag column starts at zero
    for k in src:
        torch.testing.assert_close(grown[k][:, :w_src.shape[1]] if k == "embed_h.0.weight" else grown[k], src[k],
                                   rtol=0, atol=0, msg=k)


@pytest.mark.parametrize("args, fragments", [
    (["--pocket", "missing.pdb", "--ref_ligand", LIGAND], ["missing.pdb"]),
    (["--pocket", LIGAND, "--ref_ligand", LIGAND], ["1ia1_ligand.sdf"]),
    (["--pocket", PROTEIN, "--resi_list", "Z:999"], ["Z:999"]),
    (["--pocket", PROTEIN, "--center", "500", "500", "500", "--radius", "5"], ["1ia1_protein.pdb"]),
    (["--pocket", PROTEIN], ["exactly one"]),
    (["--ref_ligand", LIGAND], ["--pocket"]),
    ([], ["is a pocket model"]),
])
def test_bad_pocket_input_is_one_line(pocket_model, tmp_path, args, fragments):
    out = tmp_path / "x.sdf"
    out.write_text("keep me")
    res = cli("sample.py", "--model", pocket_model, *args, "--n_samples", 1, "--n_steps", 2, "--device", "cpu",
              "--outfile", out)
    one_line_error(res, *fragments)
    assert out.read_text() == "keep me"


FRAGMENTS = ROOT / "data/examples"


@pytest.mark.parametrize("fix_args, num_atoms, n_fixed", [
    (["--fix_atoms", FRAGMENTS / "1ia1_fragment_ring.sdf"], "14", 10),
    (["--fix_atoms", FRAGMENTS / "1ia1_fragment_diaminoquinazoline.sdf", FRAGMENTS / "1ia1_fragment_phenyl.sdf"],
     "19-20", 18),
    (["--fix_atoms", LIGAND, "--fix_smarts", "c1ccccc1"], "12", 6),
    (["--fix_atoms", LIGAND, "--fix_indices", "0,1,2,3", "--resamplings", "2", "--jump_length", "2"], "9", 4),
])
def test_inpainting_in_pocket_keeps_fixed_atoms(pocket_model, tmp_path, fix_args, num_atoms, n_fixed):
    from moldiff.api import load_fixed_atoms, load_model
    from moldiff.chem.fragments import keeps_fixed_atoms

    out = tmp_path / "ligands.sdf"
    res = cli("sample.py", "--model", pocket_model, "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--n_samples", 3,
              "--n_steps", 4, "--num_atoms", num_atoms, "--device", "cpu", "--outfile", out, *fix_args)
    assert res.returncode == 0, res.stderr[-2000:]
    files = [a for a in fix_args[1:] if isinstance(a, Path)]
    smarts = fix_args[fix_args.index("--fix_smarts") + 1] if "--fix_smarts" in fix_args else None
    indices = [0, 1, 2, 3] if "--fix_indices" in fix_args else None
    fixed = load_fixed_atoms(load_model(pocket_model), files, smarts, indices)
    assert len(fixed.elements) == n_fixed
    mols = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    assert len(mols) == 3 and all(keeps_fixed_atoms(m, fixed) for m in mols)


def test_bad_fixed_atoms_are_one_line(pocket_model, tmp_path):
    from rdkit.Chem import AllChem

    base = ["--model", pocket_model, "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--n_samples", 1, "--n_steps", 2,
            "--device", "cpu", "--outfile", tmp_path / "x.sdf"]
    ring = FRAGMENTS / "1ia1_fragment_ring.sdf"
    silane = Chem.AddHs(Chem.MolFromSmiles("C[Si](C)(C)C"))
    AllChem.EmbedMolecule(silane, randomSeed=0)
    centre = Chem.MolFromMolFile(str(LIGAND)).GetConformer().GetPositions().mean(axis=0)
    far = Chem.Mol(Chem.MolFromMolFile(str(ring)))
    for mol, shift in ((silane, centre), (far, np.array([40.0, 0.0, 0.0]))):
        conf = mol.GetConformer()
        for i in range(mol.GetNumAtoms()):
            p = conf.GetAtomPosition(i)
            conf.SetAtomPosition(i, (p.x + shift[0], p.y + shift[1], p.z + shift[2]))
    Chem.MolToMolFile(silane, str(tmp_path / "silane.sdf"))
    Chem.MolToMolFile(far, str(tmp_path / "far.sdf"))
    one_line_error(cli("sample.py", *base, "--fix_atoms", tmp_path / "silane.sdf"), "silane.sdf", "Si")
    one_line_error(cli("sample.py", *base, "--fix_atoms", ring, "--num_atoms", 8), "must exceed the 10 fixed atoms")
    one_line_error(cli("sample.py", *base, "--fix_atoms", tmp_path / "far.sdf"), "outside the pocket")
    one_line_error(cli("sample.py", *base, "--fix_atoms", LIGAND, "--fix_smarts", "[Br]"), "1ia1_ligand.sdf",
                   "matches no atoms")
    one_line_error(cli("sample.py", *base, "--fix_atoms", tmp_path / "missing.sdf"), "missing.sdf")
    one_line_error(cli("sample.py", *base, "--fix_indices", "1,2"), "--fix_atoms")


def test_benchmark_pockets(pocket_model, tmp_path):
    import json

    cache = pocket_model.parent.parent / "demo.npz"
    out = tmp_path / "bench"
    res = cli("benchmark_pockets.py", "--cache", cache, "--split", "val", "--model", pocket_model, "--n_samples", 3,
              "--n_steps", 3, "--device", "cpu", "--out", out)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((out / "results.json").read_text())
    assert summary["n_pockets"] == 2 and summary["n_molecules"] == 6
    assert 0.0 <= summary["clash_rate_mean"] <= 1.0 and summary["ref_clash_mean"] == 0.0  # crystal ligand: no clash
    assert summary["ref_qed_mean"] > 0 and (out / "properties.png").exists() and (out / "per_pocket.csv").exists()
    assert len(json.loads((out / "timing.json").read_text())["seconds_per_pocket"]) == 2
    import pandas as pd

    molecules = pd.read_csv(out / "molecules.csv")  # one row per molecule, pointing into samples.npz
    generated = molecules[~molecules["is_reference"]]
    assert sorted(generated["sample"]) == list(range(6)) and (molecules[molecules["is_reference"]]["sample"] == -1).all()
    with np.load(out / "samples.npz") as data:
        assert (data["complex_index"][generated["sample"].to_numpy()] == generated["complex_index"].to_numpy()).all()
    one_line_error(cli("benchmark_pockets.py", "--cache", cache, "--eval_only", "--out", out, "--dock_max", 1),
                   "--dock_max 1", "--vina dock")


def _benchmark_module():
    from moldiff.commands import benchmark_pockets

    return benchmark_pockets


def test_benchmark_pockets_resumes_a_killed_run(pocket_model, tmp_path, monkeypatch):
    """Killed after its first pocket, a rerun resumes from the checkpoint and ends with exactly
    the molecules of an uninterrupted run; a rerun with other settings starts over."""
    import sys

    from moldiff.model import MolDiffModel

    bench = _benchmark_module()
    monkeypatch.setattr(bench, "SAVE_EVERY_S", -1.0)  # checkpoint after every pocket
    cache = pocket_model.parent.parent / "demo.npz"

    def main(out, *extra):
        monkeypatch.setattr(sys, "argv", ["benchmark_pockets.py", "--cache", str(cache), "--split", "val", "--model",
                                          str(pocket_model), "--n_samples", "3", "--n_steps", "3", "--device", "cpu",
                                          "--skip_eval", "--out", str(out), *extra])
        bench.main()

    main(tmp_path / "whole")
    original, calls = MolDiffModel.sample, []

    def dies_on_the_second_pocket(self, sizes, *args, **kwargs):
        calls.append(len(sizes))
        if len(calls) == 3:  # the warm-up call, the first pocket, then the kill
            raise KeyboardInterrupt
        return original(self, sizes, *args, **kwargs)

    monkeypatch.setattr(MolDiffModel, "sample", dies_on_the_second_pocket)
    with pytest.raises(KeyboardInterrupt):
        main(tmp_path / "killed")
    assert not (tmp_path / "killed" / "samples.npz").exists()
    assert json.loads((tmp_path / "killed" / "progress.json").read_text())["done"] != []
    resumed = []

    def counted(self, *args, **kwargs):
        resumed.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MolDiffModel, "sample", counted)
    main(tmp_path / "killed")
    assert len(resumed) == 2  # the warm-up and the one pocket left
    with np.load(tmp_path / "whole" / "samples.npz") as a, np.load(tmp_path / "killed" / "samples.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    assert not (tmp_path / "killed" / "progress.json").exists()
    assert len(json.loads((tmp_path / "killed" / "timing.json").read_text())["seconds_per_pocket"]) == 2
    calls.clear()
    monkeypatch.setattr(MolDiffModel, "sample", dies_on_the_second_pocket)
    with pytest.raises(KeyboardInterrupt):
        main(tmp_path / "other")
    resumed.clear()
    monkeypatch.setattr(MolDiffModel, "sample", counted)
    main(tmp_path / "other", "--seed", "5")  # other settings: both pockets again
    assert len(resumed) == 3


def test_relax_keeps_every_molecule_and_reports_movement(pocket_model, tmp_path):
    from moldiff.api import load_pocket, relax
    from moldiff.chem.build import build_molecule, sanitize_or_none

    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND)
    ref = Chem.MolFromMolFile(str(LIGAND))
    good = sanitize_or_none(build_molecule([a.GetSymbol() for a in ref.GetAtoms()], ref.GetConformer().GetPositions(),
                                           [0] * ref.GetNumAtoms(), None, explicit_h=False))[0]
    bad = Chem.Mol(good)
    good.SetIntProp("moldiff_valid", 1)
    good.SetProp("seed", "3")
    bad.SetIntProp("moldiff_valid", 0)
    out = relax([good, bad], pocket, progress=False)
    assert len(out) == 2 and out[1] is bad and not bad.HasProp("relax_rmsd")
    assert out[0].GetProp("seed") == "3" and out[0].GetIntProp("moldiff_valid") == 1
    assert 0.0 <= out[0].GetDoubleProp("relax_rmsd") < 2.0  # a crystal pose barely moves


def test_evaluate_in_pocket_with_vina_and_posebusters(tmp_path):
    import pandas as pd

    ref = Chem.MolFromMolFile(str(LIGAND))
    moved = Chem.Mol(ref)
    conf = moved.GetConformer()
    for i in range(moved.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + 3.0, p.y, p.z))
    sdf = tmp_path / "gen.sdf"
    with Chem.SDWriter(str(sdf)) as w:
        for m in (ref, moved):
            w.write(m)
    res = cli("evaluate.py", sdf, "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--vina", "score", "--posebusters",
              "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    table = pd.read_csv(tmp_path / "report" / "molecules.csv")
    assert len(table) == 3 and table["is_reference"].tolist() == [False, False, True]
    assert table.loc[0, "vina_score"] == pytest.approx(table.loc[2, "vina_score"], abs=1e-3)  # same pose
    assert table.loc[1, "vina_score"] > table.loc[0, "vina_score"] + 5  # pushed into the protein
    assert table["pb_valid"].tolist()[:2] == [True, False]
    for name in ("metrics.json", "metrics.md", "properties.png", "molecules.png"):
        assert (tmp_path / "report" / name).exists()
    one_line_error(cli("evaluate.py", sdf, "--pocket", PROTEIN, "--vina", "score", "--out", tmp_path / "r2"),
                   "reference ligand")


def test_benchmark_compares_sampler_settings_on_pockets(pocket_model, tmp_path):
    import json

    cache = pocket_model.parent.parent / "demo.npz"
    out = tmp_path / "cmp"
    res = cli("benchmark.py", "--task", "pocket", "--settings", "ancestral@3", "dpm2m:spacing=logsnr@2/bf16",
              "--cache", cache, "--split", "val", "--model", pocket_model, "--n_samples", 3, "--device", "cpu",
              "--out", out)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((out / "comparison.json").read_text())
    assert [(r["sampler"], r["engine"], r["nfe"]) for r in rows] == [("ancestral", "fp32", 3),
                                                                      ("dpm2m:spacing=logsnr", "bf16", 2)]
    assert all(r["n_pockets"] == 2 and 0.0 <= r["validity_mean"] <= 1.0 and r["molecules_per_s"] > 0 for r in rows)
    timing = json.loads((out / "dpm2m_spacing_logsnr_2_bf16" / "timing.json").read_text())
    assert (timing["sampler"], timing["n_steps"], timing["engine"]) == ("dpm2m:spacing=logsnr", 2, "bf16")
    assert "| dpm2m:spacing=logsnr | bf16 | 2 |" in res.stdout
    one_line_error(cli("benchmark.py", "--task", "pocket", "--settings", "ddim@0", "--cache", cache), "SAMPLER@STEPS")


def _index(folder: Path) -> list[dict]:
    with (folder / "index.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _sizes(sdf: Path) -> list[int]:
    return [m.GetNumAtoms() for m in Chem.SDMolSupplier(str(sdf), sanitize=False, removeHs=False)]


def test_many_pockets_one_sdf_each_resume_and_two_processes(pocket_model, tmp_path):
    table = tmp_path / "pockets.csv"
    table.write_text("protein,ref_ligand,resi_list,center,radius,name,n_samples\n"
                     f"{PROTEIN},{LIGAND},,,,by_ligand,3\n"
                     f"{PROTEIN},,,19.0 5.0 2.0,9,by_center,2\n"
                     f"missing.pdb,{LIGAND},,,,broken,2\n")
    common = ["--pockets", table, "--model", pocket_model, "--n_steps", 2, "--device", "cpu", "--seed", 5]
    out = tmp_path / "screen"
    res = cli("sample.py", *common, "--out_dir", out)
    assert res.returncode == 0, res.stderr[-2000:]  # one bad pocket does not stop the others
    rows = _index(out)
    assert [(r["name"], r["status"]) for r in rows] == [("by_ligand", "ok"), ("by_center", "ok"), ("broken", "error")]
    assert "missing.pdb" in rows[2]["error"] and "2 of 3 pockets" in res.stdout
    assert [int(r["seed"]) for r in rows[:2]] == [5, 6]
    assert len(_sizes(out / "by_ligand.sdf")) == 3 and len(_sizes(out / "by_center.sdf")) == 2

    stamp = (out / "by_ligand.sdf").stat().st_mtime_ns
    (out / "by_center.sdf").unlink()  # as if interrupted before this pocket finished
    res = cli("sample.py", *common, "--out_dir", out)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "by_ligand.sdf").stat().st_mtime_ns == stamp  # finished pockets are not redone
    assert [r["status"] for r in _index(out)] == ["ok", "ok", "error"]

    two = tmp_path / "screen2"
    res = cli("sample.py", *common, "--out_dir", two, "--devices", 2)
    assert res.returncode == 0, res.stderr[-2000:]
    for name in ("by_ligand", "by_center"):  # seeds follow the row, not the worker: same sizes
        assert _sizes(two / f"{name}.sdf") == _sizes(out / f"{name}.sdf")

    one_line_error(cli("sample.py", "--pockets", table, "--device", "cpu"), "--out_dir")
    bad = tmp_path / "bad.csv"
    bad.write_text("ligand\nx.sdf\n")
    one_line_error(cli("sample.py", "--pockets", bad, "--out_dir", out, "--device", "cpu"), "bad.csv", "protein")
    bad.write_text(f"protein,ref_ligand,center,radius\n{PROTEIN},{LIGAND},1 2 3,5\n")
    one_line_error(cli("sample.py", "--pockets", bad, "--out_dir", out, "--device", "cpu"), "row 1", "exactly one")


def test_screening_index_feeds_evaluate_batch(pocket_model, tmp_path):
    """The index.csv of sample.py --pockets is evaluate.py --batch's input as written: sampled
    pockets are evaluated (with their reference ligand where the pocket had one), a pocket that
    failed to sample is reported with its error."""
    import pandas as pd

    table = tmp_path / "pockets.csv"
    table.write_text("protein,ref_ligand,center,radius,name,n_samples\n"
                     f"{PROTEIN},{LIGAND},,,by_ligand,3\n"
                     f"{PROTEIN},,19.0 5.0 2.0,9,by_center,2\n"
                     f"missing.pdb,{LIGAND},,,broken,2\n")
    out = tmp_path / "screen"
    res = cli("sample.py", "--pockets", table, "--model", pocket_model, "--n_steps", 2, "--device", "cpu",
              "--out_dir", out)
    assert res.returncode == 0, res.stderr[-2000:]
    res = cli("evaluate.py", "--batch", out / "index.csv", "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    per_pocket = pd.read_csv(tmp_path / "report" / "per_pocket.csv").set_index("pocket")
    assert per_pocket["n_molecules"].tolist()[:2] == [3, 2] and "missing.pdb" in per_pocket.loc["broken", "error"]
    assert per_pocket.loc["by_ligand", "ref_clash"] == 0.0 and np.isnan(per_pocket.loc["by_center", "ref_qed"])
    assert 0.0 <= per_pocket.loc["by_center", "clash_rate"] <= 1.0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_pockets_evaluated"] == 2 and metrics["n_pockets_failed"] == 1 and "rings" in metrics


def test_benchmark_receptors_are_found_by_complex_name(tmp_path):
    """Full receptors for Vina: CrossDocked ``<target>/<pdb>_rec_<ligand>`` and FEP
    ``<subset>/<system>/<ligand>``, whose ligand names may hold slashes of their own."""
    bench = _benchmark_module()
    (tmp_path / "merck").mkdir()
    (tmp_path / "merck" / "shp2_protein.pdb").write_text("")
    (tmp_path / "T1").mkdir()
    (tmp_path / "T1" / "1abc_A_rec.pdb").write_text("")
    assert bench._receptor(str(tmp_path), "merck/shp2/0:SHP099-1/Example 7") == tmp_path / "merck" / "shp2_protein.pdb"
    assert bench._receptor(str(tmp_path), "T1/1abc_A_rec_2xyz_lig_tt_docked_0") == tmp_path / "T1" / "1abc_A_rec.pdb"
    with pytest.raises(FileNotFoundError, match="receptor of merck/cdk8"):
        bench._receptor(str(tmp_path), "merck/cdk8/lig1")


def test_benchmark_pockets_reports_each_posebusters_check():
    """The crystal ligand passes every check; moved into the middle of the protein it keeps its
    geometry but fails the checks against the protein."""
    import pandas as pd

    from moldiff.chem.report import PB_CHECK, molecule_table, summarize

    bench = _benchmark_module()
    ligand = Chem.MolFromMolFile(str(LIGAND))
    protein = Chem.MolFromPDBFile(str(PROTEIN), sanitize=False)
    inside = Chem.Mol(ligand)
    conf = inside.GetConformer()
    shift = protein.GetConformer().GetPositions().mean(axis=0) - conf.GetPositions().mean(axis=0)
    for i in range(inside.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + shift[0], p.y + shift[1], p.z + shift[2]))
    row = summarize(molecule_table([ligand, inside], PROTEIN, ligand, posebusters="dock_fast"))
    assert row["pb_valid"] == 0.5 and row["ref_pb_valid"] == 1.0
    checks = {k[len(PB_CHECK):]: v for k, v in row.items() if k.startswith(PB_CHECK)}
    assert checks["bond_lengths"] == 1.0 and min(checks.values()) == 0.5  # only protein checks fail, for one of two
    rates = bench._check_pass_rates(pd.DataFrame([row, row | {k: 1.0 for k in row if k.startswith(PB_CHECK)}]))
    assert rates["bond_lengths"] == {"generated": 1.0, "reference": 1.0}
    worst = min(rates.values(), key=lambda r: r["generated"])
    assert worst == {"generated": 0.75, "reference": 1.0}


def test_refit_sizes_changes_only_the_size_model(pocket_model, tmp_path):
    """scripts/refit_sizes.py: the size model is fitted on the given caches' training complexes as
    training fits it, the size guard and every weight stay; a model without pockets is refused."""
    import torch

    from moldiff.api import load_model
    from moldiff.datasets.complexes import load_complexes
    from moldiff.datasets.pockets import complex_statistics
    from moldiff.pocket import PocketSizeModel

    cache = pocket_model.parent.parent / "demo.npz"
    base = load_model(str(pocket_model))
    base.size_model = PocketSizeModel(base.size_model["bin_edges"], [[0.0] * 30 + [1.0]],  # a size model drawing 30
                                      base.size_model["max_pocket_atoms"] + 7).to_dict()
    base.save(tmp_path / "moved.pt")
    out = tmp_path / "refit.pt"
    res = cli("refit_sizes.py", "--model", tmp_path / "moved.pt", "--cache", cache, "--out", out)
    assert res.returncode == 0, res.stderr[-2000:]
    refit = load_model(str(out))
    expected = complex_statistics(load_complexes(cache), "full")["size_model"]
    assert refit.size_model["hists"] == expected["hists"] and refit.size_model["bin_edges"] == expected["bin_edges"]
    assert refit.size_model["max_pocket_atoms"] == base.size_model["max_pocket_atoms"]
    assert all(torch.equal(a, b) for a, b in zip(refit.denoiser.state_dict().values(), base.denoiser.state_dict().values()))
    one_line_error(cli("refit_sizes.py", "--model", "qm9", "--cache", cache, "--out", tmp_path / "x.pt"),
                   "qm9: not a pocket model")
    assert not (tmp_path / "x.pt").exists()
