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
import subprocess
import sys
from pathlib import Path

import docs_pages  # tools/docs/: the repository's docs tooling, on pytest's pythonpath
import pytest
from browser import Chromium, find_chromium  # tools/docs/browser.py
from screenshots import serve  # tools/docs/screenshots.py

REPO = Path(__file__).resolve().parent.parent


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
    with serve(site) as base:
        yield base


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
    missing image, and no figure shown below its natural size unless it links to the full-size file; at
    1280 px, also no table wider than the text column (one that would scroll inside its box)."""
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
            if width >= 1280 and found["wide_tables"]:
                issues["wide_tables"] = found["wide_tables"]  # on a phone, a table may scroll in its box
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


# ---------------------------------------------------------------- model cards and the home page's gallery


def registry_entries() -> dict:
    from zoo.registry import BUILTIN_REGISTRY, read_registry_file

    return read_registry_file(BUILTIN_REGISTRY)


def results_copy(target: Path, dirty: bool) -> Path:
    """The committed standard results with every commit rewritten to a clean one (``dirty``: then one finished
    cell's commit marked ``-dirty``), so that the tests see both states whatever the committed results are."""
    shutil.copytree(docs_pages.DEFAULT_RESULTS, target)
    payload = json.loads((target / "results.json").read_text())
    payload["machine"]["git_commit"] = "0" * 40
    for record in [*payload["cells"], *(payload.get("classifiers") or {}).values()]:
        if record:
            record["git_commit"] = "1" * 40
    if dirty:
        next(c for c in payload["cells"] if c.get("status") == "ok")["git_commit"] = "1" * 40 + "-dirty"
    (target / "results.json").write_text(json.dumps(payload))
    return target


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The docs generated from a clean and from a withheld copy of the standard results: state -> (docs folder,
    results folder)."""
    out = {}
    for state in ("clean", "withheld"):
        root = tmp_path_factory.mktemp(state)
        results = results_copy(root / "standard", dirty=state == "withheld")
        shutil.copytree(REPO / "docs", root / "docs")
        docs_pages.generate(root / "docs", results, log=lambda message: None)
        out[state] = root / "docs", results
    return out


def gallery(home: str) -> str:
    start, end = home.index(docs_pages.GALLERY_START), home.index(docs_pages.GALLERY_END)
    return home[start:end]


def linked_images(text: str) -> list[str]:
    """The targets of the images that link to their own file (docs_pages.linked_image)."""
    import re

    return [m.group(2) for m in re.finditer(r"\[!\[[^\]]*\]\(([^)]+)\)\]\(([^)]+)\)", text) if m.group(1) == m.group(2)]


def test_readme_and_home_page_count_the_presets_the_registry_has():
    import re

    count = len(registry_entries())
    for path, pattern in ((REPO / "README.md", r"the (\d+) presets"), (REPO / "docs" / "index.md", r"(\d+) presets")):
        found = [int(n) for n in re.findall(pattern, path.read_text())]
        assert found and set(found) == {count}, (path.name, found, count)


def test_every_registry_entry_has_a_card_linked_from_the_catalogue_and_the_nav(site):
    import re

    entries = registry_entries()
    catalogue = (REPO / "docs" / "models.md").read_text()
    section = docs_pages.catalogue_nav()  # what the MkDocs hook puts under "Model catalogue"
    assert section[0] == {"Overview": "models.md"}, section[0]
    listed = {}
    for item in section[1:]:
        (family, pages), = item.items()
        for page in pages:
            (title, path), = page.items()
            listed[path] = family
    built = (site / "models" / "index.html").read_text()
    for name, entry in entries.items():
        card = REPO / "docs" / "models" / f"{name}.md"
        assert card.read_text().startswith(docs_pages.GENERATED_NOTE.split("(")[0]), name
        assert f"[`{name}`](models/{name}.md)" in catalogue, name
        assert listed.get(f"models/{name}.md") == docs_pages.family_title(entry.family), (name, listed)
        assert (site / "models" / name / "index.html").exists(), name
        assert f'href="{name}/"' in built, name
    assert not set(listed) - {f"models/{name}.md" for name in entries}, "the nav lists cards of no entry"
    home = (site / "index.html").read_text()
    assert "Likelihood bound" in home and not re.search(r">\s*More\s*<", home), "cards missing from the nav"
    assert sorted(p.stem for p in (REPO / "docs" / "models").glob("*.md")) == sorted(entries)
    # The committed home page carries the generated gallery block (test_generated_pages_are_current keeps it
    # current), and the built one its section.
    assert "## Gallery" in gallery((REPO / "docs" / "index.md").read_text())
    assert 'id="gallery"' in (site / "index.html").read_text()


def test_a_card_shows_its_measured_numbers_and_linked_figures(generated):
    from zoo.bench.report import fmt

    docs, results = generated["clean"]
    payload = json.loads((results / "results.json").read_text())
    measured = 0
    for name, entry in registry_entries().items():
        card = (docs / "models" / f"{name}.md").read_text()
        assert card.count("## Measured") == 1 and "## Paper" in card and "## Preset" in card, name
        assert f"zoo train {name} --dataset " in card and docs_pages._md(entry.description) in card, name
        group = next((g for g in payload["groups"] if g["variant"] == name and g["n_ok"]), None)
        if group is None:
            assert "No measured numbers yet" in card, name
            continue
        measured += 1
        assert "No measured numbers yet" not in card, name
        key = "elbo" if (group["metrics"].get("elbo") or {}).get("mean") is not None else "distortion"
        assert f"| {fmt(group['metrics'][key], 2, by_spread=True)} |" in card, (name, key)
        images = linked_images(card)
        names = [Path(image).name for image in images]
        assert names and names[0] in docs_pages.SAMPLE_FIGURES, (name, images)
        assert "reconstructions.png" in names, (name, images)
        for image in images:
            assert image.startswith("assets/") and (docs / "models" / image).is_file(), (name, image)
    assert measured >= 3, "the standard results hold too few registry entries to test the cards"


def test_the_gallery_has_one_sample_grid_per_family_in_the_results(generated):
    docs, results = generated["clean"]
    payload = json.loads((results / "results.json").read_text())
    entries = registry_entries()
    with_results = [g["variant"] for g in payload["groups"] if g["variant"] in entries and g["n_ok"]]
    families = list(dict.fromkeys(entries[name].family for name in entries if name in with_results))
    block = gallery((docs / "index.md").read_text())
    images = linked_images(block)
    assert len(images) == len(families) >= 3, (families, images)
    for image in images:
        assert image.startswith("models/assets/") and (docs / image).is_file(), image
    for family in families:
        assert f"**{docs_pages.family_title(family)}**: [`" in block, family
    shown = [line.split("](models/")[1].split(".md")[0] for line in block.splitlines() if line.startswith("-   **")]
    assert sorted(entries[name].family for name in shown) == sorted(families), shown
    # Only the block is generated: the hand-written page around it is the committed one.
    committed = (REPO / "docs" / "index.md").read_text()
    home = (docs / "index.md").read_text()
    assert home.replace(block, "") == committed.replace(gallery(committed), "")


def test_withheld_or_missing_results_give_cards_without_numbers(generated, tmp_path):
    docs, results = generated["withheld"]
    for name in registry_entries():
        card = (docs / "models" / f"{name}.md").read_text()
        measured = card[card.index("## Measured"):]
        assert measured.count("No measured numbers yet") == 1, name
        assert f"zoo bench --budget standard --models {name}" in measured, name
        # The reference results are a results set of their own (committed clean): their figures may stay.
        standard_images = [i for i in linked_images(card) if not i.startswith("assets/reference/")]
        assert "uncommitted tree" in measured and not standard_images, name
    block = gallery((docs / "index.md").read_text())
    assert "No measured samples yet" in block and not linked_images(block)
    copied = [p for p in (docs / "models").glob("assets/**/*.png") if "reference" not in p.parts]
    assert not copied, "withheld figures were copied"
    # No results at all: the same sentence, naming where they were looked for.
    payload, why = docs_pages.published_results(tmp_path / "nothing")
    assert payload is None and "no bench results" in why
    card = docs_pages.model_card("vae", docs_pages._entries()["vae"], payload, why,
                                 docs_pages.Assets(tmp_path / "assets", tmp_path / "nothing"))
    assert card.count("No measured numbers yet") == 1 and not linked_images(card)


def test_the_cards_and_the_comparisons_keep_their_own_figures(generated):
    """Each assets folder is pruned on its own: after a second run over the same folder nothing changed, and
    every figure either set of pages links to is there."""
    docs, results = generated["clean"]
    assert docs_pages.generate(docs, results, log=lambda message: None) == []
    for folder in (docs / "models", docs / "comparisons"):
        pages = list(folder.glob("*.md"))
        images = [image for page in pages for image in linked_images(page.read_text())]
        assert images, folder
        for image in images:
            assert (folder / image).is_file(), image
    assert (docs / "comparisons" / "assets" / "cells").is_dir() and (docs / "models" / "assets" / "cells").is_dir()


def test_cards_and_gallery_with_results_render_in_chromium(generated, tmp_path):
    """The site built from the clean copy: the home page and every card at 1280 and 390 px, with their figures:
    no sideways scroll, no broken image, no shrunk figure that is not a link to its file."""
    import yaml

    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (CI installs Debian's chromium; locally: apt-get install chromium)")
    docs, _ = generated["clean"]
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    config["hooks"] = [str(REPO / hook) for hook in config["hooks"]]
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(REPO)]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "ZOO_DOCS_GENERATE": "0"}
    env.pop("ZOO_DOCS_RESULTS", None)
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml"),
                            "-d", str(site)], capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0 and "WARNING" not in built.stderr, (built.stdout + built.stderr)[-4000:]
    pages = ["/", "/models/"] + [f"/models/{name}/" for name in registry_entries()]
    problems, images = {}, {}
    with serve(site) as base:
        for width in (1280, 390):
            browser = Chromium(executable, tmp_path / f"profile-{width}")
            try:
                session = browser.open(width)
                for page in pages:
                    found = browser.check(session, f"{base}{page}")
                    images[page] = found["images"]
                    issues = {key: found[key] for key in ("broken", "shrunk_unlinked") if found[key]}
                    if width >= 1280 and found["wide_tables"]:
                        issues["wide_tables"] = found["wide_tables"]
                    if found["overflow_x"] > 0:
                        issues["overflow_x"] = found["overflow_x"]
                    if issues:
                        problems[(width, page)] = issues
            finally:
                browser.close()
    assert not problems, problems
    assert images["/"] >= 3 and images["/models/vae/"] >= 2, images


def test_the_hook_regenerates_the_pages_during_a_real_build(tmp_path):
    """`make docs` builds with the MkDocs hook generating every page (the other tests build the committed
    pages as they are): in a copy of the docs tooling, with no bench results, the build must succeed."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    copy = tmp_path / "repo"
    for part in ("docs", "tools/docs", "benchmarks/reference"):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "ZOO_DOCS_GENERATE": "1"}
    env.pop("ZOO_DOCS_RESULTS", None)
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-f", str(copy / "mkdocs.yml"),
                             "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env, timeout=600,
                            cwd=copy)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "No bench results found" in (copy / "docs" / "comparisons" / "index.md").read_text()
    assert (tmp_path / "site" / "comparisons" / "reproducibility" / "index.html").exists()


def test_training_line_tells_a_converged_cell_from_one_still_improving():
    from zoo.bench.worker import validation_history

    rising = validation_history([{"val_elbo": -120.0 + 2 * e, "val_loss": 120.0 - 2 * e} for e in range(8)])
    flat = validation_history([{"val_elbo": -90.0 + 0.1 * e} for e in range(8)])
    assert rising["val_elbo"][-1] == -106.0 and "val_loss" not in flat
    assert docs_pages.late_gain({"history": rising}) == (4.0, 2)  # epochs 6 → 8: −110 → −106
    assert docs_pages.late_gain({"history": flat}) == pytest.approx((0.2, 2))
    assert docs_pages.late_gain({}) is None  # a cell from before the bench kept curves

    def cell(name, history):
        return {"id": name, "status": "ok", "epochs": 8, "train_images": 1000, "history": history,
                "spec": {"train": {"batch_size": 100}}}

    payload = {"cells": [cell("a", rising), cell("b", flat), cell("c", {})]}
    groups = [{"label": name, "cells": [name]} for name in "abc"]
    (line, _) = docs_pages._training(groups, payload)
    assert "a: 8 epochs on 1,000 training images in batches of 100 (80 steps), validation ELBO +4.00 nats" in line
    assert "Still improving when the budget ended" in line and ": a;" in line  # b rose 0.2 nat: converged
    assert "cannot show whether they had converged" in line  # c

    # Reconstructions and samples over the same quarter: a's FD fell 20 % (still improving); d's reconstruction
    # error and FD fell 1 % while its ELBO rose (settled); e's sample accuracy rose 0.03 (still improving).
    def probed(name, history, sse, fid, accuracy=None):
        final = {"source": "prior", "fid": fid[1], **({"accuracy": accuracy[1]} if accuracy else {})}
        early = {"epoch": 6, "reconstruction_sse": sse[0], "source": "prior", "fid": fid[0],
                 **({"accuracy": accuracy[0]} if accuracy else {})}
        return {**cell(name, history), "metrics": {"reconstruction_mse": sse[1]}, "samples": {"prior": final},
                "probe": early}

    payload = {"cells": [probed("a", rising, (30.0, 29.9), (50.0, 40.0)),
                         probed("d", rising, (30.3, 30.0), (40.4, 40.0), (0.95, 0.955)),
                         probed("e", flat, (30.0, 30.0), (40.4, 40.0), (0.93, 0.96)),
                         {**cell("f", rising), "metrics": {"reconstruction_mse": 20.0},
                          "probe": {"epoch": 6, "reconstruction_sse": 22.0}}]}
    assert docs_pages.late_change(payload["cells"][0]) == {
        "epoch": 6, "reconstruction_sse": (30.0, 29.9), "fid": (50.0, 40.0), "improving": True}
    assert docs_pages.late_change(payload["cells"][3]) == {"epoch": 6, "reconstruction_sse": (22.0, 20.0),
                                                           "improving": True}  # no classifier: 9 % lower error
    assert docs_pages.late_change(cell("c", {})) is None
    (line, _) = docs_pages._training([{"label": name, "cells": [name]} for name in "adef"], payload)
    assert "at epoch 6 and at the end: reconstruction error 30.00 and 29.90, FD p(z) 50.0 and 40.0;" in line
    assert "FD p(z) 40.4 and 40.0, sample accuracy 0.950 and 0.955" in line
    assert "Reconstructions or samples still improving over that quarter" in line and "0.01): a, e, f." in line
    assert "Reconstructions and samples settled although the likelihood still rose: d;" in line


def test_a_card_shows_the_converged_reference_figures_of_its_entry(generated):
    """Entries with a finished reference cell get its sample grid and reconstructions, linked at full size
    and copied beside the card; entries without one get no such section."""
    from reproducibility import _shown_results

    docs, _ = generated["clean"]
    payload, groups = _shown_results(docs_pages.REFERENCE_RESULTS)
    finished = {name for name, group in groups.items() if group["n_ok"]} if payload else set()
    for name in registry_entries():
        card = (docs / "models" / f"{name}.md").read_text()
        if name not in finished:
            assert "of the reference budget" not in card, name
            continue
        section = card[card.index("of the reference budget: samples and reconstructions"):]
        images = [image for image in linked_images(section) if image.startswith("assets/reference/")]
        assert [Path(i).name for i in images][-1] == "reconstructions.png", (name, images)
        assert Path(images[0]).name in docs_pages.SAMPLE_FIGURES, (name, images)
        for image in images:
            assert (docs / "models" / image).read_bytes() == \
                (docs_pages.REFERENCE_RESULTS / image.removeprefix("assets/reference/")).read_bytes(), image


def test_order_check_counts_the_pairs_that_swap_over_the_last_quarter():
    def cell(name, curve, dataset="mnist"):
        return {"id": name, "status": "ok", "dataset": dataset, "history": {"val_elbo": curve}}

    # Two epochs before the end (a quarter of 9): a -100, b -101, c -110; at the end b (-98.5) passes a (-99).
    cells = [cell("a", [-120, -110, -105, -102, -101, -100, -100, -99.5, -99.0]),
             cell("b", [-130, -120, -110, -105, -102, -101, -101, -100, -98.5]),
             cell("c", [-140, -130, -120, -115, -112, -110, -110, -109, -108.0])]
    assert docs_pages.order_held(cells) == (1, 3, pytest.approx(0.5))
    assert docs_pages.order_held(cells[:2] + [cell("d", [])]) is None  # two curves: nothing to rank
    flat = [cell(n, [-120.0 + i] * 8) for i, n in enumerate("xyz")]
    assert docs_pages.order_held(flat) == (0, 3, 0.0)

    payload = {"cells": cells + flat[:1] + [dict(flat[1], dataset="cartoon")]}
    groups = [{"label": c["id"], "dataset": c["dataset"], "cells": [c["id"]]} for c in payload["cells"]]
    (line, _) = docs_pages._order_line(groups, payload)
    assert "MNIST: 1 of 6 pairs of models swapped places, none more than 0.50 nats apart" in line  # x: below all
    assert "Cartoon Set" not in line  # one cell: no order to check


def test_all_models_warns_of_rows_from_an_earlier_budget():
    """Rows whose cells ran under an earlier config of the budget (the report marks them stale) are named above
    the tables, since their numbers are not comparable with the rerun rows'."""
    payload = {"cells": [{"id": f"c{i}", "variant": variant, "stale": stale} for i, (variant, stale) in enumerate(
        [("vae", False), ("iwae", True), ("vamp", True), ("iwae", True)])]}
    text = "\n".join(docs_pages._all_models([], payload))
    assert "Cells from an earlier budget" in text and "2 rows come from cells" in text
    assert "`iwae`, `vamp`." in text and "`vae`" not in text
    assert "earlier budget" not in "\n".join(docs_pages._all_models([], {"cells": [{"id": "c", "variant": "vae"}]}))
    one = "\n".join(docs_pages._all_models([], {"cells": [{"id": "c", "variant": "vae", "stale": True}]}))
    assert "1 row comes from cells trained under an earlier configuration" in one


def test_a_page_names_the_commands_of_its_own_cells():
    """The provenance box of an experiment page names the commands that made the cells it shows, with their
    count and time, not every command of the budget."""
    from zoo.bench.report import provenance

    machine = {"platform": "linux", "cpus": 2, "python": "3.11", "versions": {}, "git_commit": "abc"}

    def cell(name, command, seconds):
        return {"id": name, "status": "ok", "command": {"bench": command}, "created": "2026-12-06T10:00",
                "wall_seconds": seconds, "cpu_seconds": 2 * seconds, "git_commit": ("a" if name == "c" else "b") * 40}

    payload = {"machine": machine, "invocations": [{"ran": ["a", "b", "c"], "wall_seconds": 600.0}],
               "cells": [cell("a", "zoo bench --models x", 60.0), cell("b", "zoo bench --models x", 120.0),
                         cell("c", "zoo bench --models y", 1800.0)]}
    everything = provenance(payload)
    assert "`zoo bench --models x` on 2026-12-06 (2 cells); `zoo bench --models y` on 2026-12-06 (1 cell)" \
        in everything
    assert "the run that computed 3 of them took 10 min" in everything and "33 min of cell wall time" in everything
    page = provenance(payload, {"c"})
    assert "Produced by `zoo bench --models y` on 2026-12-06 (1 cell)," in page and "--models x" not in page
    assert "30 min of cell wall time, 60 min of CPU time" in page and "the run that computed" not in page
    assert "cells trained at git `aaaaaaa`, gathered at `abc`" in page
    assert "cells trained at git `aaaaaaa`, `bbbbbbb`, gathered at `abc`" in everything


def test_a_budget_made_by_many_commands_is_summarised_in_one_sentence():
    """Past three commands (or commits) the box counts them instead of listing them all; each cell's
    result.json still names its own."""
    from zoo.bench.report import provenance

    machine = {"platform": "linux", "cpus": 2, "python": "3.11", "versions": {}, "git_commit": "f" * 40 + "-dirty"}
    cells = [{"id": f"m{i}", "status": "ok", "command": {"bench": f"zoo bench --budget reference --models m{i}"},
              "created": f"2026-12-0{2 + i % 3}T10:00", "wall_seconds": 60.0, "git_commit": f"{i}" * 40}
             for i in range(5)]
    text = provenance({"machine": machine, "budget": {"name": "reference"}, "cells": cells})
    assert "Produced by 5 runs of `zoo bench --budget reference` from 2026-12-02 to 2026-12-04 (5 cells; each " \
        "cell's `result.json` names its command)," in text
    assert "--models m0" not in text
    # oldest and newest by when the cells were made: m0 and m3 on 12-02, m1 and m4 on 12-03, m2 on 12-04
    assert "cells trained at 5 commits, `0000000` (oldest) to `2222222`, gathered at `fffffff-dirty`" in text
    one_day = provenance({"machine": machine, "budget": {"name": "reference"}, "cells": cells[::3] + cells[1::3]})
    assert "4 runs of `zoo bench --budget reference` from 2026-12-02 to 2026-12-03 (4 cells;" in one_day
    for cell in cells:
        cell["created"] = "2026-12-06T10:00"
    assert "5 runs of `zoo bench --budget reference` on 2026-12-06 (5 cells;" in provenance(
        {"machine": machine, "budget": {"name": "reference"}, "cells": cells})
    few = provenance({"machine": machine, "budget": {"name": "reference"}, "cells": cells[:3]})
    assert "`zoo bench --budget reference --models m2` on 2026-12-06 (1 cell)" in few
    assert "cells trained at git `0000000`, `1111111`, `2222222`" in few


def test_pages_of_continuous_likelihood_models_explain_their_positive_elbo(generated):
    """A positive ELBO surprises wherever it is shown, not only in the index's table; and the Cartoon Set page's
    provenance names the command of its one cell, not the MNIST ones."""
    docs, results = generated["clean"]
    payload = json.loads((results / "results.json").read_text())
    assert {g["dataset"] for g in payload["groups"] if g.get("likelihood") not in ("bernoulli", None)} \
        >= {"cartoon", "fashion_mnist"}  # else this test checks nothing
    for page in ("cartoon", "fashion-mnist"):
        text = (docs / "comparisons" / f"{page}.md").read_text()
        assert "a density can exceed 1: log p(x|z) is positive" in text, page
    assert "a density can exceed 1" not in (docs / "comparisons" / "cvae.md").read_text()
    box = (docs / "comparisons" / "cartoon.md").read_text().split("Budget `standard`")[0]
    assert "--models conv_vae_cartoon" in box and "--models cvae" not in box and "(1 cell)" in box
