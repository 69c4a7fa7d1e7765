"""report.html of moldiff evaluate: self-contained (no network), the right molecules and pocket,
and, in headless Chromium where installed, a 3D view that draws and follows clicks on the table."""
import io
import json
import re
import time

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Geometry import Point3D

from clitools import ROOT, cli
from moldiff.utils.browser import Browser, find_chromium

PROTEIN, LIGAND = ROOT / "data/examples/1ia1_protein.pdb", ROOT / "data/examples/1ia1_ligand.sdf"


def _shifted(mol: Chem.Mol, dx: float) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for k in range(out.GetNumAtoms()):
        p = conf.GetAtomPosition(k)
        conf.SetAtomPosition(k, Point3D(p.x + dx, p.y, p.z))
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """evaluate.py on four records in the 1IA1 pocket: the crystal ligand, a copy shifted by 3 Å,
    an unparsable record and an over-valent (invalid) copy; returns the report folder."""
    tmp = tmp_path_factory.mktemp("html")
    crystal = Chem.MolFromMolFile(str(LIGAND))
    invalid = Chem.RWMol(_shifted(crystal, -3.0))
    invalid.GetBondWithIdx(0).SetBondType(Chem.BondType.TRIPLE)  # ring atoms with a triple bond: over-valent
    blocks = [Chem.MolToMolBlock(m, kekulize=False) for m in (crystal, _shifted(crystal, 3.0))]
    blocks += ["broken\n\n\nnot a counts line\nM  END\n", Chem.MolToMolBlock(invalid, kekulize=False)]
    (tmp / "gen.sdf").write_text("".join(b + "$$$$\n" for b in blocks))
    res = cli("evaluate.py", tmp / "gen.sdf", "--pocket", PROTEIN, "--ref_ligand", LIGAND, "--out", tmp / "report")
    assert res.returncode == 0, res.stderr[-2000:]
    return tmp / "report"


def test_report_is_one_offline_file_with_pocket_molecules_and_plots(report):
    text = (report / "report.html").read_text()
    assert "3dmol v2.5.5" in text and "University of Pittsburgh" in text  # the vendored library and its licence
    assert not re.search(r"<script[^>]+src=|<link\b|<img[^>]+src=\"(?!data:)|url\(\s*['\"]?http", text)
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text,
                                re.S).group(1).replace("<\\/", "</"))
    assert [lig["label"] for lig in data["ligands"]] == ["#1", "#2", "#4", "reference"]  # record 3 skipped
    assert [lig["valid"] for lig in data["ligands"]] == [True, True, False, True]
    assert " NDP " in data["pocket"] and " TQ3 " not in data["pocket"]  # the cofactor, not the ligand's copy
    assert data["pocket"].count("\nATOM ") > 100
    assert [c["key"] for c in data["colourings"]] == ["valid", "qed"]
    rows = re.findall(r'<tr data-index="(\d+)"', text)
    assert rows == ["0", "1", "2", "3"] and text.count("<svg") == 4
    assert text.count("data:image/png;base64,") == 1  # properties.png
    assert "1 of 4 records could not be parsed (record 3)" in text


def _ink(png: bytes) -> tuple[float, int]:
    """Fraction of pixels that are not near-white, and the number of distinct colours."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return float((pixels.min(axis=1) < 230).mean()), len(np.unique(pixels, axis=0))


def test_report_in_headless_chromium_draws_and_follows_table_clicks(report):
    """The 3D canvas draws the pocket and ligands, and a real mouse click on a table row shows that
    ligand; every control runs without a JavaScript error (5-10 s on two busy cores)."""
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    start = time.monotonic()
    with Browser(width=1280, height=900) as browser:
        browser.open(report / "report.html")
        assert browser.evaluate("document.body.dataset.current") == "0"
        before = browser.screenshot("#viewer")
        ink, colours = _ink(before)
        assert ink > 0.05 and colours > 50, (ink, colours)  # sticks of several elements, shaded
        browser.click('#molecule-table tbody tr[data-index="2"]')
        browser.wait_for("document.body.dataset.current === '2'", timeout=10)
        assert browser.evaluate("document.getElementById('shown').textContent") == "shown: ligand #4 (invalid)"
        assert browser.evaluate("document.querySelector('tr.current').dataset.index") == "2"
        assert browser.screenshot("#viewer") != before
        browser.click("#molecule-table th:nth-child(5)")  # QED: ascending, the invalid molecule (no QED) last
        order = browser.evaluate("Array.from(document.querySelectorAll('#molecule-table tbody tr'))"
                                 ".map(r => r.dataset.index)")
        assert order[-1] == "2" and sorted(order) == ["0", "1", "2", "3"]
        browser.click("#next")  # the shown ligand is the last row: round to the first
        assert browser.evaluate("document.body.dataset.current") == order[0]
        for control in ("#show-surface", "#show-surface", "#show-pocket", "#show-reference"):
            browser.click(control)
        browser.evaluate("(() => { for (const id of ['mode', 'colouring']) { const s = document.getElementById(id);"
                         " for (const o of s.options) { s.value = o.value; s.dispatchEvent(new Event('change')); } } })()")
        browser.evaluate("new Promise(r => setTimeout(r, 300))")  # let the surface's promise settle
        assert browser.errors == []
    assert time.monotonic() - start < 60
