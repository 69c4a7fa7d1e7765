"""Shared command-line plumbing: user errors become one line on stderr and exit status 1."""
from __future__ import annotations

import os
import sys
from typing import Callable

USER_ERRORS = (FileNotFoundError, ValueError, KeyError, PermissionError, IsADirectoryError)


def run(main: Callable[[], int | None]) -> None:
    """Call ``main``; report user errors in one line without a traceback
    (set MOLDIFF_DEBUG=1 to see it)."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except USER_ERRORS as e:
        if os.environ.get("MOLDIFF_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)
