"""VQ-VAE's objective: reconstruction through the quantised code, codebook and commitment losses.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning", eq. (3):
loss = −log p(x|z_q(x)) + ‖sg[z_e(x)] − e‖² + β ‖z_e(x) − sg[e]‖², with gradients copied straight
through the quantiser. The rate KL(q ‖ p) of a one-hot posterior against the uniform prior over
K codes is log K per code position, a constant that the loss leaves out and the ELBO keeps.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.errors import ZooError
from zoo.objectives.objective import ELBO_TERMS, Objective, ObjectiveInputs


class VectorQuantization(Objective):
    """Needs a posterior whose extras hold ``encoder_output`` z_e and ``quantized`` z_q (zoo.models.VQVAE)."""

    term_names = ("loss", *ELBO_TERMS, "codebook", "commitment")

    def __init__(self, commitment_cost: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.commitment_cost = float(commitment_cost)

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        extras = inputs.posterior_extras
        if "encoder_output" not in extras or "quantized" not in extras:
            raise ZooError("the vector-quantisation objective needs a model whose posterior reports "
                           "'encoder_output' and 'quantized' (e.g. zoo.models.VQVAE)")
        encoded, quantized = extras["encoder_output"], extras["quantized"]
        codebook = tf.reduce_sum(tf.square(tf.stop_gradient(encoded) - quantized), axis=-1)
        commitment = tf.reduce_sum(tf.square(encoded - tf.stop_gradient(quantized)), axis=-1)
        distortion = inputs.distortion()
        rate = inputs.rate()
        loss = tf.reduce_mean(distortion + codebook + self.commitment_cost * commitment)
        return {"loss": loss, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate,
                "codebook": codebook, "commitment": commitment}
