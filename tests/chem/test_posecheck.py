"""PoseBusters through moldiff: a crystal ligand passes, the same ligand pushed into the protein fails."""
from pathlib import Path

import pytest
from rdkit import Chem

from moldiff.chem.posecheck import posebusters_table

EXAMPLES = Path(__file__).resolve().parents[2] / "data/examples"


def test_crystal_pose_passes_and_a_pose_inside_the_protein_fails():
    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    moved = Chem.Mol(ligand)
    conf = moved.GetConformer()
    for i in range(moved.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + 3.0, p.y, p.z))
    table = posebusters_table([ligand, moved], EXAMPLES / "1ia1_protein.pdb")
    assert len(table) == 2 and bool(table.loc[0, "pb_valid"])
    assert not table.loc[1, "pb_valid"]
    assert bool(table.loc[1, "bond_lengths"])  # the internal geometry is unchanged
    assert not (table.loc[1, "minimum_distance_to_protein"] and table.loc[1, "volume_overlap_with_protein"])
    fast = posebusters_table([ligand, moved], EXAMPLES / "1ia1_protein.pdb", config="dock_fast")
    assert "internal_energy" in table.columns and "internal_energy" not in fast.columns
    assert fast["pb_valid"].tolist() == [True, False]
    with pytest.raises(ValueError, match="dock_fast"):
        posebusters_table([ligand], EXAMPLES / "1ia1_protein.pdb", config="redock")
