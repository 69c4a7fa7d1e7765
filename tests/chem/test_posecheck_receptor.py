"""posebusters_table hands PoseBusters the receptor cut to the atoms near the molecules (its
protein checks walked the whole protein eight times per molecule): the verdicts must be exactly
those of the whole receptor."""
from pathlib import Path

import numpy as np
from rdkit import Chem

from moldiff.chem.posecheck import RECEPTOR_RADIUS, _near, posebusters_table

EXAMPLES = Path(__file__).resolve().parents[2] / "data/examples"
PROTEIN = EXAMPLES / "1ia1_protein.pdb"


def _moved(mol: Chem.Mol, shift) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for i in range(out.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + shift[0], p.y + shift[1], p.z + shift[2]))
    return out


def _whole_receptor_table(mols, config: str):
    from posebusters import PoseBusters
    from posebusters.tools.loading import safe_load_mol

    buster = PoseBusters(config=config)
    receptor = safe_load_mol(str(PROTEIN), **buster.config.get("loading", {}).get("mol_cond", {}))
    return buster.bust(list(mols), None, receptor, full_report=False).reset_index(drop=True).astype(bool)


def test_cut_receptor_gives_the_whole_receptors_verdicts():
    """Poses in the pocket, against and inside the protein wall, 4-8 Å out (the checks' 5 Å
    maximum distance and 6 Å search radius), and far away."""
    crystal = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    shifts = [(0, 0, 0), (1.5, 0, 0), (3, 0, 0), (0, -3, 0), (0, 0, 4), (-4, 4, 0), (6, 0, 0), (0, 0, -8),
              (0, 8, 0), (60, 0, 0)]
    mols = [_moved(crystal, s) for s in shifts] + [Chem.AddHs(crystal, addCoords=True)]
    table = posebusters_table(mols, PROTEIN, "dock_fast")
    whole = _whole_receptor_table(mols, "dock_fast")
    assert table.drop(columns="pb_valid").equals(whole)
    assert table["pb_valid"].tolist() == whole.all(axis=1).tolist()
    assert table["pb_valid"].iloc[0] and not table["pb_valid"].iloc[2] and not table["pb_valid"].iloc[9]
    assert len(set(map(tuple, whole.to_numpy()))) >= 3  # the poses do fail different checks


def test_near_keeps_the_atoms_within_the_radius_in_order():
    from posebusters.tools.loading import safe_load_mol

    receptor = safe_load_mol(str(PROTEIN))
    crystal = Chem.MolFromMolFile(str(EXAMPLES / "1ia1_ligand.sdf"))
    cut = _near(receptor, [crystal], RECEPTOR_RADIUS)
    pos, ligand = receptor.GetConformer().GetPositions(), crystal.GetConformer().GetPositions()
    near = np.linalg.norm(pos[:, None] - ligand[None], axis=-1).min(axis=1) <= RECEPTOR_RADIUS
    assert 0 < cut.GetNumAtoms() == near.sum() < receptor.GetNumAtoms()
    np.testing.assert_array_equal(cut.GetConformer().GetPositions(), pos[near])
    names = [a.GetPDBResidueInfo().GetName() for a in receptor.GetAtoms()]
    assert [a.GetPDBResidueInfo().GetName() for a in cut.GetAtoms()] == [n for n, k in zip(names, near) if k]
    assert _near(receptor, [_moved(crystal, (100, 0, 0))], RECEPTOR_RADIUS) is receptor  # nothing near: all of it
