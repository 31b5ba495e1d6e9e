"""Settings of the evaluation step (``zoo evaluate`` and the end of ``zoo train``)."""

from __future__ import annotations

import dataclasses

from zoo.config import Config, bounded_field


@dataclasses.dataclass(frozen=True)
class EvalConfig(Config):
    """How a trained model is scored and which figures are drawn.

    The defaults follow Burda et al. 2015 (k = 5000 there; 1000 is within a
    fraction of a nat on MNIST and five times cheaper).
    """

    kind = "evaluation"

    iw_samples: int = bounded_field(1000, minimum=1, help="importance samples k of the IWAE bound")
    iw_chunk: int = bounded_field(
        100, minimum=1, help="importance samples processed at once; memory grows with iw_chunk x batch_size"
    )
    # 1000 rows keep the decoder's matrix products near the CPU's peak: with 500 the MLP's
    # k = 1000 IWAE bound took 20 % longer (measured with benchmarks/perf/iwae_eval.py). Conv presets with large
    # feature maps set a smaller value in registry.yaml.
    batch_size: int = bounded_field(1000, minimum=1, help="test images processed at once")
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of every Monte Carlo estimate"})
    active_unit_threshold: float = bounded_field(
        0.01, minimum=0.0, help="a latent dimension is active when Cov_x(E_q[z_d|x]) exceeds this"
    )
    figures: bool = dataclasses.field(default=True, metadata={"help": "write PNG figures next to the metrics"})
    num_samples: int = bounded_field(64, minimum=1, help="images in the prior sample grid")
    # Data sets with ground-truth factors only (sprites, dsprites); sizes of disentanglement_lib's metric configs.
    disentanglement: str = dataclasses.field(default="all", metadata={
        "help": "disentanglement metrics: all, none or a comma list of beta_vae, factor_vae, mig, sap, dci, "
                "modularity"})
    disentanglement_train_points: int = bounded_field(
        10_000, minimum=10, help="points each disentanglement metric fits or estimates on")
    disentanglement_test_points: int = bounded_field(5_000, minimum=10, help="points each metric is scored on")

    def validate(self) -> None:
        from zoo.evaluation.disentanglement.scores import resolve_metric_names

        resolve_metric_names(self.disentanglement)
