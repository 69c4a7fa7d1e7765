"""Property conditions as network inputs, conditioning dropout, EDM's training halves, and the
property regressor (invariance, save/load)."""
import math

import numpy as np
import pytest
import torch

from moldiff.conditioning import PropertyConditions, drop_context, drop_properties, ligand_only_flags
from moldiff.datasets.molecules import training_half
from moldiff.geometry import random_rotations
from moldiff.graph import Context
from moldiff.nn.regressor import PropertyRegressor
from moldiff.apps.property_eval import atoms_only_prediction


def _conditions() -> PropertyConditions:
    values = {"alpha": np.array([60.0, 70.0, 80.0, 90.0]), "gap": np.array([5.0, 6.0, 7.0, 8.0])}
    return PropertyConditions.fit(["alpha", "gap"], values, np.array([9, 12, 15, 18]))


def test_features_standardize_given_values_and_zero_the_rest():
    c = _conditions()
    assert c.mean == (75.0, 6.5) and math.isclose(c.std[0], np.std([60, 70, 80, 90]))
    f = c.features(c.values({"alpha": 75.0 + c.std[0]}, 3))
    assert f.shape == (3, 4)
    torch.testing.assert_close(f, torch.tensor([[1.0, 0.0, 1.0, 0.0]] * 3))
    assert torch.all(c.features(c.values({}, 2)) == 0)


def test_unknown_or_non_finite_values_are_refused():
    c = _conditions()
    with pytest.raises(ValueError, match="unknown property mu; this model is conditioned on alpha, gap"):
        c.values({"mu": 1.0}, 1)
    with pytest.raises(ValueError, match="not a finite number"):
        c.values({"alpha": float("inf")}, 1)


def test_round_trip_and_size_distribution_follows_the_value():
    c = PropertyConditions.from_dict(_conditions().to_dict())
    small, large = c.size_histogram({"alpha": 61.0}), c.size_histogram({"alpha": 89.0})
    assert int(np.argmax(small)) == 9 and int(np.argmax(large)) == 18
    assert c.size_histogram({}) is None


def test_property_dropout_rate_and_independence():
    g = torch.Generator().manual_seed(0)
    v = drop_properties(torch.ones(20_000, 2), 0.3, g)
    dropped = torch.isnan(v)
    assert abs(dropped.float().mean().item() - 0.3) < 0.01
    both = (dropped[:, 0] & dropped[:, 1]).float().mean().item()
    assert abs(both - 0.09) < 0.01
    assert torch.equal(drop_properties(torch.ones(3, 2), 0.0), torch.ones(3, 2))


def test_context_dropout_removes_whole_pockets():
    batch = torch.repeat_interleave(torch.arange(1000), 3)
    ctx = Context(torch.randn(3000, 3), torch.randn(3000, 2), batch)
    out = drop_context(ctx, 1000, 0.25, torch.Generator().manual_seed(1))
    counts = torch.bincount(out.batch, minlength=1000)
    assert set(counts.tolist()) <= {0, 3}
    assert abs((counts == 0).float().mean().item() - 0.25) < 0.04
    kept = torch.isin(batch, out.batch)
    torch.testing.assert_close(out.pos, ctx.pos[kept])


def test_ligand_only_flags_mark_graphs_without_pocket_atoms():
    ctx = Context(torch.zeros(5, 3), torch.zeros(5, 4), torch.tensor([0, 0, 2, 2, 2]))
    assert ligand_only_flags(ctx, 4, torch.device("cpu")).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert ligand_only_flags(None, 3, torch.device("cpu")).flatten().tolist() == [1.0, 1.0, 1.0]


def test_ligand_only_flag_needs_a_pocket_model():
    from moldiff.config import ConfigError
    from moldiff.testing import untrained_model
    from moldiff.vocab import QM9_VOCAB

    with pytest.raises(ConfigError, match="only for complexes"):
        untrained_model("tiny.yaml", QM9_VOCAB, overrides=["data.flag_ligand_only=true"])


def test_training_halves_split_the_training_set():
    idx = np.arange(10, 1010)
    a, b = training_half(idx, "a"), training_half(idx, "b")
    assert len(a) == len(b) == 500 and not set(a) & set(b) and set(a) | set(b) == set(idx)
    assert np.array_equal(a, training_half(idx, "a")) and np.all(np.diff(a) > 0)
    with pytest.raises(ValueError):
        training_half(idx, "c")


def _molecules(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    ptr = torch.tensor([0, 4, 9])
    return (torch.randn(9, 3, generator=g, dtype=dtype), torch.randint(0, 5, (9,), generator=g),
            torch.randint(0, 3, (9,), generator=g), ptr)


def test_regressor_is_e3_invariant_in_float64_and_round_trips(tmp_path):
    torch.manual_seed(0)
    reg = PropertyRegressor(5, 3, ["alpha", "gap"], [75.0, 6.5], [8.0, 1.3], hidden=32, num_layers=2).double()
    pos, types, charges, ptr = _molecules()
    out = reg(pos, types, charges, ptr)
    assert out.shape == (2, 2)
    for reflect in (False, True):
        rot = random_rotations(1, dtype=torch.float64, reflect=reflect)[0]
        torch.testing.assert_close(reg(pos @ rot.T + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64), types,
                                       charges, ptr), out)
    assert not torch.allclose(reg(pos * 1.3, types, charges, ptr), out)  # geometry matters
    reg.float().save(tmp_path / "r.pt")
    back = PropertyRegressor.load(tmp_path / "r.pt")
    torch.testing.assert_close(back(pos.float(), types, charges, ptr), reg(pos.float(), types, charges, ptr))
    with pytest.raises(ValueError, match="not found"):
        PropertyRegressor.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable regressor file"):
        PropertyRegressor.load(tmp_path / "junk.pt")


def test_atoms_only_baseline_is_the_half_a_mean_per_size():
    class Q:
        pass

    q = Q()
    q.split = np.zeros(8, dtype=np.uint8)
    q.split_indices = lambda name: np.arange(8)
    q.num_atoms = np.array([3, 3, 4, 4, 3, 3, 4, 4])
    q.properties = {"alpha": np.arange(8, dtype=float)}
    a = training_half(np.arange(8), "a")
    pred = atoms_only_prediction(q, "alpha", np.array([3, 4, 7]))
    for size, p in zip((3, 4), pred[:2]):
        members = a[q.num_atoms[a] == size]
        assert p == pytest.approx(q.properties["alpha"][members].mean())
    assert pred[2] == pytest.approx(q.properties["alpha"][a].mean())
