"""Rejection-sampling fine-tuning data: the keep/reject rule and the cache of kept samples."""
from __future__ import annotations

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
