"""How molecules are sampled, as one frozen object: built from what a user gives (the CLI, the
Python API, screening and the benchmarks all build it the same way), checked when it is built,
and resolved once against a model's defaults (``cfg.sample``) and abilities before sampling."""
from __future__ import annotations

from dataclasses import dataclass, replace
from numbers import Integral
from typing import TYPE_CHECKING

from moldiff.engine import Engine
from moldiff.samplers import SamplerSpec
from moldiff.samplers.decoding import DECODINGS
from moldiff.samplers.guidance import Guidance

if TYPE_CHECKING:
    from moldiff.model import MolDiffModel

#: The settings a model fills in when they are left as None (see :meth:`SampleOptions.resolve`).
MODEL_DEFAULTS = ("n_steps", "sampler", "batch_size", "bond_decoding", "steric")


@dataclass(frozen=True)
class SampleOptions:
    """The settings of a sampling run. ``None`` means the model's default (:meth:`resolve`).

    ``n_steps``: network calls of the reverse process; ``sampler``: the parsed sampler string
    (:class:`~moldiff.samplers.SamplerSpec`); ``batch_size``: molecules sampled together;
    ``engine``: how the network runs (:class:`~moldiff.engine.Engine`); ``bond_decoding``: how the
    last step picks bond classes (:data:`~moldiff.samplers.decoding.DECODINGS`); ``steric``: keep
    generated atoms this many Angstrom from the pocket atoms (pocket models; 0: off);
    ``guidance``: classifier-free guidance (:class:`~moldiff.samplers.guidance.Guidance`);
    ``resamplings``/``jump_length``: RePaint resampling with fixed atoms
    (:func:`~moldiff.samplers.loop.jump_times`).
    """

    n_steps: int | None = None
    sampler: SamplerSpec | None = None
    batch_size: int | None = None
    engine: Engine = Engine()
    bond_decoding: str | None = None
    steric: float | None = None
    guidance: Guidance = Guidance()
    resamplings: int = 1
    jump_length: int = 10

    def __post_init__(self) -> None:
        for name in ("n_steps", "batch_size", "resamplings", "jump_length"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, Integral) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.bond_decoding is not None and self.bond_decoding not in DECODINGS:
            raise ValueError(f"unknown bond decoding {self.bond_decoding!r}; choose from {', '.join(DECODINGS)}")
        if self.steric is not None and not self.steric >= 0:
            raise ValueError(f"steric distance must be >= 0 Angstrom (0: off), got {self.steric}")

    @classmethod
    def parse(cls, n_steps: int | None = None, sampler: str | None = None, batch_size: int | None = None,
              engine: str | None = None, bond_decoding: str | None = None, steric: float | None = None,
              guidance: float = 0.0, guidance_interval: tuple[float, float] = (0.0, 1.0), resamplings: int = 1,
              jump_length: int = 10) -> "SampleOptions":
        """The options from the strings and numbers a user gives (``moldiff sample``'s flags,
        :func:`moldiff.api.sample`'s keywords): the sampler and engine strings parsed, every value
        checked; a one-line ``ValueError`` for the first bad one."""
        return cls(n_steps, None if sampler is None else SamplerSpec.parse(sampler), batch_size,
                   Engine.parse(engine or "fp32"), bond_decoding, steric,
                   Guidance(float(guidance), *map(float, guidance_interval)), resamplings, jump_length)

    @property
    def resolved(self) -> bool:
        """Whether every model default is filled in (what :meth:`MolDiffModel.sample` takes)."""
        return all(getattr(self, name) is not None for name in MODEL_DEFAULTS)

    @property
    def steric_distance(self) -> float | None:
        """The steric-guidance distance of resolved options, None when off."""
        return self.steric or None

    def resolve(self, model: MolDiffModel) -> "SampleOptions":
        """Every None setting replaced by ``model``'s default (``cfg.sample``; steric guidance only
        for pocket models), and the settings checked against what the model can do: valence
        decoding and connectivity guidance need bond classes, steric guidance a pocket model."""
        defaults = model.cfg.sample
        if self.steric and not model.conditional:
            raise ValueError("steric guidance keeps atoms away from a pocket: give a pocket")
        steric = self.steric
        if steric is None:
            steric = (defaults.steric or 0.0) if model.conditional else 0.0
        out = replace(self, n_steps=self.n_steps or defaults.n_steps, batch_size=self.batch_size or defaults.batch_size,
                      sampler=self.sampler or SamplerSpec.parse(defaults.sampler),
                      bond_decoding=self.bond_decoding or defaults.bond_decoding, steric=float(steric))
        if model.process.bond is None:
            if out.bond_decoding != "argmax":
                raise ValueError(f"{model.source} does not predict bonds: valence decoding needs bond classes")
            if out.sampler.connect:
                raise ValueError(f"{model.source} does not predict bonds: connectivity guidance (connect=) needs them")
        return out
