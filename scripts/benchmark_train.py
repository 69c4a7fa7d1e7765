"""``moldiff benchmark train`` run from a checkout: ``python scripts/benchmark_train.py [options]`` (moldiff/commands/benchmark_train.py)."""
from moldiff.commands import run
from moldiff.commands.benchmark_train import main

if __name__ == "__main__":
    run(main)
