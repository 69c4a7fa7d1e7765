"""Fixed atoms from SDF files and reference ligands: selection, kekulized bonds, standard cuts
(ring systems, terminal fragments), checks on generated molecules, and one-line errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.fragments import (
    fixed_arrays,
    fragment_smarts,
    has_fragment,
    keeps_fixed_atoms,
    read_fixed_atoms,
    ring_systems,
    select_atoms,
    terminal_fragments,
)
from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB

EXAMPLES = Path(__file__).resolve().parents[2] / "data/examples"
LIGAND = EXAMPLES / "1ia1_ligand.sdf"


def embedded(smiles: str, hydrogens: bool = False) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    return mol if hydrogens else Chem.RemoveHs(mol)


def write(mol: Chem.Mol, path: Path) -> Path:
    Chem.MolToMolFile(mol, str(path))
    return path


def test_ring_systems_merge_fused_rings_and_sort_by_size():
    mol = Chem.MolFromSmiles("c1ccc2ccccc2c1CCC1CC1")  # naphthalene + cyclopropane
    systems = ring_systems(mol)
    assert [len(s) for s in systems] == [10, 3]


def test_terminal_fragments_of_demo_ligand():
    lig = Chem.MolFromMolFile(str(LIGAND))  # 2,4-diaminoquinazoline-S-phenyl
    a, b = terminal_fragments(lig)
    sub = {Chem.MolFragmentToSmiles(lig, atomsToUse=x) for x in (a, b)}
    assert sub == {"Nc1nc(N)c2ccccc2n1", "c1ccccc1"}
    assert len(a) + len(b) == lig.GetNumAtoms() - 1  # the thioether S is the linker
    assert terminal_fragments(Chem.MolFromSmiles("c1ccccc1")) is None  # nothing to cut
    assert terminal_fragments(Chem.MolFromSmiles("c1ccccc1-c1ccccc1")) is None  # two pieces touching


def test_fixed_arrays_kekulize_and_drop_hydrogens():
    mol = embedded("c1ccccc1O", hydrogens=True)
    arr = fixed_arrays(mol, range(mol.GetNumAtoms()), LIGAND_VOCAB)
    assert arr.elements == ["C"] * 6 + ["O"]
    orders = sorted(arr.bonds[:, 2].tolist())
    assert orders == [1, 1, 1, 1, 2, 2, 2]  # kekulized benzene + C-O
    np.testing.assert_array_equal(arr.pos, mol.GetConformer().GetPositions()[:7])
    with_h = fixed_arrays(mol, range(mol.GetNumAtoms()), QM9_VOCAB)
    assert len(with_h.elements) == mol.GetNumAtoms()  # models of explicit hydrogens keep them


def test_select_atoms_by_smarts_and_indices():
    lig = Chem.MolFromMolFile(str(LIGAND))
    ring = select_atoms(lig, smarts="c1ccccc1")
    assert len(ring) == 6 and ring == sorted(ring)
    assert select_atoms(lig, indices=[5, 0, 3]) == [0, 3, 5]
    assert select_atoms(lig) == list(range(lig.GetNumAtoms()))


@pytest.mark.parametrize("kwargs, message", [
    ({"smarts": "[Br]"}, "matches no atoms"),
    ({"smarts": "c1cc(("}, "not a valid SMARTS"),
    ({"indices": [0, 99]}, "atom index 99 out of range"),
    ({"indices": [1, 1]}, "repeated"),
])
def test_select_atoms_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_atoms(Chem.MolFromMolFile(str(LIGAND)), source="lig.sdf", **kwargs)


def test_read_fixed_atoms_joins_fragments_in_file_order(tmp_path):
    f1 = write(embedded("CC(=O)N"), tmp_path / "a.sdf")
    f2 = write(embedded("c1ccncc1"), tmp_path / "b.sdf")
    arr = read_fixed_atoms([f1, f2], LIGAND_VOCAB)
    assert arr.elements == ["C", "C", "O", "N"] + ["C", "C", "C", "N", "C", "C"]
    assert arr.bonds[:, :2].max() == 9 and not ((arr.bonds[:, 0] < 4) & (arr.bonds[:, 1] >= 4)).any()
    with pytest.raises(ValueError, match="exactly one --fix_atoms file"):
        read_fixed_atoms([f1, f2], LIGAND_VOCAB, smarts="C")


@pytest.mark.parametrize("smiles, message", [("C[Si](C)(C)C", "Si, an element the model does not know"),
                                             ("C[N+](C)(C)C", None)])
def test_unknown_elements_are_refused_with_the_file_name(tmp_path, smiles, message):
    path = write(embedded(smiles), tmp_path / "frag.sdf")
    if message is None:
        assert read_fixed_atoms([path], LIGAND_VOCAB).charges.tolist() == [0, 1, 0, 0, 0]
        return
    with pytest.raises(ValueError, match=message) as err:
        read_fixed_atoms([path], LIGAND_VOCAB)
    assert "frag.sdf" in str(err.value)


def test_generated_molecule_checks():
    lig = Chem.MolFromMolFile(str(LIGAND))
    fixed = fixed_arrays(lig, ring_systems(lig)[0], LIGAND_VOCAB)
    rw = Chem.RWMol(lig)
    order = ring_systems(lig)[0] + [i for i in range(lig.GetNumAtoms()) if i not in ring_systems(lig)[0]]
    reordered = Chem.RenumberAtoms(lig, order)  # fixed atoms first, as the sampler writes them
    assert keeps_fixed_atoms(reordered, fixed)
    moved = Chem.Mol(reordered)
    conf = moved.GetConformer()
    p = conf.GetAtomPosition(2)
    conf.SetAtomPosition(2, (p.x + 0.01, p.y, p.z))
    assert not keeps_fixed_atoms(moved, fixed) and keeps_fixed_atoms(moved, fixed, tol=0.02)
    assert not keeps_fixed_atoms(rw, fixed)  # original order: the first atoms are not the ring
    smarts = fragment_smarts(lig, ring_systems(lig)[0])
    assert has_fragment(reordered, smarts) and not has_fragment(Chem.MolFromSmiles("c1ccccc1SC"), smarts)
