"""``moldiff benchmark metrics`` run from a checkout: ``python scripts/benchmark_metrics.py [options]`` (moldiff/commands/benchmark_metrics.py)."""
from moldiff.commands import run
from moldiff.commands.benchmark_metrics import main

if __name__ == "__main__":
    run(main)
