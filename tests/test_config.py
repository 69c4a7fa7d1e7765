"""Config values are checked against their annotations and simple ranges when a config is built."""
import dataclasses
from pathlib import Path
from typing import get_type_hints

import pytest

from clitools import ROOT, cli, one_line_error
from moldiff.config import _VALUE_RULES, Config, ConfigError, load_config

TINY = "configs/tiny.yaml"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").glob("*.yaml")))
def test_every_shipped_config_loads_and_round_trips(path, tmp_path):
    cfg = load_config(ROOT / path)
    cfg.save(tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg


@pytest.mark.parametrize("override, message", [
    ("train.max_steps=abc", "train.max_steps must be an integer, got 'abc'"),
    ("data.batch_size=2.5", "data.batch_size must be an integer, got 2.5"),
    ("data.batch_size=0", "data.batch_size must be at least 1, got 0"),
    ("data.batch_size=true", "data.batch_size must be an integer, got true"),
    ("train.lr=fast", "train.lr must be a number, got 'fast'"),
    ("train.lr=0", "train.lr must be positive, got 0"),
    ("train.accelerator=tpu", "train.accelerator must be auto, cpu, gpu, cuda or mps, got 'tpu'"),
    ("train.precision=32", "train.precision must be 32-true, 16-mixed, bf16-mixed, 16-true, bf16-true, 64-true, "
                           "transformer-engine or transformer-engine-float16, got 32"),
    ("train.compile=maybe", "train.compile must be true or false, got 'maybe'"),
    ("train.compile=1", "train.compile must be true or false, got 1"),
    ("train.max_time_minutes=soon", "train.max_time_minutes must be a number or null, got 'soon'"),
    ("data.limit_train=0", "data.limit_train must be at least 1 (or null for all), got 0"),
    ("data.path=[a.npz, 3]", "data.path must be a string or a list of strings, got ['a.npz', 3]"),
    ("data.weights=[1, x]", "data.weights must be a list of numbers or null, got [1, 'x']"),
    ("data.properties=alpha", "data.properties must be a list of strings, got 'alpha'"),
    ("model.kwargs=[1]", "model.kwargs must be a mapping, got [1]"),
    ("train.ema_decay=1.5", "train.ema_decay must lie in [0, 1], got 1.5"),
    ("sample.bond_decoding=greedy", "sample.bond_decoding must be argmax or valence, got 'greedy'"),
    ("train=3", "train must be a mapping, got 3"),
])
def test_bad_values_name_the_file_and_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(TINY, [override])
    assert str(err.value) == f"{TINY}: {message}"


def test_without_a_file_the_message_starts_with_the_key():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["train.max_steps=abc"])
    assert str(err.value) == "train.max_steps must be an integer, got 'abc'"


def test_a_bad_value_in_the_file_itself(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("data: {batch_size: 64}\ntrain:\n  compile: maybe\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: train.compile must be true or false, got 'maybe'"


def test_values_are_converted_to_the_annotated_type():
    cfg = load_config(TINY, ["train.lr=1", "train.max_steps=1.0e3", "data.limit_train=null", "data.weights=[1, 2.5]",
                             "data.path=[a.npz, b.npz]", "train.max_time_minutes=30", "train.devices=-1"])
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.train.max_steps == 1000 and isinstance(cfg.train.max_steps, int)
    assert cfg.data.limit_train is None and cfg.data.weights == [1.0, 2.5] and cfg.data.path == ["a.npz", "b.npz"]
    assert cfg.train.max_time_minutes == 30.0 and cfg.train.devices == -1
    assert load_config(TINY, ["train.max_steps=0"]).train.max_steps == 0  # export the initial weights only


@pytest.mark.parametrize("text, value", [("1e-4", 1e-4), ("3.0e4", 3.0e4), ("2E+1", 20.0)])
def test_exponent_numbers_yaml_reads_as_strings(text, value):
    """PyYAML (YAML 1.1) reads 1e-4 and 3.0e4 as strings; number fields take them as numbers."""
    assert load_config(TINY, [f"train.lr_min={text}"]).train.lr_min == value
    assert load_config(TINY, ["train.max_steps=1e3"]).train.max_steps == 1000


def test_rules_name_real_fields():
    fields = {f"{name}.{f.name}" for name, section in get_type_hints(Config).items()
              for f in dataclasses.fields(section)}
    assert set(_VALUE_RULES) <= fields


def test_train_cli_reports_a_bad_value_in_one_line(tmp_path):
    res = cli("train.py", "--config", TINY, "train.max_steps=abc", f"train.out_dir={tmp_path}")
    one_line_error(res, f"{TINY}: train.max_steps must be an integer, got 'abc'")
    assert not list(Path(tmp_path).iterdir())  # refused before anything was written
