"""Quick force-field relaxation of a generated ligand with the pocket held fixed (RDKit, no torch).

No protein force field can be set up offline for arbitrary pocket fragments, so this is MMFF94
for the ligand (hydrogens added) plus flat-bottom restraints that keep each ligand heavy atom at
least ``min_distance`` from every nearby pocket atom, which stay fixed. It removes clashes and
strained bonds; it is not a binding-energy minimisation.
"""
from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem


def relax_in_pocket(mol: Chem.Mol, pocket_pos: np.ndarray, min_distance: float = 2.8, reach: float = 8.0,
                    max_iters: int = 500, restraint_k: float = 100.0) -> tuple[Chem.Mol, float]:
    """Relaxed copy of a sanitized heavy-atom ``mol`` and the heavy-atom RMSD (Angstrom, same
    frame, no alignment) between the input and relaxed coordinates.

    Pocket atoms within ``reach`` of the ligand become fixed points; each ligand heavy atom is
    restrained to stay at least ``min_distance`` from each of them. Raises ``ValueError`` when
    MMFF has no parameters for the molecule.
    """
    heavy_in = mol.GetConformer().GetPositions()
    with_h = Chem.AddHs(mol, addCoords=True)
    props = AllChem.MMFFGetMoleculeProperties(with_h)
    if props is None:
        raise ValueError("MMFF94 has no parameters for this molecule")
    ff = AllChem.MMFFGetMoleculeForceField(with_h, props, ignoreInterfragInteractions=False)
    pocket_pos = np.asarray(pocket_pos, dtype=np.float64).reshape(-1, 3)
    d = np.linalg.norm(heavy_in[:, None, :] - pocket_pos[None, :, :], axis=-1)
    near = pocket_pos[(d <= reach).any(axis=0)]
    for xyz in near:
        point = ff.AddExtraPoint(*map(float, xyz), fixed=True) - 1
        for i in range(mol.GetNumAtoms()):
            ff.MMFFAddDistanceConstraint(i, point, False, min_distance, 1.0e4, restraint_k)
    ff.Initialize()
    ff.Minimize(maxIts=max_iters)
    pos = np.asarray(ff.Positions()).reshape(-1, 3)[: with_h.GetNumAtoms()]
    conf = with_h.GetConformer()
    for k, xyz in enumerate(pos):
        conf.SetAtomPosition(k, xyz.tolist())
    relaxed = Chem.RemoveHs(with_h)
    rmsd = float(np.sqrt(((relaxed.GetConformer().GetPositions() - heavy_in) ** 2).sum(-1).mean()))
    return relaxed, rmsd
