"""keep_freed_memory: freed large blocks stay in the process (Linux/glibc only)."""
import subprocess
import sys

import pytest

PROBE = """
import sys
from moldiff.utils.malloc import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
page = 4096
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
block = bytearray(b"x" * (256 << 20))  # 256 MiB, touched
del block
print(rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc and /proc are Linux features")
def test_freed_block_stays_in_the_process_only_when_asked():
    def rss_after_free(mode: str) -> int:
        res = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
        return int(res.stdout.split()[-1])

    default, kept = rss_after_free("default"), rss_after_free("keep")
    assert kept - default > 200 << 20, (default, kept)  # the 256 MiB were returned by default, kept otherwise
