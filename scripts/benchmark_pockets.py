"""``moldiff benchmark pockets`` run from a checkout: ``python scripts/benchmark_pockets.py [options]`` (moldiff/commands/benchmark_pockets.py)."""
from moldiff.commands import run
from moldiff.commands.benchmark_pockets import main

if __name__ == "__main__":
    run(main)
