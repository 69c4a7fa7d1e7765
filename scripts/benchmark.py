"""``moldiff benchmark sampling`` run from a checkout: ``python scripts/benchmark.py [options]`` (moldiff/commands/benchmark_sampling.py)."""
from moldiff.commands import run
from moldiff.commands.benchmark_sampling import main

if __name__ == "__main__":
    run(main)
