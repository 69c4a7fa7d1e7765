"""``moldiff benchmark qm9`` run from a checkout: ``python scripts/benchmark_qm9.py [options]`` (moldiff/commands/benchmark_qm9.py)."""
from moldiff.commands import run
from moldiff.commands.benchmark_qm9 import main

if __name__ == "__main__":
    run(main)
