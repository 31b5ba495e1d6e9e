"""IAF-VAE: a diagonal-Gaussian posterior refined by inverse autoregressive flow steps.

Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling 2016, "Improved Variational Inference with
Inverse Autoregressive Flow", NeurIPS 2016 (arXiv:1606.04934), section 4 and Algorithm 1:

    [μ₀, σ₀, h] = encoder(x),   z₀ = μ₀ + σ₀ ⊙ ε,   ε ~ N(0, I)
    for t = 1..T:  [m_t, s_t] = AutoregressiveNN_t(z_{t−1}, h),  σ_t = sigmoid(s_t),
                   z_t = σ_t ⊙ z_{t−1} + (1 − σ_t) ⊙ m_t
    log q(z_T|x) = log N(z₀; μ₀, σ₀²) − Σ_t Σ_i log σ_{t,i}

the numerically stable, gated form of z_t = μ_t + σ_t ⊙ z_{t−1}. Each step is
``tfb.Invert(tfb.MaskedAutoregressiveFlow(...))``: IAF is the inverse of a MAF, so sampling (the forward
direction) is one network pass per step, as TFP documents for IAF. Steps see the encoder's context h
(``context_dim`` numbers; 0 for none) and the order of z is reversed between steps. s_t carries a fixed
offset ``gate_bias`` so that σ_t starts near 1 and each step starts close to the identity (the paper
makes s_t "sufficiently positive, such as close to +1 or +2" before optimisation).

The networks are MADEs (Germain et al. 2015) written as Keras 3 layers: TFP's
``tfb.AutoregressiveNetwork`` is a tf_keras (Keras 2) layer, whose weights a Keras 3 model neither
trains nor saves. The rate is Monte Carlo, log q(z_T|x) − log p(z_T) at the sampled code, the flow's
log-determinant taken from TFP's bijector cache (no autoregressive inversion). Codes for
reconstructions and latent statistics are the flow's image of μ₀ (q has no closed-form mean).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.errors import ZooError
from zoo.models.vae import MIN_POSTERIOR_SCALE, VAE
from zoo.models.vae_config import VAEConfig

tfd, tfb = tfp.distributions, tfp.bijectors


@dataclasses.dataclass(frozen=True)
class IAFVAEConfig(VAEConfig):
    flow_steps: int = bounded_field(2, minimum=1, help="T: inverse autoregressive flow steps")
    flow_hidden_units: tuple[int, ...] = bounded_field((320, 320), minimum=1, help="hidden widths of each step's MADE")
    context_dim: int = bounded_field(32, minimum=0, help="size of the encoder context h every step sees (0: none)")
    gate_bias: float = dataclasses.field(default=1.0, metadata={"help": "offset of s_t, so σ_t = sigmoid(s_t + b)"})
    analytic_kl: bool = False  # q(z|x) is a flow: the rate is log q − log p at the code

    def validate(self) -> None:
        super().validate()
        if self.latent_dim < 2:
            raise ZooError(f"model field 'latent_dim': an autoregressive flow needs at least 2 dimensions, "
                           f"got {self.latent_dim}")
        if not self.flow_hidden_units:
            raise ZooError("model field 'flow_hidden_units': give at least one hidden layer")


class MaskedAutoregressiveNetwork(keras.layers.Layer):
    """MADE: maps z [..., D] (and a context [batch, C]) to (m, s), each [..., D], output i depending on z_{<i} only.

    Germain, Gregor, Murray & Larochelle 2015. Input i has degree i (1..D); hidden units get degrees
    cycling over 0..D−1 (1..D−1 without a context, degree 0 seeing only the context); a hidden unit sees
    the units of degree ≤ its own below it, output i the hidden units of degree < i.
    """

    def __init__(self, event_size: int, hidden_units, context_size: int = 0, activation="elu", **kwargs):
        super().__init__(**kwargs)
        self.event_size, self.context_size = int(event_size), int(context_size)
        self.activation = keras.activations.get(activation)
        lowest = 0 if self.context_size else 1
        degrees = np.arange(1, self.event_size + 1)
        self.masks, self.kernels, self.biases = [], [], []
        for index, units in enumerate(hidden_units):
            hidden = lowest + np.arange(units) % (self.event_size - lowest)
            self._add_masked(f"hidden_{index}", (hidden[None, :] >= degrees[:, None]), units)
            degrees = hidden
        outputs = np.tile(np.arange(1, self.event_size + 1), 2)  # [m | s]
        self._add_masked("output", outputs[None, :] > degrees[:, None], 2 * self.event_size)
        self.context_kernel = (self.add_weight(name="context_kernel", shape=(self.context_size, hidden_units[0]),
                                               initializer="glorot_uniform")
                               if self.context_size else None)
        self.built = True  # every weight exists now

    def _add_masked(self, name, mask, units):
        self.masks.append(mask.astype("float32"))
        self.kernels.append(self.add_weight(name=f"{name}_kernel", shape=mask.shape, initializer="glorot_uniform"))
        self.biases.append(self.add_weight(name=f"{name}_bias", shape=(units,), initializer="zeros"))

    def call(self, z, context=None):
        features = z
        for index, (mask, kernel, bias) in enumerate(zip(self.masks, self.kernels, self.biases)):
            features = tf.matmul(features, kernel * mask) + bias
            if index == 0 and self.context_kernel is not None:
                features = features + tf.matmul(context, self.context_kernel)  # [batch, H] broadcasts over samples
            if index < len(self.masks) - 1:
                features = self.activation(features)
        m, s = tf.split(features, 2, axis=-1)
        return m, s


def iaf_step(network: MaskedAutoregressiveNetwork, context, gate_bias: float) -> tfb.Bijector:
    """One IAF step z ↦ σ ⊙ z + (1 − σ) ⊙ m, [m, s] = network(z, h), σ = sigmoid(s + gate_bias)."""

    def bijector_fn(y, **kwargs):
        m, s = network(y, context)
        gate = s + gate_bias
        # MAF's inverse, our forward, applies this chain's forward: scale by σ, then shift by (1 − σ) m.
        return tfb.Invert(tfb.Chain([tfb.Shift(tf.sigmoid(-gate) * m), tfb.Scale(log_scale=tf.math.log_sigmoid(gate))]))

    return tfb.Invert(tfb.MaskedAutoregressiveFlow(bijector_fn=bijector_fn))


@keras.saving.register_keras_serializable(package="zoo")
class IAFVAE(VAE):
    """q(z|x): N(μ₀, σ₀²) pushed through T IAF steps conditioned on h; p(z) = N(0, I); Monte Carlo rate."""

    config_class = IAFVAEConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        # Layers of the model (created after super().__init__), so they are trained, saved and restored.
        self.flow_networks = [
            MaskedAutoregressiveNetwork(config.latent_dim, config.flow_hidden_units, config.context_dim,
                                        dtype="float32", name=f"iaf_step_{t}")
            for t in range(config.flow_steps)]

    def make_posterior_head(self):
        return keras.layers.Dense(2 * self.config.latent_dim + self.config.context_dim, dtype="float32",
                                  name="posterior_head")

    def flow(self, context) -> tfb.Bijector:
        """The T steps, z's order reversed between them, as one bijector z₀ ↦ z_T."""
        reverse = tfb.Permute(permutation=list(range(self.config.latent_dim))[::-1])
        ordered = []
        for t, network in enumerate(self.flow_networks):
            if t:
                ordered.append(reverse)
            ordered.append(iaf_step(network, context, self.config.gate_bias))
        return tfb.Chain(ordered[::-1])  # Chain applies its last bijector first

    def posterior(self, images, labels=None, training=False) -> tfd.Distribution:
        features = self.condition(self.encoder_net(images, training=training), labels)
        d = self.config.latent_dim
        loc, raw_scale, context = tf.split(self.posterior_head(features), [d, d, self.config.context_dim], axis=-1)
        base = tfd.Independent(tfd.Normal(loc, tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE), 1)
        return tfd.TransformedDistribution(base, self.flow(context if self.config.context_dim else None))

    def _code(self, images, labels, training=False):
        posterior = self.posterior(images, labels, training=training)
        return posterior.bijector.forward(posterior.distribution.mean())

    def encode(self, images, labels=None) -> tf.Tensor:
        """The flow's image of the base mean μ₀."""
        return self._code(images, labels)

    def call(self, inputs, training=False):
        images, labels = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        return self.likelihood(self._code(images, labels, training=training), labels, training=training).mean()
