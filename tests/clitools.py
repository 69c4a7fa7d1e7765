"""Running the scripts as a user would, and checking their one-line errors (shared by CLI tests)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(script: str, *args, cwd=ROOT) -> subprocess.CompletedProcess:
    """``python scripts/<script> args...`` with captured output (no exception on failure)."""
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


def one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> None:
    """A failed run whose stderr is one ``error: ...`` line (no traceback) holding every fragment."""
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
