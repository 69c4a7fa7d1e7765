"""moldiff: SE(3)-equivariant diffusion models for 3D small molecules."""
from moldiff.api import arrays_to_mols, available_models, load_model, sample
from moldiff.pipeline import MolDiffModel

__all__ = ["MolDiffModel", "arrays_to_mols", "available_models", "load_model", "sample"]
__version__ = "0.1.0"
