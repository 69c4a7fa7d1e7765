"""Batched states cut into per-molecule arrays: local indices, elements, charges, bonds."""
import numpy as np
import torch

from moldiff.convert import split_state
from moldiff.processes.joint import MolState, Topology
from moldiff.vocab import QM9_VOCAB


def test_split_state_assigns_bonds_to_their_molecules():
    topo = Topology.from_sizes(torch.tensor([2, 1, 3, 2]))
    pairs = topo.pair_index.numpy()
    bond = np.zeros(pairs.shape[1], dtype=np.int64)
    wanted = {(0, 1): 1, (3, 5): 2, (4, 5): 3, (6, 7): 1}  # global (i, j) -> class; molecule 1 has none
    for p, (i, j) in enumerate(pairs.T):
        bond[p] = wanted.get((int(i), int(j)), 0)
    types = torch.tensor([1, 0, 2, 1, 3, 0, 4, 1])
    charges = torch.tensor([1, 1, 1, 2, 1, 0, 1, 1])  # vocab charges (-1, 0, 1) by index
    pos = torch.arange(24, dtype=torch.float32).reshape(8, 3)
    state = MolState(pos, {"atom_type": types, "charge": charges}, torch.from_numpy(bond))
    mols = split_state(state, topo, QM9_VOCAB)
    assert [m.elements for m in mols] == [["C", "H"], ["N"], ["C", "O", "H"], ["F", "C"]]
    assert [m.charges.tolist() for m in mols] == [[0, 0], [0], [1, 0, -1], [0, 0]]
    np.testing.assert_array_equal(mols[2].pos, pos[3:6].numpy())
    assert [sorted(map(tuple, m.bonds.tolist())) for m in mols] == [[(0, 1, 1)], [], [(0, 2, 2), (1, 2, 3)], [(0, 1, 1)]]


def test_pack_unpack_round_trip(tmp_path):
    from moldiff.chem.arrays import MolArrays
    from moldiff.convert import pack_arrays, unpack_arrays

    rng = np.random.default_rng(0)
    mols = [MolArrays(["C", "O", "H"], rng.normal(size=(3, 3)), np.array([0, -1, 0]), np.array([[0, 1, 1], [0, 2, 1]])),
            MolArrays(["N"], rng.normal(size=(1, 3)), np.array([1]), np.zeros((0, 3), dtype=np.int64))]
    np.savez_compressed(tmp_path / "s.npz", **pack_arrays(mols))
    back = unpack_arrays(np.load(tmp_path / "s.npz"))
    assert len(back) == 2
    for a, b in zip(mols, back):
        assert a.elements == b.elements
        np.testing.assert_allclose(a.pos, b.pos, atol=1e-6)  # stored as float32
        np.testing.assert_array_equal(a.charges, b.charges)
        np.testing.assert_array_equal(a.bonds.reshape(-1, 3), b.bonds)
