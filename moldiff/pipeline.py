"""A trained model as one object: process + denoiser + vocabulary + size distribution,
saved to and loaded from a single compact file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from moldiff.conditioning import PropertyConditions
from moldiff.config import Config, ConfigError, build_denoiser, build_process, config_from_dict
from moldiff.chem.arrays import MolArrays
from moldiff.convert import split_state
from moldiff.engine import Engine
from moldiff.graph import Context
from moldiff.pocket import POCKET_FEATURE_DIM, POCKET_REPRESENTATIONS, Pocket, PocketSizeModel, sample_size
from moldiff.processes.joint import Topology
from moldiff.samplers import SamplerSpec
from moldiff.samplers.connect import ConnectivityGuidance
from moldiff.samplers.decoding import DECODINGS, ValenceDecoding
from moldiff.samplers.guidance import GuidedDenoiser, Guidance
from moldiff.samplers.inpaint import FixedAtoms, Inpainting
from moldiff.samplers.steric import StericGuidance
from moldiff.samplers.loop import jump_times, reverse_loop
from moldiff.vocab import Vocab

FORMAT = "moldiff-weights-1"


class MolDiffModel(nn.Module):
    """Denoiser plus everything needed to sample from it without the training data.

    Pocket-conditioned models (``cfg.data.name == "complexes"``) also carry ``size_model``,
    the ligand-size distribution given the pocket size; property-conditioned models carry
    ``conditions`` (:class:`~moldiff.conditioning.PropertyConditions` as a dict).
    """

    def __init__(self, cfg: Config, vocab: Vocab, marginals: dict[str, list[float]], size_hist: list[float],
                 size_model: dict | None = None, conditions: dict | None = None):
        super().__init__()
        self.cfg, self.vocab = cfg, vocab
        self.marginals = {k: list(map(float, v)) for k, v in marginals.items()}
        self.size_hist = list(map(float, size_hist))
        self.size_model = size_model
        #: the properties this model is conditioned on (None: none)
        self.properties = None if conditions is None else PropertyConditions.from_dict(conditions)
        props = self.properties
        #: the property a bare value refers to (``--property 80``): a one-property model's, or set by
        #: :func:`moldiff.load_model` for the ``qm9-<name>`` names
        self.default_property = props.names[0] if props is not None and len(props.names) == 1 else None
        self.source = "this model"  # what error messages call it; load_model sets the name or path
        self.process = build_process(cfg.process, len(vocab.elements), len(vocab.charges), self.marginals)
        if cfg.data.flag_ligand_only and not self.conditional:
            raise ConfigError("data.flag_ligand_only marks ligands without a pocket: only for complexes (pocket models)")
        #: whether the denoiser takes the ligand-only flag (:func:`moldiff.conditioning.ligand_only_flags`; 0 when sampling)
        self.flags_ligand_only = bool(cfg.data.flag_ligand_only)
        cond_in = (0 if self.properties is None else self.properties.dim) + int(self.flags_ligand_only)
        self.denoiser = build_denoiser(cfg.model, self.process, POCKET_FEATURE_DIM if self.conditional else 0, cond_in)
        self._runners: dict[Engine, nn.Module] = {}  # the denoiser as each engine runs it (compiled once)

    @property
    def conditions(self) -> dict | None:
        """:attr:`properties` as the plain dict the weights file stores."""
        return None if self.properties is None else self.properties.to_dict()

    @property
    def conditional(self) -> bool:
        """Whether the model generates ligands inside a protein pocket."""
        return self.cfg.data.name == "complexes"

    def check_pocket_given(self, given: bool) -> None:
        """Pocket models need a pocket and the others take none (a one-line ``ValueError``)."""
        if self.conditional != given:
            raise ValueError(f"{self.source} is a pocket model: give a pocket (--pocket)" if self.conditional
                             else f"{self.source} is not pocket-conditioned; use a pocket model")

    def check_pocket(self, pocket: Pocket) -> None:
        """This is a pocket model and ``pocket`` holds the atoms it was trained on (full-atom or
        C-alpha; a one-line ``ValueError`` naming both representations)."""
        self.check_pocket_given(True)
        want, have = self.cfg.data.pocket_representation, pocket.representation
        if have != want:
            raise ValueError(f"{pocket.source or 'the pocket'}: a {POCKET_REPRESENTATIONS[have]} pocket ({have!r}), "
                             f"but {self.source} takes {POCKET_REPRESENTATIONS[want]} pockets ({want!r}); load it "
                             f"with representation={want!r}")

    def steric_distance(self, requested: float | None) -> float | None:
        """The steric-guidance distance to sample with: ``requested``, or the model's default
        (``cfg.sample.steric``) when None; 0 means off (None)."""
        return (self.cfg.sample.steric if requested is None else requested) or None

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def sample_sizes(self, n: int, generator: torch.Generator, pocket_size: int | None = None,
                     min_size: int = 1, properties: dict[str, float] | None = None) -> torch.Tensor:
        """Atom counts drawn from the training histogram, given the pocket's atom count for
        pocket models, or given a requested property value for property models; at least
        ``min_size`` (e.g. more than the fixed atoms of inpainting)."""
        if pocket_size is not None and self.size_model is not None:
            return PocketSizeModel.from_dict(self.size_model).sample(pocket_size, n, generator, min_size)
        hist = None if not properties or self.properties is None else self.properties.size_histogram(properties)
        return sample_size(self.size_hist if hist is None else hist, n, generator, min_size)

    @torch.no_grad()
    def sample_arrays(self, sizes: torch.Tensor, n_steps: int, generator: torch.Generator,
                      sampler: str = "ancestral", progress: bool = False, context: Context | None = None,
                      fixed: MolArrays | None = None, resamplings: int = 1, jump_length: int = 10,
                      steric: float | None = None, engine: Engine | None = None, cond: torch.Tensor | None = None,
                      guidance: Guidance | None = None, decoding: str = "argmax") -> list[MolArrays]:
        """Generate one molecule per entry of ``sizes`` and return them as plain arrays.

        ``context``: pocket atoms of every graph (already in the model's pocket-centred frame);
        required by pocket models, refused by the others. Coordinates come back in that frame.
        ``fixed``: atoms every molecule keeps exactly (inpainting); they come first, in their
        order, and are given in the frame of ``context`` (pocket models) or any frame
        (unconditional models, whose molecules are then generated around them).
        ``resamplings``/``jump_length``: RePaint resampling (:func:`jump_times`).
        ``steric``: keep generated atoms this many Angstrom from the pocket atoms
        (:class:`~moldiff.samplers.steric.StericGuidance`; needs ``context``); None: off.
        ``engine``: precision and compilation of the network (:class:`~moldiff.engine.Engine`);
        None: plain float32.
        ``cond``: [G, C] property features (:meth:`property_features`) of property-conditioned
        models; None: no property given. ``guidance``: classifier-free guidance with respect to
        the pocket and the properties (:class:`~moldiff.samplers.guidance.Guidance`); None: off.
        ``decoding``: how the last step picks classes (:data:`~moldiff.samplers.decoding.DECODINGS`).
        """
        spec = SamplerSpec.parse(sampler)
        decode = self.decoder(decoding)
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.check_pocket_given(context is not None)
        self.denoiser.eval()
        device = self.device
        dtype = next(self.denoiser.parameters()).dtype
        if context is not None:
            context = Context(context.pos.to(device, dtype), context.h.to(device, dtype), context.batch.to(device))
        topo = Topology.from_sizes(sizes, device=device, context=context)
        if cond is not None:
            if self.properties is None:
                raise ValueError(f"{self.source} is not property-conditioned: it takes no property values")
            topo.cond = cond.to(device, dtype)
        like = torch.zeros(1, device=device, dtype=dtype)
        fixed_atoms = None
        if fixed is not None:
            topo.project = False  # inpainting works in the fixed atoms' frame
            fixed_atoms = self._fixed_atoms(fixed, topo, dtype)
        constraints: tuple = ()
        if spec.connect:
            if self.process.bond is None:
                raise ValueError(f"{self.source} does not predict bonds: connectivity guidance (connect=) needs them")
            constraints = (ConnectivityGuidance(spec.connect, fixed=None if fixed_atoms is None else fixed_atoms.mask),)
        if steric is not None:
            if context is None:
                raise ValueError("steric guidance keeps atoms away from a pocket: it needs one")
            constraints += (StericGuidance(steric),)
        if fixed_atoms is not None:
            constraints += (Inpainting(self.process, fixed_atoms, align=context is None),)
        times = jump_times(spec.times(n_steps, self.process.schedule, device), resamplings, jump_length)
        network = self.runner(engine or Engine())
        if guidance is not None and guidance.active:
            if context is None and cond is None:
                raise ValueError("classifier-free guidance needs a condition: give a pocket or property values")
            network = GuidedDenoiser(network, guidance)
        state = reverse_loop(self.process, network, spec.step(), topo, times, like, generator, constraints,
                             progress=progress, decode=decode)
        return split_state(state, topo, self.vocab)  # the loop ends on decoded classes

    def decoder(self, decoding: str) -> ValenceDecoding | None:
        """The final-step decoder named ``decoding`` (None for argmax); a one-line ``ValueError``
        for unknown names or models it cannot apply to."""
        if decoding not in DECODINGS:
            raise ValueError(f"unknown bond decoding {decoding!r}; choose from {', '.join(DECODINGS)}")
        if decoding == "argmax":
            return None
        if self.process.bond is None:
            raise ValueError(f"{self.source} does not predict bonds: valence decoding needs bond classes")
        return ValenceDecoding(self.vocab)

    def runner(self, engine: Engine) -> nn.Module:
        """The denoiser as ``engine`` runs it, built once per engine (compilation is cached)."""
        if engine not in self._runners:
            self._runners[engine] = engine.wrap(self.denoiser)
        return self._runners[engine]

    def property_features(self, given: dict[str, float] | None, num_graphs: int) -> torch.Tensor | None:
        """[G, C] condition features for property values ``given`` by name (None or empty: no
        features, the unconditional model); a one-line ``ValueError`` for models without properties
        or unknown names."""
        if not given:
            return None
        if self.properties is None:
            raise ValueError(f"{self.source} is not property-conditioned: it takes no property values")
        props = self.properties
        return props.features(props.values(given, num_graphs))

    def _fixed_atoms(self, fixed: MolArrays, topo: Topology, dtype: torch.dtype) -> FixedAtoms:
        """Fixed atoms as the first atoms of every graph, in the model's class indices."""
        try:
            types = [self.vocab.element_index(e) for e in fixed.elements]
            charges = [self.vocab.charge_index(int(c)) for c in fixed.charges]
        except KeyError as e:
            raise ValueError(f"fixed atoms: {e.args[0]}") from None
        device = topo.batch.device
        bonds = None
        if self.process.bond is not None:
            rows = np.zeros((0, 3), np.int64) if fixed.bonds is None else np.asarray(fixed.bonds, np.int64).reshape(-1, 3)
            if len(rows) and (rows[:, 2].min() < 1 or rows[:, 2].max() >= self.vocab.num_bond_types):
                raise ValueError(f"fixed atoms: bond classes must lie in 1..{self.vocab.num_bond_types - 1}")
            bonds = torch.as_tensor(rows, device=device)
        nodes = {"atom_type": torch.tensor(types, device=device), "charge": torch.tensor(charges, device=device)}
        return FixedAtoms.first_atoms(topo, torch.as_tensor(fixed.pos, dtype=dtype, device=device), nodes, bonds)

    def sample_in_pocket(self, pocket: Pocket, sizes: torch.Tensor, n_steps: int, generator: torch.Generator,
                         sampler: str = "ancestral", progress: bool = False, fixed: MolArrays | None = None,
                         resamplings: int = 1, jump_length: int = 10, steric: float | None = None,
                         engine: Engine | None = None, guidance: Guidance | None = None,
                         decoding: str = "argmax") -> list[MolArrays]:
        """One ligand per entry of ``sizes`` in ``pocket``, in the pocket's original frame
        (``fixed`` atoms too, see :meth:`sample_arrays`); the pocket must be of the model's
        representation (:meth:`check_pocket`)."""
        self.check_pocket(pocket)
        context, center = pocket_context(pocket, len(sizes))
        arrays = self.sample_arrays(sizes, n_steps, generator, sampler, progress, context,
                                    _shifted(fixed, -center), resamplings, jump_length, steric, engine,
                                    guidance=guidance, decoding=decoding)
        return _restore(arrays, center, fixed)

    def sample_around(self, fixed: MolArrays, sizes: torch.Tensor, n_steps: int, generator: torch.Generator,
                      sampler: str = "ancestral", progress: bool = False, resamplings: int = 1,
                      jump_length: int = 10, engine: Engine | None = None, cond: torch.Tensor | None = None,
                      guidance: Guidance | None = None, decoding: str = "argmax") -> list[MolArrays]:
        """Molecules without a pocket grown around ``fixed`` atoms, in their frame."""
        center = fixed.pos.mean(axis=0)
        arrays = self.sample_arrays(sizes, n_steps, generator, sampler, progress, None, _shifted(fixed, -center),
                                    resamplings, jump_length, engine=engine, cond=cond, guidance=guidance,
                                    decoding=decoding)
        return _restore(arrays, center, fixed)

    def save(self, path: str | Path) -> None:
        """Write the compact weights file (atomically)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"format": FORMAT, "config": self.cfg.to_dict(), "vocab": self.vocab.to_dict(),
                    "marginals": self.marginals, "size_hist": self.size_hist, "size_model": self.size_model,
                    "conditions": self.conditions, "state_dict": self.denoiser.state_dict()}, tmp)
        tmp.replace(path)

    @classmethod
    def from_payload(cls, payload: dict) -> "MolDiffModel":
        model = cls(config_from_dict(payload["config"]), Vocab.from_dict(payload["vocab"]),
                    payload["marginals"], payload["size_hist"], payload.get("size_model"), payload.get("conditions"))
        model.denoiser.load_state_dict(payload["state_dict"])
        return model


def pocket_context(pocket: Pocket, num_graphs: int) -> tuple[Context, np.ndarray]:
    """The pocket atoms as context of ``num_graphs`` graphs in the pocket-centred frame, and the
    centre (add it back to return to the protein's frame)."""
    center = pocket.pos.mean(axis=0)
    m = len(pocket.pos)
    context = Context(torch.as_tensor(pocket.pos - center).repeat(num_graphs, 1),
                      torch.as_tensor(pocket.features).repeat(num_graphs, 1),
                      torch.arange(num_graphs).repeat_interleave(m))
    return context, center


def _shifted(fixed: MolArrays | None, shift: np.ndarray) -> MolArrays | None:
    return None if fixed is None else MolArrays(fixed.elements, fixed.pos + shift, fixed.charges, fixed.bonds)


def _restore(arrays: list[MolArrays], center: np.ndarray, fixed: MolArrays | None) -> list[MolArrays]:
    """Back to the original frame; the fixed atoms get their given float64 coordinates bit for
    bit (the sampler runs in float32, whose rounding would otherwise show at ~1e-6 A)."""
    for a in arrays:
        a.pos = a.pos + center
        if fixed is not None:
            a.pos[: len(fixed.pos)] = fixed.pos
    return arrays
