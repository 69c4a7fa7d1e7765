"""The inpainting examples run end to end with the shipped pocket model (few steps) and keep
their fixed atoms."""
import importlib.util
from pathlib import Path

import pytest
from rdkit import Chem

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name, out", [("grow_fragment", "grown.sdf"), ("link_fragments", "linked.sdf"),
                                       ("scaffold_hop", "hopped.sdf")])
def test_inpainting_example(name, out, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    module.main(n_samples=3, n_steps=3)
    mols = list(Chem.SDMolSupplier(str(tmp_path / out), sanitize=False))
    assert len(mols) == 3 and all(m.HasProp("fixed_atoms") for m in mols)
    assert "kept exactly in 3/3" in capsys.readouterr().out
