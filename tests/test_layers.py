"""The package's layers hold: every ``import`` in ``moldiff/`` (at module level or inside a
function) follows the allowed directions below, read from the source with ``ast``.

From the bottom up:

- foundations, importing no other moldiff module: ``vocab``, ``utils`` (file writes, CSV input,
  allocator settings, the headless browser), ``geometry`` (coordinate helpers), ``graph`` (the
  denoiser interface and atom pairs);
  ``pocket`` (the pocket type and sizes) builds on ``vocab`` alone;
- ``chem``: chemistry without torch (RDKit, docking, metrics, reports), on the foundations it needs;
- ``nn`` (networks) and ``processes`` (noise processes) side by side, neither importing the other:
  both meet at the interface in ``graph``;
- ``samplers`` on ``processes``, never on the networks;
- ``datasets`` on ``chem`` and ``pocket``, never on the model side (networks, processes, samplers);
- the sampling settings (``options``), the model (``model``) and the public API (``api``) on all
  of those, but not on ``datasets`` or ``training``: sampling needs no training data and no
  training code.

Modules not named here (training, the applications in ``apps``, the console ``commands``,
configuration) may import any layer.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "moldiff"

FOUNDATIONS = {"moldiff.vocab", "moldiff.utils", "moldiff.geometry", "moldiff.graph"}
#: layer -> the only other moldiff modules it may import (a name covers its submodules)
ALLOWED = {
    **{name: set() for name in FOUNDATIONS},
    "moldiff.pocket": {"moldiff.vocab"},
    "moldiff.chem": {"moldiff.vocab", "moldiff.utils"},
    "moldiff.nn": {"moldiff.graph", "moldiff.utils"},
    "moldiff.processes": {"moldiff.graph", "moldiff.geometry"},
    "moldiff.samplers": {"moldiff.processes", "moldiff.graph", "moldiff.geometry", "moldiff.vocab"},
    "moldiff.datasets": {"moldiff.chem", "moldiff.pocket", "moldiff.vocab", "moldiff.utils"},
}
#: layer -> moldiff modules it must not import (the others are free)
FORBIDDEN = {
    "moldiff.options": {"moldiff.datasets", "moldiff.training", "moldiff.api"},
    "moldiff.model": {"moldiff.datasets", "moldiff.training", "moldiff.api"},
    "moldiff.api": {"moldiff.datasets", "moldiff.training"},
}
#: packages that load torch; chemistry imports none of them, not even inside a function
TORCH = {"torch", "torch_geometric", "pytorch_lightning", "lightning", "e3nn"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return found


def _within(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def _layer_imports(layer: str) -> dict[str, set[str]]:
    """Module -> the moldiff modules it imports, for every module of ``layer``."""
    path = PACKAGE.parent / Path(*layer.split("."))
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    assert files[0].exists(), f"{layer} no longer exists: update the layer table of {Path(__file__).name}"
    return {_module_name(f): {name for name in _imports(f) if _within(name, "moldiff")} for f in files}


def _known(name: str) -> bool:
    """Whether ``name`` is a module of the package below its root (not a name imported from one)."""
    if name == "moldiff":  # the root only re-exports the API lazily
        return False
    path = PACKAGE.parent / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_lies_below(layer):
    bad = {module: sorted(n for n in names if _known(n) and not _within(n, layer)
                          and not any(_within(n, ok) for ok in ALLOWED[layer]))
           for module, names in _layer_imports(layer).items()}
    bad = {m: n for m, n in bad.items() if n}
    assert not bad, f"{layer} may import only {sorted(ALLOWED[layer])}; found {bad}"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_sampling_side_imports_no_training_side(layer):
    bad = {module: sorted(n for n in names if any(_within(n, no) for no in FORBIDDEN[layer]))
           for module, names in _layer_imports(layer).items()}
    bad = {m: n for m, n in bad.items() if n}
    assert not bad, f"{layer} must not import {sorted(FORBIDDEN[layer])}; found {bad}"


def test_chemistry_names_no_torch_package():
    bad = {}
    for f in sorted((PACKAGE / "chem").rglob("*.py")):
        names = {n.split(".")[0] for n in _imports(f)} & TORCH
        if names:
            bad[_module_name(f)] = sorted(names)
    assert not bad


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "moldiff" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("from . import sibling\nfrom ..graph import NoisyGraph\n\n"
                                "def f():\n    import moldiff.nn.egnn\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "moldiff")
    assert {"moldiff.sub.sibling", "moldiff.graph", "moldiff.nn.egnn"} <= _imports(pkg / "mod.py")
