"""The ``moldiff`` console command: its table of commands, its one-line errors, the entry point in
the installed package, and the ``scripts/`` wrappers that run the same functions."""
import ast
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from clitools import ROOT, cli, one_line_error
from moldiff.commands import COMMANDS, resolve

#: scripts/<file> -> (command words): the wrappers kept for running from a checkout
WRAPPERS = {"sample.py": ("sample",), "evaluate.py": ("evaluate",), "train.py": ("train",),
            "prepare_qm9.py": ("prepare", "qm9"), "prepare_complexes.py": ("prepare", "complexes"),
            "prepare_ligands.py": ("prepare", "ligands"), "benchmark.py": ("benchmark", "sampling"),
            "benchmark_pockets.py": ("benchmark", "pockets"), "benchmark_qm9.py": ("benchmark", "qm9"),
            "benchmark_properties.py": ("benchmark", "properties"), "benchmark_metrics.py": ("benchmark", "metrics"),
            "benchmark_train.py": ("benchmark", "train")}


def moldiff(*args) -> subprocess.CompletedProcess:
    """``moldiff args...`` as ``python -m moldiff`` (the console script runs the same function)."""
    return subprocess.run([sys.executable, "-m", "moldiff", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_console_script_is_installed():
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == "moldiff"]
    assert len(found) == 1 and found[0].value == "moldiff.commands:main"


def test_help_lists_every_command_and_kind():
    res = moldiff("-h")
    assert res.returncode == 0, res.stderr
    for name, entry in COMMANDS.items():
        words = [name] if isinstance(entry, tuple) else [f"{name} {kind}" for kind in entry]
        for w in words:
            assert f"  {w} " in res.stdout, (w, res.stdout)
    bare = moldiff()
    assert bare.returncode == 2 and bare.stdout == res.stdout


@pytest.mark.parametrize("args, fragments", [
    (["smaple"], ["unknown command 'smaple'", "sample, evaluate, train, prepare, benchmark"]),
    (["prepare"], ["moldiff prepare: choose one of qm9, complexes, ligands"]),
    (["benchmark", "pocket"], ["moldiff benchmark: unknown kind 'pocket'", "pockets"]),
])
def test_unknown_command_or_kind_is_one_line(args, fragments):
    one_line_error(moldiff(*args), *fragments)


def test_every_command_module_takes_argv_and_prog():
    for name, entry in COMMANDS.items():
        for kind in [None] if isinstance(entry, tuple) else list(entry):
            module, prog, rest = resolve([name] + ([kind] if kind else []) + ["--x"])
            assert prog == " ".join(["moldiff", name] + ([kind] if kind else [])) and rest == ["--x"]
            tree = ast.parse((ROOT / "moldiff" / "commands" / f"{module}.py").read_text())
            main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
            assert [a.arg for a in main.args.args] == ["argv", "prog"], module


def test_help_names_the_console_command():
    res = moldiff("prepare", "complexes", "-h")
    assert res.returncode == 0 and res.stdout.startswith("usage: moldiff prepare complexes"), res.stdout[:200]


def test_errors_are_the_same_through_command_and_script(tmp_path):
    out = tmp_path / "x.npz"
    for res in (moldiff("prepare", "qm9", "--out", out, "--workers", "0"),
                cli("prepare_qm9.py", "--out", out, "--workers", "0")):
        one_line_error(res, "--workers must be at least 1")
    assert not out.exists()


def test_scripts_are_thin_wrappers_of_the_commands():
    for script, words in WRAPPERS.items():
        module = resolve([*words, "-h"])[0]
        source = (ROOT / "scripts" / script).read_text()
        assert f"from moldiff.commands.{module} import main" in source and len(source.splitlines()) <= 8, script


def test_command_and_script_sample_the_same_molecules(tmp_path):
    """One seed, one model: ``moldiff sample`` and ``scripts/sample.py`` write the same bytes."""
    args = ["--model", "qm9", "--n_samples", 3, "--n_steps", 4, "--seed", 3, "--device", "cpu"]
    a, b = tmp_path / "command.sdf", tmp_path / "script.sdf"
    res = moldiff("sample", *args, "--outfile", a)
    assert res.returncode == 0, res.stderr[-2000:]
    res = cli("sample.py", *args, "--outfile", b)
    assert res.returncode == 0, res.stderr[-2000:]
    assert a.read_bytes() == b.read_bytes() and a.read_text().count("$$$$") == 3
