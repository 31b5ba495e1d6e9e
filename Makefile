# Set-up and the two everyday commands. `make train` and `make test` both create
# .venv and install the project into it first, so each works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The byte-exact dataset mirror beside the repository, when there is one; otherwise
# zoo downloads (and checksums) the datasets into ~/.zoo/datasets.
ZOO_DATA_DIR ?= $(shell [ -d ../shared/datasets ] && cd ../shared/datasets && pwd)
export ZOO_DATA_DIR
# Slow end-to-end tests (real training on MNIST) run in their own bounded step: 289 s on the 2 cores of
# 2026-12-06, 866 s on the slower 2 cores of 2026-12-07, hence the margin.
SLOW_TIMEOUT ?= 1200

.PHONY: install train test test-fast test-slow docs docs-pages docs-serve perf-chart screenshots chromium clean

$(BIN)/zoo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/zoo

train: install
	$(BIN)/zoo train cvae --dataset mnist

test: test-fast test-slow

# Two workers, a test file each (module fixtures such as the built docs site stay per file): TensorFlow's
# tracing is single-threaded, so two files at once use both cores (measured: 611 s against 857 s in one).
test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The docs site, built strictly into site/ (the model, CLI and comparison pages are regenerated first);
# docs-pages only regenerates those pages, docs-serve previews the site on http://127.0.0.1:8000.
DOCS_TOOL := NO_MKDOCS_2_WARNING=1 $(BIN)/python tools/docs/docs_pages.py

docs: install
	$(DOCS_TOOL) build

docs-pages: install
	$(DOCS_TOOL) generate

docs-serve: install
	$(DOCS_TOOL) serve

# The charts of docs/performance.md (docs/assets/performance/*.png), redrawn from benchmarks/results/perf/.
perf-chart: install
	$(BIN)/python tools/docs/perf_chart.py

# Full-page screenshots of the docs site of each commit in REFS (default HEAD), at 1280 and 390 px:
# build/screenshots/<short-sha>/ (not committed), e.g. make screenshots REFS="abc123 HEAD" (needs chromium).
screenshots: install
	$(BIN)/python tools/docs/screenshots.py $(foreach ref,$(REFS),--ref $(ref))

# Debian's chromium for the docs browser test (tests/test_docs_site.py); CI runs this as root.
chromium:
	command -v chromium >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q chromium; }

# pytest exits 5 when no test carries the marker; that is not a failure.
test-slow: install
	timeout $(SLOW_TIMEOUT) $(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
