"""``moldiff prepare complexes`` run from a checkout: ``python scripts/prepare_complexes.py [options]`` (moldiff/commands/prepare_complexes.py)."""
from moldiff.commands import run
from moldiff.commands.prepare_complexes import main

if __name__ == "__main__":
    run(main)
