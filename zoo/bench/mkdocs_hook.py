"""MkDocs hook: regenerate the data-driven pages before every build (``hooks:`` in mkdocs.yml).

``ZOO_DOCS_RESULTS`` points the comparison pages at another results folder (default: the
committed ``benchmarks/results/standard``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("mkdocs.plugins.zoo")


def on_pre_build(config, **kwargs) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from zoo.bench import docs_pages

    results = Path(os.environ.get("ZOO_DOCS_RESULTS") or docs_pages.DEFAULT_RESULTS)
    docs_pages.generate(Path(config["docs_dir"]), results, log=log.info)
