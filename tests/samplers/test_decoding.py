"""Valence decoding of the last step: bonds go down, by the cheapest predicted log-probability,
until no atom exceeds its largest allowed valence; fixed pairs and unaffected bonds stay."""
import numpy as np
import pytest
import torch

from moldiff.chem.build import build_molecule
from moldiff.chem.metrics import validity_error
from moldiff.graph import all_pairs
from moldiff.options import SampleOptions
from moldiff.pocket import Pocket
from moldiff.samplers.decoding import BOND_ORDERS, lower_overloaded_bonds, max_valence_table
from moldiff.testing import untrained_model
from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB, Vocab

ORDERS = torch.tensor(BOND_ORDERS[:4])


def test_max_valences_follow_the_isoelectronic_rule():
    table = max_valence_table(LIGAND_VOCAB)  # charges (-1, 0, +1)
    el, q = LIGAND_VOCAB.element_index, LIGAND_VOCAB.charge_index
    expected = {("C", 0): 4, ("N", 0): 3, ("N", 1): 4, ("O", -1): 1, ("O", 0): 2, ("O", 1): 3,
                ("S", 0): 6, ("P", 0): 5, ("Cl", 0): 1, ("C", 1): 3, ("N", -1): 2}
    for (symbol, charge), valence in expected.items():
        assert table[el(symbol), q(charge)] == valence, (symbol, charge)
    assert max_valence_table(Vocab(("H", "C"), (0, 1)))[0, 1] == 0  # H+ takes no bond
    with pytest.raises(ValueError, match="'Xx'"):
        max_valence_table(Vocab(("C", "Xx")))


def _star(p_double_bond: tuple[float, float, float, float]):
    """Atom 0 (carbon) bonded to 1, 2, 3 by single bonds and to 4 by a double bond: valence 5.
    The 0-1 single bond could go at a cost of log(0.6 / 0.4); 0-2, 0-3 are near certain."""
    pair_index = all_pairs(torch.tensor([0, 5]))
    log_p = torch.full((pair_index.shape[1], 4), 1e-6)
    log_p[:, 0] = 1.0  # unlisted pairs: no bond
    bond = torch.zeros(pair_index.shape[1], dtype=torch.long)
    rows = {(0, 1): ((0.4, 0.6, 0.0, 0.0), 1), (0, 2): ((0.01, 0.99, 0, 0), 1), (0, 3): ((0.01, 0.99, 0, 0), 1),
            (0, 4): (p_double_bond, 2)}
    for k, (i, j) in enumerate(pair_index.T.tolist()):
        if (i, j) in rows:
            probs, cls = rows[(i, j)]
            log_p[k] = torch.tensor(probs) + 1e-6
            bond[k] = cls
    return bond, log_p.log(), pair_index, {tuple(p): k for k, p in enumerate(pair_index.T.tolist())}


def test_the_cheapest_lowering_is_taken():
    max_valence = torch.tensor([4.0, 4, 4, 4, 4])
    # double -> single costs log(0.5 / 0.45) < log(0.6 / 0.4): the double bond becomes single
    bond, log_p, pairs, at = _star((0.05, 0.45, 0.5, 0.0))
    out = lower_overloaded_bonds(bond, log_p, pairs, max_valence, ORDERS)
    assert out[at[(0, 4)]] == 1 and out[at[(0, 1)]] == 1
    assert torch.equal(out[[at[(0, 2)], at[(0, 3)]]], bond[[at[(0, 2)], at[(0, 3)]]])
    # its best lower class is "no bond" (0.4 > 0.1), still cheaper than dropping 0-1: the bond goes
    bond, log_p, pairs, at = _star((0.4, 0.1, 0.5, 0.0))
    out = lower_overloaded_bonds(bond, log_p, pairs, max_valence, ORDERS)
    assert out[at[(0, 4)]] == 0 and out[at[(0, 1)]] == 1
    # a confident double bond stays and the cheap single bond 0-1 goes instead
    bond, log_p, pairs, at = _star((0.01, 0.01, 0.98, 0.0))
    out = lower_overloaded_bonds(bond, log_p, pairs, max_valence, ORDERS)
    assert out[at[(0, 4)]] == 2 and out[at[(0, 1)]] == 0


def test_frozen_pairs_are_never_changed():
    bond, log_p, pairs, at = _star((0.05, 0.45, 0.5, 0.0))
    frozen = torch.zeros_like(bond, dtype=torch.bool)
    frozen[at[(0, 4)]] = True  # the cheapest bond is fixed: the next cheapest (0-1) goes
    out = lower_overloaded_bonds(bond, log_p, pairs, torch.full((5,), 4.0), ORDERS, frozen)
    assert out[at[(0, 4)]] == 2 and out[at[(0, 1)]] == 0
    frozen[:] = True  # nothing may move: the overload stays
    assert torch.equal(lower_overloaded_bonds(bond, log_p, pairs, torch.full((5,), 4.0), ORDERS, frozen), bond)


def _valences(bond, pairs, n):
    order = ORDERS[bond]
    return torch.zeros(n).index_add_(0, pairs[0], order).index_add_(0, pairs[1], order)


@pytest.mark.parametrize("seed", range(5))
def test_random_molecules_end_within_their_valences(seed):
    """Random logits on a batch of molecules: afterwards no atom is overloaded, no bond went up,
    and bonds between atoms that were never overloaded are exactly as argmax chose them."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(2, 12, (6,), generator=g)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    pairs = all_pairs(ptr)
    logits = torch.randn(pairs.shape[1], 4, generator=g) * 2
    logits[:, 0] += 3.0  # sparse bonds, as in molecules: some atoms are overloaded, not all
    log_p = logits.log_softmax(-1)
    bond = log_p.argmax(-1)
    n = int(ptr[-1])
    max_valence = torch.randint(1, 5, (n,), generator=g).float()
    out = lower_overloaded_bonds(bond, log_p, pairs, max_valence, ORDERS)
    assert (_valences(out, pairs, n) <= max_valence).all()
    assert (ORDERS[out] <= ORDERS[bond]).all()
    over = _valences(bond, pairs, n) > max_valence
    untouched = ~(over[pairs[0]] | over[pairs[1]])
    assert untouched.any() and torch.equal(out[untouched], bond[untouched])
    assert not torch.equal(out, bond)  # the case is not trivial


def _pocket(n: int = 30) -> Pocket:
    return Pocket.from_arrays(np.random.default_rng(0).normal(size=(n, 3)) * 4, np.zeros(n, int), np.zeros(n, int),
                              np.zeros(n, bool), np.zeros(n, bool), "full", "test pocket")


def test_sampled_molecules_never_fail_on_valence():
    """An untrained pocket model predicts random bonds: with argmax many molecules break a valence
    rule; with valence decoding (same seed, same trajectory up to the last step) none does."""
    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    sizes = torch.tensor([9] * 24)

    def valence_errors(decoding):
        options = SampleOptions(4, bond_decoding=decoding).resolve(model)
        got = model.sample(sizes, torch.Generator().manual_seed(0), options, _pocket())
        mols = [build_molecule(a.elements, a.pos, a.charges, a.bonds, explicit_h=False) for a in got]
        return got, sum("valence" in validity_error(m).lower() for m in mols)

    plain, n_plain = valence_errors("argmax")
    decoded, n_decoded = valence_errors("valence")
    assert n_plain >= 5 and n_decoded == 0
    for a, b in zip(plain, decoded):  # only bonds differ
        assert a.elements == b.elements and np.array_equal(a.pos, b.pos)


def test_api_records_the_decoding_and_refuses_bad_uses():
    from moldiff.api import sample

    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    mols = sample(model, 2, n_steps=3, num_atoms=6, pocket=_pocket(), progress=False, bond_decoding="valence")
    assert all(m.GetProp("bond_decoding") == "valence" for m in mols)
    plain = sample(model, 2, n_steps=3, num_atoms=6, pocket=_pocket(), progress=False)
    assert not any(m.HasProp("bond_decoding") for m in plain)
    with pytest.raises(ValueError, match="unknown bond decoding 'best'"):
        sample(model, 1, n_steps=2, num_atoms=6, pocket=_pocket(), progress=False, bond_decoding="best")
    no_bonds = untrained_model("tiny.yaml", QM9_VOCAB, overrides=["process.bonds=false"])
    with pytest.raises(ValueError, match="does not predict bonds"):
        sample(no_bonds, 1, n_steps=2, num_atoms=5, progress=False, bond_decoding="valence")


def test_a_bond_that_would_split_the_molecule_goes_last():
    """Carbon 0 with five single bonds, to 1, 4, 5 (dead ends) and to 2, 3 (a ring 0-2-3).
    Removing 0-1 is cheapest but would leave atom 1 alone, so the cheapest ring bond goes
    instead; when 0-1 is the only movable bond, it goes."""
    pair_index = all_pairs(torch.tensor([0, 6]))
    at = {tuple(p): k for k, p in enumerate(pair_index.T.tolist())}
    log_p = torch.full((pair_index.shape[1], 4), 1e-6)
    log_p[:, 0] = 1.0
    bond = torch.zeros(pair_index.shape[1], dtype=torch.long)
    probs = {(0, 1): 0.55, (0, 2): 0.7, (0, 3): 0.9, (2, 3): 0.99, (0, 4): 0.99, (0, 5): 0.99}
    for pair, p_single in probs.items():
        log_p[at[pair]] = torch.tensor([1 - p_single, p_single, 1e-6, 1e-6])
        bond[at[pair]] = 1
    log_p = log_p.log()
    max_valence = torch.tensor([4.0, 4, 4, 4, 4, 4])
    out = lower_overloaded_bonds(bond, log_p, pair_index, max_valence, ORDERS)
    assert out[at[(0, 1)]] == 1 and out[at[(0, 2)]] == 0 and out[at[(0, 3)]] == 1
    frozen = torch.zeros_like(bond, dtype=torch.bool)
    frozen[[at[(0, 2)], at[(0, 3)], at[(0, 4)], at[(0, 5)]]] = True
    out = lower_overloaded_bonds(bond, log_p, pair_index, max_valence, ORDERS, frozen)
    assert out[at[(0, 1)]] == 0


def test_inpainting_keeps_fixed_bonds_and_lowers_the_generated_ones():
    """A fixed C-C=O: with valence decoding the fixed atoms and their bonds come back exactly, and
    no fixed or generated atom is overloaded (a bond from a generated atom to the carbonyl O goes)."""
    from moldiff.chem.arrays import MolArrays

    fragment = MolArrays(["C", "C", "O"], np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [2.2, 1.1, 0.0]]),
                         np.array([0, 0, 0]), np.array([[0, 1, 1], [1, 2, 2]]))
    model = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    pocket = _pocket(40)
    got = model.sample(torch.tensor([8] * 12), torch.Generator().manual_seed(0),
                       SampleOptions(4, bond_decoding="valence").resolve(model), pocket, fragment)
    for a in got:
        np.testing.assert_array_equal(a.pos[:3], fragment.pos)
        assert {tuple(r) for r in a.bonds.tolist() if r[1] < 3} == {(0, 1, 1), (1, 2, 2)}
        mol = build_molecule(a.elements, a.pos, a.charges, a.bonds, explicit_h=False)
        assert "valence" not in validity_error(mol).lower()
