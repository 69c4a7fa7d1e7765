"""Bayes-optimal denoisers for synthetic data with known distributions (used by sampler and
likelihood tests)."""
import torch
from torch import nn

from moldiff.geometry import com
from moldiff.graph import DenoiserOutput
from moldiff.processes.categorical import CategoricalDiffusion
from moldiff.processes.gaussian import CoordinateDiffusion
from moldiff.processes.joint import JointDiffusion

S0 = 0.5  # data std of each coordinate in the zero-CoM subspace
P_TYPE = torch.tensor([0.6, 0.3, 0.1])
P_BOND = torch.tensor([0.8, 0.15, 0.05])


class OracleDenoiser(nn.Module):
    """Exact E[x0 | x_t] for Gaussian data N(0, S0^2) in the zero-CoM subspace, and exact
    log p(x0 | x_t) for independent categorical data, computed from the schedule (no learning).

    Like the real networks it is translation-equivariant: the relative geometry is shrunk about
    the centre of mass, which is passed through. ``absolute``: data N(0, S0^2) per atom in a fixed
    frame instead (as with a pocket), shrunk about the origin.
    """

    def __init__(self, process: JointDiffusion, absolute: bool = False):
        super().__init__()
        self.p = process
        self.absolute = absolute

    def forward(self, g):
        sch = self.p.schedule
        t = g.t[g.batch]
        a, s2 = sch.alpha(t)[:, None], (sch.sigma(t) ** 2)[:, None]
        centre = 0.0 if self.absolute else com(g.pos, g.batch, g.num_graphs)[g.batch]
        pos = a * S0 ** 2 / (a ** 2 * S0 ** 2 + s2) * (g.pos - centre) + centre
        logits = []
        for k, proc in self.p.nodes.items():
            logits.append(self._posterior_logits(proc, P_TYPE if k == "atom_type" else torch.tensor([0.0, 1.0, 0.0]), t,
                                                 g.h[:, self._slice(k)].argmax(-1)))
        pair_t = g.t[g.batch[g.pair_index[0]]]
        pair = self._posterior_logits(self.p.bond, P_BOND, pair_t, g.pair_attr.argmax(-1))
        return DenoiserOutput(pos=pos, h=torch.cat(logits, -1), pair=pair)

    def _slice(self, name):
        start = 0
        for k, proc in self.p.nodes.items():
            if k == name:
                return slice(start, start + proc.num_classes)
            start += proc.num_classes

    @staticmethod
    def _posterior_logits(proc, p_data, t, x_t):
        # log p(x0 = k | x_t) = log p_data(k) + log Qbar_t[k, x_t] + const
        col = proc._column(proc.schedule.alpha_bar(t).double(), x_t, proc.m.double())
        return (p_data.double().clamp_min(1e-12).log() + col.log()).to(torch.get_default_dtype())


def make_process(schedule):
    return JointDiffusion(schedule, CoordinateDiffusion(schedule),
                          {"atom_type": CategoricalDiffusion(schedule, 3), "charge": CategoricalDiffusion(schedule, 3)},
                          CategoricalDiffusion(schedule, 3, torch.tensor([0.5, 0.3, 0.2])))
