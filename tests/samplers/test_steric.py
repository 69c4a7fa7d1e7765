"""Steric guidance: ligand atoms of the x0 estimate leave the pocket atoms' exclusion spheres,
nothing else moves, and the push is SE(3)-equivariant."""
import numpy as np
import pytest
import torch

from moldiff.geometry import random_rotations
from moldiff.graph import Context
from moldiff.options import SampleOptions
from moldiff.pocket import Pocket
from moldiff.processes.joint import Topology
from moldiff.samplers.steric import StericGuidance
from moldiff.testing import untrained_model
from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB

R0 = 2.5


def _sparse_case(seed: int = 0):
    """Two graphs; pocket atoms on a 7 Å grid (each ligand atom can overlap at most one of them);
    ligand atoms half near a pocket atom (0.3-2.3 Å away), half far from all of them."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(*[torch.arange(3.0)] * 3, indexing="ij"), -1).reshape(-1, 3) * 7.0
    ctx_pos = torch.cat([grid, grid + 0.5]).double()
    ctx_batch = torch.repeat_interleave(torch.arange(2), len(grid))
    near_idx = torch.randint(0, len(grid), (6,), generator=g)
    direction = torch.nn.functional.normalize(torch.randn(6, 3, generator=g, dtype=torch.float64), dim=-1)
    near = grid[near_idx].double() + direction * (0.3 + 2.0 * torch.rand(6, 1, generator=g, dtype=torch.float64))
    far = grid[near_idx].double() + 3.5  # 3.5 Å along each axis from a grid point: > 3.5 Å from all
    pos = torch.cat([near[:3], far[:3], near[3:] + 0.5, far[3:] + 0.5])
    topo = Topology.from_sizes(torch.tensor([6, 6]), context=Context(ctx_pos, torch.zeros(len(ctx_pos), 1), ctx_batch))
    return pos, topo


def _min_distance(pos, topo):
    ctx = topo.context
    d = torch.cdist(pos, ctx.pos)
    d[topo.batch[:, None] != ctx.batch[None, :]] = float("inf")
    return d.min(dim=1).values


def test_push_clears_overlaps_and_leaves_other_atoms_alone(float64):
    pos, topo = _sparse_case()
    before = _min_distance(pos, topo)
    assert (before < R0).sum() == 6
    out = StericGuidance(R0).push(pos, topo)
    after = _min_distance(out, topo)
    clashing = before < R0
    torch.testing.assert_close(after[clashing], torch.full((6,), R0, dtype=torch.float64))
    assert torch.equal(out[~clashing], pos[~clashing])
    # pushed radially: the direction from the pocket atom is unchanged
    moved = out[clashing] - pos[clashing]
    assert torch.all(moved.norm(dim=-1) > 0.1)


def test_push_respects_atoms_that_do_not_move(float64):
    pos, topo = _sparse_case()
    topo.move = torch.ones(12, dtype=torch.bool)
    topo.move[:3] = False
    out = StericGuidance(R0).push(pos, topo)
    assert torch.equal(out[:3], pos[:3])
    assert _min_distance(out, topo)[6:9].min() >= R0 - 1e-9


def test_push_is_se3_equivariant(float64):
    pos, topo = _sparse_case(seed=3)
    guide = StericGuidance(R0)
    rot = random_rotations(1, dtype=torch.float64)[0]
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    ctx = topo.context
    moved = Topology.from_sizes(torch.tensor([6, 6]), context=Context(ctx.pos @ rot.T + shift, ctx.h, ctx.batch))
    torch.testing.assert_close(guide.push(pos @ rot.T + shift, moved), guide.push(pos, topo) @ rot.T + shift)


def test_dense_pocket_overlaps_shrink(float64):
    g = torch.Generator().manual_seed(1)
    ctx_pos = torch.randn(300, 3, generator=g, dtype=torch.float64) * 5
    pos = torch.randn(20, 3, generator=g, dtype=torch.float64) * 3
    topo = Topology.from_sizes(torch.tensor([20]), context=Context(ctx_pos, torch.zeros(300, 1), torch.zeros(300, dtype=torch.long)))
    before = (R0 - _min_distance(pos, topo)).clamp_min(0)
    after = (R0 - _min_distance(StericGuidance(R0, rounds=5).push(pos, topo), topo)).clamp_min(0)
    assert before.sum() > 5 and after.sum() < 0.2 * before.sum()


def test_sampling_with_guidance_keeps_molecules_out_of_the_pocket():
    """An untrained pocket model places atoms anywhere; with guidance the final atoms keep their distance."""
    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    rng = np.random.default_rng(0)  # a cavity: pocket atoms on a shell 4-6 Å around its centre
    direction = rng.normal(size=(60, 3))
    pocket_pos = direction / np.linalg.norm(direction, axis=1, keepdims=True) * rng.uniform(4, 6, (60, 1)) + 20.0
    pocket = Pocket.from_arrays(pocket_pos, np.zeros(60, int), np.zeros(60, int), np.zeros(60, bool),
                                np.zeros(60, bool), "full", "test pocket")
    sizes = torch.tensor([8] * 16)
    plain = model.sample(sizes, torch.Generator().manual_seed(0), SampleOptions(8).resolve(model), pocket)
    guided = model.sample(sizes, torch.Generator().manual_seed(0), SampleOptions(8, steric=R0).resolve(model), pocket)

    def closest(arrays):
        return np.array([np.linalg.norm(a.pos[:, None] - pocket_pos[None], axis=-1).min() for a in arrays])

    assert (closest(plain) < 2.0).mean() > 0.5  # the test pocket is crowded enough to matter
    # a few atoms can stay wedged between pocket atoms of the shell, none inside clash range
    assert closest(guided).min() > 2.0 and np.median(closest(guided)) > R0 - 0.05


def test_guidance_needs_a_pocket():
    with pytest.raises(ValueError, match="pocket"):
        SampleOptions(2, steric=R0).resolve(untrained_model("tiny.yaml", QM9_VOCAB))


def test_api_uses_the_model_default_and_zero_turns_it_off():
    from moldiff.api import sample

    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    model.cfg.sample.steric = R0
    pocket = Pocket.from_arrays(np.random.default_rng(0).normal(size=(30, 3)) * 4, np.zeros(30, int), np.zeros(30, int),
                                np.zeros(30, bool), np.zeros(30, bool), "full", "test pocket")
    default = sample(model, 2, n_steps=3, num_atoms=6, pocket=pocket, progress=False)
    off = sample(model, 2, n_steps=3, num_atoms=6, pocket=pocket, progress=False, steric=0)
    assert all(float(m.GetProp("steric_distance")) == R0 for m in default)
    assert not any(m.HasProp("steric_distance") for m in off)
    with pytest.raises(ValueError, match="pocket"):
        sample(untrained_model("tiny.yaml", QM9_VOCAB), 1, n_steps=2, num_atoms=5, progress=False, steric=R0)
    with pytest.raises(ValueError, match="steric distance must be >= 0"):
        sample(model, 1, n_steps=2, num_atoms=6, pocket=pocket, progress=False, steric=-1.0)
