"""Training hyper-parameters, validated like every other zoo config."""

from __future__ import annotations

import dataclasses

from zoo.config import Config, bounded_field, choice_field


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """How a model is fitted.

    ``precision='auto'`` trains in mixed_float16 when TensorFlow sees a GPU and in
    float32 otherwise; ``strategy='auto'`` mirrors across all local GPUs when there
    is more than one.
    """

    kind = "training"

    epochs: int = bounded_field(30, minimum=1)
    batch_size: int = bounded_field(128, minimum=1)
    learning_rate: float = bounded_field(1e-3, minimum=0.0, exclusive_minimum=True)
    seed: int = bounded_field(0, minimum=0)
    kl_warmup_epochs: int = bounded_field(0, minimum=0, help="epochs over which the rate weight ramps 0 → 1")
    early_stopping_patience: int = bounded_field(0, minimum=0, help="epochs without val ELBO gain (0: off)")
    deterministic: bool = dataclasses.field(default=True, metadata={"help": "TF deterministic ops"})
    strategy: str = choice_field("auto", ("auto", "default", "mirrored", "multi-worker"))
    precision: str = choice_field("auto", ("auto", "float32", "mixed_float16"))
