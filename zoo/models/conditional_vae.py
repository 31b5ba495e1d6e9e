"""Conditional VAE: encoder and decoder both see the one-hot class label.

Sohn, Lee & Yan 2015, "Learning Structured Output Representation using Deep
Conditional Generative Models"; here with the label-independent prior N(0, I) of
the MNIST notebook, so sampling a class is decoding prior codes with its label.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.errors import ZooError
from zoo.models.vae import VAE


@keras.saving.register_keras_serializable(package="zoo")
class ConditionalVAE(VAE):
    """q(z|x, y) and p(x|z, y) with y one-hot; p(z) = N(0, I)."""

    def condition(self, features, labels):
        if labels is None:
            raise ValueError("ConditionalVAE needs class labels")
        one_hot = tf.one_hot(tf.cast(labels, tf.int32), self.config.num_classes, dtype=features.dtype)
        return tf.concat([features, one_hot], axis=-1)

    def _build_eagerly(self):
        if self.config.num_classes < 2:
            raise ZooError(
                "cvae needs a labelled dataset (num_classes >= 2); use mnist or fashion_mnist, or an unconditional model"
            )
        super()._build_eagerly()
