"""A trained model as one object: process + denoiser + vocabulary + size distribution,
saved to and loaded from a single compact file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from moldiff.conditioning import PropertyConditions
from moldiff.config import Config, ConfigError, build_denoiser, build_process, config_from_dict
from moldiff.chem.arrays import MolArrays
from moldiff.convert import split_state
from moldiff.engine import Engine
from moldiff.graph import Context
from moldiff.options import SampleOptions
from moldiff.pocket import POCKET_FEATURE_DIM, POCKET_REPRESENTATIONS, Pocket, PocketSizeModel, sample_size
from moldiff.processes.joint import Topology
from moldiff.samplers import SamplerSpec
from moldiff.samplers.connect import ConnectivityGuidance
from moldiff.samplers.decoding import ValenceDecoding
from moldiff.samplers.guidance import GuidedDenoiser
from moldiff.samplers.inpaint import FixedAtoms, Inpainting
from moldiff.samplers.steric import StericGuidance
from moldiff.samplers.loop import jump_times, reverse_loop
from moldiff.vocab import Vocab

FORMAT = "moldiff-weights-1"
#: Pockets larger than this many times the largest training pocket are refused.
MAX_POCKET_SCALE = 1.5
#: Fixed atoms farther than this from every pocket atom are refused (Angstrom). Atoms of the
#: reference ligands reach at most 8.2 A (CrossDocked test set) and 8.6 A (FEP set) from their
#: nearest pocket atom (solvent-exposed groups); median of the per-ligand maximum 4.4 A.
MAX_FIXED_POCKET_DISTANCE = 10.0


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

    def check_pocket(self, pocket: Pocket | None) -> None:
        """A pocket for pocket models (none for the others), holding the atoms the model was
        trained on (full-atom or C-alpha; the error names both representations) and at most
        :data:`MAX_POCKET_SCALE` times the largest training pocket; one-line ``ValueError`` s."""
        self.check_pocket_given(pocket is not None)
        if pocket is None:
            return
        want, have = self.cfg.data.pocket_representation, pocket.representation
        if have != want:
            raise ValueError(f"{pocket.source or 'the pocket'}: a {POCKET_REPRESENTATIONS[have]} pocket ({have!r}), "
                             f"but {self.source} takes {POCKET_REPRESENTATIONS[want]} pockets ({want!r}); load it "
                             f"with representation={want!r}")
        if self.size_model is not None:
            limit = int(MAX_POCKET_SCALE * self.size_model["max_pocket_atoms"])
            if len(pocket.pos) > limit:
                raise ValueError(f"{pocket.source}: the pocket has {len(pocket.pos)} atoms, more than this model "
                                 f"handles ({limit}); use a smaller cutoff or radius")

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
    def sample(self, sizes: torch.Tensor, generator: torch.Generator, options: SampleOptions,
               pocket: Pocket | None = None, fixed: MolArrays | None = None, cond: torch.Tensor | None = None,
               progress: bool = False) -> list[MolArrays]:
        """One molecule per entry of ``sizes``, as plain arrays, sampled in batches of
        ``options.batch_size`` one after the other from ``generator``.

        ``options``: the settings, resolved against this model (:meth:`SampleOptions.resolve`).
        ``pocket`` (pocket models, which need one): the pocket atoms, in the protein's frame,
        which the molecules come back in (:meth:`check_pocket`); a pocket without atoms samples
        what the model learnt for ligands without a pocket. ``fixed``: atoms every molecule keeps
        exactly (inpainting), first and in their order, in the pocket's frame, at most
        :data:`MAX_FIXED_POCKET_DISTANCE` from a pocket atom; without a pocket the molecules are
        grown around them in their frame. ``cond``: [N, C] property features
        (:meth:`property_features`) of property-conditioned models; None: no property given.
        ``progress``: progress bars over batches and steps. Everything is checked once, before
        the first batch.
        """
        fixed_classes = self._check_request(options, pocket, fixed, cond)
        center = None
        if pocket is not None:
            center = pocket.pos.mean(axis=0) if len(pocket.pos) else np.zeros(3)
        elif fixed is not None:
            center = fixed.pos.mean(axis=0)
        shifted = fixed if center is None else _shifted(fixed, -center)
        arrays = []
        for start in tqdm(range(0, len(sizes), options.batch_size), disable=not progress, desc="batches"):
            chunk = sizes[start:start + options.batch_size]
            context = None if pocket is None else pocket_context(pocket, len(chunk), center)
            arrays += self._sample_batch(chunk, generator, options, context, shifted, fixed_classes,
                                         None if cond is None else cond[start:start + options.batch_size], progress)
        return arrays if center is None else _restore(arrays, center, fixed)

    @torch.no_grad()
    def sample_arrays(self, sizes: torch.Tensor, n_steps: int, generator: torch.Generator,
                      context: Context | None = None) -> list[MolArrays]:
        """Training's validation samples: ``n_steps`` ancestral steps, one batch, with ``context``
        holding each graph's own pocket atoms in the model's frame (a batch of validation
        complexes). Users sample with :meth:`sample`."""
        self.check_pocket_given(context is not None)
        options = SampleOptions(n_steps, SamplerSpec(), max(1, len(sizes)), bond_decoding="argmax", steric=0.0)
        return self._sample_batch(sizes, generator, options, context, None, None, None, False)

    def _check_request(self, options: SampleOptions, pocket: Pocket | None, fixed: MolArrays | None,
                       cond: torch.Tensor | None) -> tuple | None:
        """Refuse, before any sampling, unresolved options, a missing, unwanted or unfit pocket,
        fixed atoms outside the pocket or of classes the model does not know, and guidance
        without a condition; returns the fixed atoms' classes (:meth:`_fixed_classes`)."""
        if not options.resolved:
            raise ValueError("sampling options must be resolved against the model first (SampleOptions.resolve)")
        self.check_pocket(pocket)
        if fixed is not None and pocket is not None and len(pocket.pos):
            _check_fixed_in_pocket(fixed, pocket)
        if options.guidance.active and pocket is None and cond is None:
            raise ValueError("classifier-free guidance needs a condition: give a pocket or property values")
        return None if fixed is None else self._fixed_classes(fixed)

    def _sample_batch(self, sizes: torch.Tensor, generator: torch.Generator, options: SampleOptions,
                      context: Context | None, fixed: MolArrays | None, fixed_classes: tuple | None,
                      cond: torch.Tensor | None, progress: bool) -> list[MolArrays]:
        """One batch through the reverse loop, in the model's frame (``context`` and ``fixed``
        already there); the request is checked (:meth:`_check_request`)."""
        spec = options.sampler
        decode = ValenceDecoding(self.vocab) if options.bond_decoding == "valence" else None
        self.denoiser.eval()
        device = self.device
        dtype = next(self.denoiser.parameters()).dtype
        if context is not None:
            context = Context(context.pos.to(device, dtype), context.h.to(device, dtype), context.batch.to(device))
        topo = Topology.from_sizes(sizes, device=device, context=context)
        if cond is not None:
            topo.cond = cond.to(device, dtype)
        like = torch.zeros(1, device=device, dtype=dtype)
        fixed_atoms = None
        if fixed is not None:
            topo.project = False  # inpainting works in the fixed atoms' frame
            fixed_atoms = self._fixed_atoms(fixed, fixed_classes, topo, dtype)
        constraints: tuple = ()
        if spec.connect:
            constraints = (ConnectivityGuidance(spec.connect, fixed=None if fixed_atoms is None else fixed_atoms.mask),)
        if options.steric_distance is not None:
            constraints += (StericGuidance(options.steric_distance),)
        if fixed_atoms is not None:
            constraints += (Inpainting(self.process, fixed_atoms, align=context is None),)
        times = jump_times(spec.times(options.n_steps, self.process.schedule, device), options.resamplings,
                           options.jump_length)
        network = self.runner(options.engine)
        if options.guidance.active:
            network = GuidedDenoiser(network, options.guidance)
        state = reverse_loop(self.process, network, spec.step(), topo, times, like, generator, constraints,
                             progress=progress, decode=decode)
        return split_state(state, topo, self.vocab)  # the loop ends on decoded classes

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

    def _fixed_classes(self, fixed: MolArrays) -> tuple[list[int], list[int], np.ndarray | None]:
        """The fixed atoms' element and charge classes and their bonds (rows i, j, class; None for
        models without bonds); a one-line ``ValueError`` for classes the model does not know."""
        try:
            types = [self.vocab.element_index(e) for e in fixed.elements]
            charges = [self.vocab.charge_index(int(c)) for c in fixed.charges]
        except KeyError as e:
            raise ValueError(f"fixed atoms: {e.args[0]}") from None
        rows = None
        if self.process.bond is not None:
            rows = np.zeros((0, 3), np.int64) if fixed.bonds is None else np.asarray(fixed.bonds, np.int64).reshape(-1, 3)
            if len(rows) and (rows[:, 2].min() < 1 or rows[:, 2].max() >= self.vocab.num_bond_types):
                raise ValueError(f"fixed atoms: bond classes must lie in 1..{self.vocab.num_bond_types - 1}")
        return types, charges, rows

    def _fixed_atoms(self, fixed: MolArrays, classes: tuple, topo: Topology, dtype: torch.dtype) -> FixedAtoms:
        """Fixed atoms as the first atoms of every graph, in the model's class indices."""
        types, charges, rows = classes
        device = topo.batch.device
        bonds = None if rows is None else torch.as_tensor(rows, device=device)
        nodes = {"atom_type": torch.tensor(types, device=device), "charge": torch.tensor(charges, device=device)}
        return FixedAtoms.first_atoms(topo, torch.as_tensor(fixed.pos, dtype=dtype, device=device), nodes, bonds)

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


def pocket_context(pocket: Pocket, num_graphs: int, center: np.ndarray) -> Context:
    """The pocket atoms as context of ``num_graphs`` graphs, moved by ``-center`` (the model
    samples in the pocket-centred frame)."""
    m = len(pocket.pos)
    return Context(torch.as_tensor(pocket.pos - center).repeat(num_graphs, 1),
                   torch.as_tensor(pocket.features).repeat(num_graphs, 1),
                   torch.arange(num_graphs).repeat_interleave(m))


def _check_fixed_in_pocket(fixed: MolArrays, pocket: Pocket) -> None:
    """Every fixed atom within :data:`MAX_FIXED_POCKET_DISTANCE` of a pocket atom."""
    d = np.sqrt(((fixed.pos[:, None, :] - pocket.pos[None, :, :]) ** 2).sum(-1)).min(axis=1)
    far = int(np.argmax(d))
    if d[far] > MAX_FIXED_POCKET_DISTANCE:
        raise ValueError(f"{pocket.source}: fixed atom {far} ({fixed.elements[far]}) lies {d[far]:.1f} A from the "
                         f"nearest pocket atom (limit {MAX_FIXED_POCKET_DISTANCE:g} A); the fragment is outside the pocket")


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
