"""PoseBusters through moldiff: a crystal ligand passes, the same ligand pushed into the protein fails."""
import pytest
from chemtools import EXAMPLES, demo_ligand_and_shifted

from moldiff.chem.posecheck import posebusters_table


def test_crystal_pose_passes_and_a_pose_inside_the_protein_fails():
    ligand, moved = demo_ligand_and_shifted(3.0)
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
