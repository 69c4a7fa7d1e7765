"""The Python API that the scripts call: load a model, sample molecules, evaluate them, train.

>>> from moldiff import load_model, sample
>>> model = load_model("qm9")                       # shipped weights, or a path
>>> mols = sample(model, n_samples=10, n_steps=100, seed=0)   # RDKit molecules
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from moldiff.chem.build import build_molecule, sanitize_or_none
from moldiff.convert import MolArrays
from moldiff.pipeline import FORMAT, MolDiffModel

WEIGHTS_DIR = Path(__file__).parent / "weights"


class ModelLoadError(FileNotFoundError):
    """A model name or checkpoint path that cannot be loaded."""


def available_models() -> list[str]:
    """Names of the weights shipped with the package."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> MolDiffModel:
    """Load shipped weights by name (e.g. ``"qm9"``), a weights file, or a Lightning checkpoint."""
    p = Path(name_or_path)
    if not p.exists():
        shipped = WEIGHTS_DIR / f"{name_or_path}.pt"
        if shipped.exists():
            p = shipped
        else:
            names = ", ".join(available_models()) or "none shipped yet"
            raise ModelLoadError(f"{name_or_path}: no such checkpoint file or model name (shipped models: {names})")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for corrupt files
        raise ModelLoadError(f"{p}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        model = MolDiffModel.from_payload(payload)
    elif isinstance(payload, dict) and "hyper_parameters" in payload and "state_dict" in payload:
        model = _from_lightning(payload)
    else:
        raise ModelLoadError(f"{p}: not a moldiff weights file or training checkpoint")
    return model.to(device).eval()


def _from_lightning(ckpt: dict) -> MolDiffModel:
    """EMA weights of a training checkpoint as a model."""
    from moldiff.config import config_from_dict
    from moldiff.vocab import Vocab

    hp = ckpt["hyper_parameters"]
    model = MolDiffModel(config_from_dict(hp["config"]), Vocab.from_dict(hp["vocab"]), hp["marginals"], hp["size_hist"],
                         hp.get("size_model"))
    prefix = "ema.module."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    model.denoiser.load_state_dict(state)
    return model


def arrays_to_mols(arrays: Sequence[MolArrays], explicit_h: bool = True) -> list:
    """Build RDKit molecules (unsanitized if invalid; bonds from the model when modelled,
    else from geometry) with a ``moldiff_valid`` flag property.

    ``explicit_h``: the model generates hydrogens (QM9 with H), so RDKit must not add any;
    heavy-atom models pass False and valences are completed with implicit hydrogens.
    """
    mols = []
    for a in arrays:
        mol = build_molecule(a.elements, a.pos, a.charges, a.bonds, explicit_h=explicit_h)
        ok, err = sanitize_or_none(mol)
        out = ok if ok is not None else mol
        out.SetIntProp("moldiff_valid", int(ok is not None))
        if err:
            out.SetProp("moldiff_error", err)
        mols.append(out)
    return mols


def sample(model: MolDiffModel, n_samples: int, n_steps: int | None = None, num_atoms: int | Sequence[int] | None = None,
           seed: int = 0, batch_size: int | None = None, sampler: str | None = None, progress: bool = True) -> list:
    """Sample ``n_samples`` molecules as RDKit Mols.

    ``num_atoms``: None draws sizes from the training histogram; an int fixes the size; a
    sequence gives one size per sample. Runs are reproducible for a given ``seed`` and device.
    """
    from tqdm.auto import tqdm

    n_steps = n_steps or model.cfg.sample.n_steps
    batch_size = batch_size or model.cfg.sample.batch_size
    sampler = sampler or model.cfg.sample.sampler
    size_gen = torch.Generator().manual_seed(seed)
    if num_atoms is None:
        sizes = model.sample_sizes(n_samples, size_gen)
    else:
        sizes = torch.as_tensor(np.broadcast_to(np.asarray(num_atoms), (n_samples,)).copy(), dtype=torch.long)
        if len(sizes) != n_samples or (sizes < 1).any():
            raise ValueError(f"num_atoms must be positive and give one size per sample ({n_samples})")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    mols = []
    for start in tqdm(range(0, n_samples, batch_size), disable=not progress, desc="batches"):
        arrays = model.sample_arrays(sizes[start:start + batch_size], n_steps, gen, sampler, progress=progress)
        mols += arrays_to_mols(arrays, explicit_h="H" in model.vocab.elements)
    return mols
