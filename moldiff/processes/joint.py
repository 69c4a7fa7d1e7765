"""Joint diffusion of a molecule: coordinates + categorical node fields + optional bond field,
all sharing one schedule and one time t per graph.

The process never owns the network: :meth:`JointDiffusion.loss` and :meth:`predict` take
it as an argument (improved-diffusion style), so any :class:`~moldiff.graph.Denoiser` fits.
Self-conditioned denoisers (``denoiser.self_cond``) also read the previous clean estimate: the
sampler passes each call's prediction to the next, and training feeds the network its own
estimate (made without gradient) for half of the batches (Chen et al. 2023).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor

from moldiff.geometry import remove_com
from moldiff.graph import Context, Denoiser, NoisyGraph, SelfCond, all_pairs, pair_id
from moldiff.processes.categorical import CategoricalDiffusion
from moldiff.processes.gaussian import CoordinateDiffusion, GaussianOneHotDiffusion
from moldiff.processes.schedules import Schedule

FieldProcess = Union[CategoricalDiffusion, GaussianOneHotDiffusion]

#: Share of training batches in which a self-conditioned denoiser sees its own previous estimate.
SELF_COND_RATE = 0.5


@dataclass
class Topology:
    """Who is in which graph: batch vector, CSR pointer, all intra-molecular pairs, and which
    nodes move (``move`` None: all). ``project`` selects zero-CoM coordinate noise; pocket-
    conditioned models turn it off and work in the pocket's frame, with the pocket as ``context``.
    ``cond`` [G, C]: graph-level condition features (properties) or None (null condition)."""

    batch: Tensor
    ptr: Tensor
    num_graphs: int
    pair_index: Tensor
    move: Tensor | None = None
    project: bool = True
    context: Context | None = None
    cond: Tensor | None = None

    @property
    def pair_batch(self) -> Tensor:
        return self.batch[self.pair_index[0]]

    @classmethod
    def from_sizes(cls, sizes: Tensor, device=None, context: Context | None = None) -> "Topology":
        """Topology of G molecules with ``sizes`` [G] atoms each; with a ``context`` (pocket) the
        coordinates live in its frame (no zero-CoM projection)."""
        sizes = torch.as_tensor(sizes, dtype=torch.long, device=device)
        ptr = torch.cat([sizes.new_zeros(1), torch.cumsum(sizes, 0)])
        batch = torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), sizes)
        return cls(batch, ptr, sizes.numel(), all_pairs(ptr), project=context is None, context=context)


@dataclass
class MolState:
    """Values of every field at one noise level: ``pos`` [N, 3], node fields (each [N] class
    indices, or [N, K] floats in EDM mode) and the bond field over pairs ([P] or [P, K])."""

    pos: Tensor
    nodes: dict[str, Tensor]
    bond: Tensor | None = None


@dataclass
class Prediction:
    """The denoiser's estimates: x0-hat of the coordinates and raw outputs (logits) per field."""

    pos: Tensor
    nodes: dict[str, Tensor]
    bond: Tensor | None = None


def clean_state(data, num_bond_types: int | None) -> tuple[MolState, Topology]:
    """Turn a PyG batch (pos, atom_type, charge, sparse bonds edge_index/bond_type) into the clean
    state with a dense bond class on every pair (0 = no bond). Batches of complexes also carry
    ``pocket_pos``, ``pocket_h`` and ``pocket_pos_batch``, which become the fixed context."""
    ptr = data.ptr
    context = None
    if "pocket_pos" in data:
        context = Context(data.pocket_pos, data.pocket_h, data.pocket_pos_batch)
    topo = Topology(data.batch, ptr, int(data.num_graphs), all_pairs(ptr), project=context is None, context=context)
    bond = None
    if num_bond_types is not None:
        bond = torch.zeros(topo.pair_index.shape[1], dtype=torch.long, device=ptr.device)
        if data.edge_index.numel():
            bond[pair_id(ptr, data.batch, data.edge_index)] = data.bond_type.long()
    nodes = {"atom_type": data.atom_type.long(), "charge": data.charge.long()}
    return MolState(data.pos, nodes, bond), topo


class JointDiffusion:
    """Coordinates (:class:`CoordinateDiffusion`) + named node fields + optional bond field.

    ``loss_weights`` maps 'pos', each node field name and 'bond' to a weight (MiDi's
    defaults: pos 3, atom_type 0.4, charge 1, bond 2). ``snr_clip = (lo, hi)`` additionally
    weights every term of a molecule at time t by clip(SNR(t), lo, hi) (truncated-SNR weighting
    as in Min-SNR / EQGAT-diff): near-pure-noise steps, whose x0 targets are mostly guesswork,
    stop dominating the gradient, and the low-noise steps that settle valences and bond lengths
    count more. None: every t counts the same (the simple loss of DiGress/MiDi).
    """

    def __init__(self, schedule: Schedule, pos: CoordinateDiffusion, nodes: dict[str, FieldProcess],
                 bond: FieldProcess | None = None, loss_weights: dict[str, float] | None = None,
                 t_min: float = 1e-3, snr_clip: tuple[float, float] | None = None):
        self.schedule = schedule
        self.pos = pos
        self.nodes = nodes
        self.bond = bond
        self.loss_weights = {"pos": 3.0, "atom_type": 0.4, "charge": 1.0, "bond": 2.0, **(loss_weights or {})}
        self.t_min = t_min
        self.snr_clip = None if snr_clip is None else (float(snr_clip[0]), float(snr_clip[1]))

    # -- sizes the denoiser must match -------------------------------------------------
    @property
    def node_dim(self) -> int:
        return sum(p.num_classes for p in self.nodes.values())

    @property
    def pair_dim(self) -> int:
        return 0 if self.bond is None else self.bond.num_classes

    # -- forward process --------------------------------------------------------------
    def q_sample(self, x0: MolState, topo: Topology, t: Tensor,
                 generator: torch.Generator | None = None) -> tuple[MolState, Tensor]:
        """Noise every field of ``x0`` to per-graph times ``t`` [G]; returns (x_t, coordinate eps)."""
        t_node = t[topo.batch]
        eps = self.pos.noise(x0.pos, topo.batch, topo.num_graphs, topo.move, topo.project, generator)
        pos = self.pos.q_sample(x0.pos, t_node, eps, topo.move)
        nodes = {k: self._keep(p.q_sample(x0.nodes[k], t_node, generator), x0.nodes[k], topo.move)
                 for k, p in self.nodes.items()}
        bond = None if self.bond is None else self.bond.q_sample(x0.bond, t[topo.pair_batch], generator)
        return MolState(pos, nodes, bond), eps

    def renoise(self, x_s: MolState, topo: Topology, s: Tensor, t: Tensor,
                generator: torch.Generator | None = None) -> MolState:
        """Forward transition x_s -> x_t ~ q(x_t | x_s) of every field for per-graph times s < t."""
        s_node, t_node = s[topo.batch], t[topo.batch]
        eps = self.pos.noise(x_s.pos, topo.batch, topo.num_graphs, topo.move, topo.project, generator)
        pos = self.pos.q_step(x_s.pos, s_node, t_node, eps, topo.move)
        nodes = {k: self._keep(p.q_step(x_s.nodes[k], s_node, t_node, generator), x_s.nodes[k], topo.move)
                 for k, p in self.nodes.items()}
        bond = None
        if self.bond is not None:
            bond = self.bond.q_step(x_s.bond, s[topo.pair_batch], t[topo.pair_batch], generator)
        return MolState(pos, nodes, bond)

    def prior(self, topo: Topology, like: Tensor, generator: torch.Generator | None = None) -> MolState:
        """A draw from the t = 1 limit: projected standard normal coordinates, prior classes."""
        n = topo.batch.numel()
        pos = self.pos.noise(like.new_zeros(n, 3), topo.batch, topo.num_graphs, topo.move, topo.project, generator)
        nodes = {k: p.prior_sample(n, like, generator) for k, p in self.nodes.items()}
        bond = None if self.bond is None else self.bond.prior_sample(topo.pair_index.shape[1], like, generator)
        return MolState(pos, nodes, bond)

    @staticmethod
    def _keep(x_t: Tensor, x0: Tensor, move: Tensor | None) -> Tensor:
        if move is None or x_t.dtype != x0.dtype:
            return x_t
        return torch.where(move.view(-1, *([1] * (x_t.dim() - 1))), x_t, x0)

    # -- network interface ------------------------------------------------------------
    def graph(self, x_t: MolState, topo: Topology, t: Tensor, self_cond: SelfCond | None = None) -> NoisyGraph:
        """Featurise a state (and, for self-conditioned denoisers, the previous estimate)."""
        h = torch.cat([p.features(x_t.nodes[k]) for k, p in self.nodes.items()], dim=-1).to(x_t.pos.dtype)
        pair = None if self.bond is None else self.bond.features(x_t.bond).to(x_t.pos.dtype)
        return NoisyGraph(x_t.pos, h, topo.batch, topo.pair_index, pair, t, topo.num_graphs, topo.move, topo.context,
                          topo.cond, self_cond)

    def self_cond(self, pred: Prediction, present: Tensor) -> SelfCond:
        """A prediction as the next call's self-conditioning input: x0 coordinates and class
        probabilities (the x0 estimate itself for EDM-style Gaussian fields), detached."""
        def probs(p: FieldProcess, out: Tensor) -> Tensor:
            return torch.softmax(out.float(), -1).to(out.dtype) if isinstance(p, CategoricalDiffusion) else out

        h = torch.cat([probs(p, pred.nodes[k]) for k, p in self.nodes.items()], dim=-1)
        pair = None if self.bond is None else probs(self.bond, pred.bond).detach()
        return SelfCond(pred.pos.detach(), h.detach(), pair, present)

    def predict(self, model: Denoiser, x_t: MolState, topo: Topology, t: Tensor,
                previous: Prediction | None = None) -> Prediction:
        """Run the denoiser and split its outputs into per-field estimates; ``previous``, the last
        call's prediction, is read by self-conditioned denoisers only."""
        sc = None
        if previous is not None and getattr(model, "self_cond", False):
            sc = self.self_cond(previous, torch.ones(topo.num_graphs, dtype=torch.bool, device=t.device))
        return self._prediction(model(self.graph(x_t, topo, t, sc)), x_t, topo, t)

    def _prediction(self, out, x_t: MolState, topo: Topology, t: Tensor) -> Prediction:
        pos = self.pos.x0_from_output(out.pos, x_t.pos, t[topo.batch])
        sizes = [p.num_classes for p in self.nodes.values()]
        nodes = dict(zip(self.nodes, torch.split(out.h, sizes, dim=-1)))
        return Prediction(pos, nodes, out.pair)

    def _training_self_cond(self, model: Denoiser, x_t: MolState, topo: Topology, t: Tensor,
                            generator: torch.Generator | None) -> SelfCond | None:
        """For a self-conditioned denoiser: in a ``SELF_COND_RATE`` share of batches its own
        estimate of ``x_t`` (detached); otherwise the "no estimate" input (zeros, nothing present).
        The estimate is made from that same "no estimate" input and with gradients recorded (then
        dropped), so that a compiled network sees one graph in both passes: under
        ``torch.no_grad`` every compiled piece was compiled twice."""
        if not getattr(model, "self_cond", False):
            return None
        u = torch.rand(1, generator=generator, device="cpu" if generator is None else generator.device)
        use = bool(u < SELF_COND_RATE)  # the CPU stream when no generator is given: no device sync
        zeros = Prediction(torch.zeros_like(x_t.pos),
                           {k: x_t.pos.new_zeros(x_t.pos.shape[0], p.num_classes) for k, p in self.nodes.items()},
                           None if self.bond is None else x_t.pos.new_zeros(topo.pair_index.shape[1],
                                                                            self.bond.num_classes))
        nothing = self.self_cond(zeros, torch.zeros(topo.num_graphs, dtype=torch.bool, device=t.device))
        if not use:
            return nothing
        pred = self._prediction(model(self.graph(x_t, topo, t, nothing)), x_t, topo, t)
        return self.self_cond(pred, torch.ones(topo.num_graphs, dtype=torch.bool, device=t.device))

    # -- training ---------------------------------------------------------------------
    def sample_t(self, num_graphs: int, device, generator: torch.Generator | None = None) -> Tensor:
        """Training times t ~ U(t_min, 1), one per graph."""
        u = torch.rand(num_graphs, generator=generator, device=device if generator is None else generator.device)
        return (self.t_min + (1 - self.t_min) * u).to(device)

    def time_weight(self, t: Tensor) -> Tensor:
        """Per-graph loss weight at times ``t``: clip(SNR(t), lo, hi), or ones without ``snr_clip``."""
        if self.snr_clip is None:
            return torch.ones_like(t)
        snr = torch.exp(self.schedule.log_snr(t))
        return snr.clamp(*self.snr_clip)

    def loss(self, model: Denoiser, x0: MolState, topo: Topology, t: Tensor | None = None,
             generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Weighted per-field losses (each a mean over moving nodes / pairs) and their sum 'loss'."""
        t = self.sample_t(topo.num_graphs, x0.pos.device, generator) if t is None else t
        x_t, eps = self.q_sample(x0, topo, t, generator)
        out = model(self.graph(x_t, topo, t, self._training_self_cond(model, x_t, topo, t, generator)))
        w_t = self.time_weight(t).to(x0.pos.dtype)
        w = torch.ones_like(topo.batch, dtype=x0.pos.dtype) if topo.move is None else topo.move.to(x0.pos.dtype)
        count = w.sum().clamp_min(1)
        w = w * w_t[topo.batch]
        mean = lambda v: (v * w).sum() / count  # noqa: E731
        terms = {"pos": mean(self.pos.loss(out.pos, x0.pos, x_t.pos, eps, t[topo.batch]))}
        for (k, p), o in zip(self.nodes.items(), torch.split(out.h, [p.num_classes for p in self.nodes.values()], -1)):
            terms[k] = mean(p.loss(o, x0.nodes[k]))
        if self.bond is not None and topo.pair_index.shape[1]:
            terms["bond"] = (self.bond.loss(out.pair, x0.bond) * w_t[topo.pair_batch]).mean()
        terms["loss"] = sum(self.loss_weights[k] * v for k, v in terms.items())
        return terms

    # -- reverse process --------------------------------------------------------------
    def posterior_sample(self, pred: Prediction, x_t: MolState, topo: Topology, s: Tensor, t: Tensor,
                         generator: torch.Generator | None = None) -> MolState:
        """One ancestral step x_t -> x_s ~ p(x_s | x_t) for per-graph times s < t."""
        pos = self.pos.posterior_sample(pred.pos, x_t.pos, s[topo.batch], t[topo.batch], topo.batch, topo.num_graphs,
                                        topo.move, topo.project, generator)
        return self._fields_step(pos, pred, x_t, topo, s, t, None, generator)

    def ddim_sample(self, pred: Prediction, x_t: MolState, topo: Topology, s: Tensor, t: Tensor, eta: float,
                    generator: torch.Generator | None = None) -> MolState:
        """One DDIM step x_t -> x_s (any gap s < t): coordinates and EDM-style Gaussian fields by
        :func:`~moldiff.processes.gaussian.ddim_coefficients` with noise scale ``eta``,
        categorical fields by their exact skip-step posterior. ``pred.pos`` may be any x0
        estimate (multistep solvers pass an extrapolated one)."""
        pos = self.pos.ddim_sample(pred.pos, x_t.pos, s[topo.batch], t[topo.batch], topo.batch, topo.num_graphs,
                                   topo.move, topo.project, eta, generator)
        return self._fields_step(pos, pred, x_t, topo, s, t, eta, generator)

    def _fields_step(self, pos: Tensor, pred: Prediction, x_t: MolState, topo: Topology, s: Tensor, t: Tensor,
                     eta: float | None, generator: torch.Generator | None) -> MolState:
        """The new state with coordinates ``pos`` and every other field stepped from t to s
        (ancestral posterior when ``eta`` is None, else the field's DDIM update)."""
        def field_step(p: FieldProcess, out: Tensor, x: Tensor, sf: Tensor, tf: Tensor) -> Tensor:
            if eta is None:
                return p.posterior_sample(out, x, sf, tf, generator)
            return p.ddim_sample(out, x, sf, tf, eta, generator)

        s_node, t_node = s[topo.batch], t[topo.batch]
        nodes = {k: self._keep(field_step(p, pred.nodes[k], x_t.nodes[k], s_node, t_node), x_t.nodes[k], topo.move)
                 for k, p in self.nodes.items()}
        bond = None
        if self.bond is not None:
            bond = field_step(self.bond, pred.bond, x_t.bond, s[topo.pair_batch], t[topo.pair_batch])
        return MolState(pos, nodes, bond)

    def denoised(self, pred: Prediction, x_t: MolState, topo: Topology) -> MolState:
        """The final clean state: x0-hat coordinates (re-centred) and argmax classes."""
        pos = remove_com(pred.pos, topo.batch, topo.num_graphs, topo.move) if topo.project else pred.pos
        if topo.move is not None:
            pos = torch.where(topo.move[:, None], pos, x_t.pos)
        nodes = {k: self._keep(pred.nodes[k].argmax(-1), p.decode(x_t.nodes[k]), topo.move)
                 for k, p in self.nodes.items()}
        bond = None if self.bond is None else pred.bond.argmax(-1)
        return MolState(pos, nodes, bond)
