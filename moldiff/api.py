"""The Python API that the scripts call: load a model, sample molecules, evaluate them, train.

>>> from moldiff import load_model, sample
>>> model = load_model("qm9")                       # shipped weights, or a path
>>> mols = sample(model, n_samples=10, n_steps=100, seed=0)   # RDKit molecules
"""
from __future__ import annotations

from numbers import Integral
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from moldiff.chem.arrays import MolArrays
from moldiff.engine import Engine
from moldiff.options import SampleOptions
from moldiff.model import FORMAT, MolDiffModel
from moldiff.pocket import Pocket

WEIGHTS_DIR = Path(__file__).parent / "weights"


class ModelLoadError(FileNotFoundError):
    """A model name or checkpoint path that cannot be loaded."""


#: Shipped names that pick one property of the multi-property QM9 model: name -> (weights, property).
MODEL_ALIASES = {f"qm9-{k}": ("qm9_props", k) for k in ("alpha", "gap", "mu", "Cv")}


def available_models() -> list[str]:
    """Names of the weights shipped with the package (and the property names they serve)."""
    stems = {p.stem for p in WEIGHTS_DIR.glob("*.pt")}
    return sorted(stems | {alias for alias, (stem, _) in MODEL_ALIASES.items() if stem in stems})


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> MolDiffModel:
    """Load shipped weights by name (e.g. ``"qm9"``, or ``"qm9-alpha"``: the property model with
    alpha as the property a bare value refers to), a weights file, or a Lightning checkpoint."""
    p = Path(name_or_path)
    alias = MODEL_ALIASES.get(str(name_or_path)) if not p.exists() else None
    if alias is not None and (WEIGHTS_DIR / f"{alias[0]}.pt").exists():
        model = load_model(alias[0], device)
        model.default_property, model.source = alias[1], str(name_or_path)
        return model
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
    model.source = str(name_or_path)
    return model.to(device).eval()


def _from_lightning(ckpt: dict) -> MolDiffModel:
    """EMA weights of a training checkpoint as a model."""
    from moldiff.config import config_from_dict
    from moldiff.vocab import Vocab

    hp = ckpt["hyper_parameters"]
    model = MolDiffModel(config_from_dict(hp["config"]), Vocab.from_dict(hp["vocab"]), hp["marginals"], hp["size_hist"],
                         hp.get("size_model"), hp.get("conditions"))
    prefix = "ema.module."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    model.denoiser.load_state_dict(state)
    return model


def arrays_to_mols(arrays: Sequence[MolArrays], explicit_h: bool = True) -> list:
    """Build RDKit molecules (unsanitized if they fail sanitization; bonds from the model when
    modelled, else from geometry) with a ``moldiff_valid`` flag: 1 when the molecule sanitizes
    and is one connected fragment (the ``validity`` of the metrics), else 0 with ``moldiff_error``.

    ``explicit_h``: the model generates hydrogens (QM9 with H), so RDKit must not add any;
    heavy-atom models pass False and valences are completed with implicit hydrogens.
    """
    from moldiff.chem.build import (  # RDKit only here: GPU boxes may lack it
        build_molecule,
        sanitize_or_none,
    )
    from moldiff.chem.metrics import validity_error

    mols = []
    for a in arrays:
        mol = build_molecule(a.elements, a.pos, a.charges, a.bonds, explicit_h=explicit_h)
        ok, _ = sanitize_or_none(mol)
        out = ok if ok is not None else mol
        err = validity_error(mol)
        out.SetIntProp("moldiff_valid", int(not err))
        if err:
            out.SetProp("moldiff_error", err)
        mols.append(out)
    return mols


#: Suffixes of reference-ligand files read as SDF without a hint when they fail.
SDF_SUFFIXES = (".sdf", ".sd", ".mol")


def load_pocket(protein: str | Path, ref_ligand: str | Path | None = None, residues: str | Sequence[str] | None = None,
                center: Sequence[float] | None = None, radius: float | None = None, cutoff: float = 8.0,
                keep_hetero: bool = False, representation: str = "full") -> Pocket:
    """Read a protein structure (PDB, PDBQT or mmCIF) and cut out the pocket to generate in, given
    by exactly one of: a reference ligand SDF (residues within ``cutoff`` of its heavy atoms), a
    residue list (``["A:45", "A:46B"]``, or one residue ``"A:45"``), or a ``center`` with a ``radius``.
    ``representation``: the pocket atoms kept, ``"full"`` (heavy atoms) or ``"ca"`` (C-alphas); it
    must be the model's (``model.cfg.data.pocket_representation``), which refuses the other."""
    from moldiff.chem.io import read_sdf
    from moldiff.chem.pocket import (
        pocket_features,
        pocket_from_center,
        pocket_from_ligand,
        pocket_from_residues,
        read_structure,
    )

    given = [ref_ligand is not None, bool(residues), center is not None]
    if sum(given) != 1:
        raise ValueError("define the pocket with exactly one of a reference ligand, a residue list or a center")
    if center is not None and radius is None:
        raise ValueError("a pocket center needs a radius")
    atoms = read_structure(protein, keep_hetero=keep_hetero)
    if ref_ligand is not None:
        try:
            mols = read_sdf(ref_ligand)
        except ValueError as e:
            if Path(ref_ligand).suffix.lower() in SDF_SUFFIXES:
                raise
            raise ValueError(f"{e}; the reference ligand must be an SDF file (convert it, e.g. "
                             f"obabel {Path(ref_ligand).name} -O ligand.sdf)") from None
        pos = mols[0].GetConformer().GetPositions()
        heavy = np.array([a.GetAtomicNum() > 1 for a in mols[0].GetAtoms()])
        selected = pocket_from_ligand(atoms, pos[heavy], cutoff)
    elif residues:
        selected = pocket_from_residues(atoms, residues)
    else:
        selected = pocket_from_center(atoms, np.asarray(center, dtype=np.float64), float(radius))
    f = pocket_features(selected)
    return Pocket.from_arrays(selected.pos, f["element"], f["residue"], f["backbone"], f["ca"], representation,
                              str(protein))


def load_fixed_atoms(model: MolDiffModel, sdf_paths: str | Path | Sequence[str | Path], smarts: str | None = None,
                     indices: Sequence[int] | None = None) -> MolArrays:
    """Atoms to hold fixed while sampling (inpainting), read from SDF files: every atom of each
    file (fragment growing; several files for linking), or of one file the first match of
    ``smarts`` or the 0-based ``indices`` (scaffold elaboration and hopping). Hydrogens are
    dropped for heavy-atom models. The fixed atoms come first in every generated molecule, in
    file order (ascending index within a file)."""
    from moldiff.chem.fragments import read_fixed_atoms

    paths = [sdf_paths] if isinstance(sdf_paths, (str, Path)) else list(sdf_paths)
    return read_fixed_atoms(paths, model.vocab, smarts, indices)


#: Requested molecule sizes above this many times the largest the model's size distribution holds
#: are refused (the network has never seen such molecules).
MAX_SIZE_SCALE = 1.25


def _max_atoms(model: MolDiffModel) -> tuple[int, int]:
    """The largest molecule size ``sample`` accepts for ``model``, and the largest size in its
    size distribution (the training molecules; :data:`MAX_SIZE_SCALE` is the headroom)."""
    hists = [model.size_hist, *(model.size_model or {}).get("hists", [])]
    largest = max(int(np.flatnonzero(h).max()) for h in hists if np.any(h))
    return int(MAX_SIZE_SCALE * largest), largest


def _sizes(model: MolDiffModel, n_samples: int, num_atoms, generator: torch.Generator,
           pocket: Pocket | None, num_fixed: int = 0, properties: dict[str, float] | None = None) -> torch.Tensor:
    """Atom counts: from the model's size distribution, a fixed int, a ``range`` (uniform) or one per
    sample; with fixed atoms every size must leave at least one atom to generate, and no size may
    exceed :func:`_max_atoms`."""
    if num_atoms is None:
        return model.sample_sizes(n_samples, generator, None if pocket is None else len(pocket.pos), num_fixed + 1,
                                  properties)
    if isinstance(num_atoms, range):
        if len(num_atoms) == 0 or num_atoms.start < 1:
            raise ValueError(f"num_atoms range {num_atoms} must be non-empty and positive")
        choice = torch.randint(0, len(num_atoms), (n_samples,), generator=generator)
        sizes = torch.tensor(list(num_atoms), dtype=torch.long)[choice]
    else:
        sizes = torch.as_tensor(np.broadcast_to(np.asarray(num_atoms), (n_samples,)).copy(), dtype=torch.long)
        if len(sizes) != n_samples or (sizes < 1).any():
            raise ValueError(f"num_atoms must be positive and give one size per sample ({n_samples})")
    if num_fixed and int(sizes.min()) <= num_fixed:
        raise ValueError(f"num_atoms ({int(sizes.min())}) must exceed the {num_fixed} fixed atoms, "
                         "leaving atoms to generate")
    limit, largest = _max_atoms(model)
    biggest = max(num_atoms) if isinstance(num_atoms, range) else int(sizes.max())
    if biggest > limit:
        raise ValueError(f"num_atoms {biggest} is too large for {model.source}: at most {limit} atoms "
                         f"({MAX_SIZE_SCALE:g} x its largest training molecule, {largest} atoms)")
    return sizes


def _annotate(mol, props: dict) -> None:
    """Attach sampling provenance and, for valid molecules, QED and SA as SDF properties."""
    from moldiff.chem.properties import qed, sa_score

    for k, v in props.items():
        mol.SetProp(k, str(v))
    if mol.GetIntProp("moldiff_valid"):
        mol.SetDoubleProp("QED", round(qed(mol), 4))
        mol.SetDoubleProp("SA", round(sa_score(mol), 4))


def sample(model: MolDiffModel, n_samples: int, n_steps: int | None = None, num_atoms=None, seed: int = 0,
           batch_size: int | None = None, sampler: str | None = None, progress: bool = True,
           pocket: Pocket | None = None, fixed: MolArrays | None = None, resamplings: int = 1,
           jump_length: int = 10, steric: float | None = None, engine: str | None = None,
           properties: dict[str, float] | None = None, guidance: float = 0.0,
           guidance_interval: tuple[float, float] = (0.0, 1.0), bond_decoding: str | None = None) -> list:
    """Sample ``n_samples`` molecules as RDKit Mols (for pocket models inside ``pocket``, in the
    protein's frame; see :func:`load_pocket`).

    ``num_atoms``: None draws sizes from the model (given the pocket size for pocket models); an
    int fixes the size; a ``range`` draws uniformly from it; a sequence gives one size per sample.
    Sizes count all atoms, fixed ones included.
    ``fixed`` (see :func:`load_fixed_atoms`): atoms every molecule keeps exactly, as its first
    atoms (fragment growing, linking, scaffold hopping); ``resamplings`` > 1 adds RePaint
    resampling over windows of ``jump_length`` steps (about ``resamplings`` times the cost).
    ``sampler``: a sampler string (:class:`~moldiff.samplers.SamplerSpec`, e.g. ``"ancestral"``,
    ``"ddim:eta=0.5"``, ``"dpm2m:spacing=logsnr"``); None: the model's default.
    ``steric`` (pocket models): keep generated heavy atoms at least this many Angstrom from the
    pocket atoms during sampling (:class:`~moldiff.samplers.steric.StericGuidance`); None: the
    model's default (``cfg.sample.steric``; 2.5 for the shipped pocket model), 0: off.
    ``engine``: how the network runs (:class:`~moldiff.engine.Engine`): ``"fp32"`` (default),
    ``"bf16"`` (bfloat16 autocast, for GPUs) or either with ``"+compile"`` (``torch.compile``).
    ``properties`` (property-conditioned models, e.g. ``{"alpha": 80.0}``): the values the
    molecules should have; properties left out are free, and sizes are drawn among training
    molecules with similar values of the first one given.
    ``guidance``: classifier-free guidance scale ``w`` (0: the plain conditional model; the
    prediction is pushed away from the unconditional one by ``w`` times their difference) with
    respect to the pocket and the given properties, applied at diffusion times within
    ``guidance_interval`` (:class:`~moldiff.samplers.guidance.Guidance`).
    ``bond_decoding``: how the last step picks bond classes
    (:data:`~moldiff.samplers.decoding.DECODINGS`): ``"argmax"``, or ``"valence"``, which lowers
    bonds that would overload an atom, choosing by the predicted probabilities; None: the model's
    default (``cfg.sample.bond_decoding``).
    Each molecule carries its validity flag, model, seed, step count, and QED/SA when valid.
    Runs are reproducible for a given ``seed`` and device. The settings become one
    :class:`~moldiff.options.SampleOptions` (see :func:`sample_with`).
    """
    options = SampleOptions.parse(n_steps, sampler, batch_size, engine, bond_decoding, steric, guidance,
                                  guidance_interval, resamplings, jump_length)
    return sample_with(model, options.resolve(model), n_samples, num_atoms, seed, pocket, fixed, properties, progress)


def sample_with(model: MolDiffModel, options: SampleOptions, n_samples: int, num_atoms=None, seed: int = 0,
                pocket: Pocket | None = None, fixed: MolArrays | None = None,
                properties: dict[str, float] | None = None, progress: bool = True) -> list:
    """:func:`sample` with its settings as resolved :class:`~moldiff.options.SampleOptions`
    (what ``moldiff sample`` and pocket screening build once); the other arguments as there."""
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if pocket is not None and len(pocket.pos) == 0:
        raise ValueError(f"{pocket.source}: the pocket has no atoms")
    cond = model.property_features(properties, n_samples)  # checks names and values before any sampling
    num_fixed = 0 if fixed is None else len(fixed.elements)
    sizes = _sizes(model, n_samples, num_atoms, torch.Generator().manual_seed(seed), pocket, num_fixed, properties)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    arrays = model.sample(sizes, gen, options, pocket, fixed, cond, progress)
    props = _provenance(model, options, seed, num_fixed, properties)
    mols = arrays_to_mols(arrays, explicit_h="H" in model.vocab.elements)
    for mol in mols:
        _annotate(mol, props)
    return mols


def _provenance(model: MolDiffModel, options: SampleOptions, seed: int, num_fixed: int,
                properties: dict[str, float] | None) -> dict:
    """The SDF properties every sampled molecule carries: model, seed, steps, sampler, and the
    settings that apply (engine, decoding, fixed atoms, resampling, steric distance, guidance,
    target property values)."""
    props = {"model": model.source, "seed": seed, "n_steps": options.n_steps, "sampler": str(options.sampler)}
    if options.engine != Engine():
        props["engine"] = str(options.engine)
    if options.bond_decoding != "argmax":
        props["bond_decoding"] = options.bond_decoding
    if num_fixed:
        props["fixed_atoms"] = num_fixed
    if num_fixed or options.resamplings > 1:
        props.update(resamplings=options.resamplings, jump_length=options.jump_length)
    if options.steric_distance is not None:
        props["steric_distance"] = options.steric_distance
    if options.guidance.active:
        props["guidance"] = str(options.guidance)
    return props | {f"target_{k}": v for k, v in (properties or {}).items()}


def relax(mols: Sequence, pocket: Pocket, progress: bool = True) -> list:
    """Quick MMFF94 relaxation of each valid molecule with the pocket atoms held fixed (see
    :func:`moldiff.chem.relax.relax_in_pocket`). Relaxed molecules keep their properties and gain
    ``relax_rmsd`` (Angstrom moved); molecules MMFF cannot type keep their coordinates and get
    ``relax_error``; invalid molecules are returned unchanged."""
    from rdkit import Chem
    from tqdm.auto import tqdm

    from moldiff.chem.relax import relax_in_pocket

    out = []
    for mol in tqdm(mols, desc="relaxing", disable=not progress):
        if mol.GetIntProp("moldiff_valid"):
            try:
                relaxed, rmsd = relax_in_pocket(mol, pocket.pos)
            except ValueError as e:
                mol.SetProp("relax_error", str(e))
            else:
                relaxed = Chem.Mol(relaxed)
                for key in mol.GetPropNames():
                    relaxed.SetProp(key, mol.GetProp(key))
                relaxed.SetIntProp("moldiff_valid", 1)
                relaxed.SetDoubleProp("relax_rmsd", round(rmsd, 3))
                mol = relaxed
        out.append(mol)
    return out
