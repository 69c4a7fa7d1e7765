"""Ligand relaxation in a fixed pocket: clashes removed, geometry repaired, atoms kept in order."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.relax import relax_in_pocket


def _ligand(seed: int = 0) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1CC(=O)N"))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return Chem.RemoveHs(mol)


def test_relaxation_pushes_ligand_out_of_clashes_and_fixes_a_stretched_bond():
    mol = _ligand()
    pos = mol.GetConformer().GetPositions()
    conf = mol.GetConformer()
    conf.SetAtomPosition(8, (pos[8] + (pos[8] - pos[7]) * 0.4).tolist())  # stretch the C=O bond by 40 %
    pocket = np.array([pos[0] + [0.0, 0.0, 1.2], pos[3] + [0.0, 1.3, 0.0]])  # two clashing pocket atoms
    relaxed, rmsd = relax_in_pocket(mol, pocket)
    new = relaxed.GetConformer().GetPositions()
    assert [a.GetSymbol() for a in relaxed.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
    assert np.linalg.norm(new[:, None] - pocket[None], axis=-1).min() > 2.6
    assert abs(np.linalg.norm(new[8] - new[7]) - 1.23) < 0.05  # back to a carbonyl length
    assert rmsd > 0.05 and np.isfinite(rmsd)


def test_relaxation_needs_mmff_parameters():
    mol = Chem.MolFromSmiles("[Se]=[Se]")
    AllChem.EmbedMolecule(mol, randomSeed=0)
    with pytest.raises(ValueError, match="MMFF94"):
        relax_in_pocket(mol, np.zeros((0, 3)))
