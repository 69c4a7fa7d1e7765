"""Build the QM9 cache (``data/cache/qm9.npz``) from the qm9pack CSVs.

Usage: ``moldiff prepare qm9 [--out PATH] [--workers N] [--limit N]``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moldiff.datasets.qm9 import DEFAULT_CACHE_PATH
from moldiff.datasets.qm9_prepare import prepare_qm9


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse arguments, preprocess, print the summary; one-line error and exit 1 on failure."""
    parser = argparse.ArgumentParser(prog=prog, description="Preprocess QM9 (qm9pack CSVs) into a compressed npz cache.")
    parser.add_argument("--out", type=Path, default=DEFAULT_CACHE_PATH, help="cache path (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--limit", type=int, default=None, help="process only a seeded random sample of N molecules")
    args = parser.parse_args(argv)
    try:
        if args.workers is not None and args.workers < 1:
            raise ValueError("--workers must be at least 1")
        if args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be at least 1")
        prepare_qm9(args.out, num_workers=args.workers, limit=args.limit, verbose=True)
    except Exception as err:  # a CLI reports any failure as one line, without a traceback
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0

