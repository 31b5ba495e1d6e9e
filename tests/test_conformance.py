"""Every registry entry — built-in, plugin or from $ZOO_REGISTRY — passes the shared harness."""

from __future__ import annotations

import pytest

from harness import Reloader, run_model_test
from zoo.registry import load_registry
from zoo.run_spec import resolve

REGISTRY = load_registry()


@pytest.fixture(scope="module")
def reloader():
    process = Reloader()
    yield process
    process.close()


@pytest.mark.parametrize("name", REGISTRY.names())
def test_registered_model_conforms(name, tmp_path, reloader):
    run_model_test(resolve(REGISTRY.get(name)), tmp_path, reload=reloader)
