"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), standard library only. It
checks HTML reports in a real browser (tests) and takes their screenshots (README):

    python -m moldiff.utils.browser outputs/demo/report.html docs/assets/report_demo.png [--click "tr[data-index='3']"]
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

#: Flags for a quiet, offline, software-rendered (SwiftShader WebGL) headless browser.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe")
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome executable on PATH (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM"), *NAMES):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _above_4(fd: int) -> int:
    """``fd`` moved to a number above 4, so that the shell's redirections to 3 and 4 cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


class Browser:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900, timeout: float = 60.0):
        executable = executable or find_chromium()
        if executable is None:
            raise FileNotFoundError("no Chromium found (install the chromium package or set $CHROMIUM)")
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="moldiff-chromium-")
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        to_browser, from_browser = _above_4(to_browser), _above_4(from_browser)
        # the browser reads commands on fd 3 and writes replies on fd 4: bash puts the pipes there
        # (dash, Debian's sh, refuses descriptors above 9, as a test runner's often are)
        self._process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', executable, *FLAGS,
             f"--user-data-dir={self._profile.name}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._id = b"", 0
        #: uncaught JavaScript exceptions of the page, one line each, as they arrive
        self.errors: list[str] = []
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)
        self._session = attached["sessionId"]
        self.send("Runtime.enable")  # reports uncaught exceptions as events
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the browser (killed if it does not exit within 10 s) and remove its profile."""
        try:
            self.send("Browser.close", session=False)
            self._process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)
            self._profile.cleanup()

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        """Call a DevTools method (on the page unless ``session`` is False) and return its result;
        ``RuntimeError`` for a protocol error, ``TimeoutError`` after ``timeout`` seconds."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                    raise TimeoutError(f"no reply from the browser to {method} in {self.timeout:g} s")
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"the browser exited during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("method") == "Runtime.exceptionThrown":
                details = reply["params"]["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text", "")
                self.errors.append(text.splitlines()[0] if text else "exception")
            if reply.get("id") == self._id:  # anything else is an event
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply["result"]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> None:
        """Poll until a JavaScript expression is truthy; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} still false after {timeout or self.timeout:g} s")
            time.sleep(0.05)

    def open(self, path: str | os.PathLike,
             ready: str = "document.body && document.body.dataset.ready === '1'") -> None:
        """Load a local file and wait until ``ready`` (a JavaScript expression) holds."""
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_for(ready)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the first element matching
        ``selector``, scrolled into view first."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        if box is None:
            raise ValueError(f"no element matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent",
                      {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def screenshot(self, selector: str | None = None) -> bytes:
        """PNG of the viewport, or of the element matching ``selector`` (scrolled into view)."""
        params: dict = {"format": "png"}
        if selector is not None:
            rect = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                                 " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                                 " return [r.left, r.top, r.width, r.height]; })()")
            params["clip"] = dict(zip(("x", "y", "width", "height"), rect), scale=1)
        self.evaluate("new Promise(requestAnimationFrame)")  # let the page paint what it last drew
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])


def main() -> None:
    ap = argparse.ArgumentParser(description="Screenshot of an HTML report in headless Chromium.")
    ap.add_argument("html", help="report.html")
    ap.add_argument("png", help="output PNG")
    ap.add_argument("--click", action="append", default=[], metavar="SELECTOR",
                    help="click this element first (CSS selector; repeat for several clicks, in order)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args()
    with Browser(width=args.width, height=args.height) as browser:
        browser.open(args.html)
        for selector in args.click:
            browser.click(selector)
        browser.evaluate("window.scrollTo(0, 0)")
        Path(args.png).write_bytes(browser.screenshot())
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
