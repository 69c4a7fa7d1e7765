"""Which exceptions are the user's doing (a missing file, a bad value): commands report them in
one line, and multi-pocket screening records them per pocket and goes on."""
from __future__ import annotations

USER_ERRORS = (FileNotFoundError, ValueError, KeyError, PermissionError, IsADirectoryError)
