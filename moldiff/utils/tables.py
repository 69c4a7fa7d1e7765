"""Reading the CSV tables that batch commands take (pockets to sample, pockets to evaluate)."""
from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path


def read_rows(path: str | os.PathLike, required: Sequence[str], what: str) -> list[dict[str, str]]:
    """The rows of the CSV at ``path`` as dicts; a one-line ``ValueError("<path>: ...")`` when the
    file is missing or unreadable, lacks one of the ``required`` columns, or lists no ``what``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    with path.open(newline="") as handle:
        try:
            reader = csv.DictReader(handle)
            rows = list(reader)
        except (csv.Error, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not a readable CSV ({e})") from None
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(required)})")
    if not rows:
        raise ValueError(f"{path}: no {what} listed")
    return rows
