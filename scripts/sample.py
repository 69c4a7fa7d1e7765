"""``moldiff sample`` run from a checkout: ``python scripts/sample.py [options]`` (moldiff/commands/sample.py)."""
from moldiff.commands import run
from moldiff.commands.sample import main

if __name__ == "__main__":
    run(main)
