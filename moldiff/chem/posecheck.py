"""PoseBusters checks of ligand poses in a protein (no torch), through the ``posebusters``
package: chemistry (sanitization, connectivity, radicals), geometry against distance-geometry
bounds (bond lengths, angles, internal clashes, ring and double-bond planarity, internal energy)
and the protein (minimum distance, volume overlap). A pose is "PB-valid" when every check passes.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # CONFIGS is imported by scripts that also run where RDKit and pandas are missing
    import pandas as pd
    from rdkit import Chem


#: PoseBusters configurations for poses without a true pose: every check, or all but the internal
#: energy check, which embeds 50 conformers per molecule: 1.5-3 s per generated drug-sized
#: molecule, minutes for some that ETKDG cannot embed, against about 0.13 s for all other checks
#: (README, Evaluation)
CONFIGS = ("dock", "dock_fast")
#: The protein checks (distance to protein, cofactors and waters, volume overlap) read only the
#: protein atoms within ``search_distance`` (6 Å) of a ligand atom, but each of the eight walks
#: and copies the whole protein for every molecule: the receptor is cut once to the atoms within
#: this radius of any of the molecules, which leaves every verdict as it is.
RECEPTOR_RADIUS = 10.0


def posebusters_table(mols: Sequence[Chem.Mol], protein: str | os.PathLike, config: str = "dock") -> pd.DataFrame:
    """One row per molecule, one boolean column per PoseBusters check of ``config`` (see
    :data:`CONFIGS`), plus ``pb_valid`` (all checks pass); molecules PoseBusters cannot load
    fail every check. Query atoms and bonds (as RDKit reads some SDFs) are made plain first:
    PoseBusters fails query molecules' InChI and ring checks."""
    from posebusters import PoseBusters
    from posebusters.tools.loading import safe_load_mol

    from moldiff.chem.io import plain_molecule

    if config not in CONFIGS:
        raise ValueError(f"PoseBusters configuration must be one of {', '.join(CONFIGS)}, got {config!r}")
    if not os.path.isfile(protein):
        raise ValueError(f"{protein}: no such file")
    buster = PoseBusters(config=config)
    # Loaded once here: given a path, PoseBusters reads and parses the protein again for every molecule.
    receptor = safe_load_mol(str(protein), **buster.config.get("loading", {}).get("mol_cond", {}))
    mols = [plain_molecule(m) for m in mols]
    if receptor is not None:
        receptor = _near(receptor, mols, RECEPTOR_RADIUS)
    table = buster.bust(mols, None, str(protein) if receptor is None else receptor, full_report=False)
    checks = table.reset_index(drop=True).astype(bool)
    checks["pb_valid"] = checks.all(axis=1)
    return checks


def _near(receptor: Chem.Mol, mols: Sequence[Chem.Mol], radius: float) -> Chem.Mol:
    """``receptor`` keeping, in their order, the atoms within ``radius`` Å of an atom of one of
    ``mols`` (all of it when none is that close, or no molecule has coordinates)."""
    import numpy as np
    from rdkit import Chem
    from scipy.spatial import cKDTree

    coords = [m.GetConformer().GetPositions() for m in mols if m.GetNumConformers()]
    if not coords:
        return receptor
    distance, _ = cKDTree(np.concatenate(coords)).query(receptor.GetConformer().GetPositions(),
                                                        distance_upper_bound=radius)
    far = np.flatnonzero(np.isinf(distance))
    if len(far) in (0, receptor.GetNumAtoms()):
        return receptor
    work = Chem.RWMol(receptor)
    work.BeginBatchEdit()
    for i in far.tolist():
        work.RemoveAtom(i)
    work.CommitBatchEdit()
    return work.GetMol()
