"""The docs site: generated pages are current, `mkdocs build --strict` passes, and the comparison pages
render in a real browser (headless Chromium): their tables are there and every image loads.

The browser test serves the built site with `python -m http.server` on 127.0.0.1 and drives Chromium
through the DevTools protocol over `--remote-debugging-pipe` (file descriptors 3 and 4, no extra
package; the client is tools/docs/browser.py): for each comparison page it navigates, waits until
the document and every image have finished loading, then reads the tables and each image's
`complete && naturalWidth > 0` in the page.
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
from browser import CHROMIUM_CANDIDATES, Chromium, find_chromium  # noqa: F401  (tools/docs/browser.py)

REPO = Path(__file__).resolve().parent.parent


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
    def without_results(page: str) -> bool:
        html = (site / page.strip("/") / "index.html").read_text()
        return any(s in html for s in ("No results yet", "No committed results yet", "uncommitted working tree"))

    for page, found in results.items():
        if not without_results(page):
            assert found["tables"] >= 1 and all(rows >= 1 for rows in found["table_rows"]), (page, found)
        assert found["raw_markdown_tables"] == 0, (page, "a Markdown table did not render")
        assert found["broken"] == [], (page, found["broken"])
    assert not without_results("/comparisons/disentanglement/"), "the committed study is not shown"
    if not without_results("/comparisons/ae-vs-vae/"):
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


def test_screenshot_of_a_built_site_has_the_asked_width(site, tmp_path):
    """tools/docs/screenshots.py's capture step on an already-built site (no git): one page at 390 px gives a
    PNG 390 px wide (read from its IHDR header)."""
    import screenshots

    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (CI installs Debian's chromium; locally: apt-get install chromium)")
    shots = screenshots.capture(site, tmp_path / "shots", pages=[("quickstart", "/quickstart/")], widths=[390],
                                executable=executable, log=lambda message: None)
    path = tmp_path / "shots" / "quickstart-390.png"
    assert [shot.path for shot in shots] == [path] and path.stat().st_size > 10_000
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    assert int.from_bytes(header[16:20], "big") == 390
    assert int.from_bytes(header[20:24], "big") >= 900


def test_results_from_an_uncommitted_tree_are_not_published(tmp_path, capsys):
    """A results set whose report or any finished cell names a `-dirty` (or no) commit gives pages that say
    so instead of its numbers; the same set from a clean commit is shown."""
    results = tmp_path / "standard"
    shutil.copytree(docs_pages.DEFAULT_RESULTS, results)
    payload = json.loads((results / "results.json").read_text())
    ok_cells = [c for c in payload["cells"] if c.get("status") == "ok"]
    payload["machine"]["git_commit"] = "0" * 40
    for record in [*payload["cells"], *payload["classifiers"].values()]:
        record["git_commit"] = "1" * 40
    (results / "results.json").write_text(json.dumps(payload))
    shown = docs_pages.comparison_pages(results, tmp_path / "pages")
    assert "## All models" in shown["index"] and "uncommitted" not in shown["index"]
    ok_cells[-1]["git_commit"] = "1" * 40 + "-dirty"
    (results / "results.json").write_text(json.dumps(payload))
    refused = docs_pages.comparison_pages(results, tmp_path / "pages")
    assert "## All models" not in refused["index"] and "-dirty" in refused["index"]
    assert all("uncommitted working tree" in refused[e["id"]] for e in payload["experiments"])
    assert "not publishing" in capsys.readouterr().out
