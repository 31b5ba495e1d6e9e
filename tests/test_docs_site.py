"""The docs site: generated pages are current, `mkdocs build --strict` passes, and the comparison pages
render in a real browser (headless Chromium): their tables are there and every image loads.

The browser test serves the built site with `python -m http.server` on 127.0.0.1 and drives Chromium
through the DevTools protocol over `--remote-debugging-pipe` (file descriptors 3 and 4, no extra
package): for each comparison page it navigates, waits until the document and every image have
finished loading, then reads the tables and each image's `complete && naturalWidth > 0` in the page.
Full-page screenshots of two comparison pages are saved under build/test-artifacts/ (or
$ZOO_TEST_ARTIFACTS). CI installs Debian's chromium (.ci/run); without it the test is skipped locally.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import docs_pages  # tools/docs/: the repository's docs tooling, on pytest's pythonpath
import pytest

REPO = Path(__file__).resolve().parent.parent
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

    def screenshot(self, session: str, path: Path, height: int) -> None:
        import base64

        self.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": min(max(height, 900), 12000),
                                                         "deviceScaleFactor": 1, "mobile": False}, session=session)
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
    configured = os.environ.get("ZOO_CHROMIUM")
    if configured:
        return configured
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_site(target: Path) -> subprocess.CompletedProcess:
    # The committed pages as they are (test_generated_pages_are_current checks that they are current).
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "ZOO_DOCS_GENERATE": "0"}
    env.pop("ZOO_DOCS_RESULTS", None)
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"),
                           "-d", str(target)], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    target = tmp_path_factory.mktemp("site") / "site"
    result = build_site(target)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "WARNING" not in result.stderr, result.stderr[-4000:]
    return target


@pytest.fixture(scope="module")
def server(site):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


def every_page(site: Path) -> list[str]:
    return sorted("/" + p.parent.relative_to(site).as_posix().removeprefix(".") + "/"
                  for p in site.rglob("index.html") if "assets" not in p.parts)


def comparison_pages(site: Path) -> list[str]:
    pages = sorted(p.parent.relative_to(site).as_posix() for p in (site / "comparisons").rglob("index.html"))
    return ["/" + p + "/" for p in pages]


def test_generated_pages_are_current(tmp_path):
    """The committed models/CLI/bench/comparison pages equal what the generator makes from their sources."""
    copy = tmp_path / "docs"
    shutil.copytree(REPO / "docs", copy)
    changed = docs_pages.generate(copy, docs_pages.DEFAULT_RESULTS, log=lambda message: None)
    assert not changed, f"stale generated pages (run `make docs-pages`): {[str(p) for p in changed]}"


def test_strict_build_has_every_page(site):
    for page in ("index.html", "quickstart/index.html", "models/index.html", "cli/index.html", "api/index.html",
                 "bench/index.html", "adding-a-model/index.html", "tuning/index.html", "comparisons/index.html"):
        assert (site / page).exists(), page
    models = (site / "models" / "index.html").read_text()
    for name in ("ae", "vae", "beta_vae", "cvae", "conv_vae_cartoon"):
        assert f'id="{name}"' in models
    cli = (site / "cli" / "index.html").read_text()
    for command in ("list", "train", "evaluate", "sample", "tune", "bench"):
        assert f'id="zoo-{command}"' in cli
    api = (site / "api" / "index.html").read_text()
    assert "zoo.run_spec" in api or "RunSpec" in api
    assert "iwae_bound" in api


def test_comparison_pages_render_in_chromium(site, server, tmp_path):
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (CI installs Debian's chromium; locally: apt-get install chromium)")
    pages = comparison_pages(site)
    assert "/comparisons/" in pages and len(pages) >= 8, pages
    artifacts = Path(os.environ.get("ZOO_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    browser = Chromium(executable, tmp_path / "profile")
    results = {}
    try:
        session = browser.open()
        for page in pages:
            results[page] = found = browser.check(session, server + page)
            if page in ("/comparisons/", "/comparisons/ae-vs-vae/"):
                name = "comparisons" + page.rstrip("/").replace("/comparisons", "").replace("/", "-") + ".png"
                browser.screenshot(session, artifacts / name, found["height"])
    finally:
        browser.close()
    for page, found in results.items():
        assert found["tables"] >= 1 and all(rows >= 1 for rows in found["table_rows"]), (page, found)
        assert found["raw_markdown_tables"] == 0, (page, "a Markdown table did not render")
        assert found["broken"] == [], (page, found["broken"])
    if "No results yet" not in (site / "comparisons" / "ae-vs-vae" / "index.html").read_text():
        assert results["/comparisons/ae-vs-vae/"]["images"] >= 4
        assert sum(found["images"] for found in results.values()) >= 20
    for name in ("comparisons.png", "comparisons-ae-vs-vae.png"):
        assert (artifacts / name).stat().st_size > 20_000, name


@pytest.mark.parametrize("width", [1280, 390])
def test_no_page_scrolls_sideways_or_shrinks_an_unlinked_figure(site, server, tmp_path, width):
    """Every page at a desktop (1280 px) and a phone (390 px) width: no horizontal scrolling of the page, no
    missing image, and no figure shown below its natural size unless it links to the full-size file."""
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (CI installs Debian's chromium; locally: apt-get install chromium)")
    pages = [page.replace("//", "/") for page in every_page(site)]
    assert len(pages) >= 15, pages
    browser = Chromium(executable, tmp_path / "profile")
    problems = {}
    try:
        session = browser.open(width)
        for page in pages:
            found = browser.check(session, server + page)
            issues = {key: found[key] for key in ("broken", "shrunk_unlinked") if found[key]}
            if found["overflow_x"] > 0:
                issues["overflow_x"] = found["overflow_x"]
            if issues:
                problems[page] = issues
    finally:
        browser.close()
    assert not problems, problems
