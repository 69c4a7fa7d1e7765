"""The ``moldiff`` console command (``[project.scripts]``): ``moldiff sample | evaluate | train |
prepare KIND | benchmark KIND``, each a module here with ``main(argv, prog)``; the files in
``scripts/`` run the same functions. User errors become one line on stderr and exit status 1."""
from __future__ import annotations

import importlib
import os
import sys
from typing import Callable

from moldiff.utils.errors import USER_ERRORS

#: command -> module, or for a command with kinds, kind -> module; with a one-line summary each
COMMANDS: dict[str, tuple[str, str] | dict[str, tuple[str, str]]] = {
    "sample": ("sample", "sample molecules to SDF, alone, in a pocket or in many pockets"),
    "evaluate": ("evaluate", "evaluate molecules in an SDF (validity, Vina, PoseBusters, strain, report.html)"),
    "train": ("train", "train a model from a YAML config"),
    "prepare": {
        "qm9": ("prepare_qm9", "QM9 cache from the qm9pack CSVs"),
        "complexes": ("prepare_complexes", "protein-ligand complex cache (CrossDocked, FEP benchmark, a CSV)"),
        "ligands": ("prepare_ligands", "ligand-only cache: SMILES to RDKit conformers"),
    },
    "benchmark": {
        "pockets": ("benchmark_pockets", "pocket-conditioned generation over the complexes of a cache"),
        "qm9": ("benchmark_qm9", "QM9 sample quality and speed per sampler setting"),
        "properties": ("benchmark_properties", "property-conditioned QM9 generation, EDM's protocol"),
        "sampling": ("benchmark_sampling", "few-step samplers against the 1,000-step baseline"),
        "metrics": ("benchmark_metrics", "what each evaluation metric costs"),
        "train": ("benchmark_train", "training throughput per batch size"),
    },
}


def run(main: Callable[[], int | None]) -> None:
    """Call ``main``; report user errors in one line without a traceback
    (set MOLDIFF_DEBUG=1 to see it)."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except USER_ERRORS as e:
        if os.environ.get("MOLDIFF_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)


def usage() -> str:
    """The command list that ``moldiff``, ``moldiff -h`` and an unknown command print."""
    lines = ["usage: moldiff COMMAND [KIND] [options]   (moldiff COMMAND [KIND] -h for a command's options)", ""]
    for name, entry in COMMANDS.items():
        if isinstance(entry, tuple):
            lines.append(f"  {name:<22}{entry[1]}")
        else:
            lines += [f"  {name} {kind:<{21 - len(name)}}{summary}" for kind, (_, summary) in entry.items()]
    return "\n".join(lines)


def resolve(argv: list[str]) -> tuple[str, str, list[str]]:
    """(module, prog, remaining arguments) for a command line without the program name."""
    if not argv or argv[0] not in COMMANDS:
        given = f"unknown command {argv[0]!r}; " if argv else ""
        raise ValueError(f"{given}choose one of {', '.join(COMMANDS)} (moldiff -h lists them)")
    entry = COMMANDS[argv[0]]
    if isinstance(entry, tuple):
        return entry[0], f"moldiff {argv[0]}", argv[1:]
    if len(argv) < 2 or argv[1] not in entry:
        given = f"unknown kind {argv[1]!r}; " if len(argv) > 1 else ""
        raise ValueError(f"moldiff {argv[0]}: {given}choose one of {', '.join(entry)}")
    return entry[argv[1]][0], f"moldiff {argv[0]} {argv[1]}", argv[2:]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``moldiff`` console command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    if argv[0] == "--version":
        from moldiff import __version__

        print(f"moldiff {__version__}")
        sys.exit(0)

    def command() -> int | None:
        module, prog, rest = resolve(argv)
        return importlib.import_module(f"moldiff.commands.{module}").main(rest, prog=prog)

    run(command)
