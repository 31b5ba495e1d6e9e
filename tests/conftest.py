"""Shared fixtures: the local dataset mirror and quiet, CPU-only TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import zoo  # noqa: E402,F401  (its TensorFlow CPU defaults must be set before any test imports TensorFlow)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_data_dir() -> Path:
    # CI and developers keep the byte-exact mirror beside the repository.
    configured = os.environ.get("ZOO_TEST_DATA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    path = _shared_data_dir()
    if not (path / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"dataset mirror not found at {path}; set ZOO_TEST_DATA_DIR")
    return path
