"""Hyper-parameter search over registry entries (``zoo tune``), built on keras-tuner.

``tune(entry, ...)`` runs a Hyperband, Bayesian-optimisation or random search over
the entry's ``search_space`` block and writes the trials, the best entry and plots
(see ``zoo.tuning.report``). The heavy modules (TensorFlow, keras-tuner) are
imported on first use.
"""

from zoo.tuning.objectives import OBJECTIVES, check_objective, make_objective
from zoo.tuning.space import SearchParam, parse_search_space
from zoo.tuning.tune import TUNERS, parse_address, tune

__all__ = ["OBJECTIVES", "SearchParam", "TUNERS", "check_objective", "make_objective", "parse_address",
           "parse_search_space", "tune"]
