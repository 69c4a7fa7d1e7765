"""Ligand-only pretraining caches: SMILES -> conformers -> empty-pocket complexes that train."""
import numpy as np
import pytest

from moldiff.datasets.complexes import load_complexes
from moldiff.datasets.ligands_prepare import prepare_ligands, read_smiles
from moldiff.datasets.pockets import ComplexDataset
from moldiff.vocab import LIGAND_VOCAB


def test_smiles_become_centred_ligands_with_skips_counted(tmp_path):
    src = tmp_path / "mols.csv"
    src.write_text("SMILES,SPLIT\nc1ccccc1O,train\nCC(=O)Nc1ccc(O)cc1,train\nnot_a_smiles,train\nB(O)O,train\n")
    smiles = read_smiles(src)
    assert smiles[0] == "c1ccccc1O" and len(smiles) == 4
    summary = prepare_ligands(smiles, tmp_path / "lig.npz", val_fraction=0.0, num_workers=1, verbose=False)
    assert summary["n_kept"] == 2 and sum(summary["skipped"].values()) == 2
    assert "SMILES does not parse" in summary["skipped"] and any("element B" in r for r in summary["skipped"])
    arrays = load_complexes(tmp_path / "lig.npz")
    assert list(arrays.lig_num_atoms) == [7, 11] and arrays.pocket_num_atoms.sum() == 0
    assert list(arrays.smiles) == ["Oc1ccccc1", "CC(=O)Nc1ccc(O)cc1"]
    item = ComplexDataset(arrays, np.array([1]), LIGAND_VOCAB)[0]
    assert item.pocket_pos.shape == (0, 3) and item.pos.mean(0).abs().max() < 1e-4
    bonds = arrays.complex(1)["lig_bonds"]
    assert len(bonds) == 11 and set(bonds[:, 2]) <= {1, 2}  # kekulized


def test_bad_smiles_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.smi"):
        read_smiles(tmp_path / "nope.smi")
    bad = tmp_path / "x.csv"
    bad.write_text("name,value\na,1\n")
    with pytest.raises(ValueError, match="SMILES column"):
        read_smiles(bad)


def test_pocket_model_pretrains_on_ligands_without_pockets(tmp_path):
    from moldiff.config import load_config
    from moldiff.training.run import train

    smiles = ["c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "OC(=O)c1ccccc1", "CCOC(=O)C", "c1ccncc1"]
    prepare_ligands(smiles, tmp_path / "lig.npz", val_fraction=0.0, num_workers=1, verbose=False)
    arrays = load_complexes(tmp_path / "lig.npz")
    arrays.split[:2] = 1  # two validation molecules
    from moldiff.datasets.complexes import save_complexes

    save_complexes(arrays, tmp_path / "lig.npz")
    cfg = load_config("configs/tiny_pocket.yaml", [f"data.path={tmp_path / 'lig.npz'}", f"train.out_dir={tmp_path / 'run'}"])
    assert (tmp_path / "run" / "model.pt") == train(cfg) and (tmp_path / "run" / "model.pt").is_file()
