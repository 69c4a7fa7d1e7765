"""``python -m moldiff COMMAND ...``: the same as the ``moldiff`` console command."""
from moldiff.commands import main

main()
