"""``moldiff benchmark properties`` run from a checkout: ``python scripts/benchmark_properties.py [options]`` (moldiff/commands/benchmark_properties.py)."""
from moldiff.commands import run
from moldiff.commands.benchmark_properties import main

if __name__ == "__main__":
    run(main)
