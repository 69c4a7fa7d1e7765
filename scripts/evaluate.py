"""``moldiff evaluate`` run from a checkout: ``python scripts/evaluate.py [options]`` (moldiff/commands/evaluate.py)."""
from moldiff.commands import run
from moldiff.commands.evaluate import main

if __name__ == "__main__":
    run(main)
