"""Every registry entry — built-in, plugin or from $ZOO_REGISTRY — passes the shared harness."""

from __future__ import annotations

import pytest

from harness import run_model_test
from zoo.registry import load_registry
from zoo.run_spec import resolve

REGISTRY = load_registry()


@pytest.mark.parametrize("name", REGISTRY.names())
def test_registered_model_conforms(name, tmp_path):
    run_model_test(resolve(REGISTRY.get(name)), tmp_path)
