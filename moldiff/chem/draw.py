"""Pictures of molecules for reports (RDKit, no torch)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw


def grid_png(mols: Sequence[Chem.Mol], path: str | os.PathLike, n: int = 24, per_row: int = 6,
             legends: Sequence[str] | None = None) -> int:
    """Draw the first ``n`` molecules in 2D (hydrogens removed, coordinates recomputed) into a PNG
    grid, written atomically; returns how many were drawn."""
    flat = []
    for m in list(mols)[:n]:
        m2 = Chem.RemoveHs(Chem.Mol(m), sanitize=False)
        m2.RemoveAllConformers()
        Chem.rdDepictor.Compute2DCoords(m2)
        flat.append(m2)
    if not flat:
        return 0
    img = Draw.MolsToGridImage(flat, molsPerRow=per_row, subImgSize=(220, 180),
                               legends=list(legends)[: len(flat)] if legends else None)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.png")
    img.save(tmp)
    tmp.replace(path)
    return len(flat)
