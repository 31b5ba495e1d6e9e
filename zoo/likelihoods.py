"""Observation models p(x|z): decoder outputs → a ``tfd`` distribution over images.

Which likelihood a run uses decides what its ELBO means, so compare ELBO numbers
only between runs with the same likelihood and binarisation:

- ``bernoulli``: binary pixels (dynamically or statically binarised MNIST). The
  ELBO is a bound on log p(x) in nats for the binary image; this is the standard
  setting of the VAE/IWAE literature.
- ``continuous_bernoulli``: intensities in [0, 1] (Loaiza-Ganem & Cunningham 2019),
  a proper density on the unit interval, so its log-likelihood can be positive.
- ``gaussian``: intensities in [0, 1] with a per-pixel mean (sigmoid of the decoder
  output) and one learned scale per channel, floored at ``min_scale``; a density on
  the real line, comparable only with other Gaussian runs.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

IMAGE_EVENT_DIMS = 3  # height, width, channels


class LogitBernoulli(tfd.Bernoulli):
    """``tfd.Bernoulli`` whose log-density is one fused cross-entropy op.

    TFP's generic ``log_prob`` takes two softplus and two ``multiply_no_nan`` passes
    over every pixel (and as many in the gradient), which shows in an MLP VAE's
    training step (docs/performance.md). For 0/1 pixels and finite logits both
    give the same value.
    """

    def _log_prob(self, event):
        logits = self._logits_parameter_no_checks()
        event = tf.cast(event, logits.dtype)
        if event.shape.rank != logits.shape.rank:  # images [batch, ...] against k codes' logits [k, batch, ...]
            event = tf.broadcast_to(event, tf.shape(logits))
        return -tf.nn.sigmoid_cross_entropy_with_logits(labels=event, logits=logits)


class Likelihood(keras.layers.Layer):
    """Base of the observation models: decoder outputs → a distribution with 3 event dimensions (H, W, C)."""

    is_binary = False  # whether it models binary pixels (and so wants binarised data)
    params_per_channel = 1  # decoder outputs per pixel channel

    @classmethod
    def from_channels(cls, channels: int, **kwargs):
        return cls(**kwargs)


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels parameterised by logits."""

    is_binary = True

    def call(self, logits):
        return tfd.Independent(LogitBernoulli(logits=logits, dtype=tf.float32), IMAGE_EVENT_DIMS)


class ContinuousBernoulliLikelihood(Likelihood):
    """Independent continuous Bernoulli pixels parameterised by logits."""

    def call(self, logits):
        return tfd.Independent(tfd.ContinuousBernoulli(logits=logits), IMAGE_EVENT_DIMS)


class GaussianLikelihood(Likelihood):
    """Independent Gaussian pixels: sigmoid mean, one learned scale per channel."""

    @classmethod
    def from_channels(cls, channels: int, **kwargs):
        return cls(channels, **kwargs)

    def __init__(self, channels: int, min_scale: float = 1e-2, **kwargs):
        super().__init__(**kwargs)
        self.min_scale = min_scale
        # softplus(-2) + min_scale ≈ 0.14: a sensible start for [0, 1] intensities.
        self.raw_scale = self.add_weight(
            name="raw_scale", shape=(channels,), initializer=keras.initializers.Constant(-2.0), dtype="float32"
        )

    def call(self, params):
        scale = tf.nn.softplus(self.raw_scale) + self.min_scale
        return tfd.Independent(tfd.Normal(loc=tf.sigmoid(params), scale=scale), IMAGE_EVENT_DIMS)


# Name → likelihood layer class; ``cls.from_channels(channels, **layer_kwargs)`` builds one. A new
# observation model is one class plus ``register_likelihood(name, cls)``.
LIKELIHOODS: dict[str, type] = {
    "bernoulli": BernoulliLikelihood,
    "continuous_bernoulli": ContinuousBernoulliLikelihood,
    "gaussian": GaussianLikelihood,
}


def register_likelihood(name: str, cls: type) -> None:
    """Makes ``likelihood: name`` build ``cls``; a name is registered once."""
    if LIKELIHOODS.get(name, cls) is not cls:
        raise ValueError(f"likelihood '{name}' is already registered")
    LIKELIHOODS[name] = cls


def make_likelihood(name: str, channels: int) -> keras.layers.Layer:
    """Builds the likelihood layer called ``name`` for images with ``channels`` channels."""
    # float32 even under mixed precision: log-densities of 784+ pixels overflow float16.
    return LIKELIHOODS[name].from_channels(channels, dtype="float32", name="likelihood")


def is_binary(name: str) -> bool:
    """Whether the likelihood ``name`` models binary pixels (and so wants binarised data)."""
    return bool(getattr(LIKELIHOODS.get(name), "is_binary", False))
