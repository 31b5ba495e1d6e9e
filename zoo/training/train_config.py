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
    learning_rate_schedule: str = choice_field(
        "constant", ("constant", "cosine"),
        help="cosine: decays the rate over all epochs to learning_rate × final_learning_rate_fraction")
    final_learning_rate_fraction: float = bounded_field(0.1, minimum=0.0, maximum=1.0,
                                                        help="end of the cosine schedule, as a fraction")
    seed: int = bounded_field(0, minimum=0)
    kl_warmup_epochs: int = bounded_field(0, minimum=0, help="epochs over which the rate weight ramps 0 → 1")
    early_stopping_patience: int = bounded_field(0, minimum=0, help="epochs without val ELBO gain (0: off)")
    deterministic: bool = dataclasses.field(default=True, metadata={"help": "TF deterministic ops"})
    strategy: str = choice_field("auto", ("auto", "default", "mirrored", "multi-worker"))
    precision: str = choice_field("auto", ("auto", "float32", "mixed_float16"))
    steps_per_execution: int = bounded_field(
        16, minimum=1, help="training steps per call into the compiled graph (the largest divisor of the steps "
                            "per epoch up to this); callbacks and progress run between calls")
    jit_compile: str = choice_field(
        "auto", ("auto", "on", "off"),
        help="XLA-compile the training step; auto: on for one CPU replica (XLA on CPU is deterministic), except "
             "for conv nets where the plain step with oneDNN is faster and reproducible too (TF ops one at a "
             "time, or determinism off); else as Keras decides (off under TF deterministic ops)")
    # Divergence: in the first epochs of every registry preset a step's |loss| stays below 40x the median of the
    # steps before it (vq_vae's codebook transient; conv_vae_cartoon 4.1x, the others below 1.4x) and below 60
    # nats per data dimension (docs/reliability.md); a blown-up run passes both by orders of magnitude.
    divergence_factor: float = bounded_field(
        1000.0, minimum=0.0, help="stop when a step's loss exceeds this many times the median |loss| of the "
                                 "previous 64 steps (0: off)", guard=True)
    divergence_nats_per_dim: float = bounded_field(
        1e4, minimum=0.0, help="stop when a step's (or the validation) loss, distortion or rate per image "
                               "exceeds this many nats per data dimension (0: off)", guard=True)
    memory_limit_mb: int = bounded_field(
        0, minimum=0, help="memory the process may use, for the estimate checked before training and "
                           "evaluation (0: what the machine has available)", guard=True)
