"""The semi-supervised objective of M2: labelled images by their ELBO, unlabelled ones with the class summed out.

Kingma, Rezende, Mohamed & Welling 2014, "Semi-supervised Learning with Deep Generative Models" (NeurIPS),
section 3.1.2, eqs. (6)-(9), with the labels y of only some images known:

- labelled (x, y):  L(x, y) = −ELBO(x, y) = E_q(z|x,y)[−log p(x|y,z)] + KL(q(z|x,y) ‖ p(z))
- unlabelled x:     U(x) = Σ_y q(y|x) L(x, y) − H(q(y|x)), the class enumerated
- J^α = Σ_labelled [L(x, y) + α · (−log q(y|x))] + Σ_unlabelled U(x)

The loss is the batch mean of J^α's per-image terms. α weighs each labelled image's cross-entropy, so the
paper's α = 0.1·N on an expectation over the labelled set is α = 0.1·N / N_labelled here when batches are
drawn uniformly. With ``DataConfig.labelled_per_batch`` = k, every batch of B images also carries k labelled
ones, and the cross-entropy's weight in a batch's mean is α·k/(B + k) at every step instead of
α·N_labelled/N on average. The paper's constant
log p(y) = −log K is left out of L, so that a batch of labelled images with α = 0 is exactly the ELBO objective
of the conditional VAE. The KL warm-up weight multiplies both KL terms, that of z and, for unlabelled images,
KL(q(y|x) ‖ p(y)) = log K − H(q(y|x)). Labels −1 mark unlabelled images (``DataConfig.labels``).
"""

from __future__ import annotations

import math

import tensorflow as tf

from zoo.objectives.objective import ELBO_TERMS, Objective, ObjectiveInputs


def enumeration_seed(seed: tf.Tensor) -> tf.Tensor:
    """The stateless seed of the codes drawn for every class: one the batch's own codes do not use."""
    return tf.random.experimental.stateless_fold_in(seed, 1)


def _labelled_mean(values: tf.Tensor, labelled: tf.Tensor) -> tf.Tensor:
    """Mean of ``values`` over the labelled images; 0 for a batch without one."""
    count = tf.reduce_sum(tf.cast(labelled, values.dtype))
    return tf.reduce_sum(tf.where(labelled, values, 0.0)) / tf.maximum(count, 1.0)


class SemiSupervisedELBO(Objective):
    """loss = mean over the batch of L(x, y) + α·(−log q(y|x)) (labelled) or U(x) (unlabelled).

    Needs a model with ``num_classes`` in its config, ``per_class_posterior(images)`` (q(z|x,y) for every y,
    batch shape [classes, batch]) and the classifier's logits in ``posterior_extras["class_logits"]``.

    Logged: ``labelled_loss`` and ``unlabelled_loss``, the two parts' shares of the loss (they sum to it);
    ``classification_loss`` and ``accuracy``, −log q(y|x) and argmax q(y|x) = y averaged over the batch's
    labelled images (0 in a training batch without one). ``elbo``, ``distortion`` and ``rate`` are ELBO(x, y)'s
    for labelled images and, for unlabelled ones, those of the bound with y latent too: q(y|x)-weighted, the rate
    adding KL(q(y|x) ‖ p(y)) = log K − H(q(y|x)).
    """

    term_names = ("loss", *ELBO_TERMS, "labelled_loss", "unlabelled_loss", "classification_loss", "accuracy")

    def __init__(self, alpha: float, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        labels = tf.cast(inputs.labels, tf.int32)
        labelled = labels >= 0
        known = tf.maximum(labels, 0)  # a valid index for every image; only labelled ones are read
        weight = inputs.kl_weight

        # Labelled images: the batch's own codes, drawn from q(z|x,y) at their label.
        distortion, rate = inputs.distortion(), inputs.rate()
        labelled_terms = distortion + weight * rate
        logits = inputs.posterior_extras["class_logits"]
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=known, logits=logits)

        # Unlabelled images: L(x, y) for every class y, weighted by q(y|x), minus the entropy of q(y|x).
        model, classes = inputs.model, inputs.config.num_classes
        every_class = tf.broadcast_to(tf.range(classes)[:, None], [classes, tf.shape(labels)[0]])
        posterior = model.per_class_posterior(inputs.images, training=inputs.training)
        codes = posterior.sample(seed=enumeration_seed(inputs.seed))
        class_distortion = -model.likelihood(codes, every_class, training=inputs.training).log_prob(inputs.images)
        class_rate = model.rate(posterior, codes, every_class)
        log_probabilities = tf.nn.log_softmax(logits)  # [batch, classes]
        probabilities = tf.exp(log_probabilities)
        entropy = -tf.reduce_sum(probabilities * log_probabilities, axis=-1)
        expected_distortion = tf.reduce_sum(probabilities * tf.transpose(class_distortion), axis=-1)
        expected_rate = tf.reduce_sum(probabilities * tf.transpose(class_rate), axis=-1)
        unlabelled_terms = expected_distortion + weight * (expected_rate - entropy)

        batch = tf.cast(tf.shape(labels)[0], tf.float32)
        labelled_loss = tf.reduce_sum(tf.where(labelled, labelled_terms + self.alpha * cross_entropy, 0.0)) / batch
        unlabelled_loss = tf.reduce_sum(tf.where(labelled, 0.0, unlabelled_terms)) / batch
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
        distortion = tf.where(labelled, distortion, expected_distortion)
        rate = tf.where(labelled, rate, expected_rate + math.log(classes) - entropy)
        return {"loss": labelled_loss + unlabelled_loss, "elbo": -(distortion + rate), "distortion": distortion,
                "rate": rate, "labelled_loss": labelled_loss, "unlabelled_loss": unlabelled_loss,
                "classification_loss": _labelled_mean(cross_entropy, labelled),
                "accuracy": _labelled_mean(correct, labelled)}
