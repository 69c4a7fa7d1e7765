"""Fast PoseBusters filter for docked poses in a pocket (no torch): the 'dock' configuration's
intramolecular geometry checks (bond lengths, angles and internal clashes against distance-geometry
bounds; aromatic-ring and double-bond flatness; saturated rings not flat) and its protein checks
(minimum distance, volume overlap, not too far away), with PoseBusters' own thresholds.

Left out, because docking from valid RDKit input cannot fail them or the pockets cannot trigger
them: loading and chemistry (sanitization, InChI, connectivity, radicals), the internal-energy
check (it embeds 50 conformers per molecule, most of the 'dock' cost) and the cofactor and water
checks (the pocket files hold amino acids only). The protein is parsed once per pocket.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from rdkit import Chem

#: Modules of PoseBusters' 'dock' configuration that the filter runs (by their names there).
KEPT_MODULES = ("Geometry", "Ring flatness", "Ring non-flatness", "Double bond flatness", "Distance to protein",
                "Volume overlap with protein")


@cache
def pocket_config() -> dict:
    """PoseBusters configuration: the 'dock' one restricted to :data:`KEPT_MODULES`."""
    import posebusters
    import yaml

    path = Path(posebusters.__file__).parent / "config" / "dock.yml"
    config = yaml.safe_load(path.read_text())
    config["modules"] = [m for m in config["modules"] if m["name"] in KEPT_MODULES]
    found = {m["name"] for m in config["modules"]}
    if found != set(KEPT_MODULES):
        raise RuntimeError(f"PoseBusters {posebusters.__version__}: 'dock' lacks modules {set(KEPT_MODULES) - found}")
    return config


class PocketFilter:
    """PoseBusters checks of poses in one pocket file (parsed once)."""

    def __init__(self, pocket_pdb: str | os.PathLike):
        from posebusters import PoseBusters
        from posebusters.tools.loading import safe_load_mol

        config = copy.deepcopy(pocket_config())
        self._buster = PoseBusters(config=config, max_workers=0)
        self._protein = safe_load_mol(str(pocket_pdb), **config["loading"]["mol_cond"])
        if self._protein is None:
            raise ValueError(f"{pocket_pdb}: PoseBusters cannot read the pocket")

    def failures(self, poses: Sequence[Chem.Mol]) -> list[list[str]]:
        """Per pose, the names of the checks it fails (empty: it passes)."""
        if not poses:
            return []
        table = self._buster.bust(list(poses), None, self._protein).reset_index(drop=True)
        return [[column for column in table.columns if not bool(row[column])] for _, row in table.iterrows()]
