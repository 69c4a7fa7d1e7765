"""moldiff: SE(3)-equivariant diffusion models for 3D small molecules.

Public API (imported lazily so that ``moldiff.chem`` stays torch-free and training machines
without RDKit can import the package):

>>> from moldiff import load_model, sample
"""
from __future__ import annotations

import importlib

__all__ = ["MolDiffModel", "arrays_to_mols", "available_models", "load_fixed_atoms", "load_model", "load_pocket",
           "relax", "sample"]
__version__ = "0.1.0"

_LOCATIONS = {"MolDiffModel": "moldiff.model", "arrays_to_mols": "moldiff.api",
              "available_models": "moldiff.api", "load_fixed_atoms": "moldiff.api", "load_model": "moldiff.api",
              "load_pocket": "moldiff.api", "relax": "moldiff.api", "sample": "moldiff.api"}


def __getattr__(name: str):
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'moldiff' has no attribute {name!r}")
