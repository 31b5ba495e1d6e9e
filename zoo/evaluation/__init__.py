"""Evaluation of trained models: test-set metrics (ELBO, IWAE bound, active units, ...) and figures.

The names below import TensorFlow on first use (PEP 562), so that the TensorFlow-free parts
(``zoo.evaluation.disentanglement``, ``eval_config``, the Fréchet distance) load without it.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"EvalConfig": "zoo.evaluation.eval_config", "write_all_figures": "zoo.evaluation.figures",
         "evaluate": "zoo.evaluation.metrics", "iwae_bound": "zoo.evaluation.metrics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.evaluation' has no attribute {name!r}")


__all__ = ["EvalConfig", "evaluate", "iwae_bound", "write_all_figures"]
