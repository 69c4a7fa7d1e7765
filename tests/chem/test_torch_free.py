"""The chemistry layer runs without torch (docking and evaluation machines, worker processes):
importing every ``moldiff.chem`` module in a fresh interpreter must not load torch."""
import pkgutil
import subprocess
import sys

import moldiff.chem


def test_every_chem_module_imports_without_torch():
    names = sorted(m.name for m in pkgutil.walk_packages(moldiff.chem.__path__, "moldiff.chem."))  # subpackages too
    assert "moldiff.chem.fragments" in names and len(names) > 10
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "    assert 'torch' not in sys.modules, name + ' loaded torch'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
