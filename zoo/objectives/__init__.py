"""Objectives: from one batch's distributions to named loss terms (zoo.objectives.objective)."""

from zoo.objectives.adversarial_tc import AdversarialTC, permute_dims
from zoo.objectives.elbo import ELBO
from zoo.objectives.importance_weighted import ImportanceWeightedBound
from zoo.objectives.objective import (ELBO_TERMS, Objective, ObjectiveInputs, OptimizerGroup, compute_terms,
                                      kl_warmup_weight)
from zoo.objectives.semi_supervised import SemiSupervisedELBO
from zoo.objectives.total_correlation import BetaTC, total_correlation
from zoo.objectives.vector_quantization import VectorQuantization

__all__ = ["AdversarialTC", "BetaTC", "ELBO", "ELBO_TERMS", "ImportanceWeightedBound", "Objective",
           "ObjectiveInputs", "OptimizerGroup", "SemiSupervisedELBO", "VectorQuantization", "compute_terms",
           "kl_warmup_weight", "permute_dims", "total_correlation"]
