"""``moldiff train`` run from a checkout: ``python scripts/train.py [options]`` (moldiff/commands/train.py)."""
from moldiff.commands import run
from moldiff.commands.train import main

if __name__ == "__main__":
    run(main)
