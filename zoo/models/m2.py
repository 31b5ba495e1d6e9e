"""M2: the semi-supervised VAE whose class label is a latent variable when it is not observed.

Kingma, Rezende, Mohamed & Welling 2014, "Semi-supervised Learning with Deep Generative Models" (NeurIPS),
section 2.2 and 3.1.2: p(y) = Cat(1/K), p(z) = N(0, I), p(x|y, z) a decoder of [z, one-hot y];
q(z|x, y) a diagonal Gaussian and q(y|x) = Cat(π(x)), a classifier network that is trained on the labelled
images' cross-entropy and, through the unlabelled images' bound, on how well each class explains an image
(``zoo.objectives.SemiSupervisedELBO``). Which training images keep their label is ``DataConfig.labels``
(``zoo train m2 --labels 100``); the test classification error of argmax q(y|x) is the paper's Table 1 number
(11.97 % ± 1.71 with 100 MNIST labels).

Differences from the paper: y enters q(z|x, y) after the encoder trunk (the zoo's conditional family, as in
``cvae``), not at its input, and the scale of q depends on y too; hidden layers are ReLU, not softplus.
Samples of class y decode prior codes with that label, as for ``cvae``.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.errors import ZooError
from zoo.models.conditional_vae import ConditionalVAE
from zoo.models.vae import MIN_POSTERIOR_SCALE
from zoo.models.vae_config import VAEConfig
from zoo.objectives import SemiSupervisedELBO

tfd = tfp.distributions


@dataclasses.dataclass(frozen=True)
class M2Config(VAEConfig):
    alpha: float = bounded_field(
        55.0, minimum=0.0, help="weight of a labelled image's −log q(y|x) next to its ELBO; the paper's "
        "0.1·N / N_labelled (55 for 100 labels of mnist's 55 000 training images)")
    classifier_hidden_units: tuple[int, ...] = bounded_field(
        (500,), minimum=1, help="hidden widths of the classifier q(y|x), input side first")


@keras.saving.register_keras_serializable(package="zoo")
class M2(ConditionalVAE):
    """q(y|x) a classifier, q(z|x, y) and p(x|y, z) with y one-hot, p(z) = N(0, I); trained semi-supervised."""

    config_class = M2Config
    # Evaluation reports the test classification error of ``label_posterior``.
    is_classifier = True

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        classes = self.config.num_classes
        if classes < 2:
            raise ZooError(f"{type(self).__name__} needs a labelled dataset (num_classes >= 2); use mnist or "
                           "fashion_mnist")
        self.classifier_net = [keras.layers.Dense(units, activation="relu", name=f"classifier_hidden_{index}")
                               for index, units in enumerate(self.config.classifier_hidden_units)]
        self.classifier_net.append(keras.layers.Dense(classes, dtype="float32", name="classifier_head"))
        # Built now: the eager build pass runs posterior and likelihood only, and checkpoints must find these weights.
        width = math.prod(self.config.image_shape)
        for layer in self.classifier_net:
            layer.build((None, width))
            width = layer.units

    def make_objective(self):
        return SemiSupervisedELBO(self.config.alpha, name="objective")

    def class_logits(self, images, training=False) -> tf.Tensor:
        """The logits of q(y|x), shape [batch, classes]."""
        features = tf.reshape(images, [tf.shape(images)[0], -1])
        for layer in self.classifier_net:
            features = layer(features, training=training)
        return features

    def label_posterior(self, images, training=False) -> tfd.Distribution:
        """q(y|x): a categorical distribution over the classes."""
        return tfd.Categorical(logits=self.class_logits(images, training=training))

    def posterior_and_extras(self, images, labels=None, training=False):
        return self.posterior(images, labels, training=training), {
            "class_logits": self.class_logits(images, training=training)}

    def per_class_posterior(self, images, training=False) -> tfd.Distribution:
        """q(z|x, y) for every class y at once, batch shape [classes, batch]: ``posterior`` with the encoder trunk
        run once, not once per class."""
        features = self.encoder_net(images, training=training)
        classes = self.config.num_classes
        every_class = tf.broadcast_to(tf.range(classes)[:, None], [classes, tf.shape(features)[0]])
        tiled = tf.broadcast_to(features[None], tf.concat([[classes], tf.shape(features)], axis=0))
        loc, raw_scale = tf.split(self.posterior_head(self.condition(tiled, every_class)), 2, axis=-1)
        scale = tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)
