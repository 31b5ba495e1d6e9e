"""InfoVAE (MMD-VAE): the ELBO with the rate reweighted and an MMD between q(z) and p(z) added.

Zhao, Song & Ermon 2019, "InfoVAE: Balancing Learning and Inference in Variational Autoencoders"
(arXiv:1706.02262), the tractable InfoVAE objective (eq. (6) in v3), with the divergence D(q(z) ‖ p(z))
replaced by MMD as their paper proposes:

    loss = distortion + (1 − α) · rate + (α + λ − 1) · MMD²(q(z), p(z))

as pythae's INFOVAE_MMD computes it (src/pythae/models/info_vae/info_vae_model.py, ``loss_function``):
MMD² is the U-statistic between the codes z ~ q(z|x) and as many prior samples with the multi-scale
IMQ kernel, the one function of zoo.objectives.wae_mmd. α = 0, λ = 1 is the ELBO. The KL warm-up weight
multiplies the rate term only. The reconstruction term is the distortion −log p(x|z) (Bernoulli, nats).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from zoo.objectives.elbo import ELBO
from zoo.objectives.objective import ELBO_TERMS, ObjectiveInputs
from zoo.objectives.wae_mmd import PYTHAE_SCALES, batch_mmd


class InfoMMD(ELBO):
    """distortion + (1 − α) · rate + (α + λ − 1) · MMD²; logs ``mmd``."""

    term_names = ("loss", *ELBO_TERMS, "mmd")

    def __init__(self, alpha: float = 0.0, lambda_: float = 1e-3, bandwidth: float = 1.0,
                 scales: Sequence[float] = PYTHAE_SCALES, **kwargs):
        super().__init__(beta=1.0 - float(alpha), **kwargs)
        self.alpha, self.lambda_ = float(alpha), float(lambda_)
        self.bandwidth, self.scales = float(bandwidth), tuple(map(float, scales))

    @property
    def mmd_weight(self) -> float:
        return self.alpha + self.lambda_ - 1.0

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        terms = super().terms(inputs)
        value = batch_mmd(inputs, self.bandwidth, self.scales)
        terms["loss"] = terms["loss"] + self.mmd_weight * value
        terms["mmd"] = value
        return terms
