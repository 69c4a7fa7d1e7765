"""Per-time loss weighting of the joint process against its closed form."""
import pytest
import torch

from moldiff.config import ConfigError, ProcessCfg, build_process
from moldiff.nn.egnn import EGNNDenoiser
from moldiff.processes.joint import MolState, Topology

MARG = {"atom_type": [0.4, 0.3, 0.2, 0.1], "charge": [0.1, 0.8, 0.1], "bond": [0.7, 0.2, 0.05, 0.05]}


def _setup(snr_clip):
    process = build_process(ProcessCfg(snr_clip=snr_clip), 4, 3, MARG)
    torch.manual_seed(0)
    net = EGNNDenoiser(process.node_dim, process.node_dim, process.pair_dim, process.pair_dim,
                       hidden=16, pair_hidden=8, num_layers=2).double()
    g = torch.Generator().manual_seed(1)
    topo = Topology.from_sizes(torch.tensor([5]))
    x0 = MolState(torch.randn(5, 3, generator=g, dtype=torch.float64),
                  {"atom_type": torch.randint(0, 4, (5,), generator=g), "charge": torch.randint(0, 3, (5,), generator=g)},
                  torch.randint(0, 4, (topo.pair_index.shape[1],), generator=g))
    return process, net, x0, topo


@pytest.mark.parametrize("t", [0.02, 0.5, 0.7, 0.98])
def test_truncated_snr_weighting_scales_every_term_of_a_molecule(t):
    lo, hi = 0.05, 1.5
    plain, net, x0, topo = _setup(None)
    weighted = _setup([lo, hi])[0]
    tt = torch.tensor([t], dtype=torch.float64)
    a = plain.loss(net, x0, topo, tt, torch.Generator().manual_seed(3))
    b = weighted.loss(net, x0, topo, tt, torch.Generator().manual_seed(3))
    alpha_bar = plain.schedule.alpha_bar(tt)
    w = float((alpha_bar / (1 - alpha_bar)).clamp(lo, hi))
    assert w in (lo, hi) or lo < w < hi
    for k in ("pos", "atom_type", "charge", "bond", "loss"):
        torch.testing.assert_close(b[k], w * a[k])


def test_weights_hit_both_clips_over_the_time_range():
    process = _setup([0.05, 1.5])[0]
    w = process.time_weight(torch.linspace(0, 1, 101, dtype=torch.float64))
    assert w[0] == 1.5 and w[-1] == 0.05 and torch.all(w[1:] <= w[:-1])


@pytest.mark.parametrize("bad", [[1.0], [2.0, 1.0], [0.0, 1.0]])
def test_bad_snr_clip_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="snr_clip"):
        build_process(ProcessCfg(snr_clip=bad), 4, 3, MARG)
