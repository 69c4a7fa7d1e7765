"""``moldiff prepare qm9`` run from a checkout: ``python scripts/prepare_qm9.py [options]`` (moldiff/commands/prepare_qm9.py)."""
from moldiff.commands import run
from moldiff.commands.prepare_qm9 import main

if __name__ == "__main__":
    run(main)
