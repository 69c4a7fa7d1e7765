"""``moldiff prepare ligands`` run from a checkout: ``python scripts/prepare_ligands.py [options]`` (moldiff/commands/prepare_ligands.py)."""
from moldiff.commands import run
from moldiff.commands.prepare_ligands import main

if __name__ == "__main__":
    run(main)
