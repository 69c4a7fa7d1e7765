"""Timed sampling and evaluation of many molecules, for benchmark scripts.

Sampling and evaluation are separate steps on purpose: a GPU machine without RDKit can sample
and save compact arrays (:func:`moldiff.convert.pack_arrays`), and another machine evaluates them.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, replace

import torch

from moldiff.chem.arrays import MolArrays
from moldiff.engine import Engine
from moldiff.graph import Context
from moldiff.options import SampleOptions
from moldiff.model import MolDiffModel, pocket_context
from moldiff.pocket import Pocket
from moldiff.samplers import SamplerSpec


@dataclass(frozen=True)
class Setting:
    """One benchmark setting: sampler, step count (= network evaluations) and engine."""

    sampler: SamplerSpec
    n_steps: int
    engine: Engine = Engine()

    @classmethod
    def parse(cls, text: str) -> "Setting":
        """``"SAMPLER@STEPS[/ENGINE]"`` (e.g. ``"dpm2m:spacing=logsnr@25/bf16+compile"``); a
        one-line ``ValueError`` otherwise."""
        head, slash, engine = text.partition("/")
        sampler, at, steps = head.rpartition("@")
        if not at or not steps.isdigit() or int(steps) < 1:
            raise ValueError(f"setting {text!r}: expected SAMPLER@STEPS[/ENGINE], e.g. ancestral@1000 or "
                             "dpm2m@25/bf16+compile")
        return cls(SamplerSpec.parse(sampler), int(steps), Engine.parse(engine) if slash else Engine())

    def __str__(self) -> str:
        return f"{self.sampler}@{self.n_steps}" + ("" if self.engine == Engine() else f"/{self.engine}")

    @property
    def slug(self) -> str:
        """A file-name-safe label: ``dpm2m:spacing=logsnr@25/bf16+compile`` -> ``dpm2m_spacing_logsnr_25_bf16_compile``."""
        engine = "" if self.engine == Engine() else f"_{self.engine}"
        return re.sub(r"[^A-Za-z0-9.]+", "_", f"{self.sampler}_{self.n_steps}{engine}")


@dataclass
class SamplingRun:
    """What one timed sampling run did: molecules, steps, batch size, engine, device and wall time."""

    n_samples: int
    n_steps: int
    batch_size: int
    sampler: str
    engine: str
    device: str
    seconds: float

    @property
    def molecules_per_s(self) -> float:
        return self.n_samples / self.seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "molecules_per_s": self.molecules_per_s}


def device_name(device: torch.device) -> str:
    """A readable name of ``device`` (the GPU model, or the CPU thread count)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on the CPU), so wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_sampling(model: MolDiffModel, n_samples: int, options: SampleOptions, seed: int = 0,
                   warmup: bool = True) -> tuple[list[MolArrays], SamplingRun]:
    """Sample ``n_samples`` molecules (sizes from the training histogram) with resolved
    ``options`` (:meth:`MolDiffModel.sample`, batches of ``options.batch_size``) and time it.

    The bond decoding uses no random numbers, so two runs with the same seed and different
    decodings share their trajectories.

    The clock covers the reverse diffusion and the copy of the results to the host, not model
    loading; ``warmup`` first runs one 2-step batch so CUDA initialisation (and, for a compiled
    engine, compilation) is not counted.
    """
    device = model.device
    sizes = model.sample_sizes(n_samples, torch.Generator().manual_seed(seed))
    gen = torch.Generator(device=device).manual_seed(seed)
    if warmup:
        model.sample(sizes[:options.batch_size], torch.Generator(device=device).manual_seed(seed),
                     replace(options, n_steps=2))
    synchronize(device)
    start = time.perf_counter()
    arrays = model.sample(sizes, gen, options, progress=True)
    synchronize(device)
    seconds = time.perf_counter() - start
    return arrays, SamplingRun(n_samples, options.n_steps, options.batch_size, str(options.sampler),
                               str(options.engine), device_name(device), seconds)


def evaluate_arrays(arrays: list[MolArrays], explicit_h: bool, train_smiles: set[str] | None) -> dict[str, float]:
    """The metrics of :func:`moldiff.chem.metrics.evaluate_molecules` for sampled arrays (needs RDKit)."""
    from moldiff.api import arrays_to_mols
    from moldiff.chem.metrics import evaluate_molecules

    return evaluate_molecules(arrays_to_mols(arrays, explicit_h), train_smiles)


def _median_ms(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn()`` in milliseconds, synchronising around every call."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(1e3 * (time.perf_counter() - start))
    return float(sorted(times)[len(times) // 2])


@torch.no_grad()
def profile_sampling(model: MolDiffModel, sizes: torch.Tensor, engines: list[Engine], options: SampleOptions,
                     pocket: Pocket | None = None, repeats: int = 20, seed: int = 0) -> list[dict]:
    """Where a sampling step's time goes, per engine, for one batch of molecules of ``sizes``
    sampled with resolved ``options`` (its sampler, step count and steric guidance; the engine
    and batch size are the profile's), in ``pocket`` for pocket models.

    Per engine: the network alone (``network_ms``, one prediction at t = 0.5 on a prior draw), a
    whole step of a real ``n_steps`` run (``step_ms``: network, sampler update, constraints such as
    steric guidance, and the per-step edge construction inside the network) and their difference
    (``overhead_ms``); ``edges_ms`` times the edge construction alone. Accuracy against a plain
    float32 prediction with TF32 off: relative error of the coordinate estimate and the fraction of
    atom-type and bond argmaxes that agree.
    """
    from moldiff.graph import all_pairs, bipartite_pairs, directed_edges
    from moldiff.processes.joint import Topology

    device = model.device
    model.denoiser.eval()
    context = None
    if pocket is not None:
        context = pocket_context(pocket, len(sizes), pocket.pos.mean(axis=0))
        context = Context(context.pos.to(device, torch.float32), context.h.to(device, torch.float32),
                          context.batch.to(device))
    topo = Topology.from_sizes(sizes, device=device, context=context)
    like = torch.zeros(1, device=device)
    x = model.process.prior(topo, like, torch.Generator(device=device).manual_seed(seed))
    t = torch.full((topo.num_graphs,), 0.5, device=device)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    ref = model.process.predict(model.denoiser, x, topo, t)
    torch.backends.cuda.matmul.allow_tf32 = tf32

    def edges():
        pairs = all_pairs(topo.ptr)
        directed_edges(pairs, x.pos, getattr(model.denoiser, "cutoff", None))
        if context is not None:
            bipartite_pairs(topo.batch, x.pos, context.batch, context.pos, topo.num_graphs,
                            getattr(model.denoiser, "context_cutoff", 5.0))

    edges_ms = _median_ms(edges, device, repeats)
    rows = []
    for engine in engines:
        runner = model.runner(engine)
        start = time.perf_counter()
        pred = model.process.predict(runner, x, topo, t)  # compiles, for a compiled engine
        synchronize(device)
        first_ms = 1e3 * (time.perf_counter() - start)
        network_ms = _median_ms(lambda: model.process.predict(runner, x, topo, t), device, repeats)

        run_options = replace(options, engine=engine, batch_size=len(sizes))

        def run():
            model.sample(sizes, torch.Generator(device=device).manual_seed(seed), run_options, pocket)

        run()
        step_ms = _median_ms(run, device, max(3, repeats // 5)) / options.n_steps
        err = float((pred.pos - ref.pos).norm() / ref.pos.norm())
        agree_type = float((pred.nodes["atom_type"].argmax(-1) == ref.nodes["atom_type"].argmax(-1)).float().mean())
        agree_bond = (float((pred.bond.argmax(-1) == ref.bond.argmax(-1)).float().mean())
                      if ref.bond is not None else None)
        rows.append({"engine": str(engine), "first_call_ms": first_ms, "network_ms": network_ms, "step_ms": step_ms,
                     "overhead_ms": step_ms - network_ms, "edges_ms": edges_ms, "pos_rel_error": err,
                     "atom_type_agreement": agree_type, "bond_agreement": agree_bond,
                     "n_molecules": int(topo.num_graphs), "n_atoms": int(topo.batch.numel()),
                     "n_pairs": int(topo.pair_index.shape[1]),
                     "n_context": 0 if context is None else int(context.pos.shape[0]),
                     "tf32": bool(tf32), "device": device_name(device), "sampler": str(options.sampler),
                     "n_steps": options.n_steps, "steric": options.steric_distance})
    return rows
