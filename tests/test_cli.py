"""Command-line smoke tests: prepare -> train -> sample -> evaluate, and one-line errors on bad input."""
import json
import re

import pytest
from rdkit import Chem

from clitools import cli, one_line_error


@pytest.fixture(scope="module")
def trained(small_qm9, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    res = cli("train.py", "--config", "configs/tiny.yaml", f"data.path={small_qm9}", f"train.out_dir={out}",
              "train.max_steps=4", "data.limit_train=16")
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "model.pt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    return out


def test_sample_and_evaluate(trained, tmp_path):
    sdf = tmp_path / "out" / "samples.sdf"
    res = cli("sample.py", "--model", trained / "model.pt", "--n_samples", 5, "--n_steps", 4, "--seed", 1,
              "--outfile", sdf, "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    mols = [m for m in Chem.SDMolSupplier(str(sdf), sanitize=False, removeHs=False)]
    assert len(mols) == 5 and all(m.HasProp("moldiff_valid") for m in mols)
    assert all(m.GetNumConformers() == 1 for m in mols)
    res = cli("evaluate.py", sdf, "--out", tmp_path / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_molecules"] == 5 and 0.0 <= metrics["atom_stable"] <= 1.0
    assert "| validity |" in (tmp_path / "report" / "metrics.md").read_text()


def test_grow_around_fixed_atoms_unconditional(trained, tmp_path):
    """QM9 models keep hydrogens: every atom of the fragment SDF is held, in the file's frame."""
    from rdkit.Chem import AllChem

    from moldiff.chem.fragments import fixed_arrays, keeps_fixed_atoms
    from moldiff.vocab import QM9_VOCAB

    frag = Chem.AddHs(Chem.MolFromSmiles("CO"))
    AllChem.EmbedMolecule(frag, randomSeed=0)
    frag.GetConformer().SetAtomPosition(0, (20.0, -7.5, 3.0))  # far from the origin: frame kept
    Chem.MolToMolFile(frag, str(tmp_path / "frag.sdf"))
    sdf = tmp_path / "grown.sdf"
    res = cli("sample.py", "--model", trained / "model.pt", "--n_samples", 4, "--n_steps", 4, "--num_atoms", 9,
              "--fix_atoms", tmp_path / "frag.sdf", "--resamplings", 2, "--jump_length", 2, "--outfile", sdf,
              "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    fixed = fixed_arrays(frag, range(frag.GetNumAtoms()), QM9_VOCAB)
    mols = list(Chem.SDMolSupplier(str(sdf), sanitize=False, removeHs=False))
    assert len(mols) == 4 and all(m.GetNumAtoms() == 9 and keeps_fixed_atoms(m, fixed) for m in mols)
    assert all(m.GetProp("fixed_atoms") == "6" and m.GetProp("resamplings") == "2" for m in mols)
    res = cli("sample.py", "--model", trained / "model.pt", "--n_samples", 1, "--num_atoms", 6,
              "--fix_atoms", tmp_path / "frag.sdf", "--outfile", sdf, "--device", "cpu")
    one_line_error(res, "must exceed the 6 fixed atoms")


def test_evaluate_draws_valid_molecules(tmp_path):
    from rdkit.Chem import AllChem

    from moldiff.chem.io import write_sdf

    mols = []
    for smi in ["CCO", "c1ccccc1O", "CC(=O)N"]:
        m = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(m, randomSeed=1)
        mols.append(m)
    write_sdf(mols, tmp_path / "ref.sdf")
    res = cli("evaluate.py", tmp_path / "ref.sdf", "--out", tmp_path / "r")
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["validity"] == 1.0 and metrics["uniqueness"] == 1.0
    png = (tmp_path / "r" / "molecules.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_seeded_sampling_is_reproducible_and_lightning_checkpoint_loads(trained, tmp_path):
    outs = []
    for name, model in [("a", trained / "model.pt"), ("b", trained / "model.pt"), ("c", trained / "checkpoints" / "last.ckpt")]:
        res = cli("sample.py", "--model", model, "--n_samples", 3, "--n_steps", 3, "--seed", 7,
                  "--outfile", tmp_path / f"{name}.sdf", "--device", "cpu")
        assert res.returncode == 0, res.stderr[-2000:]
        text = (tmp_path / f"{name}.sdf").read_text()
        assert f">  <model>\n{model}\n" in text
        outs.append(re.sub(r">  <model>\n[^\n]*\n", "", text))  # everything but the provenance is identical
    assert outs[0] == outs[1] == outs[2]


def test_few_step_sampler_from_the_cli_and_bad_sampler_string(trained, tmp_path):
    sdf = tmp_path / "fast.sdf"
    res = cli("sample.py", "--model", trained / "model.pt", "--n_samples", 3, "--n_steps", 3,
              "--sampler", "dpm2m:spacing=logsnr", "--engine", "bf16", "--outfile", sdf, "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    assert sdf.read_text().count(">  <sampler>\ndpm2m:spacing=logsnr\n") == 3
    assert sdf.read_text().count(">  <engine>\nbf16\n") == 3
    one_line_error(cli("sample.py", "--model", trained / "model.pt", "--sampler", "ddim:eta=3",
                       "--outfile", sdf, "--device", "cpu"), "eta must lie in [0, 1]")
    one_line_error(cli("sample.py", "--model", trained / "model.pt", "--engine", "fp16",
                       "--outfile", sdf, "--device", "cpu"), "engine precision")
    assert sdf.read_text().count("$$$$") == 3  # the earlier output survives


def test_missing_checkpoint(tmp_path):
    one_line_error(cli("sample.py", "--model", tmp_path / "nope.pt", "--outfile", tmp_path / "x.sdf"), "nope.pt")
    assert not (tmp_path / "x.sdf").exists()


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    one_line_error(cli("sample.py", "--model", bad, "--outfile", tmp_path / "x.sdf"), "bad.pt")


def test_unknown_config_key(tmp_path):
    res = cli("train.py", "--config", "configs/tiny.yaml", "train.learning_rate=1", f"train.out_dir={tmp_path}")
    one_line_error(res, "learning_rate")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  nmae: egnn\n")
    one_line_error(cli("train.py", "--config", cfg), "nmae", "c.yaml")
    one_line_error(cli("train.py", "--config", tmp_path / "missing.yaml"), "missing.yaml")


def test_missing_dataset_cache(tmp_path):
    res = cli("train.py", "--config", "configs/tiny.yaml", f"data.path={tmp_path}/none.npz", f"train.out_dir={tmp_path}")
    one_line_error(res, "none.npz", "moldiff prepare qm9")


def test_corrupt_and_missing_sdf(tmp_path):
    bad = tmp_path / "bad.sdf"
    bad.write_text("this is\nnot a molfile\n$$$$\n")
    one_line_error(cli("evaluate.py", bad), "bad.sdf")
    one_line_error(cli("evaluate.py", tmp_path / "none.sdf"), "none.sdf")


def test_existing_output_survives_failed_run(tmp_path):
    out = tmp_path / "keep.sdf"
    out.write_text("precious")
    one_line_error(cli("sample.py", "--model", tmp_path / "nope.pt", "--outfile", out))
    assert out.read_text() == "precious"


def test_evaluate_nll(trained, small_qm9):
    res = cli("evaluate_nll.py", "--model", trained / "model.pt", "--data", small_qm9, "--n", 6, "--T", 50,
              "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout[: res.stdout.rindex("}") + 1])
    assert summary["meta"]["n"] == 6
    parts = sum(summary[k]["mean"] for k in ("prior", "diffusion", "reconstruction"))
    assert abs(parts - summary["nll"]["mean"]) < 1e-6 * max(1.0, abs(parts))


def test_benchmark_qm9_samples_times_and_evaluates(trained, small_qm9, tmp_path):
    import numpy as np

    from moldiff.convert import unpack_arrays

    out = tmp_path / "bench"
    res = cli("benchmark_qm9.py", "--model", trained / "model.pt", "--n_samples", 6,
              "--settings", "ancestral@2", "ancestral@3", "ancestral@3/bf16",
              "--batch_size", 4, "--device", "cpu", "--data", small_qm9, "--out", out)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((out / "results.json").read_text())
    assert [r["steps"] for r in rows] == [2, 3, 3, None, 1000]  # ours x 3, QM9 test split, EDM
    assert [r["timing"]["engine"] for r in rows[:3]] == ["fp32", "fp32", "bf16"]
    assert all(r["n_molecules"] == 6 and r["timing"]["n_samples"] == 6 and r["timing"]["seconds"] > 0 for r in rows[:3])
    assert rows[3]["validity"] == 1.0  # the dataset's own molecules under the same code
    assert len(unpack_arrays(np.load(out / "samples_ancestral_3.npz"))) == 6
    assert (out / "quality_vs_steps.png").stat().st_size > 0 and "| moldiff, ancestral, 3 steps | 6 | 3 |" in res.stdout
    res = cli("benchmark_qm9.py", "--model", trained / "model.pt", "--n_samples", 6, "--settings", "ancestral@3",
              "--batch_size", 4, "--device", "cpu", "--bond_decoding", "valence", "--skip_eval", "--out", tmp_path / "val")
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "val" / "timing.json").read_text())["ancestral@3"]["bond_decoding"] == "valence"
    argmax, valence = (unpack_arrays(np.load(d / "samples_ancestral_3.npz")) for d in (out, tmp_path / "val"))
    for a, v in zip(argmax, valence, strict=True):  # same seed: same trajectory, only the last step's bonds differ
        assert a.elements == v.elements and np.array_equal(a.pos, v.pos)
    res = cli("benchmark_qm9.py", "--eval_only", "--steps", 7, "--data", small_qm9, "--out", out)
    one_line_error(res, "samples_ancestral_7.npz")
    one_line_error(cli("benchmark_qm9.py", "--settings", "dpm2m", "--out", out), "expected SAMPLER@STEPS")


def test_profile_sampling_reports_each_engine(trained, tmp_path):
    out = tmp_path / "prof"
    res = cli("profile_sampling.py", "--model", trained / "model.pt", "--batch_size", 4, "--engines", "fp32", "bf16",
              "--n_steps", 2, "--repeats", 2, "--device", "cpu", "--out", out)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((out / "profile.json").read_text())
    assert [r["engine"] for r in rows] == ["fp32", "bf16"]
    assert rows[0]["pos_rel_error"] == 0.0 and rows[0]["atom_type_agreement"] == 1.0  # fp32 is the reference
    assert 0.0 < rows[1]["pos_rel_error"] < 0.05  # bf16 really ran, and close
    assert all(r["network_ms"] > 0 and r["step_ms"] > 0 and r["n_molecules"] == 4 for r in rows)
    assert "| bf16 |" in (out / "profile.md").read_text()
    one_line_error(cli("profile_sampling.py", "--model", trained / "model.pt", "--engines", "int8", "--device", "cpu"),
                   "engine precision")


def test_bad_counts_and_pocket_distances_name_their_option(tmp_path):
    """Checked before anything is loaded (the model named does not exist), earlier output kept."""
    out = tmp_path / "keep.sdf"
    out.write_text("precious")
    for args, fragment in [(["--n_steps", 0], "n_steps must be a positive integer, got 0"),
                           (["--batch_size", 0], "batch_size must be a positive integer, got 0"),
                           (["--pocket", "p.pdb", "--center", 1, 2, 3, "--radius", -5],
                            "--radius must be a positive distance in Å, got -5"),
                           (["--pocket", "p.pdb", "--ref_ligand", "l.sdf", "--pocket_cutoff", -1],
                            "--pocket_cutoff must be a positive distance in Å, got -1")]:
        one_line_error(cli("sample.py", "--model", tmp_path / "nope.pt", *args, "--outfile", out), fragment)
    assert out.read_text() == "precious"


def test_unwritable_output_fails_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    one_line_error(cli("sample.py", "--model", tmp_path / "nope.pt", "--outfile", blocker / "out.sdf"),
                   f"{blocker / 'out.sdf'}: {blocker} is not a folder")
    one_line_error(cli("sample.py", "--model", tmp_path / "nope.pt", "--outfile", tmp_path),
                   f"{tmp_path}: is a folder, not a file name")
    one_line_error(cli("sample.py", "--pockets", tmp_path / "none.csv", "--out_dir", blocker / "screen"),
                   f"{blocker} is not a folder")


def test_read_only_file_system_fails_before_any_work(tmp_path):
    """A real read-only mount (a private mount namespace; skipped where that is not allowed)."""
    import subprocess
    import sys

    from clitools import ROOT

    ro = tmp_path / "ro"
    ro.mkdir()
    script = ROOT / "scripts" / "sample.py"
    for args in (["--model", tmp_path / "nope.pt", "--outfile", ro / "out.sdf"],
                 ["--pockets", tmp_path / "none.csv", "--out_dir", ro / "screen"]):
        command = f"mount -t tmpfs -o ro tmpfs {ro} || exit 99; exec {sys.executable} {script} {' '.join(map(str, args))}"
        try:
            res = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            pytest.skip("no unshare")
        if res.returncode == 99 or "unshare:" in res.stderr:
            pytest.skip("cannot mount a read-only file system here")
        one_line_error(res, f"cannot write in {ro} (Read-only file system)")
