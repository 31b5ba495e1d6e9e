"""Evaluation of trained models: test-set metrics (ELBO, IWAE bound, active units, ...) and figures."""

from zoo.evaluation.eval_config import EvalConfig
from zoo.evaluation.figures import write_all_figures
from zoo.evaluation.metrics import evaluate, iwae_bound

__all__ = ["EvalConfig", "evaluate", "iwae_bound", "write_all_figures"]
