import torch

from moldiff.graph import all_pairs, directed_edges, pair_id


def test_all_pairs_matches_itertools():
    sizes = [3, 1, 4, 2]
    ptr = torch.tensor([0, 3, 4, 8, 10])
    got = all_pairs(ptr).T.tolist()
    expected = []
    for g, n in enumerate(sizes):
        o = int(ptr[g])
        expected += [[o + i, o + j] for i in range(n) for j in range(i + 1, n)]
    assert got == expected


def test_pair_id_inverts_all_pairs():
    ptr = torch.tensor([0, 5, 7, 13])
    batch = torch.repeat_interleave(torch.arange(3), ptr[1:] - ptr[:-1])
    pairs = all_pairs(ptr)
    sel = torch.tensor([0, 4, 9, 10, 11, 20, 25])
    assert torch.equal(pair_id(ptr, batch, pairs[:, sel]), sel)


def test_directed_edges_cutoff():
    pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]])
    pairs = all_pairs(torch.tensor([0, 3]))
    e, pid = directed_edges(pairs, pos, None)
    assert e.shape == (2, 6)
    e, pid = directed_edges(pairs, pos, 4.5)
    assert sorted(map(tuple, e.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert torch.equal(pairs[:, pid[0]], torch.tensor([0, 1]))
