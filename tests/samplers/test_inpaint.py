"""Inpainting: RePaint time sequences, forward re-noising against closed forms, and fixed atoms
driven by Bayes-optimal denoisers (exact preservation; the free atoms' conditional law)."""
import numpy as np
import pytest
import torch
from oracle import P_TYPE, OracleDenoiser, make_process

from moldiff.chem.arrays import MolArrays
from moldiff.graph import pair_id
from moldiff.options import SampleOptions
from moldiff.processes.joint import Topology
from moldiff.processes.schedules import cosine
from moldiff.samplers import SAMPLERS, ancestral_step
from moldiff.samplers.inpaint import FixedAtoms, Inpainting
from moldiff.samplers.loop import jump_times, reverse_loop, uniform_times
from moldiff.testing import untrained_model
from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB


def test_jump_times_follow_repaint_schedule():
    base = uniform_times(6)
    assert torch.equal(jump_times(base, 1, 2), base)
    seq = jump_times(base, 3, 2)
    idx = [round(6 * (1 - float(v))) for v in seq]  # grid positions 0 (t = 1) ... 6 (t = 0)
    assert idx == [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 3, 4, 3, 2, 3, 4, 3, 2, 3, 4, 5, 6]
    downs = sum(b > a for a, b in zip(idx, idx[1:]))
    assert downs == 6 + 2 * 2 * 2  # network calls: n + (r - 1) * j per window with a jump
    with pytest.raises(ValueError):
        jump_times(base, 0, 2)


def test_renoise_composes_to_forward_marginals(float64):
    """q(x_t | x_s) after q(x_s | x_0) must give q(x_t | x_0): categorical frequencies and the
    coordinate variance against the closed forms."""
    proc = make_process(cosine())
    n = 200_000
    g = torch.Generator().manual_seed(0)
    s, t = torch.full((n,), 0.3), torch.full((n,), 0.7)
    x0 = torch.zeros(n, dtype=torch.long)
    cat = proc.nodes["atom_type"]
    x_t = cat.q_step(cat.q_sample(x0, s, g), s, t, g)
    freq = torch.bincount(x_t, minlength=3).double() / n
    torch.testing.assert_close(freq, cat.q_probs(x0[:1], t[:1])[0], atol=4e-3, rtol=0)
    pos0 = torch.ones(n, 3)
    x_s = proc.pos.q_sample(pos0, s, torch.randn(n, 3, generator=g))
    x_t = proc.pos.q_step(x_s, s, t, torch.randn(n, 3, generator=g))
    sch = proc.schedule
    torch.testing.assert_close(x_t.mean(0), sch.alpha(t[:3]), atol=6e-3, rtol=0)
    torch.testing.assert_close(x_t.var(0), sch.sigma(t[:3]) ** 2, atol=6e-3, rtol=0)


def test_fixed_bonds_land_on_their_pairs():
    topo = Topology.from_sizes(torch.tensor([4, 5]))
    topo.project = False
    bonds = torch.tensor([[0, 2, 2], [1, 0, 1]])  # (i, j, class); order within a row does not matter
    f = FixedAtoms.first_atoms(topo, torch.zeros(3, 3), {"atom_type": torch.tensor([0, 1, 2])}, bonds)
    assert f.mask.tolist() == [True] * 3 + [False] + [True] * 3 + [False] * 2
    for start in (0, 4):
        pid = pair_id(topo.ptr, topo.batch, torch.tensor([[start, start], [start + 2, start + 1]]))
        assert f.bond[pid].tolist() == [2, 1]
    assert int(f.bond_mask.sum()) == 2 * 3 and int((f.bond > 0).sum()) == 2 * 2
    with pytest.raises(ValueError, match="at least the 3 fixed atoms"):
        FixedAtoms.first_atoms(Topology.from_sizes(torch.tensor([2])), torch.zeros(3, 3), {}, None)


def _inpaint(n_mol: int, n: int, k: int, absolute: bool, resamplings: int, seed: int = 0):
    """``k`` (1 or 2) fixed atoms far from the origin in molecules of ``n`` atoms."""
    proc = make_process(cosine())
    topo = Topology.from_sizes(torch.full((n_mol,), n))
    topo.project = False
    a = torch.tensor([[5.0, -3.0, 2.0], [4.0, -2.5, 1.0]])[:k]
    nodes = {"atom_type": torch.tensor([2, 1][:k]), "charge": torch.tensor([0, 2][:k])}
    bonds = torch.tensor([[0, 1, 2]]) if k == 2 else torch.zeros(0, 3, dtype=torch.long)
    fixed = FixedAtoms.first_atoms(topo, a, nodes, bonds)
    times = jump_times(uniform_times(40), resamplings, 5)
    x = reverse_loop(proc, OracleDenoiser(proc, absolute), ancestral_step, topo, times, torch.zeros(1),
                     torch.Generator().manual_seed(seed), (Inpainting(proc, fixed, align=not absolute),))
    return proc, topo, fixed, x, a


@pytest.mark.parametrize("resamplings", [1, 2])
@pytest.mark.parametrize("absolute", [False, True])
def test_fixed_atoms_are_kept_exactly(float64, absolute, resamplings):
    proc, topo, fixed, x, a = _inpaint(50, 5, 2, absolute, resamplings)
    pos = x.pos.view(50, 5, 3)
    assert torch.equal(pos[:, :2], a.expand(50, 2, 3))
    assert (x.nodes["atom_type"].view(50, 5)[:, :2] == torch.tensor([2, 1])).all()
    assert (x.nodes["charge"].view(50, 5)[:, :2] == torch.tensor([0, 2])).all()
    assert torch.equal(x.bond[fixed.bond_mask], fixed.bond[fixed.bond_mask])
    assert (x.pos.view(50, 5, 3)[:, 2:] != pos[:1, 2:]).any()  # the free atoms are sampled


def _relative_variance(x, n_mol, n):
    pos = x.pos.view(n_mol, n, 3)
    return (pos[:, 1:] - pos[:, :1]).var().item()


@pytest.mark.parametrize("resamplings", [1, 3])
def test_free_atoms_follow_exact_conditional_around_fixed_one(float64, resamplings):
    """Gaussian data in the zero-CoM subspace with a translation-equivariant Bayes denoiser: one
    atom fixed far from the origin, the others must sit around it exactly as the unconstrained
    sampler places atoms around each other (same discretisation). Re-drawing the fixed atom's
    noise at every step (plain RePaint) gives ~0.55x this variance; the bridge is exact."""
    n_mol, n = 3000, 3
    proc, _, _, x, a = _inpaint(n_mol, n, 1, absolute=False, resamplings=resamplings)
    ref = reverse_loop(proc, OracleDenoiser(proc), ancestral_step, Topology.from_sizes(torch.full((n_mol,), n)),
                       uniform_times(40), torch.zeros(1), torch.Generator().manual_seed(1))
    got, want = _relative_variance(x, n_mol, n), _relative_variance(ref, n_mol, n)
    assert abs(got / want - 1) < 0.06, (got, want)
    d = x.pos.view(n_mol, n, 3)[:, 1:] - a
    assert d.mean((0, 1)).abs().max() < 0.03  # centred on the fixed atom: no drift of the frame


def test_free_atoms_independent_of_fixed_ones_in_a_fixed_frame(float64):
    """Independent atoms N(0, S0^2) in an absolute frame (as with a pocket): fixing one atom far
    away must leave the law of the others unchanged, types included."""
    n_mol, n = 3000, 3
    proc, _, _, x, _ = _inpaint(n_mol, n, 1, absolute=True, resamplings=1)
    ref_topo = Topology.from_sizes(torch.full((n_mol,), n))
    ref_topo.project = False
    ref = reverse_loop(proc, OracleDenoiser(proc, absolute=True), ancestral_step, ref_topo, uniform_times(40),
                       torch.zeros(1), torch.Generator().manual_seed(1))
    free, ref_free = x.pos.view(n_mol, n, 3)[:, 1:], ref.pos.view(n_mol, n, 3)[:, 1:]
    assert abs(free.var().item() / ref_free.var().item() - 1) < 0.06
    assert free.mean().abs() < 0.03
    types = torch.bincount(x.nodes["atom_type"].view(n_mol, n)[:, 1:].reshape(-1), minlength=3).double()
    torch.testing.assert_close(types / types.sum(), P_TYPE.double(), atol=0.02, rtol=0)


FRAGMENT = MolArrays(["C", "C", "O"], np.array([[10.123456, -4.5, 3.25], [11.6, -4.4, 3.3], [12.3, -3.2, 3.1]]),
                     np.array([0, 0, 0]), np.array([[0, 1, 1], [1, 2, 2]]))


@pytest.mark.parametrize("sampler", sorted(SAMPLERS) + ["ancestral:restart=1,restart_steps=2,restart_tmax=0.5,connect=1"])
@pytest.mark.parametrize("resamplings", [1, 2])
def test_models_keep_fixed_atoms_unconditional_and_in_pocket(sampler, resamplings):
    from moldiff.pocket import Pocket

    cases = [(untrained_model("tiny.yaml", QM9_VOCAB), None)]
    rng = np.random.default_rng(0)
    pocket_pos = FRAGMENT.pos.mean(0) + rng.normal(size=(40, 3)) * 4
    pocket = Pocket.from_arrays(pocket_pos, np.zeros(40, int), np.zeros(40, int), np.zeros(40, bool),
                                np.zeros(40, bool), "full", "test pocket")
    cases.append((untrained_model("tiny_pocket.yaml", LIGAND_VOCAB), pocket))
    for model, pk in cases:
        sizes = torch.tensor([5, 7, 9])
        options = SampleOptions.parse(6, sampler, resamplings=resamplings, jump_length=2).resolve(model)
        out = model.sample(sizes, torch.Generator().manual_seed(0), options, pk, FRAGMENT)
        for a, size in zip(out, sizes.tolist()):
            assert len(a.elements) == size and a.elements[:3] == ["C", "C", "O"]
            np.testing.assert_array_equal(a.pos[:3], FRAGMENT.pos)
            assert a.charges[:3].tolist() == [0, 0, 0]
            fixed_bonds = {tuple(r) for r in a.bonds.tolist() if r[0] < 3 and r[1] < 3}
            assert fixed_bonds == {(0, 1, 1), (1, 2, 2)}
            assert np.linalg.norm(a.pos[3:].mean(0) - FRAGMENT.pos.mean(0)) < 15  # grown around the fragment
