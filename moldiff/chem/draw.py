"""Pictures of molecules for reports (RDKit, no torch): PNG grids and inline SVG depictions."""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw, rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

#: Class attributes and style declarations that repeat SVG's defaults (about a third of RDKit's SVG).
_SVG_REDUNDANT = re.compile(r" class='[^']*'|(fill-opacity:1|stroke-opacity:1|stroke-linecap:butt|"
                            r"stroke-linejoin:miter|stroke-miterlimit:10);?")


def _flat(mol: Chem.Mol) -> Chem.Mol:
    """A 2D copy of ``mol``: hydrogens removed (without sanitizing), coordinates recomputed."""
    flat = Chem.RemoveHs(Chem.Mol(mol), sanitize=False)
    flat.RemoveAllConformers()
    rdDepictor.Compute2DCoords(flat)
    return flat


def grid_png(mols: Sequence[Chem.Mol], path: str | os.PathLike, n: int = 24, per_row: int = 6,
             legends: Sequence[str] | None = None) -> int:
    """Draw the first ``n`` molecules in 2D (hydrogens removed, coordinates recomputed) into a PNG
    grid, written atomically; returns how many were drawn."""
    flat = [_flat(m) for m in list(mols)[:n]]
    if not flat:
        return 0
    img = Draw.MolsToGridImage(flat, molsPerRow=per_row, subImgSize=(220, 180),
                               legends=list(legends)[: len(flat)] if legends else None)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.png")
    img.save(tmp)
    tmp.replace(path)
    return len(flat)


def svg(mol: Chem.Mol, width: int = 160, height: int = 110) -> str:
    """A 2D depiction of ``mol`` as a compact SVG element to inline in HTML (no XML header, no
    classes or default styles, transparent background). Molecules that do not sanitize are drawn
    as written (bonds as given, no aromaticity perception), so invalid molecules get a picture too."""
    flat = _flat(mol)
    flat.UpdatePropertyCache(strict=False)
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    drawer.drawOptions().clearBackground = False
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, flat, kekulize=False)
    drawer.FinishDrawing()
    text = drawer.GetDrawingText()
    return _SVG_REDUNDANT.sub("", text[text.index("<svg"):]).strip()
