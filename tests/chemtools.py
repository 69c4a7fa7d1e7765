"""Molecules shared by chemistry tests."""
from pathlib import Path

from rdkit import Chem

EXAMPLES = Path(__file__).resolve().parents[1] / "data/examples"


def demo_ligand_and_shifted(dx: float = 3.0) -> tuple[Chem.Mol, Chem.Mol]:
    """The demo crystal ligand (1ia1) and a copy moved ``dx`` Å along x, into the protein."""
    ligand = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    moved = Chem.Mol(ligand)
    conf = moved.GetConformer()
    for i in range(moved.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + dx, p.y, p.z))
    return ligand, moved
