"""Pictures of molecules for reports (RDKit, no torch): PNG grids and inline SVG depictions."""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw, rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

from moldiff.chem.build import sanitize_or_none

#: Class attributes and style declarations that repeat SVG's defaults (about a third of RDKit's SVG).
_SVG_REDUNDANT = re.compile(r" class='[^']*'|(fill-opacity:1|stroke-opacity:1|stroke-linecap:butt|"
                            r"stroke-linejoin:miter|stroke-miterlimit:10);?")


def _flat(mol: Chem.Mol) -> tuple[Chem.Mol, bool]:
    """A 2D copy of ``mol`` (hydrogens removed, coordinates recomputed) and whether it sanitized.
    A molecule that sanitizes keeps the stereo its 3D pose defines; one that does not is drawn
    without stereo: the parity flags of unsanitized SDF records would wedge atoms that are no
    stereocentres (a CH2 next to its two hydrogens)."""
    flat, _ = sanitize_or_none(mol)
    if flat is not None and flat.GetNumConformers():
        Chem.AssignStereochemistryFrom3D(flat)
    sanitized = flat is not None
    if flat is None:
        flat = Chem.Mol(mol)
        Chem.RemoveStereochemistry(flat)
    flat = Chem.RemoveHs(flat, sanitize=False)
    flat.RemoveAllConformers()
    rdDepictor.Compute2DCoords(flat)
    return flat, sanitized


def grid_png(mols: Sequence[Chem.Mol], path: str | os.PathLike, n: int = 24, per_row: int = 6,
             legends: Sequence[str] | None = None) -> int:
    """Draw the first ``n`` molecules in 2D (hydrogens removed, coordinates recomputed) into a PNG
    grid, written atomically; returns how many were drawn."""
    flat = [_flat(m)[0] for m in list(mols)[:n]]
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
    flat, sanitized = _flat(mol)
    flat.UpdatePropertyCache(strict=False)
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    drawer.drawOptions().clearBackground = False
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, flat, kekulize=sanitized)
    drawer.FinishDrawing()
    text = drawer.GetDrawingText()
    return _SVG_REDUNDANT.sub("", text[text.index("<svg"):]).strip()
