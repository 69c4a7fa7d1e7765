"""Ligand featurization, complex preprocessing from the three sources, and the cache round trip."""
from __future__ import annotations

import csv
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.pocket import pocket_features, pocket_from_ligand, read_structure
from moldiff.datasets.complexes import (
    ComplexArrays,
    featurize_ligand,
    load_complexes,
    save_complexes,
)
from moldiff.datasets.complexes_prepare import (
    DEFAULT_FEP_TEST_PROTEINS,
    crossdocked_entries,
    fep_entries,
    folder_entries,
    prepare_complexes,
)
from moldiff.vocab import BOND_DOUBLE, BOND_SINGLE, LIGAND_VOCAB, Vocab

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "data" / "examples"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED_DATA / "fep_benchmark").is_dir()
                                  or not (SHARED_DATA / "crossdocked_mini42").is_dir(),
                                  reason=f"shared protein-ligand data not found at {SHARED_DATA}")


def embedded(smiles: str) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    return mol


def test_featurize_kekulizes_aromatic_rings():
    pos, types, charges, bonds, classes = featurize_ligand(embedded("c1ccccc1O"))
    assert pos.shape == (7, 3) and pos.dtype == np.float32
    assert types.dtype == np.uint8 and charges.dtype == np.int8 and bonds.dtype == np.uint16
    assert [LIGAND_VOCAB.elements[t] for t in types] == ["C"] * 6 + ["O"]
    assert (bonds[:, 0] < bonds[:, 1]).all() and len(bonds) == 7
    assert sorted(classes.tolist()) == [BOND_SINGLE] * 4 + [BOND_DOUBLE] * 3


def test_featurize_rejects_with_reason():
    with pytest.raises(ValueError, match="element B not in ligand vocabulary"):
        featurize_ligand(embedded("CB(O)O"))
    with pytest.raises(ValueError, match=r"formal charge \+1 not in ligand vocabulary"):
        featurize_ligand(embedded("C[N+](C)(C)C"), Vocab(LIGAND_VOCAB.elements, charges=(0,)))
    with pytest.raises(ValueError, match="no 3D conformer"):
        featurize_ligand(Chem.MolFromSmiles("CCO"))


def test_salt_keeps_largest_fragment():
    _, types, charges, _, _ = featurize_ligand(embedded("[Na+].[O-]C(=O)c1ccccc1"))
    assert len(types) == 9 and charges.tolist().count(-1) == 1


def write_index(tmp_path: Path) -> Path:
    """Demo 1ia1 complex, plus a corrupt ligand file (with a second protein file, so that two
    pool tasks run) and a missing protein file."""
    (tmp_path / "corrupt.sdf").write_text("this is not an SDF\n$$$$\n")
    (tmp_path / "copy.pdb").write_bytes((EXAMPLES / "1ia1_protein.pdb").read_bytes())
    rows = ["protein,ligand,name,split",
            f"{EXAMPLES / '1ia1_protein.pdb'},{EXAMPLES / '1ia1_ligand.sdf'},1ia1,test",
            "copy.pdb,corrupt.sdf,corrupt,train",
            f"missing_protein.pdb,{EXAMPLES / '1ia1_ligand.sdf'},missing,"]
    path = tmp_path / "index.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def assert_arrays_equal(a: ComplexArrays, b: ComplexArrays) -> None:
    assert a.vocab == b.vocab and a.pocket_cutoff == b.pocket_cutoff
    for f in fields(ComplexArrays):
        if f.name not in ("vocab", "pocket_cutoff", "part_sizes"):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert x.dtype == y.dtype, f.name
            np.testing.assert_array_equal(x, y, err_msg=f.name)


def test_prepare_folder_skips_with_reasons_and_round_trips(tmp_path):
    out = tmp_path / "cache" / "demo.npz"
    summary = prepare_complexes(folder_entries(write_index(tmp_path)), out, num_workers=2, verbose=False)
    assert (summary["n_in"], summary["n_kept"]) == (3, 1)
    assert summary["skipped"] == {"ligand unreadable": 1, "missing protein file": 1}
    assert "corrupt.sdf" in summary["examples"]["ligand unreadable"][0]
    arrays = load_complexes(out)
    assert len(arrays) == 1 and arrays.name.tolist() == ["1ia1"] and arrays.split_indices("test").tolist() == [0]
    assert np.isnan(arrays.dg).all() and arrays.pocket_cutoff == 8.0

    mol = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    lig = featurize_ligand(mol)
    pocket = pocket_from_ligand(read_structure(EXAMPLES / "1ia1_protein.pdb"), lig[0], 8.0)
    feats = pocket_features(pocket)
    c = arrays.complex(0)
    np.testing.assert_array_equal(c["lig_pos"], lig[0])
    np.testing.assert_array_equal(c["lig_types"], lig[1])
    np.testing.assert_array_equal(c["lig_bonds"], np.column_stack([lig[3], lig[4]]).astype(np.int64))
    np.testing.assert_array_equal(c["pocket_pos"], pocket.pos.astype(np.float32))
    for name in ("element", "residue", "backbone", "ca"):
        np.testing.assert_array_equal(c[f"pocket_{name}"], feats[name])
    assert arrays.smiles[0] == Chem.MolToSmiles(mol, isomericSmiles=False)

    save_complexes(arrays, tmp_path / "again.npz")
    assert_arrays_equal(arrays, load_complexes(tmp_path / "again.npz"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo.npz"]  # no temporary file left


def test_drop_suspect_skips_training_ligands_only(tmp_path):
    """A benzene ring that lost a double bond (flat ring, sp3 carbons) is dropped from training
    with its reason; the same ligand in the validation split is kept."""
    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1CC(=O)O"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    AllChem.MMFFOptimizeMolecule(mol)
    mol = Chem.RWMol(Chem.RemoveHs(mol))
    Chem.Kekulize(mol, clearAromaticFlags=True)
    next(b for b in mol.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE and b.IsInRing()).SetBondType(
        Chem.BondType.SINGLE)
    mol = mol.GetMol()
    Chem.SanitizeMol(mol)
    pos = mol.GetConformer().GetPositions()  # moved into the 1ia1 pocket, where the reference ligand sits
    ref = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf")).GetConformer().GetPositions().mean(axis=0)
    for k, xyz in enumerate(pos - pos.mean(axis=0) + ref):
        mol.GetConformer().SetAtomPosition(k, xyz.tolist())
    Chem.MolToMolFile(mol, str(tmp_path / "lost.sdf"))
    protein = EXAMPLES / "1ia1_protein.pdb"
    (tmp_path / "index.csv").write_text("protein,ligand,name,split\n"
                                        f"{protein},lost.sdf,lost_train,train\n{protein},lost.sdf,lost_val,val\n")
    entries = folder_entries(tmp_path / "index.csv")
    kept = prepare_complexes(entries, tmp_path / "all.npz", num_workers=1, verbose=False)
    assert kept["n_kept"] == 2
    summary = prepare_complexes(entries, tmp_path / "clean.npz", num_workers=1, verbose=False, drop_suspect=True)
    assert summary["skipped"] == {"suspect ligand: flat ring with an sp3 carbon": 1}
    assert load_complexes(tmp_path / "clean.npz").name.tolist() == ["lost_val"]


def test_missing_cache_and_bad_index(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'x.npz'}") + ".*moldiff prepare complexes"):
        load_complexes(tmp_path / "x.npz")
    bad = tmp_path / "bad.csv"
    bad.write_text("protein,ligand,split\na.pdb,a.sdf,holdout\n")
    with pytest.raises(ValueError, match="line 2: unknown split 'holdout'"):
        folder_entries(bad)
    (tmp_path / "nocol.csv").write_text("receptor,ligand\na.pdb,a.sdf\n")
    with pytest.raises(ValueError, match="columns protein,ligand"):
        folder_entries(tmp_path / "nocol.csv")


def test_all_entries_unusable_is_an_error(tmp_path):
    index = tmp_path / "index.csv"
    index.write_text("protein,ligand\nnone.pdb,none.sdf\n")
    with pytest.raises(ValueError, match=r"no complex could be prepared from 1 entries: missing protein file \(1\)"):
        prepare_complexes(folder_entries(index), tmp_path / "out.npz", num_workers=1, verbose=False)


@needs_shared
def test_crossdocked_mini42_counts_missing_pairs(tmp_path):
    entries = crossdocked_entries(SHARED_DATA / "crossdocked_mini42" / "crossdocked_pocket10",
                                  SHARED_DATA / "crossdocked_split" / "data" / "split_by_name.pt")
    assert len(entries) == 100_100
    assert {e.split for e in entries} == {"train", "val", "test"}
    val_families = {e.protein_id for e in entries if e.split == "val"}
    assert val_families and not val_families & {e.protein_id for e in entries if e.split == "train"}
    summary = prepare_complexes(entries, tmp_path / "mini.npz", num_workers=1, verbose=False)
    assert summary["n_kept"] == 30 and summary["skipped"] == {"missing protein file": 100_070}
    arrays = load_complexes(tmp_path / "mini.npz")
    assert (arrays.pocket_num_atoms > 50).all() and (arrays.lig_num_atoms > 5).all()
    assert len(set(arrays.protein.tolist())) == 4


@needs_shared
def test_fep_split_by_protein(tmp_path):
    entries = fep_entries(SHARED_DATA / "fep_benchmark", exclude=())  # all systems, CrossDocked overlap included
    assert len(entries) == 1343
    split_of: dict[str, set[str]] = {}
    for e in entries:
        split_of.setdefault(e.protein_id, set()).add(e.split)
    assert all(len(s) == 1 for s in split_of.values())  # no protein spans two splits
    norm = {re.sub(r"[^0-9a-z]", "", p.casefold()) for p in DEFAULT_FEP_TEST_PROTEINS}
    test = {p for p, s in split_of.items() if s == {"test"}}
    assert {re.sub(r"[^0-9a-z]", "", p.casefold()) for p in test} == norm
    assert any(s == {"val"} for s in split_of.values())
    with pytest.raises(ValueError, match="test protein.*Unobtainium"):
        fep_entries(SHARED_DATA / "fep_benchmark", test_proteins=("TYK2", "Unobtainium"))

    subset = [e for e in entries if "/tyk2_" in e.protein or "/wagner_brd4_" in e.protein][:20]
    summary = prepare_complexes(subset, tmp_path / "fep.npz", num_workers=1, verbose=False)
    assert summary["n_kept"] == len(subset)
    arrays = load_complexes(tmp_path / "fep.npz")
    assert not np.isnan(arrays.dg).any() and (arrays.dg < 0).all()
    assert set(arrays.protein.tolist()) == {"TYK2", "BRD4"}
    assert arrays.split[arrays.protein == "TYK2"].tolist() == [2] * int((arrays.protein == "TYK2").sum())


def test_crossdocked_test_list_reads_as_test_pairs(tmp_path):
    from moldiff.datasets.complexes_prepare import read_crossdocked_split

    listing = tmp_path / "ligand_filenames.txt"
    listing.write_text("FAM_A/1abc_A_rec_1abc_lig_tt_min_0.sdf\nFAM_B/2xyz_B_rec_2xyz_lig_tt_docked_3.sdf\n")
    split = read_crossdocked_split(listing)
    assert split == {"test": [("FAM_A/1abc_A_rec_1abc_lig_tt_min_0_pocket10.pdb", "FAM_A/1abc_A_rec_1abc_lig_tt_min_0.sdf"),
                              ("FAM_B/2xyz_B_rec_2xyz_lig_tt_docked_3_pocket10.pdb", "FAM_B/2xyz_B_rec_2xyz_lig_tt_docked_3.sdf")]}
    listing.write_text("not a ligand\n")
    with pytest.raises(ValueError, match="one ligand .sdf path per line"):
        read_crossdocked_split(listing)


def test_sharded_preparation_streams_in_entry_order_and_loads_as_one_cache(tmp_path):
    from moldiff.datasets.complexes import shard_path

    index = tmp_path / "index.csv"
    with index.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["protein", "ligand", "name", "split", "protein_id"])
        for k in range(5):  # one protein file each: five groups, finishing in any order in the pool
            protein = tmp_path / f"protein{k}.pdb"
            protein.write_bytes((EXAMPLES / "1ia1_protein.pdb").read_bytes())
            w.writerow([protein, EXAMPLES / "1ia1_ligand.sdf", f"copy{k}",
                        ["train", "val", "test"][k % 3], f"p{k}"])
        w.writerow([tmp_path / "gone.pdb", EXAMPLES / "1ia1_ligand.sdf", "gone", "train", "p9"])
    entries = folder_entries(index)
    whole = tmp_path / "whole.npz"
    prepare_complexes(entries, whole, num_workers=1, verbose=False)
    sharded = tmp_path / "sharded.npz"
    summary = prepare_complexes(entries, sharded, num_workers=2, verbose=False, shard_size=2)
    assert summary["shards"] == 3 and summary["n_kept"] == 5 and summary["skipped"] == {"missing protein file": 1}
    assert summary["kept_by_split"] == {"train": 2, "val": 2, "test": 1}
    assert [len(load_complexes(shard_path(sharded, k))) for k in range(3)] == [2, 2, 1]  # bounded pieces
    assert_arrays_equal(load_complexes(whole), load_complexes(sharded))  # same complexes, same order
    assert load_complexes(sharded).name.tolist() == [f"copy{k}" for k in range(5)]
    shard_path(sharded, 1).unlink()
    with pytest.raises(FileNotFoundError, match="shard"):
        load_complexes(sharded)


QUERY_SDF = REPO_ROOT / "tests" / "data" / "query_features.sdf"


def test_query_feature_ligand_featurizes_without_hydrogens():
    """tests/data/query_features.sdf (aromatic bond type 4, bond topology field, explicit H): the
    cache gets its 13 heavy atoms with Kekulé bonds, whether it was read by read_sdf or by RDKit
    (whose query bonds kept their aromatic type and held on to the hydrogens)."""
    from moldiff.chem.io import read_sdf

    for mol in (read_sdf(QUERY_SDF)[0], Chem.MolFromMolFile(str(QUERY_SDF), sanitize=False, removeHs=False)):
        pos, types, charges, bonds, classes = featurize_ligand(mol)
        assert sorted(LIGAND_VOCAB.elements[t] for t in types) == ["C"] * 10 + ["N"] * 2 + ["O"]
        assert len(bonds) == 14 and sorted(classes.tolist()) == [BOND_SINGLE] * 9 + [BOND_DOUBLE] * 5
        assert not charges.any()
        np.testing.assert_array_equal(pos, mol.GetConformer().GetPositions()[:13].astype(np.float32))


def test_prepare_reads_query_feature_ligands_like_plain_ones(tmp_path):
    """The demo crystal ligand with hydrogens, written as TargetDiff's and CrossDocked's files
    are (aromatic bond type 4, every bond's topology field set): preparation keeps it ("bond type
    AROMATIC not supported" and then "element H not in ligand vocabulary" before) and stores
    exactly what the plain file gives."""
    crystal = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    with_h = Chem.AddHs(crystal, addCoords=True)
    block = Chem.MolToMolBlock(with_h, kekulize=False).splitlines()
    first = 4 + with_h.GetNumAtoms()
    for k, bond in enumerate(with_h.GetBonds()):
        block[first + k] = f"{block[first + k][:9]}  0  0{1 if bond.IsInRing() else 2:3d}  0"
    (tmp_path / "query.sdf").write_text("\n".join(block) + "\n$$$$\n")
    assert " 4  0  0  1  0" in (tmp_path / "query.sdf").read_text()
    assert Chem.MolFromMolFile(str(tmp_path / "query.sdf"), removeHs=False).HasQuery()
    (tmp_path / "index.csv").write_text("protein,ligand,name,split\n"
                                        f"{EXAMPLES / '1ia1_protein.pdb'},{EXAMPLES / '1ia1_ligand.sdf'},plain,test\n"
                                        f"{EXAMPLES / '1ia1_protein.pdb'},query.sdf,query,test\n")
    summary = prepare_complexes(folder_entries(tmp_path / "index.csv"), tmp_path / "c.npz", num_workers=1,
                                verbose=False)
    assert summary["n_kept"] == 2, summary["examples"]
    arrays = load_complexes(tmp_path / "c.npz")
    plain, query = arrays.complex(0), arrays.complex(1)
    for key in plain:
        np.testing.assert_array_equal(plain[key], query[key], err_msg=key)
    assert arrays.smiles[0] == arrays.smiles[1]
