"""scripts/ring_report.py: validity and ring shares of saved samples, overall and by size."""
import json

import numpy as np
from clitools import cli, one_line_error
from rdkit import Chem
from rdkit.Chem import AllChem

from moldiff.chem.arrays import MolArrays
from moldiff.convert import pack_arrays


def _arrays(smiles: str) -> MolArrays:
    """Heavy atoms of an embedded molecule with kekulized bond classes (1 single, 2 double)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    mol = Chem.RemoveHs(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    bonds = np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble())] for b in mol.GetBonds()])
    return MolArrays([a.GetSymbol() for a in mol.GetAtoms()], mol.GetConformer().GetPositions(),
                     np.zeros(mol.GetNumAtoms(), int), bonds)


def test_shares_by_size(tmp_path):
    small_ring = _arrays("CC1CC1")                                    # 4 atoms, a 3-ring
    macrocycle = _arrays("C1CCCCCCCCCCCCCCCCCCCCCC1")                 # 23 atoms, a 23-ring
    broken = MolArrays(["C", "C", "C"], np.eye(3) * 5, np.zeros(3, int), np.array([[0, 1, 1]]))  # two fragments
    path = tmp_path / "samples.npz"
    np.savez(path, **pack_arrays([small_ring, macrocycle, broken]))
    res = cli("ring_report.py", path, "--out", tmp_path / "rings.json")
    assert res.returncode == 0, res.stderr
    rows = json.loads((tmp_path / "rings.json").read_text())["by_size"]
    assert rows["all"]["n"] == 3 and abs(rows["all"]["validity"] - 2 / 3) < 1e-12
    assert rows["all"]["rings"]["ring_3"] == 0.5 and rows["all"]["rings"]["ring_8+"] == 0.5
    assert rows["1-20"]["n"] == 2 and rows["1-20"]["validity"] == 0.5 and rows["1-20"]["rings"]["ring_3"] == 1.0
    assert (rows["21-26"]["n"], rows["21-26"]["validity"]) == (1, 1.0)
    assert rows["21-26"]["rings"]["ring_8+"] == 1.0 and "27-35" not in rows


def test_bad_file_is_one_line(tmp_path):
    one_line_error(cli("ring_report.py", tmp_path / "missing.npz"), "missing.npz", "no such samples file")
    (tmp_path / "other.npz").write_bytes(b"not an npz")
    one_line_error(cli("ring_report.py", tmp_path / "other.npz"), "other.npz")
