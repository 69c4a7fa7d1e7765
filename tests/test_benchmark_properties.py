"""moldiff benchmark properties end to end on tiny untrained models: every property gets its
reference errors and one row per setting, guidance options are recorded, bad input is one line."""
import json

import numpy as np

from clitools import cli, one_line_error


def _files(tmp_path):
    import torch

    from moldiff.conditioning import PropertyConditions
    from moldiff.nn.regressor import PropertyRegressor
    from moldiff.testing import untrained_model
    from moldiff.vocab import QM9_VOCAB

    values = {"alpha": np.linspace(50.0, 100.0, 40), "gap": np.linspace(4.0, 9.0, 40)}
    cond = PropertyConditions.fit(["alpha", "gap"], values, np.full(40, 9)).to_dict()
    model = untrained_model("tiny.yaml", QM9_VOCAB, overrides=["data.properties=[alpha, gap]"], conditions=cond)
    model.save(tmp_path / "props.pt")
    torch.manual_seed(0)
    PropertyRegressor(5, 3, ["alpha", "gap"], [75.0, 6.5], [8.0, 1.3], hidden=16, num_layers=1).save(tmp_path / "reg.pt")
    return tmp_path / "props.pt", tmp_path / "reg.pt"


def test_benchmark_properties_runs_every_setting(small_qm9, tmp_path):
    model, reg = _files(tmp_path)
    res = cli("benchmark_properties.py", "--model", model, "--regressor", f"alpha={reg}", f"gap={reg}",
              "--cache", small_qm9, "--n_samples", 6, "--n_steps", 2, "--guidance", 0, 1.5,
              "--guidance_interval", 0.2, 0.8, "--device", "cpu", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["guidance_interval"] == [0.2, 0.8]
    assert set(results["properties"]) == {"alpha", "gap"}
    for entry in results["properties"].values():
        assert list(entry["settings"]) == ["no property", "w=0", "w=1.5@[0.2,0.8]"]
        assert all(np.isfinite(s["mae"]) and 0 <= s["mol_stable"] <= 1 for s in entry["settings"].values())
        calls = [s["network_calls_per_step"] for s in entry["settings"].values()]
        assert calls[:2] == [1, 1] and 1 < calls[2] < 2  # two calls only at the steps inside the interval
    saved = np.load(tmp_path / "out" / "predictions.npz")
    assert saved["alpha_target"].shape == (6,)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| moldiff, w=1.5@[0.2,0.8] |" in md and "guidance only at t in [0.2, 0.8]" in md


def test_benchmark_properties_unknown_property_is_one_line(small_qm9, tmp_path):
    model, reg = _files(tmp_path)
    res = cli("benchmark_properties.py", "--model", model, "--regressor", f"mu={reg}", "--cache", small_qm9,
              "--n_samples", 2, "--device", "cpu", "--out", tmp_path / "out")
    one_line_error(res, "mu")
