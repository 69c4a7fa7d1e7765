"""PoseBusters checks of ligand poses in a protein (no torch), through the ``posebusters``
package: chemistry (sanitization, connectivity, radicals), geometry against distance-geometry
bounds (bond lengths, angles, internal clashes, ring and double-bond planarity, internal energy)
and the protein (minimum distance, volume overlap). A pose is "PB-valid" when every check passes.
"""
from __future__ import annotations

import os
from typing import Sequence

import pandas as pd
from rdkit import Chem


def posebusters_table(mols: Sequence[Chem.Mol], protein: str | os.PathLike) -> pd.DataFrame:
    """One row per molecule, one boolean column per PoseBusters check (its "dock" configuration:
    no true pose needed), plus ``pb_valid`` (all checks pass); molecules PoseBusters cannot load
    fail every check."""
    from posebusters import PoseBusters
    from posebusters.tools.loading import safe_load_mol

    if not os.path.isfile(protein):
        raise ValueError(f"{protein}: no such file")
    buster = PoseBusters(config="dock")
    # Loaded once here: given a path, PoseBusters reads and parses the protein again for every molecule.
    receptor = safe_load_mol(str(protein), **buster.config.get("loading", {}).get("mol_cond", {}))
    table = buster.bust(list(mols), None, str(protein) if receptor is None else receptor, full_report=False)
    checks = table.reset_index(drop=True).astype(bool)
    checks["pb_valid"] = checks.all(axis=1)
    return checks
