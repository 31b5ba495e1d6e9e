"""Before/after screenshots of the docs site: full-page PNGs of a fixed list of pages, for any commit.

    python tools/docs/screenshots.py [--ref REF ...] [--out DIR] [--widths 1280,390]

For each ref (default ``HEAD``; any commit) the commit is checked out into a temporary ``git worktree``
under the system temp folder and its site is built with this venv's MkDocs: ``tools/docs/docs_pages.py
build`` (what ``make docs`` runs; the site goes to the worktree's ``site/``) when the commit has it, else
``python -m mkdocs build -d site``. The worktree is removed afterwards, also when something fails. The site
is served on 127.0.0.1 (``http.server`` on a free port) and headless Chromium (tools/docs/browser.py)
takes a full-page screenshot of each page in ``PAGES`` at each width; a page the commit's site lacks is
skipped, with a line saying so. A page whose PNG comes out over 1.5 MB is taken again cut at 6000 px.

Output: ``DIR/<short-sha>/<page>-<width>.png`` (default DIR: build/screenshots/; not committed, since the
script remakes them from the commits) and ``DIR/<short-sha>/index.md``, which lists each file with its page, width, the ref, the full commit and when it
was taken. ``capture()`` does the serving and screenshots for a site folder that is already built (no git).
``make screenshots REFS="abc123 HEAD"`` runs this script.

This is the repository's tooling, not part of the ``zoo`` package. Exit codes: 0 done, 1 a build or the
browser failed, 2 a usage error (unknown ref, no Chromium, bad widths).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # browser.py, beside this file

from browser import Chromium, find_chromium  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_OUT = REPO / "build" / "screenshots"
DEFAULT_WIDTHS = (1280, 390)
# (file name slug, page path in the site)
PAGES = (
    ("home", "/"),
    ("quickstart", "/quickstart/"),
    ("models", "/models/"),
    ("cli", "/cli/"),
    ("comparisons", "/comparisons/"),
    ("comparisons-disentanglement", "/comparisons/disentanglement/"),
    ("comparisons-cartoon", "/comparisons/cartoon/"),
    ("performance", "/performance/"),
)
MAX_BYTES = 1_500_000  # a full-page PNG bigger than this is taken again, cut at CAPPED_HEIGHT
CAPPED_HEIGHT = 6000
BUILD_TIMEOUT = 1800


class UsageError(Exception):
    """A mistake on the command line or in the setup (unknown ref, no Chromium): one line, exit 2."""


class Failure(Exception):
    """A build or the browser failed: one line (plus the build's last output lines), exit 1."""


@dataclass
class Shot:
    path: Path
    page: str
    width: int
    height: int  # of the PNG
    page_height: int  # of the page at that width; more than height when the shot is cut
    taken: str  # UTC, ISO 8601

    @property
    def cut(self) -> bool:
        return self.height < self.page_height


# ---------------------------------------------------------------- capture (no git)


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serves ``site`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def page_exists(site: Path, page: str) -> bool:
    return (site / page.strip("/") / "index.html").is_file()


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def chromium(executable: str | None = None) -> str:
    """The Chromium to drive: ``executable``, else find_chromium(); UsageError when there is none."""
    executable = executable or find_chromium()
    if executable is None:
        raise UsageError("Chromium is not installed (make chromium, or apt-get install chromium; "
                         "$ZOO_CHROMIUM names another executable)")
    if shutil.which(executable) is None:
        raise UsageError(f"Chromium not found: {executable!r} is not an executable ($ZOO_CHROMIUM?)")
    return executable


def capture(site: Path, out_dir: Path, pages: Sequence[tuple[str, str]] = PAGES,
            widths: Sequence[int] = DEFAULT_WIDTHS, executable: str | None = None, log=print) -> list[Shot]:
    """Full-page screenshots of ``pages`` (slug, path) of the built site in ``site``, at each width, written to
    ``out_dir/<slug>-<width>.png``. Pages the site lacks are skipped (``log`` says so)."""
    executable = chromium(executable)
    site = Path(site)
    present = []
    for slug, page in pages:
        if page_exists(site, page):
            present.append((slug, page))
        else:
            log(f"screenshots: skipped {page}: this site has no such page")
    out_dir.mkdir(parents=True, exist_ok=True)
    shots: list[Shot] = []
    with serve(site) as base, tempfile.TemporaryDirectory(prefix="zoo-chromium-") as profile:
        browser = Chromium(executable, Path(profile))
        try:
            session = browser.open(widths[0] if widths else 1280)
            for width in widths:
                for slug, page in present:
                    browser.resize(session, width)  # the last screenshot left the viewport page-tall
                    found = browser.check(session, base + page)
                    if found["broken"]:
                        log(f"screenshots: {page} at {width} px: images that did not load: {found['broken']}")
                    path = out_dir / f"{slug}-{width}.png"
                    browser.screenshot(session, path, found["height"], width)
                    if path.stat().st_size > MAX_BYTES and found["height"] > CAPPED_HEIGHT:
                        browser.screenshot(session, path, CAPPED_HEIGHT, width)
                    shots.append(Shot(path, page, width, png_size(path)[1], found["height"], _now()))
        except (OSError, RuntimeError, TimeoutError) as error:
            raise Failure(f"the browser failed: {error}") from error
        finally:
            browser.close()
    return shots


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_index(folder: Path, shots: Sequence[Shot], ref: str, commit: str, committed: str,
                skipped: Sequence[str] = ()) -> Path:
    """``folder/index.md``: each screenshot with its page, width, the ref, the full commit and when it was taken."""
    lines = [f"# Docs site screenshots of `{folder.name}`", "",
             f"- **ref**: `{ref}`", f"- **commit**: `{commit}` (committed {committed})",
             f"- **taken**: {shots[0].taken if shots else _now()}", "",
             "Made by `python tools/docs/screenshots.py` (`make screenshots`): the commit's site, built with "
             "MkDocs and served locally, in headless Chromium; each page full-length unless its height says cut "
             f"(a browser limit of 12000 px, or {CAPPED_HEIGHT} px for a PNG that was over "
             f"{MAX_BYTES / 1e6:.1f} MB).", ""]
    if skipped:
        lines += [f"Not in this commit's site, so not taken: {', '.join(f'`{page}`' for page in skipped)}.", ""]
    lines += ["| file | page | width | height | ref | commit | taken |",
              "| --- | --- | ---: | ---: | --- | --- | --- |"]
    for shot in shots:
        height = f"{shot.height} (cut; page {shot.page_height})" if shot.cut else str(shot.height)
        lines.append(f"| [{shot.path.name}]({shot.path.name}) | `{shot.page}` | {shot.width} | {height} | "
                     f"`{ref}` | `{commit}` | {shot.taken} |")
    index = folder / "index.md"
    index.write_text("\n".join(lines) + "\n")
    return index


# ---------------------------------------------------------------- a commit's site


def git(*args: str, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def resolve(ref: str) -> tuple[str, str, str]:
    """(full commit, short commit, commit date) of ``ref``; UsageError when it names no commit."""
    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if found.returncode != 0 or not found.stdout.strip():
        raise UsageError(f"unknown ref {ref!r}: not a commit in {REPO}")
    commit = found.stdout.strip()
    short = git("rev-parse", "--short", commit).stdout.strip()
    date = git("show", "-s", "--format=%cI", commit).stdout.strip()
    return commit, short, date


def _tail(result: subprocess.CompletedProcess, lines: int = 15) -> str:
    return "\n".join(((result.stdout or "") + (result.stderr or "")).strip().splitlines()[-lines:])


def build_commit_site(commit: str, work: Path, log=print) -> Path:
    """Builds ``commit``'s site in a worktree under ``work``; returns the built folder (moved out of the
    worktree, which is removed before returning)."""
    tree = work / "worktree"
    added = git("worktree", "add", "--detach", str(tree), commit, check=False)
    if added.returncode != 0:
        raise Failure(f"git worktree add failed: {_tail(added, 3)}")
    try:
        # The commit's own zoo package, not the editable install of this checkout.
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p)}
        for name in ("ZOO_DOCS_RESULTS", "ZOO_DOCS_GENERATE"):
            env.pop(name, None)
        if (tree / "tools" / "docs" / "docs_pages.py").is_file():
            command = [sys.executable, "tools/docs/docs_pages.py", "build"]  # builds into <tree>/site
        else:
            command = [sys.executable, "-m", "mkdocs", "build", "-d", "site"]
        log(f"screenshots: building the site of {commit[:12]} ({' '.join(['python', *command[1:]])})")
        try:
            result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True,
                                    timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            raise Failure(f"the docs build of {commit[:12]} took over {BUILD_TIMEOUT} s") from error
        built = tree / "site"
        if result.returncode != 0 or not (built / "index.html").is_file():
            raise Failure(f"the docs build of {commit[:12]} failed (exit {result.returncode}):\n{_tail(result)}")
        site = work / "site"
        built.rename(site)
        return site
    finally:
        removed = git("worktree", "remove", "--force", str(tree), check=False)
        if removed.returncode != 0:
            log(f"screenshots: could not remove the worktree {tree}: {_tail(removed, 2)}")


def screenshots_of(commit: str, ref: str, out: Path, widths: Sequence[int], executable: str,
                   log=print) -> list[Path]:
    """Builds the site of ``commit`` (named ``ref`` in the index) and photographs it into out/<short-sha>/."""
    commit, short, date = resolve(commit)
    folder = out / short
    with tempfile.TemporaryDirectory(prefix="zoo-screenshots-") as work:
        site = build_commit_site(commit, Path(work), log=log)
        shots = capture(site, folder, PAGES, widths, executable, log=log)
        skipped = [page for _, page in PAGES if not page_exists(site, page)]
    index = write_index(folder, shots, ref, commit, date, skipped)
    return [shot.path for shot in shots] + [index]


# ---------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"screenshots: error: {message}\n")


def parse_widths(text: str) -> list[int]:
    try:
        widths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        widths = []
    if not widths or any(not 200 <= w <= 4000 for w in widths):
        raise UsageError(f"--widths {text!r}: give comma-separated pixel widths between 200 and 4000, "
                         "e.g. 1280,390")
    return list(dict.fromkeys(widths))


def main(argv: Sequence[str]) -> int:
    parser = _Parser(prog="python tools/docs/screenshots.py", description=__doc__.splitlines()[0])
    parser.add_argument("--ref", action="append", dest="refs", metavar="REF",
                        help="a commit to photograph (repeat for several; default HEAD)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: build/screenshots/)")
    parser.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)),
                        help="viewport widths in px, comma-separated (default: 1280,390)")
    args = parser.parse_args(argv)
    refs = [ref for text in (args.refs or ["HEAD"]) for ref in text.split()]
    written: list[Path] = []
    try:
        widths = parse_widths(args.widths)
        executable = chromium()
        if git("rev-parse", "--git-dir", check=False).returncode != 0:
            raise UsageError(f"{REPO} is not a git checkout")
        names: dict[str, list[str]] = {}  # commit -> the refs naming it; every ref is checked before a build
        for ref in refs:
            names.setdefault(resolve(ref)[0], []).append(ref)
        for commit, given in names.items():
            written += screenshots_of(commit, ", ".join(given), args.out, widths, executable)
    except UsageError as error:
        print(f"screenshots: error: {error}", file=sys.stderr)
        return 2
    except Failure as error:
        print(f"screenshots: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("screenshots: interrupted", file=sys.stderr)
        return 130
    for path in written:
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        size = f"{path.stat().st_size / 1000:.0f} kB" if path.suffix == ".png" else ""
        print(f"{shown}  {size}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
