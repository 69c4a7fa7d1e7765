"""One self-contained ``report.html`` for evaluated molecules (no torch): an interactive 3D view
(3Dmol.js, vendored in ``moldiff/assets`` and inlined) of the pocket residues near the ligands,
the reference ligand and the generated ligands, one at a time or overlaid, coloured by validity,
Vina score or QED; a sortable table of the molecules with inline 2D depictions, where clicking a
row shows that ligand; and the evaluator's plots as embedded PNGs. The file loads nothing from
the network, so it can be mailed, archived or opened offline.

The page marks its state on ``<body>`` for scripted checks: ``data-ready="1"`` once the viewer
has drawn, ``data-current`` the index of the ligand shown (the reference ligand is last).
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem
from scipy.spatial import cKDTree

from moldiff.utils.atomic import write_text
from moldiff.chem.draw import svg
from moldiff.chem.pocket import ProteinAtoms, read_structure
from moldiff.chem.report import summarize

ASSETS = Path(__file__).resolve().parents[1] / "assets"
_THREEDMOL_VERSION = "2.5.5"  # of the vendored assets/3Dmol-min.js (assets/README.md)
#: Protein residues with an atom this close to a shown ligand atom are drawn as the pocket (Å).
POCKET_VIEW_CUTOFF = 6.0
#: Table columns after the record number, validity and depiction: (column, header, tooltip, decimals).
NUMBER_COLUMNS = (("qed", "QED", "quantitative estimate of drug-likeness, 0-1", 2),
                  ("sa", "SA", "synthetic accessibility, 1 easy - 10 hard", 2), ("logp", "logP", "Crippen logP", 2),
                  ("lipinski", "Lipinski", "drug-likeness rules met, of 5", 0),
                  ("vina_score", "Vina", "Vina score of the pose as generated, kcal/mol", 2),
                  ("vina_min", "Vina min.", "Vina score after local minimization, kcal/mol", 2),
                  ("vina_dock", "Vina dock", "Vina score re-docked, kcal/mol", 2),
                  ("strain", "strain", "local MMFF94 strain energy, kcal/mol", 1),
                  ("n_heavy_atoms", "atoms", "heavy atoms", 0))
#: Ring sizes flagged in the table, and macrocycles from this size: rare in drugs, frequent among
#: generated molecules' mistakes.
FLAGGED_RINGS, MACROCYCLE = (3, 4, 7), 8
#: Ways to colour the ligands' carbons besides validity: column -> (label, lower is better).
COLOURINGS = {"vina_min": ("Vina minimized (kcal/mol)", True), "vina_score": ("Vina score (kcal/mol)", True),
              "vina_dock": ("Vina docked (kcal/mol)", True), "qed": ("QED", False)}


def write_html_report(path: str | os.PathLike, mols: Sequence[Chem.Mol], table: pd.DataFrame, *,
                      protein: str | os.PathLike | None = None, reference: Chem.Mol | None = None,
                      records: Sequence[int] | None = None, plots: Sequence[str | os.PathLike] = (),
                      title: str = "moldiff report", notes: Sequence[str] = ()) -> int:
    """Write the report (atomically) and return its size in bytes.

    ``table`` is :func:`moldiff.chem.report.molecule_table` of ``mols`` (and of ``reference`` as its
    last row); ``records`` numbers the molecules as in their SDF (default 1, 2, ...); ``plots``
    are PNG files to embed (missing ones are left out); ``notes`` are lines shown under the title
    (e.g. skipped records)."""
    text = build_html(mols, table, protein=protein, reference=reference, records=records, plots=plots,
                      title=title, notes=notes)
    write_text(path, text)
    return len(text.encode())


def build_html(mols: Sequence[Chem.Mol], table: pd.DataFrame, *, protein: str | os.PathLike | None = None,
               reference: Chem.Mol | None = None, records: Sequence[int] | None = None,
               plots: Sequence[str | os.PathLike] = (), title: str = "moldiff report",
               notes: Sequence[str] = ()) -> str:
    """The report's HTML text (see :func:`write_html_report`)."""
    everything = list(mols) + ([reference] if reference is not None else [])
    if len(table) != len(everything):
        raise ValueError(f"the table has {len(table)} rows for {len(everything)} molecules")
    labels = [f"#{r}" for r in (records or range(1, len(mols) + 1))] + (["reference"] if reference is not None else [])
    rows = table.to_dict("records")
    colourings = [k for k in COLOURINGS if k in table and table[k].notna().any()]
    data = {
        "pocket": pocket_pdb(read_structure(protein, keep_hetero=True), everything, reference) if protein else "",
        "ligands": [{"mol": Chem.MolToMolBlock(m, kekulize=False), "label": label, "valid": bool(row["valid"]),
                     "reference": bool(row["is_reference"]), "values": {k: _number(row.get(k)) for k in colourings}}
                    for m, label, row in zip(everything, labels, rows)],
        "colourings": [{"key": "valid", "label": "validity", "lower_better": False}]
                      + [{"key": k, "label": COLOURINGS[k][0], "lower_better": COLOURINGS[k][1]} for k in colourings],
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # cannot close its <script> element
    head = "\n".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{(ASSETS / "report.css").read_text()}</style>
<script>{_threedmol()}</script>
</head>
<body data-ready="0" data-current="">
<header><h1>{html.escape(title)}</h1>{head}{_summary_html(table)}</header>
<section id="view">
<div id="viewer"></div>
<div id="controls">
<p id="shown">&nbsp;</p>
<label>show <select id="mode"><option value="one">one ligand</option>
<option value="overlay">all ligands</option></select></label>
<label>colour by <select id="colouring"></select></label>
<label><input type="checkbox" id="show-reference" checked> reference ligand</label>
<label><input type="checkbox" id="show-pocket" checked> pocket residues</label>
<label><input type="checkbox" id="show-surface"> pocket surface</label>
<p><button id="previous" type="button">&#9664; previous</button>
<button id="next" type="button">next &#9654;</button></p>
<div id="legend"></div>
<p class="hint">Drag to rotate, scroll to zoom. Click a row of the table to show that ligand;
click a column header to sort.</p>
</div>
</section>
<section id="molecules"><h2>Molecules</h2>{_table_html(table, everything, labels)}</section>
<section id="plots"><h2>Plots</h2>{_plots_html(plots)}</section>
<footer>3D view: 3Dmol.js {_THREEDMOL_VERSION} (BSD-3-Clause; licence in this file's source).
Written by moldiff.</footer>
<script type="application/json" id="report-data">{payload}</script>
<script>{(ASSETS / "report.js").read_text()}</script>
</body></html>
"""


def _threedmol() -> str:
    """3Dmol.js with its banner and licence text (which its redistribution must carry) in front."""
    banner, notice = (ASSETS / "3Dmol-min.js.LICENSE.txt").read_text(), (ASSETS / "3Dmol-LICENSE.txt").read_text()
    return f"{banner}/*!\n{notice}*/\n{(ASSETS / '3Dmol-min.js').read_text()}"


def pocket_pdb(atoms: ProteinAtoms, ligands: Sequence[Chem.Mol], reference: Chem.Mol | None = None,
               cutoff: float = POCKET_VIEW_CUTOFF) -> str:
    """PDB text of the residues (cofactors and ions included) with an atom within ``cutoff`` Å of
    any atom of ``ligands`` (whole residues, in file order), for the viewer; a hetero group with an
    atom within 1 Å of the ``reference`` ligand is that ligand left in the structure file: left out."""
    pos = [m.GetConformer().GetPositions() for m in ligands if m.GetNumConformers()]
    if not pos:
        return ""
    keys = np.char.add(atoms.residue_keys(), atoms.res_name.astype(str))
    near = cKDTree(np.concatenate(pos)).query(atoms.pos, distance_upper_bound=cutoff)[0] <= cutoff
    keep = np.isin(keys, keys[near])
    if reference is not None and reference.GetNumConformers():
        copy = cKDTree(reference.GetConformer().GetPositions()).query(atoms.pos, distance_upper_bound=1.0)[0] <= 1.0
        keep &= ~np.isin(keys, keys[copy & atoms.hetero])
    pocket = atoms.select(keep)
    lines = []
    for k in range(len(pocket)):
        name, (x, y, z) = str(pocket.atom_name[k]), pocket.pos[k]
        name = name if len(name) == 4 else " " + name  # PDB column rule: 1-letter elements start in column 14
        lines.append(f"{'HETATM' if pocket.hetero[k] else 'ATOM':<6}{k + 1:>5} {name:<4}"
                     f" {str(pocket.res_name[k]):>3} {str(pocket.chain[k])[:1]:1}{int(pocket.res_seq[k]):>4}"
                     f"{str(pocket.icode[k])[:1]:1}   {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00"
                     f"          {str(pocket.element[k]).upper():>2}")
    return "\n".join(lines + ["END", ""])


def _number(value) -> float | None:
    """A finite float, or None for missing values (JSON has no NaN)."""
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _cell(value, decimals: int) -> str:
    """A sortable numeric cell (empty when missing)."""
    number = _number(value)
    if number is None:
        return '<td data-sort=""></td>'
    return f'<td class="num" data-sort="{number!r}">{number:.{decimals}f}</td>'


def _text(value) -> str:
    """A text cell's escaped content ("" for missing values)."""
    return html.escape(value) if isinstance(value, str) else ""


def _ring_flags(sizes) -> tuple[str, str]:
    """The flagged ring sizes of a ``ring_sizes`` cell ("3 8+") and all its sizes (for a tooltip)."""
    if not isinstance(sizes, str) or not sizes:
        return "", ""
    ints = {int(s) for s in sizes.split()}
    flags = [str(k) for k in FLAGGED_RINGS if k in ints] + ([f"{MACROCYCLE}+"] if max(ints) >= MACROCYCLE else [])
    return " ".join(flags), "ring sizes: " + sizes


def _table_html(table: pd.DataFrame, mols: Sequence[Chem.Mol], labels: Sequence[str]) -> str:
    """The molecule table: one row per ligand (``data-index`` = its index in the viewer)."""
    numbers = [(k, d) for k, _, _, d in NUMBER_COLUMNS if k in table and table[k].notna().any()]
    pb = "pb_valid" in table and table["pb_valid"].notna().any()
    head = [("#", "record in the SDF"), ("valid", "sanitizes in RDKit and is one fragment"),
            ("reason", "why it is not valid"), ("2D", "hover for the SMILES"),
            *((name, tip) for k, name, tip, _ in NUMBER_COLUMNS if k in dict(numbers)),
            *([("PB", "PoseBusters checks")] if pb else []), ("rings", "flagged ring sizes: 3, 4, 7 and 8 or more")]
    out = ['<table id="molecule-table"><thead><tr>']
    out += [f'<th data-column="{i}" title="{html.escape(tip)}"{" class=nosort" if name == "2D" else ""}>'
            f"{html.escape(name)}</th>" for i, (name, tip) in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for index, (row, mol, label) in enumerate(zip(table.to_dict("records"), mols, labels)):
        order = len(labels) if row["is_reference"] else index  # the reference sorts last by number
        cells = [f'<td data-sort="{order}">{html.escape(label)}</td>',
                 f'<td data-sort="{int(row["valid"])}">{"yes" if row["valid"] else "no"}</td>',
                 f'<td class="reason">{_text(row.get("error"))}</td>',
                 f'<td class="depiction" title="{_text(row.get("smiles"))}">{svg(mol)}</td>']
        cells += [_cell(row.get(k), d) for k, d in numbers]
        if pb:
            verdict = row.get("pb_valid")
            text = "" if pd.isna(verdict) else ("pass" if verdict else "fail")
            cells.append(f'<td data-sort="{text}">{text}</td>')
        flags, sizes = _ring_flags(row.get("ring_sizes"))
        cells.append(f'<td title="{sizes}">{flags}</td>')
        css = ' class="reference"' if row["is_reference"] else ("" if row["valid"] else ' class="invalid"')
        out.append(f'<tr data-index="{index}"{css}>{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _summary_html(table: pd.DataFrame) -> str:
    """One line of headline numbers: molecules, validity, uniqueness, median QED/SA/Vina against
    the reference."""
    s = summarize(table)
    parts = [f"{s['n_molecules']} molecules"]
    if s["validity"] is not None:
        parts.append(f"valid {100 * s['validity']:.0f} %")
    if s["uniqueness"] is not None:
        parts.append(f"unique {100 * s['uniqueness']:.0f} % of valid")
    for k, name in (("qed", "QED"), ("sa", "SA"), ("vina_score", "Vina score"), ("vina_min", "Vina minimized"),
                    ("vina_dock", "Vina docked"), ("strain", "strain")):
        if s.get(f"{k}_median") is not None:
            ref = s.get(f"ref_{k}")
            parts.append(f"median {name} {s[f'{k}_median']:.2f}" + ("" if ref is None else f" (reference {ref:.2f})"))
    if s.get("pb_valid") is not None:
        parts.append(f"PoseBusters-valid {100 * s['pb_valid']:.0f} % of valid")
    return f'<p class="summary">{html.escape(" · ".join(parts))}</p>'


def _plots_html(plots: Sequence[str | os.PathLike]) -> str:
    """Each existing PNG as an inline image with its file name as caption."""
    figures = []
    for p in map(Path, plots):
        if p.is_file():
            data = base64.b64encode(p.read_bytes()).decode()
            figures.append(f'<figure><img alt="{html.escape(p.name)}" src="data:image/png;base64,{data}">'
                           f"<figcaption>{html.escape(p.name)}</figcaption></figure>")
    return "\n".join(figures) or "<p>no plots</p>"
