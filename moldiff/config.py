"""Typed configuration: one dataclass per section, YAML load/save with strict keys, dotted
command-line overrides, and registries that build processes and denoisers by name."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Callable, NamedTuple, get_args, get_origin, get_type_hints

import yaml

from moldiff.nn.e3nn_denoiser import E3nnDenoiser
from moldiff.nn.egnn import EGNNDenoiser


class ConfigError(ValueError):
    """A configuration problem the user can fix (unknown key, bad value, unreadable file)."""


@dataclass
class DataCfg:
    name: str = "qm9"  # qm9 | complexes (a protein-ligand cache from moldiff prepare complexes)
    path: str | list[str] = "data/cache/qm9.npz"  # complexes: a list of caches is one concatenated data set
    weights: list[float] | None = None  # with a list of complex caches: each one's share of the training stream
    remove_h: bool = False
    pocket_representation: str = "full"  # complexes: all pocket heavy atoms (full) or C-alphas (ca)
    batch_size: int = 128
    num_workers: int = 0
    limit_train: int | None = None  # use only the first N training molecules (smoke runs, overfit tests)
    properties: list[str] = field(default_factory=list)  # qm9: condition on these properties (e.g. [alpha, gap])
    train_half: str | None = None  # qm9: train on half a or b of the training split (EDM's property protocol)
    # complexes: one per-graph input, 1 for training ligands that come without a pocket (ligand-only
    # caches such as MOSES), 0 for complexes and always 0 at sampling; with pocket dropout
    # (train.cond_dropout) the pocket-free mode that guidance subtracts is then learned from the
    # complexes' own ligands, not from the ligand-only set
    flag_ligand_only: bool = False


@dataclass
class ProcessCfg:
    schedule: str = "polynomial"
    schedule_kwargs: dict = field(default_factory=lambda: {"power": 2.0, "precision": 1.0e-5})
    pos_parameterization: str = "x0"  # x0 | eps
    categorical: str = "d3pm"  # d3pm | gaussian (EDM's one-hot-as-Gaussian baseline)
    type_prior: str = "marginal"  # uniform | marginal
    charge_prior: str = "marginal"
    bond_prior: str = "marginal"
    bonds: bool = True  # model bond orders as a categorical pair field
    aromatic: bool = False  # 5 bond classes (aromatic) instead of kekulized 4
    loss_weights: dict = field(default_factory=lambda: {"pos": 3.0, "atom_type": 0.4, "charge": 1.0, "bond": 2.0})
    t_min: float = 1.0e-3
    snr_clip: list | None = None  # [lo, hi]: weight each molecule's loss by clip(SNR(t), lo, hi); None: uniform


@dataclass
class ModelCfg:
    name: str = "egnn"
    kwargs: dict = field(default_factory=dict)


@dataclass
class TrainCfg:
    seed: int = 0
    lr: float = 3.0e-4
    lr_warmup_steps: int = 0  # linear warm-up from 0 to lr
    lr_decay_start: int | None = None  # step at which a cosine decay to lr_min begins (None: constant lr)
    lr_decay_steps: int = 0  # length of the cosine decay; lr_min afterwards
    lr_min: float = 0.0
    weight_decay: float = 1.0e-12
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    max_steps: int = 100_000
    max_time_minutes: float | None = None  # stop (and checkpoint) after this wall time
    precision: str = "32-true"  # bf16-mixed on GPU
    compile: bool = False  # torch.compile the denoiser for training steps (dynamic shapes; weights shared)
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"  # ddp for multi-GPU / multi-node
    val_every_n_steps: int = 5000
    val_num_samples: int = 256
    val_sample_steps: int = 100
    ckpt_every_n_steps: int = 2000
    out_dir: str = "runs/qm9"
    log_every_n_steps: int = 50
    init_weights: str | None = None  # warm start (weights and EMA) from a model name or file when not resuming
    cond_dropout: float = 0.0  # probability of training a graph without its pocket / each of its properties


@dataclass
class SampleCfg:
    n_steps: int = 500
    sampler: str = "ancestral"
    batch_size: int = 256
    steric: float | None = None  # pocket models: default steric-guidance distance in Å (None: off)
    bond_decoding: str = "argmax"  # final-step bond classes: argmax or valence (moldiff.samplers.decoding)


@dataclass
class Config:
    data: DataCfg = field(default_factory=DataCfg)
    process: ProcessCfg = field(default_factory=ProcessCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    sample: SampleCfg = field(default_factory=SampleCfg)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


#: Lightning's accelerator and precision names (``pl.Trainer`` would refuse others only after
#: the data set is loaded).
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "transformer-engine",
              "transformer-engine-float16")


class _Rule(NamedTuple):
    """A check of one value: ``test`` must hold; ``requirement`` completes "<key> ..."; a
    ``choice`` rule's requirement also replaces the type's name in type errors."""

    test: Callable[[Any], bool]
    requirement: str
    choice: bool = False


def _at_least(low: int, note: str = "") -> _Rule:
    return _Rule(lambda v: v >= low, f"must be at least {low}{note}")


def _one_of(*options: str) -> _Rule:
    return _Rule(lambda v: v in options, f"must be {', '.join(options[:-1])} or {options[-1]}", choice=True)


#: Checks of values that do not depend on other keys, by dotted key.
_VALUE_RULES: dict[str, _Rule] = {
    "data.batch_size": _at_least(1),
    "data.num_workers": _at_least(0),
    "data.limit_train": _at_least(1, " (or null for all)"),
    "data.pocket_representation": _one_of("full", "ca"),
    "process.pos_parameterization": _one_of("x0", "eps"),
    "train.lr": _Rule(lambda v: v > 0, "must be positive"),
    "train.lr_warmup_steps": _at_least(0),
    "train.lr_decay_steps": _at_least(0),
    "train.lr_min": _at_least(0),
    "train.weight_decay": _at_least(0),
    "train.ema_decay": _Rule(lambda v: 0 <= v <= 1, "must lie in [0, 1]"),
    "train.grad_clip": _at_least(0, " (0: no clipping)"),
    "train.max_steps": _at_least(0, " (0: no training step, e.g. to export train.init_weights)"),
    "train.max_time_minutes": _Rule(lambda v: v > 0, "must be positive (or null for no limit)"),
    "train.accelerator": _one_of(*ACCELERATORS),
    "train.precision": _one_of(*PRECISIONS),
    "train.devices": _Rule(lambda v: v >= 1 or v == -1, "must be at least 1 (or -1 for all)"),
    "train.num_nodes": _at_least(1),
    "train.val_num_samples": _at_least(0),
    "train.val_sample_steps": _at_least(1),
    "train.ckpt_every_n_steps": _at_least(0),
    "train.log_every_n_steps": _at_least(1),
    "sample.n_steps": _at_least(1),
    "sample.batch_size": _at_least(1),
    "sample.bond_decoding": _one_of("argmax", "valence"),
}
#: Numbers in exponent notation without a dot (``1e-4``) or without an exponent sign (``1.0e4``),
#: which YAML 1.1 (PyYAML) reads as strings.
_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class _Mismatch(Exception):
    """A value that does not have the annotated type (internal to :func:`_typed`)."""


def _typed(value: Any, hint: Any) -> Any:
    """``value`` as the annotated type ``hint`` (ints as floats for float fields, integral floats
    as ints for int fields, exponent strings as numbers); ``_Mismatch`` if it is not one."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is UnionType:
        for option in args:
            try:
                return _typed(value, option)
            except _Mismatch:
                pass
        raise _Mismatch
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint in (int, float):
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Mismatch
        if hint is float:
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise _Mismatch
        return int(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if (origin or hint) is list:
        if not isinstance(value, list):
            raise _Mismatch
        return [_typed(v, args[0]) for v in value] if args else value
    if (origin or hint) is dict:
        if isinstance(value, dict):
            return value
        raise _Mismatch
    raise TypeError(f"config annotation {hint} is not supported")  # a new field type needs a rule here


def _describe(hint: Any) -> str:
    """What a value of type ``hint`` is, in words ("an integer or null")."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is UnionType:
        return " or ".join(_describe(option) for option in args)
    words = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string",
             dict: "a mapping"}
    if hint in words:
        return words[hint]
    if (origin or hint) is list:
        return f"a list of {_plural(args[0])}" if args else "a list"
    return str(hint)


def _plural(hint: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings"}.get(hint, _describe(hint))


def _shown(value: Any) -> str:
    """A value as YAML would show it (strings quoted)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value)


def _build(cls, values: Any, source: str | None, prefix: str = ""):
    """``cls`` from a mapping, every key checked against its annotation and :data:`_VALUE_RULES`;
    ConfigError messages name the ``source`` file (if any) and the dotted key."""
    lead = f"{source}: " if source else ""
    if not isinstance(values, dict):
        raise ConfigError(f"{lead}{prefix.rstrip('.') or 'the config'} must be a mapping, got {_shown(values)}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"{lead}unknown config key(s) {', '.join(prefix + str(k) for k in unknown)}; "
                          f"valid: {', '.join(names)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for k, v in values.items():
        key = prefix + k
        if dataclasses.is_dataclass(hints[k]):
            kwargs[k] = _build(hints[k], v, source, f"{key}.")
            continue
        rule = _VALUE_RULES.get(key)
        try:
            kwargs[k] = _typed(v, hints[k])
        except _Mismatch:
            wanted = rule.requirement if rule and rule.choice else f"must be {_describe(hints[k])}"
            raise ConfigError(f"{lead}{key} {wanted}, got {_shown(v)}") from None
        if rule and kwargs[k] is not None and not rule.test(kwargs[k]):
            raise ConfigError(f"{lead}{key} {rule.requirement}, got {_shown(v)}")
    return cls(**kwargs)


def config_from_dict(d: dict, source: str | None = None) -> Config:
    """A checked :class:`Config` from nested mappings (a YAML file's or a checkpoint's);
    ``source`` (a file name) leads every error message."""
    return _build(Config, d or {}, source)


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {key}: {p} is not a section")
    d[parts[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Read a YAML config (None: defaults) and apply ``section.key=value`` overrides (YAML values)."""
    d: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"override {o!r}: expected section.key=value")
        k, v = o.split("=", 1)
        _set_dotted(d, k, yaml.safe_load(v))
    return config_from_dict(d, str(path) if path else None)


DENOISERS: dict[str, Callable[..., Any]] = {"egnn": EGNNDenoiser, "e3nn": E3nnDenoiser}


def build_process(cfg: ProcessCfg, num_types: int, num_charges: int, marginals: dict[str, list[float]]):
    """The joint diffusion for a vocabulary; ``marginals`` holds training frequencies of
    'atom_type', 'charge' and 'bond' classes (used by marginal priors)."""
    import torch

    from moldiff.processes.categorical import CategoricalDiffusion
    from moldiff.processes.gaussian import CoordinateDiffusion, GaussianOneHotDiffusion
    from moldiff.processes.joint import JointDiffusion
    from moldiff.processes.schedules import get_schedule

    schedule = get_schedule(cfg.schedule, **cfg.schedule_kwargs)
    if cfg.snr_clip is not None and not (len(cfg.snr_clip) == 2 and 0 < cfg.snr_clip[0] <= cfg.snr_clip[1]):
        raise ConfigError(f"process.snr_clip must be [lo, hi] with 0 < lo <= hi, got {cfg.snr_clip!r}")

    def field_process(name: str, k: int, prior: str):
        if cfg.categorical == "gaussian":
            return GaussianOneHotDiffusion(schedule, k)
        if cfg.categorical != "d3pm":
            raise ConfigError(f"process.categorical must be 'd3pm' or 'gaussian', got {cfg.categorical!r}")
        if prior not in ("uniform", "marginal"):
            raise ConfigError(f"process.{name}_prior must be 'uniform' or 'marginal', got {prior!r}")
        m = None if prior == "uniform" else torch.tensor(marginals[name], dtype=torch.float64)
        return CategoricalDiffusion(schedule, k, m)

    nodes = {"atom_type": field_process("atom_type", num_types, cfg.type_prior),
             "charge": field_process("charge", num_charges, cfg.charge_prior)}
    bond = None
    if cfg.bonds:
        nb = 5 if cfg.aromatic else 4
        bond = field_process("bond", nb, cfg.bond_prior)
        if isinstance(bond, GaussianOneHotDiffusion):
            raise ConfigError("process.bonds=true needs process.categorical=d3pm (EDM mode has no bonds)")
    return JointDiffusion(schedule, CoordinateDiffusion(schedule, cfg.pos_parameterization), nodes, bond,
                          cfg.loss_weights, cfg.t_min, cfg.snr_clip)


def build_denoiser(cfg: ModelCfg, process, context_in: int = 0, cond_in: int = 0):
    """A denoiser from the registry sized for ``process``'s fields (and ``context_in`` pocket
    features per context atom for pocket-conditioned models, ``cond_in`` condition features per
    graph for property-conditioned ones)."""
    if cfg.name not in DENOISERS:
        raise ConfigError(f"model.name: unknown denoiser {cfg.name!r}; choose from {sorted(DENOISERS)}")
    extra = ({"context_in": context_in} if context_in else {}) | ({"cond_in": cond_in} if cond_in else {})
    if context_in and not getattr(DENOISERS[cfg.name], "supports_context", False):
        raise ConfigError(f"model.name: the {cfg.name} denoiser takes no pocket context; use egnn")
    if cond_in and not getattr(DENOISERS[cfg.name], "supports_cond", False):
        raise ConfigError(f"model.name: the {cfg.name} denoiser takes no property conditions; use egnn")
    try:
        return DENOISERS[cfg.name](node_in=process.node_dim, node_out=process.node_dim,
                                   pair_in=process.pair_dim, pair_out=process.pair_dim, **extra, **cfg.kwargs)
    except TypeError as e:
        raise ConfigError(f"model.kwargs: {e}") from None
