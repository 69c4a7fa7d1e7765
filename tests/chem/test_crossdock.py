"""Docked training complexes: job plan (clusters, splits, weights, seeds), the stored format, its
conversion into the complex cache, the PDBQT pose mapping and PoseBusters filter, and one real
rustina run (slow; skipped without rustina)."""
from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from chemtools import demo_ligand_and_shifted
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign

from moldiff.chem.rustina_docking import _mse_as_met, box_around, pose_from_pdbqt
from moldiff.chem.rustina_search import Box, SearchSettings, require_rustina
from moldiff.datasets.complexes import featurize_ligand
from moldiff.utils.atomic import file_sha1
from moldiff.datasets.docked import (
    DockedSet,
    concat_docked,
    ligand_weight,
    load_docked,
    save_docked,
    to_complex_arrays,
)
from moldiff.datasets.docked_prepare import (
    Complex,
    PlanSettings,
    crossdock_pairs,
    load_plan,
    plan_jobs,
    rotatable_bonds,
    save_plan,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "data/examples"
#: Ligands of the synthetic index and their strict rotatable-bond counts.
LIGANDS = {"phenol": ("c1ccccc1O", 0), "nonane": ("CCCCCCCCC", 6), "hexadecane": ("CCCCCCCCCCCCCCCC", 13)}


def _write_ligand(path: Path, smiles: str) -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    Chem.MolToMolFile(Chem.RemoveHs(mol), str(path))


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """Index of two training clusters (A: a1 a2 a3, B: b1), a validation cluster (V: v1 v2) and
    a validation complex labelled with cluster A; ligands by name prefix of LIGANDS."""
    rows = [("a1", "A", "train", "phenol"), ("a2", "A", "train", "nonane"), ("a3", "A", "train", "hexadecane"),
            ("b1", "B", "train", "phenol"), ("v1", "V", "val", "phenol"), ("v2", "V", "val", "nonane"),
            ("a9", "A", "val", "phenol")]
    for _, _, _, lig in rows:
        if not (tmp_path / f"{lig}.sdf").exists():
            _write_ligand(tmp_path / f"{lig}.sdf", LIGANDS[lig][0])
    with open(tmp_path / "index.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["protein", "ligand", "name", "split", "protein_id", "source"])
        for name, pid, split, lig in rows:
            writer.writerow([f"{name}_pocket.pdb", f"{lig}.sdf", name, split, pid, "test"])
    return tmp_path


def test_strict_rotatable_counts_of_the_test_ligands():
    for smiles, count in LIGANDS.values():
        assert rotatable_bonds(Chem.MolFromSmiles(smiles)) == count


def test_crossdock_pairs_stay_inside_training_clusters():
    complexes = [Complex(n, "", "", pid, split) for n, pid, split in
                 [("a2", "A", "train"), ("a1", "A", "train"), ("b1", "B", "train"), ("v1", "V", "val"),
                  ("v2", "V", "val"), ("a9", "A", "val")]]
    assert crossdock_pairs(complexes) == [("a1", "a2"), ("a2", "a1")]


def test_ligand_weight_by_rotatable_bonds():
    assert [ligand_weight(n) for n in (0, 5, 6, 10, 11)] == [1.0, 1.0, 0.5, 0.5, None]
    assert [ligand_weight(n, 3, 7, 0.25) for n in (3, 4, 7, 8)] == [1.0, 0.25, 0.25, None]


def test_plan_is_deterministic_weighted_and_never_crosses_splits_or_clusters(data_root: Path):
    moses = ["CCO", "c1ccncc1", "CC(=O)O", "CCN", "CCCCCCCCCCCCCCCC", "OCCO"]
    settings = PlanSettings(seed=3, moses_per_pocket=2)
    jobs = plan_jobs(data_root, settings, moses)
    assert jobs == plan_jobs(data_root, settings, moses)
    index = {row["name"]: row for row in csv.DictReader(open(data_root / "index.csv"))}
    cross = [j for j in jobs if j.kind == "crossdock"]
    # a3 (13 rotatable bonds) is never docked; a9 is validation although labelled cluster A
    assert sorted((j.ligand, j.receptor) for j in cross) == [("a1", "a2"), ("a1", "a3"), ("a2", "a1"), ("a2", "a3")]
    assert {j.ligand: (j.rotatable, j.weight) for j in cross} == {"a1": (0, 1.0), "a2": (6, 0.5)}
    for job in jobs:
        assert index[job.receptor]["split"] == "train"
        if job.kind == "crossdock":
            assert index[job.ligand]["protein_id"] == index[job.receptor]["protein_id"]
            assert index[job.ligand]["split"] == "train" and job.ligand != job.receptor
    pool = [j for j in jobs if j.kind == "moses"]
    per_pocket = {rec: [j.ligand for j in pool if j.receptor == rec] for rec in ("a1", "a2", "a3", "b1")}
    assert all(0 < len(smiles) <= 2 for smiles in per_pocket.values())  # hexadecane draws are dropped
    assert all(s != "CCCCCCCCCCCCCCCC" for s in sum(per_pocket.values(), []))
    assert len({j.name for j in jobs}) == len(jobs) and len({j.seed for j in jobs}) == len(jobs)
    other = plan_jobs(data_root, PlanSettings(seed=4, moses_per_pocket=2), moses)
    assert [j.seed for j in other] != [j.seed for j in jobs]
    with pytest.raises(ValueError, match="needed per pocket"):
        plan_jobs(data_root, PlanSettings(moses_per_pocket=7), moses)


def test_plan_file_round_trip(data_root: Path, tmp_path: Path):
    settings = PlanSettings(seed=1)
    jobs = plan_jobs(data_root, settings)
    save_plan(tmp_path / "plan.json", jobs, settings, data_root)
    loaded, header = load_plan(tmp_path / "plan.json")
    assert loaded == jobs
    (tmp_path / "plan.json.gz").write_bytes(gzip.compress((tmp_path / "plan.json").read_bytes()))
    assert load_plan(tmp_path / "plan.json.gz")[0] == jobs
    assert header["settings"]["seed"] == 1 and header["index_sha1"] == file_sha1(data_root / "index.csv")


def _random_set(rng: np.random.Generator, n_lig: int, pockets: list[str]) -> DockedSet:
    atoms = rng.integers(3, 9, n_lig)
    bonds = atoms - 1
    return DockedSet(
        pocket_path=np.array([f"{p}/{p}_pocket12.pdb" for p in pockets]), pocket_sha1=np.array([p * 8 for p in pockets]),
        pocket_name=np.array(pockets), pocket_protein=np.array([f"P{p}" for p in pockets]),
        lig_pocket=rng.integers(0, len(pockets), n_lig).astype(np.int32),
        lig_num_atoms=atoms.astype(np.int64), lig_pos=rng.normal(0, 30, (atoms.sum(), 3)).astype(np.float32),
        lig_types=rng.integers(0, 9, atoms.sum()).astype(np.uint8),
        lig_charges=rng.integers(-1, 2, atoms.sum()).astype(np.int8), lig_num_bonds=bonds.astype(np.int64),
        lig_bonds=np.concatenate([np.stack([np.arange(b), np.arange(1, b + 1)], 1) for b in bonds]).astype(np.uint16),
        lig_bond_classes=rng.integers(1, 4, bonds.sum()).astype(np.uint8),
        name=np.array([f"job{k}" for k in range(n_lig)]), smiles=np.array(["C" * (k + 1) for k in range(n_lig)]),
        rotatable=rng.integers(0, 11, n_lig).astype(np.uint8), weight=rng.choice([1.0, 0.5], n_lig).astype(np.float32),
        affinity=rng.normal(-7, 1, n_lig).astype(np.float32), cnn_score=rng.random(n_lig).astype(np.float32),
        cnn_affinity=rng.normal(5, 1, n_lig).astype(np.float32))


def _assert_same(a: DockedSet, b: DockedSet) -> None:
    for name in ("pocket_path", "pocket_sha1", "pocket_name", "pocket_protein", "lig_pocket", "lig_num_atoms", "lig_pos",
                 "lig_types", "lig_charges", "lig_num_bonds", "lig_bonds", "lig_bond_classes", "name", "smiles",
                 "rotatable", "weight", "affinity", "cnn_score", "cnn_affinity"):
        x, y = getattr(a, name), getattr(b, name)
        same_type = x.dtype.kind == y.dtype.kind == "U" or x.dtype == y.dtype  # strings: any width
        assert same_type and np.array_equal(x, y), name
    assert a.vocab == b.vocab


def test_docked_set_round_trip_is_exact(tmp_path: Path):
    docked = _random_set(np.random.default_rng(0), 12, ["p1", "p2", "p3"])
    save_docked(docked, tmp_path / "docked.npz")
    _assert_same(load_docked(tmp_path / "docked.npz"), docked)


def test_concat_stores_each_pocket_once_and_take_inverts_it():
    rng = np.random.default_rng(1)
    first, second = _random_set(rng, 5, ["p1", "p2"]), _random_set(rng, 4, ["p2", "p3"])
    both = concat_docked([first, second])
    assert both.pocket_name.tolist() == ["p1", "p2", "p3"] and len(both) == 9
    for k in range(9):
        part, i = (first, k) if k < 5 else (second, k - 5)
        assert both.pocket_name[both.lig_pocket[k]] == part.pocket_name[part.lig_pocket[i]]
    _assert_same(both.take(np.arange(5)), first)
    _assert_same(both.take(np.arange(5, 9)), second)
    clash = _random_set(rng, 2, ["p1"])
    clash.pocket_sha1[0] = "0" * 16
    with pytest.raises(ValueError, match="two different SHA-1"):
        concat_docked([first, clash])


def test_crystal_pose_converts_to_the_same_arrays_as_the_crystal_cache(tmp_path: Path):
    from moldiff.datasets.complexes_prepare import folder_entries, prepare_complexes
    from moldiff.datasets.complexes import load_complexes

    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    pos, types, charges, bonds, classes = featurize_ligand(ligand)
    docked = DockedSet(
        pocket_path=np.array(["1ia1_protein.pdb"]), pocket_sha1=np.array([file_sha1(EXAMPLES / "1ia1_protein.pdb")]),
        pocket_name=np.array(["1ia1"]), pocket_protein=np.array(["P1"]), lig_pocket=np.zeros(1, np.int32),
        lig_num_atoms=np.array([len(types)]), lig_pos=pos, lig_types=types, lig_charges=charges,
        lig_num_bonds=np.array([len(classes)]), lig_bonds=bonds, lig_bond_classes=classes,
        name=np.array(["crossdock:x@1ia1"]), smiles=np.array(["s"]), rotatable=np.array([2], np.uint8),
        weight=np.ones(1, np.float32), affinity=np.zeros(1, np.float32), cnn_score=np.zeros(1, np.float32),
        cnn_affinity=np.zeros(1, np.float32))
    arrays = to_complex_arrays(docked, EXAMPLES, pocket_cutoff=8.0)
    (tmp_path / "index.csv").write_text(f"protein,ligand,name,split,protein_id\n{EXAMPLES / '1ia1_protein.pdb'},"
                                        f"{EXAMPLES / '1ia1_ligand.sdf'},x,train,P1\n")
    prepare_complexes(folder_entries(tmp_path / "index.csv"), tmp_path / "cache.npz", 8.0, num_workers=1, verbose=False)
    crystal = load_complexes(tmp_path / "cache.npz")
    for name in ("lig_num_atoms", "lig_pos", "lig_types", "lig_charges", "lig_num_bonds", "lig_bonds",
                 "lig_bond_classes", "pocket_num_atoms", "pocket_pos", "pocket_element", "pocket_residue",
                 "pocket_backbone", "pocket_ca", "protein", "split"):
        x, y = getattr(arrays, name), getattr(crystal, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert arrays.pocket_cutoff == crystal.pocket_cutoff and np.isnan(arrays.dg).all()
    docked.pocket_sha1[0] = "0" * 40
    with pytest.raises(ValueError, match="SHA-1"):
        to_complex_arrays(docked, EXAMPLES)


def test_docked_pdbqt_maps_back_onto_the_ligand_atoms():
    from moldiff.chem.docking import ligand_pdbqt

    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    shuffled = Chem.RenumberAtoms(ligand, list(reversed(range(ligand.GetNumAtoms()))))
    pdbqt = ligand_pdbqt(Chem.AddHs(shuffled, addCoords=True))
    pose = pose_from_pdbqt(pdbqt, ligand)
    assert Chem.MolToSmiles(pose) == Chem.MolToSmiles(ligand)
    # symmetric atoms (the phenyl ring's) may trade places, so the RMSD is symmetry-aware
    assert rdMolAlign.CalcRMS(pose, ligand) < 1e-3
    assert not np.allclose(pose.GetConformer().GetPositions(), shuffled.GetConformer().GetPositions())
    with pytest.raises(ValueError, match="does not match"):
        pose_from_pdbqt(pdbqt, Chem.MolFromSmiles("c1ccccc1"))


def test_box_and_selenomethionine_rewrite():
    box = box_around(np.array([[0.0, 0, 0], [10, 2, 0]]), padding=8.0, min_size=18.0, fit=19.5)
    assert box.center == (5.0, 1.0, 0.0) and box.size == (20.0, 20.0, 20.0)
    assert box_around(np.array([[0.0, 0, 0], [13, 2, 0]])).size == (22.0, 18.0, 18.0)
    line = "HETATM  100 SE   MSE A  12      10.000  11.000  12.000  1.00 20.00          SE  "
    out = _mse_as_met(line).splitlines()[0]
    assert out.startswith("ATOM  ") and out[17:20] == "MET" and out[12:16] == " SD " and out[76:78] == " S"
    assert out[30:54] == line[30:54]


def test_pose_filter_passes_the_crystal_pose_and_flags_a_clash():
    from moldiff.chem.posefilter import PocketFilter

    ligand, moved = demo_ligand_and_shifted(3.0)
    crystal, clash = PocketFilter(EXAMPLES / "1ia1_protein.pdb").failures([ligand, moved])
    assert crystal == [] and clash and not any("bond" in check for check in clash)


def _self_cross_index(tmp_path: Path) -> Path:
    """An index of two copies of the 1ia1 complex in one training cluster (links to the example)."""
    (tmp_path / "index.csv").write_text("protein,ligand,name,split,protein_id,source\n"
                                        "1ia1_protein.pdb,1ia1_ligand.sdf,copy1,train,P1,x\n"
                                        "1ia1_protein.pdb,1ia1_ligand.sdf,copy2,train,P1,x\n")
    for name in ("1ia1_protein.pdb", "1ia1_ligand.sdf"):
        (tmp_path / name).symlink_to(EXAMPLES / name)
    return tmp_path


def test_searched_poses_are_checked_and_kept_and_the_rest_stays_pending(tmp_path: Path):
    """The finishing half of a split run, without a search: a result file whose 'top pose' is the
    staged start conformer (the crystal geometry) is kept with exactly those coordinates; the
    pocket without a result stays pending; a changed stage file makes its result refused."""
    pytest.importorskip("rustina")
    from moldiff.datasets.docked_prepare import DockSettings, dock_jobs, stage_jobs
    from moldiff.datasets.docked_search import (
        load_staged,
        result_path,
        rustina_version,
        save_results,
        save_staged,
    )

    root = _self_cross_index(tmp_path)
    jobs = plan_jobs(root, PlanSettings(seed=0))
    out = tmp_path / "out" / "docked.npz"
    assert stage_jobs(jobs[:1], root, out, DockSettings(), verbose=False) == {"pockets": 1, "jobs": 1,
                                                                               "pockets_before": 0}
    stage, = out.with_name("docked.npz.parts").glob("copy2-*.stage.json.gz")
    staged = load_staged(stage)
    (_, names, ligands), = staged.batches
    assert names == ["crossdock:copy1@copy2"]
    found = result_path(stage.with_name(stage.name.removesuffix(".stage.json.gz") + ".npz"))
    save_results(found, {names[0]: {"pdbqt": ligands[0], "affinity": -8.0, "cnn_score": 0.9, "cnn_affinity": 7.0}},
                 file_sha1(stage), rustina_version())
    manifest = dock_jobs(jobs, root, out, DockSettings(), verbose=False, searched_only=True)
    assert manifest["pending"] == 1 and manifest["kept"] == 1 and manifest["dropped"] == {}
    docked = load_docked(out)
    crystal = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    assert docked.name.tolist() == ["crossdock:copy1@copy2"] and docked.affinity.tolist() == [-8.0]
    assert np.abs(docked.lig_pos - crystal.GetConformer().GetPositions()).max() < 1e-3
    again = dock_jobs(jobs, root, out, DockSettings(), verbose=False, searched_only=True)
    assert again["pending"] == 1 and again["kept"] == 1 and again["cpu_seconds_this_run"] == 0
    # a later plan leaves out what this run did, and says so in its header
    from moldiff.datasets.docked_prepare import exclude_done, load_statuses, statuses_path

    assert statuses_path(out).name == "docked.statuses.json.gz"
    assert load_statuses(statuses_path(out)) == {"crossdock:copy1@copy2": ""}
    left, record = exclude_done(jobs, [statuses_path(out)])
    assert [j.name for j in left] == ["crossdock:copy2@copy1"] and record[0]["jobs"] == 1
    save_plan(tmp_path / "plan2.json", left, PlanSettings(seed=0), root, record)
    assert load_plan(tmp_path / "plan2.json")[1]["excluded"] == record
    with pytest.raises(ValueError, match="docked.npz: not a readable gzipped JSON file"):
        load_statuses(out)

    other = out.with_name("other.npz")  # a stage changed after its search: the result is refused
    other.with_name("other.npz.parts").mkdir()
    stage2 = other.with_name("other.npz.parts") / stage.name
    save_staged(stage2, replace(staged, seed=1))
    (stage2.parent / found.name).write_bytes(found.read_bytes())
    with pytest.raises(ValueError, match="searched from another version"):
        dock_jobs(jobs[:1], root, other, DockSettings(), verbose=False, searched_only=True)


def test_missing_rustina_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rustina", None)
    with pytest.raises(ImportError, match="pip install rustina"):
        require_rustina()


def test_docking_modules_do_not_import_torch():
    code = ("import sys, moldiff.datasets.docked_prepare, moldiff.datasets.docked; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_search_side_imports_neither_rdkit_nor_numpy():
    """The remote search runs where only rustina is installed."""
    code = ("import sys, moldiff.datasets.docked_search; "
            "bad = {'rdkit', 'numpy', 'torch', 'meeko', 'posebusters'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_staged_pocket_and_results_round_trip_and_refusals(tmp_path: Path):
    from moldiff.datasets.docked_search import (
        StagedPocket,
        load_results,
        load_staged,
        result_path,
        rustina_version,
        save_results,
        save_staged,
        stage_path,
    )

    part = tmp_path / "1abc-0123456789ab.npz"
    stage, found = stage_path(part), result_path(part)
    staged = StagedPocket("RECEPTOR PDBQT\n", 42, SearchSettings("gpu", 8, 3),
                          [(Box((1.0, 2.0, 3.5), (18.0, 20.0, 18.0)), ["a", "b"], ["LIG A", "LIG B"])],
                          {"c": "preparation: RDKit could not embed the ligand"})
    save_staged(stage, staged)
    assert stage.name == "1abc-0123456789ab.stage.json.gz"
    assert load_staged(stage) == StagedPocket(staged.receptor, 42, SearchSettings("gpu", 8, 1), staged.batches,
                                              staged.status)
    assert stage.read_bytes()[4:8] == bytes(4), "gzip mtime must be 0 (reproducible files)"
    results = {"a": {"pdbqt": "MODEL", "affinity": -7.5, "cnn_score": 0.9, "cnn_affinity": 6.1}, "b": {"error": "x"}}
    save_results(found, results, file_sha1(stage), rustina_version())
    assert load_results(found, stage) == results
    # refused: another rustina, another stage, no stage, a truncated or foreign file
    save_results(found, results, file_sha1(stage), "0.0.1")
    with pytest.raises(ValueError, match="searched with rustina 0.0.1"):
        load_results(found, stage)
    save_results(found, results, "0" * 40, rustina_version())
    with pytest.raises(ValueError, match=f"{found.name}: searched from another version of {stage.name}"):
        load_results(found, stage)
    with pytest.raises(ValueError, match="its stage file .* is missing"):
        load_results(found, tmp_path / "gone.stage.json.gz")
    found.write_bytes(found.read_bytes()[:-12])
    with pytest.raises(ValueError, match=f"{found.name}: not a readable gzipped JSON file"):
        load_results(found, stage)
    stage.write_text("not gzip")
    with pytest.raises(ValueError, match=f"{stage.name}: not a readable gzipped JSON"):
        load_staged(stage)
    with gzip.open(stage, "wt") as handle:
        handle.write("[1, 2]")
    with pytest.raises(ValueError, match=f"{stage.name}: not a staged pocket of version 1"):
        load_staged(stage)


def test_search_pocket_keeps_the_top_pose_keys_and_gives_failed_batches_their_error(monkeypatch):
    import moldiff.datasets.docked_search as search

    calls = []

    def fake_dock_batch(receptor, ligands, box, seed, settings):
        calls.append((receptor, tuple(ligands), box, seed, settings))
        if box.center[0] > 0:
            raise RuntimeError("rustina failed: panic")
        return [{"pdbqt": "P" + lig, "affinity": -6.0, "cnn_score": 0.5, "cnn_affinity": 5.0, "poses": [1, 2]}
                if lig != "bad" else {"error": "no pose"} for lig in ligands]

    monkeypatch.setattr(search, "dock_batch", fake_dock_batch)
    staged = search.StagedPocket("R", 7, SearchSettings("gpu", None, 1), [
        (Box((0.0, 0.0, 0.0), (18.0,) * 3), ["j1", "j2"], ["L1", "bad"]),
        (Box((5.0, 0.0, 0.0), (20.0,) * 3), ["j3"], ["L3"])])
    results = search.search_pocket(staged, threads=4)
    assert results == {"j1": {"pdbqt": "PL1", "affinity": -6.0, "cnn_score": 0.5, "cnn_affinity": 5.0},
                       "j2": {"error": "no pose"}, "j3": {"error": "rustina failed: panic"}}
    assert [c[3] for c in calls] == [7, 7] and all(c[4] == SearchSettings("gpu", None, 4) for c in calls)


def test_search_of_a_folder_without_stage_files_is_a_one_line_error(tmp_path: Path):
    from moldiff.datasets.docked_search import search_staged

    with pytest.raises(FileNotFoundError, match="stage the plan first"):
        search_staged(tmp_path / "missing")
    with pytest.raises(ValueError, match="no staged pockets"):
        search_staged(tmp_path)


@pytest.mark.slow
def test_real_docking_run_resumes_and_finds_the_crystal_pose(tmp_path: Path):
    """The 1ia1 ligand cross-docked between two copies of its own complex: the top pose is
    within 2 Å of the crystal pose, passes the filter, and a rerun only merges the parts."""
    pytest.importorskip("rustina")
    from moldiff.datasets.docked_prepare import DockSettings, dock_jobs

    _self_cross_index(tmp_path)
    jobs = plan_jobs(tmp_path, PlanSettings(seed=0))
    assert [j.name for j in jobs] == ["crossdock:copy1@copy2", "crossdock:copy2@copy1"]
    manifest = dock_jobs(jobs[:1], tmp_path, tmp_path / "out" / "docked.npz", DockSettings(), workers=1, verbose=False)
    assert manifest["kept"] == 1 and manifest["cpu_seconds_this_run"] > 0
    docked = load_docked(tmp_path / "out" / "docked.npz")
    crystal = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    pose = Chem.Mol(crystal)
    for i, p in enumerate(docked.lig_pos.astype(np.float64)):
        pose.GetConformer().SetAtomPosition(i, p.tolist())
    assert rdMolAlign.CalcRMS(pose, crystal) < 2.0
    assert docked.weight.tolist() == [1.0] and docked.rotatable.tolist() == [2] and docked.affinity[0] < -5
    again = dock_jobs(jobs[:1], tmp_path, tmp_path / "out" / "docked.npz", DockSettings(), workers=1, verbose=False)
    assert again["cpu_seconds_this_run"] == 0 and again["kept"] == 1
    assert json.loads((tmp_path / "out" / "docked.json").read_text())["versions"]["rustina"]

    # the same job staged, searched as on a remote machine, and finished: the same pose and scores
    from moldiff.datasets.docked_prepare import stage_jobs
    from moldiff.datasets.docked_search import search_staged

    split = tmp_path / "split" / "docked.npz"
    assert stage_jobs(jobs, tmp_path, split, DockSettings(), workers=1, verbose=False)["pockets"] == 2
    pending = dock_jobs(jobs, tmp_path, split, DockSettings(), workers=1, verbose=False, searched_only=True)
    assert pending["pending"] == 2 and pending["kept"] == 0
    for stage in split.with_name("docked.npz.parts").glob("copy1-*.stage.json.gz"):
        stage.unlink()  # search only the pocket of copy2, the receptor of the job docked above
    assert search_staged(split.with_name("docked.npz.parts"), workers=1, threads=1, verbose=False) == (1, 0)
    finished = dock_jobs(jobs, tmp_path, split, DockSettings(), workers=1, verbose=False, searched_only=True)
    assert finished["pending"] == 1
    done = load_docked(split)
    assert done.name.tolist() == ["crossdock:copy1@copy2"] and finished["kept"] == 1
    assert np.array_equal(done.lig_pos, docked.lig_pos) and np.array_equal(done.affinity, docked.affinity)
