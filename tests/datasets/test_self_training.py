"""Rejection-sampling fine-tuning data: the keep/reject rule and the cache of kept samples."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from moldiff.datasets.complexes import featurize_ligand, load_complexes, save_complexes
from moldiff.datasets.complexes_prepare import folder_entries, prepare_complexes
from moldiff.datasets.self_training import rejection_reason, rings_sane, self_training_complexes

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"


@pytest.mark.parametrize("smiles, sane", [
    ("CCO", True), ("c1ccccc1", True), ("C1CCCCC1", True), ("c1ccc2ccccc2c1", True), ("c1ccc(C2CC2)cc1", True),
    ("C1CC1C1CC1", False), ("C1CCC1", False), ("C1CCCCCC1", False), ("C1CCCCCCC1", False),
    ("O=C1CCCCCCCCCCCN1", False),
])
def test_rings_sane(smiles, sane):
    assert rings_sane(Chem.MolFromSmiles(smiles)) is sane


def test_rejection_reason_in_order():
    good = Chem.MolFromSmiles("c1ccccc1CO")
    row = {"valid": True, "pb_valid": True, "vina_score": -7.0}
    assert rejection_reason(row, good, -6.0) is None
    assert rejection_reason(row | {"valid": False}, good, -6.0) == "invalid"
    assert rejection_reason(row, Chem.MolFromSmiles("C1CCCCCCC1"), -6.0) == "ring sizes"
    assert rejection_reason(row | {"pb_valid": False}, good, -6.0) == "PoseBusters"
    assert rejection_reason({"valid": True, "vina_score": -7.0}, good, -6.0) == "PoseBusters not run"
    assert rejection_reason(row | {"vina_score": math.nan}, good, -6.0) == "Vina failed"
    assert rejection_reason(row | {"vina_score": -5.9}, good, -6.0) == "Vina score above threshold"


def _source(tmp_path: Path, split: str):
    protein, ligand = EXAMPLES / "1ia1_protein.pdb", EXAMPLES / "1ia1_ligand.sdf"
    (tmp_path / "index.csv").write_text(f"protein,ligand,name,split\n{protein},{ligand},1ia1,{split}\n")
    prepare_complexes(folder_entries(tmp_path / "index.csv"), tmp_path / "src.npz", num_workers=1, verbose=False)
    return load_complexes(tmp_path / "src.npz"), Chem.MolFromMolFile(str(ligand))


def test_kept_samples_become_training_complexes_in_their_pocket(tmp_path):
    source, ligand = _source(tmp_path, "train")
    moved = Chem.Mol(ligand)
    conf = moved.GetConformer()
    for k in range(moved.GetNumAtoms()):
        conf.SetAtomPosition(k, (np.array(conf.GetAtomPosition(k)) + 0.3).tolist())  # a "generated" pose
    cache = self_training_complexes([(ligand, 0), (moved, 0)], source)
    save_complexes(cache, tmp_path / "self.npz")
    cache = load_complexes(tmp_path / "self.npz")
    assert cache.name.tolist() == ["self:1ia1:0", "self:1ia1:1"] and cache.split_indices("train").tolist() == [0, 1]
    ref, got = source.complex(0), cache.complex(1)
    for key in ("pocket_pos", "pocket_element", "pocket_residue", "pocket_backbone", "pocket_ca"):
        np.testing.assert_array_equal(got[key], ref[key], err_msg=key)
    pos, types, charges, bonds, classes = featurize_ligand(moved)
    np.testing.assert_array_equal(got["lig_pos"], pos)
    np.testing.assert_array_equal(got["lig_types"], types)
    np.testing.assert_array_equal(got["lig_bonds"], np.column_stack([bonds, classes]).astype(np.int64))
    np.testing.assert_allclose(cache.complex(0)["lig_pos"], ref["lig_pos"], atol=1e-6)
    assert cache.protein.tolist() == [source.protein[0]] * 2 and np.isnan(cache.dg).all()


def test_only_training_pockets(tmp_path):
    source, ligand = _source(tmp_path, "val")
    with pytest.raises(ValueError, match="1ia1 is in the val split: only training pockets"):
        self_training_complexes([(ligand, 0)], source)
    with pytest.raises(ValueError, match="no samples"):
        self_training_complexes([], source)


def test_script_keeps_what_the_rule_keeps(tmp_path):
    """scripts/self_training_set.py on a hand-made benchmark folder: three samples in one training
    pocket (kept; an 8-ring; a weak Vina score), the reference row ignored; a cache of another
    split is refused in one line."""
    import pandas as pd
    from clitools import cli, one_line_error
    from rdkit.Chem import AllChem

    from moldiff.chem.fragments import fixed_arrays
    from moldiff.convert import pack_arrays
    from moldiff.vocab import LIGAND_VOCAB

    source, ligand = _source(tmp_path, "train")
    ring8 = Chem.AddHs(Chem.MolFromSmiles("C1CCCCCCC1"))
    AllChem.EmbedMolecule(ring8, randomSeed=0)
    ring8 = Chem.RemoveHs(ring8)
    samples = [fixed_arrays(m, range(m.GetNumAtoms()), LIGAND_VOCAB) for m in (ligand, ring8, ligand)]
    bench = tmp_path / "bench"
    bench.mkdir()
    np.savez(bench / "samples.npz", **pack_arrays(samples), complex_index=np.zeros(3, int))
    pd.DataFrame({"complex_index": 0, "complex": "1ia1", "sample": [0, 1, 2, -1],
                  "is_reference": [False, False, False, True], "valid": True, "pb_valid": True,
                  "vina_score": [-7.0, -8.0, -5.0, -9.0]}).to_csv(bench / "molecules.csv", index=False)
    res = cli("self_training_set.py", "--bench", bench, "--cache", tmp_path / "src.npz", "--out", tmp_path / "s.npz")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["reasons"] == {"kept": 1, "ring sizes": 1, "Vina score above threshold": 1}
    kept = load_complexes(tmp_path / "s.npz")
    assert kept.name.tolist() == ["self:1ia1:0"]
    np.testing.assert_allclose(kept.complex(0)["lig_pos"], source.complex(0)["lig_pos"], atol=1e-5)

    (tmp_path / "v").mkdir()
    _source(tmp_path / "v", "val")
    one_line_error(cli("self_training_set.py", "--bench", bench, "--cache", tmp_path / "v" / "src.npz",
                       "--out", tmp_path / "x.npz"), "only training pockets")
    one_line_error(cli("self_training_set.py", "--bench", tmp_path, "--cache", tmp_path / "src.npz",
                       "--out", tmp_path / "x.npz"), "samples.npz: not found")
