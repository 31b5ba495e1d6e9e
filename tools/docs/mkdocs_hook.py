"""MkDocs hook: regenerate the data-driven pages before every build (``hooks:`` in mkdocs.yml).

``ZOO_DOCS_RESULTS`` points the comparison pages at another results folder (default: the
committed ``benchmarks/results/standard``); ``ZOO_DOCS_GENERATE=0`` builds the pages as they are
on disk (the docs tests do, so that a build never rewrites the working tree).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import docs_pages  # beside this file: MkDocs puts the hook's folder on sys.path while it loads it

log = logging.getLogger("mkdocs.plugins.zoo")


def on_pre_build(config, **kwargs) -> None:
    if os.environ.get("ZOO_DOCS_GENERATE", "1") == "0":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = Path(os.environ.get("ZOO_DOCS_RESULTS") or docs_pages.DEFAULT_RESULTS)
    docs_pages.generate(Path(config["docs_dir"]), results, log=log.info)


# Pages other people own that may not exist yet in a given checkout: dropped from the nav (with a
# log line) instead of failing the strict build. Any other missing page still fails it.
OPTIONAL_PAGES = {"reliability.md", "performance.md"}


def on_config(config, **kwargs):
    docs = Path(config["docs_dir"])

    def keep(item) -> bool:
        if isinstance(item, dict):
            for key, value in list(item.items()):
                if isinstance(value, list):
                    value[:] = [child for child in value if keep(child)]
                elif isinstance(value, str) and value in OPTIONAL_PAGES and not (docs / value).exists():
                    log.info("zoo: %s is not there yet; left out of the nav", value)
                    return False
            return True
        return not (isinstance(item, str) and item in OPTIONAL_PAGES and not (docs / item).exists())

    if config.get("nav"):
        config["nav"][:] = [item for item in config["nav"] if keep(item)]
        for item in config["nav"]:
            # `Model catalogue: models.md` in mkdocs.yml becomes the overview plus every card, by family.
            if isinstance(item, dict) and "Model catalogue" in item:
                item["Model catalogue"] = docs_pages.catalogue_nav()
    return config


def _nav_pages(items) -> set[str]:
    pages: set[str] = set()
    for item in items or []:
        if isinstance(item, str):
            pages.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                pages |= _nav_pages(value) if isinstance(value, list) else ({value} if isinstance(value, str) else set())
    return pages


def on_files(files, config, **kwargs):
    """Pages someone added to docs/ without a nav entry go to a "More" section (with a log line)
    rather than failing the strict build; add them to the nav in mkdocs.yml to place them."""
    if not config.get("nav"):
        return files
    listed = _nav_pages(config["nav"])
    extra = sorted(f.src_uri for f in files.documentation_pages() if f.src_uri not in listed)
    if extra:
        log.info("zoo: not in the nav of mkdocs.yml, listed under More: %s", ", ".join(extra))
        config["nav"].append({"More": extra})
    return files
