"""Ligand-only pretraining caches: SMILES -> conformers -> empty-pocket complexes that train."""
from pathlib import Path

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


def test_mixture_indices_give_each_cache_its_share():
    from moldiff.datasets.complexes import mixture_indices

    big, small = np.arange(1000), np.arange(1000, 1050)
    idx = mixture_indices([big, small], [0.7, 0.3])
    assert np.isin(idx, big).sum() == 1000 and np.isin(idx, small).sum() == 50 * 9  # 0.3/0.7 * 1000 / 50 = 8.6
    assert set(mixture_indices([big, small], [1.0, 0.0]).tolist()) == set(big.tolist())
    with pytest.raises(ValueError, match="2 data sets"):
        mixture_indices([big, small], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        mixture_indices([big, small], [-1.0, 2.0])


def test_pocket_model_trains_on_a_mixture_of_pockets_and_ligands(tmp_path):
    """Pocket complexes + ligand-only molecules as one training stream: the caches concatenate
    (each keeps its split), the size model is fitted on the pocket complexes only, and the
    validation samples are drawn in validation pockets."""
    from moldiff.api import load_model
    from moldiff.config import ConfigError, load_config
    from moldiff.datasets.complexes import concat_complexes
    from moldiff.datasets.complexes_prepare import folder_entries, prepare_complexes
    from moldiff.training.run import load_dataset, train, training_indices

    examples = Path(__file__).resolve().parents[2] / "data" / "examples"
    index = tmp_path / "index.csv"
    index.write_text("protein,ligand,name,split,protein_id\n" + "".join(
        f"{examples / '1ia1_protein.pdb'},{examples / '1ia1_ligand.sdf'},c{k},{s},p{k}\n"
        for k, s in enumerate(["train", "train", "val"])))
    prepare_complexes(folder_entries(index), tmp_path / "pockets.npz", num_workers=1, verbose=False)
    prepare_ligands(["c1ccccc1O", "CCN(CC)CC", "OC(=O)c1ccccc1", "CCOC(=O)C", "c1ccncc1", "CCO"],
                    tmp_path / "lig.npz", val_fraction=0.0, num_workers=1, verbose=False)
    paths = f"data.path=[{tmp_path / 'pockets.npz'}, {tmp_path / 'lig.npz'}]"
    cfg = load_config("configs/tiny_pocket.yaml", [paths, "data.weights=[0.5, 0.5]", f"train.out_dir={tmp_path / 'run'}"])
    arrays, _ = load_dataset(cfg.data, False)
    pockets, ligands = load_complexes(tmp_path / "pockets.npz"), load_complexes(tmp_path / "lig.npz")
    assert arrays.part_sizes == (3, 6) and len(arrays) == 9 and arrays.split.tolist() == [0, 0, 1] + [0] * 6
    np.testing.assert_array_equal(arrays.complex(4)["lig_pos"], ligands.complex(1)["lig_pos"])
    assert len(concat_complexes([pockets, ligands]).pocket_pos) == len(pockets.pocket_pos)
    stream = training_indices(arrays, cfg.data)
    assert np.isin(stream, [0, 1]).sum() == 6 and np.isin(stream, np.arange(3, 9)).sum() == 6  # 2 pockets x 3

    model = load_model(train(cfg))
    n_lig = pockets.lig_num_atoms[0]
    hist = model.size_model["hists"]
    assert all(h[n_lig] == sum(h) for h in hist if sum(h))  # sizes learned from the pocket complexes only
    with pytest.raises(ConfigError, match="2 weights for 1"):
        load_dataset(load_config("configs/tiny_pocket.yaml", [f"data.path={tmp_path / 'lig.npz'}",
                                                              "data.weights=[0.5, 0.5]"]).data, False)
