"""QM9 preprocessing from the qm9pack CSVs, the cache format, and metrics on real QM9 molecules."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moldiff.chem.build import build_molecule, canonical_smiles
from moldiff.chem.metrics import evaluate_molecules
from moldiff.chem.stability import atom_stability
from moldiff.datasets.qm9 import SPLIT_SIZES, load_qm9
from moldiff.datasets.qm9_prepare import (
    parse_elements,
    parse_mathematica_number,
    parse_xyz,
    prepare_qm9,
    read_qm9_csv,
    split_labels,
)
from moldiff.vocab import QM9_HEAVY_VOCAB, QM9_VOCAB

# EDM's reference: its distance-based stability evaluated on QM9 molecules themselves.
EDM_DATA_ATOM_STABLE, EDM_DATA_MOL_STABLE = 0.990, 0.952


@pytest.fixture(scope="module")
def sample_cache(tmp_path_factory) -> tuple[Path, dict]:
    """200 random molecules over all splits, processed in a 2-process pool."""
    path = tmp_path_factory.mktemp("qm9") / "qm9_sample.npz"
    return path, prepare_qm9(path, num_workers=2, limit=200, verbose=False)


@pytest.fixture(scope="module")
def test_split_cache(tmp_path_factory) -> Path:
    """A fixed random sample of 2,000 test-split molecules, processed in-process."""
    path = tmp_path_factory.mktemp("qm9") / "qm9_test2000.npz"
    prepare_qm9(path, num_workers=1, limit=2000, splits=("test",), verbose=False)
    return path


def _symbols(types: np.ndarray, vocab=QM9_VOCAB) -> list[str]:
    return [vocab.elements[t] for t in types]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.", 1.0), ("1.2*^-5", 1.2e-5), ("-3.4*^2", -340.0), ("0.", 0.0),
        ("2.1997E-6", 2.1997e-6), ("-0.0126981359", -0.0126981359),
    ],
)
def test_parse_mathematica_number(text, value):
    assert parse_mathematica_number(text) == value  # exact, not approximate


def test_parse_xyz_and_elements():
    xyz = parse_xyz("[[0.5995394918,0.,1.],[-1.2*^-5,-3.4*^2,1.]]")
    np.testing.assert_array_equal(xyz, [[0.5995394918, 0.0, 1.0], [-1.2e-5, -340.0, 1.0]])
    assert parse_elements("['C','H','N']") == ["C", "H", "N"]


def test_split_labels_are_seeded_with_edm_sizes():
    labels, order = split_labels(sum(SPLIT_SIZES))
    assert np.bincount(labels).tolist() == list(SPLIT_SIZES)
    again, order_again = split_labels(sum(SPLIT_SIZES))
    np.testing.assert_array_equal(labels, again)
    np.testing.assert_array_equal(order, order_again)
    assert sorted(order.tolist()[:10]) != list(range(10))
    with pytest.raises(ValueError, match="130831"):
        split_labels(1000)


def test_sample_summary_and_split_membership(sample_cache):
    path, summary = sample_cache
    assert summary["processed"] == 200
    assert summary["kept"] + summary["failed"] == 200
    assert summary["failed"] == sum(summary["failed_by_reason"].values())
    assert summary["kept"] >= 195
    data = load_qm9(path)
    assert len(data) == summary["kept"]
    assert sum(summary["kept_by_split"].values()) == len(data)
    assert [len(data.split_indices(s)) for s in ("train", "val", "test")] == list(summary["kept_by_split"].values())
    assert len(data.split_indices("train")) > len(data.split_indices("val")) > 0
    # Split membership comes from the full-dataset permutation, not from the sample.
    labels, _ = split_labels(sum(SPLIT_SIZES))
    index = read_qm9_csv()["Index"].to_numpy()
    rows = np.searchsorted(index, data.qm9_index)
    np.testing.assert_array_equal(labels[rows], data.split)


def test_cache_arrays_shapes_and_centring(sample_cache):
    data = load_qm9(sample_cache[0])
    n_atoms, n_bonds = int(data.num_atoms.sum()), int(data.num_bonds.sum())
    assert data.pos.shape == (n_atoms, 3) and data.atom_types.shape == data.charges.shape == (n_atoms,)
    assert data.bonds.shape == (n_bonds, 2) and data.bond_classes.shape == data.bond_aromatic.shape == (n_bonds,)
    assert set(np.unique(data.bond_classes).tolist()) <= {1, 2, 3}
    assert set(np.unique(data.charges).tolist()) <= {-1, 0, 1}
    assert data.num_atoms.max() <= 29 and set(data.properties) >= {"mu", "alpha", "homo", "lumo", "gap", "Cv"}
    np.testing.assert_allclose(data.properties["gap"], data.properties["lumo"] - data.properties["homo"], atol=5e-3)
    for i in range(len(data)):
        pos, types, charges, bonds = data.molecule(i)
        assert pos.dtype == np.float32 and np.abs(pos.mean(axis=0)).max() < 2e-3
        assert (bonds[:, 0] < bonds[:, 1]).all() and bonds[:, 1].max(initial=0) < len(types)


def test_cached_bonds_reproduce_cached_smiles(sample_cache):
    data = load_qm9(sample_cache[0])
    for i in range(len(data)):
        pos, types, charges, bonds = data.molecule(i)
        mol = build_molecule(_symbols(types), pos, charges.tolist(), bonds)
        assert canonical_smiles(mol) == data.smiles[i]


def test_aromatic_variant(sample_cache):
    kekule, aromatic = load_qm9(sample_cache[0]), load_qm9(sample_cache[0], aromatic=True)
    assert aromatic.num_bond_types == 5 and len(aromatic.bond_marginals()) == 5
    np.testing.assert_array_equal(aromatic.bond_classes == 4, kekule.bond_aromatic)
    for i in np.flatnonzero(np.add.reduceat(kekule.bond_aromatic, kekule.bond_offsets[:-1]) > 0)[:5]:
        pos, types, charges, bonds = aromatic.molecule(i)
        assert canonical_smiles(build_molecule(_symbols(types), pos, charges.tolist(), bonds)) == aromatic.smiles[i]


def test_remove_h_variant(sample_cache):
    full, heavy = load_qm9(sample_cache[0]), load_qm9(sample_cache[0], remove_h=True)
    assert heavy.vocab == QM9_HEAVY_VOCAB and len(heavy) == len(full)
    assert "H" not in _symbols(np.unique(heavy.atom_types), QM9_HEAVY_VOCAB)
    h = QM9_VOCAB.element_index("H")
    assert int(heavy.num_atoms.sum()) == int((full.atom_types != h).sum())
    for i in range(len(heavy)):
        pos, types, charges, bonds = heavy.molecule(i)
        assert np.abs(pos.mean(axis=0)).max() < 1e-4
        if len(bonds):
            assert bonds[:, :2].max() < len(types)
        mol = build_molecule(_symbols(types, QM9_HEAVY_VOCAB), pos, charges.tolist(), bonds, explicit_h=False)
        assert canonical_smiles(mol) == heavy.smiles[i]


def test_marginals(sample_cache):
    data = load_qm9(sample_cache[0])
    types, charges, bonds = data.type_marginals(), data.charge_marginals(), data.bond_marginals()
    for marginal, size in ((types, 5), (charges, 3), (bonds, 4)):
        assert marginal.shape == (size,) and marginal.sum() == pytest.approx(1.0)
    assert types[QM9_VOCAB.element_index("H")] > 0.45 and charges[1] > 0.99 and bonds[0] > 0.8
    train = data.split_indices("train")
    n = data.num_atoms[train]
    assert bonds[1:].sum() == pytest.approx(data.num_bonds[train].sum() / (n * (n - 1) / 2).sum())
    histogram = data.num_atoms_histogram("train")
    assert histogram.sum() == len(train) and histogram[int(n.max())] > 0


def test_missing_cache_names_path_and_script(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=rf"{missing}.*moldiff prepare qm9"):
        load_qm9(missing)


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    from moldiff.commands import prepare_qm9 as cli

    assert cli.main(["--out", str(tmp_path / "x.npz"), "--workers", "0"]) == 1
    assert capsys.readouterr().err.splitlines() == ["error: --workers must be at least 1"]
    assert not (tmp_path / "x.npz").exists()


def test_edm_stability_of_qm9_test_molecules_matches_reference(test_split_cache):
    data = load_qm9(test_split_cache)
    assert len(data) >= 1990 and (data.split == 2).all()
    stable = [atom_stability(_symbols(data.molecule(i)[1]), data.molecule(i)[0]) for i in range(len(data))]
    atom_stable = np.concatenate(stable).mean()
    mol_stable = np.mean([s.all() for s in stable])
    assert abs(atom_stable - EDM_DATA_ATOM_STABLE) < 0.007
    assert abs(mol_stable - EDM_DATA_MOL_STABLE) < 0.02


def test_qm9_molecules_with_cached_bonds_are_valid(test_split_cache):
    data = load_qm9(test_split_cache)
    mols = []
    for i in range(0, len(data), 4):
        pos, types, charges, bonds = data.molecule(i)
        mols.append(build_molecule(_symbols(types), pos, charges.tolist(), bonds))
    metrics = evaluate_molecules(mols, train_smiles=set(data.smiles[1::4]))
    assert metrics["validity"] == 1.0 and metrics["validity_largest_frag"] == 1.0
    assert metrics["mol_stable_valence"] == 1.0 and metrics["uniqueness"] > 0.99
    assert metrics["novelty"] > 0.99  # disjoint molecules are novel w.r.t. each other
