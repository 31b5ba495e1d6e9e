"""A headless Chromium client over the DevTools protocol, for the docs site's browser test
(tests/test_docs_site.py) and its screenshots (tools/docs/screenshots.py).

Chromium is started with ``--remote-debugging-pipe``: it reads commands on file descriptor 3 and writes
replies and events on 4, each a JSON message ending in a NUL byte, so no extra package (websocket client,
Playwright) is needed. ``open`` makes a tab, ``check`` loads a page and reports its tables, images and
height (``CHECK_PAGE``), ``screenshot`` saves a PNG of it. ``find_chromium`` looks for the executable
(``$ZOO_CHROMIUM`` first; CI installs Debian's chromium, locally ``make chromium``).

This is the repository's tooling, not part of the ``zoo`` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]
# Evaluated in each page: resolves once the document and all its images are loaded (or 20 s passed).
CHECK_PAGE = """
(async () => {
  const deadline = Date.now() + 20000;
  while (document.readyState !== "complete" && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 50));
  }
  const content = document.querySelector(".md-content") || document.body;
  const images = Array.from(content.querySelectorAll("img"));
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener("load", r); img.addEventListener("error", r); setTimeout(r, Math.max(0, deadline - Date.now()));
  })));
  const tables = Array.from(content.querySelectorAll("table"));
  return JSON.stringify({
    title: document.title,
    tables: tables.length,
    table_rows: tables.map(t => t.querySelectorAll("tbody tr").length),
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src")),
    raw_markdown_tables: (content.innerText.match(/\|\s*---/g) || []).length,
    height: Math.ceil(document.documentElement.scrollHeight),
    // The page itself must not scroll sideways (wide tables scroll inside their own box).
    overflow_x: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    // Tables wider than the text column (they scroll inside their box): header text and the two widths.
    wide_tables: tables.map(t => [t, t.closest(".md-typeset__scrollwrap") || t.parentElement])
                       .filter(([t, box]) => box.scrollWidth > box.clientWidth + 1)
                       .map(([t, box]) => ({head: Array.from(t.querySelectorAll("th")).map(h => h.innerText)
                                                      .join(" | ").slice(0, 80),
                                            width: box.scrollWidth, room: box.clientWidth})),
    // A figure drawn smaller than its pixels must be one click away from full size.
    shrunk_unlinked: images.filter(i => i.naturalWidth > i.clientWidth + 1 && !i.closest("a"))
                           .map(i => i.getAttribute("src")),
  });
})()
"""


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fd 3: commands in, fd 4: out)."""

    def __init__(self, executable: str, profile: Path):
        import fcntl

        self._commands_read, self._commands_write = os.pipe()
        self._events_read, self._events_write = os.pipe()

        def child_fds():
            high_in = fcntl.fcntl(self._commands_read, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(self._events_write, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.process = subprocess.Popen([executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                         "--remote-debugging-pipe", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        preexec_fn=child_fds, close_fds=False)
        os.close(self._commands_read)
        os.close(self._events_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    def _read_message(self, timeout: float) -> dict:
        import select

        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._events_read], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("no message from Chromium")
            chunk = os.read(self._events_read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe: {self.process.stderr.read()[-2000:]!r}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands_write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 60) -> dict:
        for index, event in enumerate(self._events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self._events.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(max(deadline - time.monotonic(), 0.01))
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self._events.append(event)

    def open(self, width: int = 1280) -> str:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.resize(session, width)
        return session

    def resize(self, session: str, width: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                         "mobile": width < 600}, session=session)

    def check(self, session: str, url: str) -> dict:
        self._events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session, timeout=90)
        result = self.send("Runtime.evaluate", {"expression": CHECK_PAGE, "awaitPromise": True,
                                                "returnByValue": True}, session=session, timeout=90)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{url}: {result['exceptionDetails']}")
        return json.loads(result["result"]["value"])

    def screenshot(self, session: str, path: Path, height: int, width: int = 1280) -> None:
        """Saves a PNG of the page ``width`` px wide and ``height`` px tall (900 to 12000 px): pass the page's
        height (``check()["height"]``) for a full-page shot. Leaves the viewport that tall; ``resize`` sets
        it back before the next page is measured."""
        import base64

        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": min(max(height, 900), 12000),
                                                         "deviceScaleFactor": 1, "mobile": width < 600},
                  session=session)
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands_write, self._events_read):
            try:
                os.close(fd)
            except OSError:
                pass


def find_chromium() -> str | None:
    """$ZOO_CHROMIUM if set, else the first of CHROMIUM_CANDIDATES on PATH; None when there is none."""
    configured = os.environ.get("ZOO_CHROMIUM")
    if configured:
        return configured
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None
