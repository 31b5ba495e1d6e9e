"""Batch normalisation whose training pass runs TensorFlow's fused kernel (``BatchNormalization``).

Keras 3 normalises a batch in separate ops (a mean, a variance, then the affine map), each one a pass over the
activations, and the backward pass has as many again. ``tf.nn.fused_batch_norm`` does the forward pass in
one kernel and the backward pass in one more (oneDNN's on a CPU, cuDNN's on a GPU). In the conv VAE the
normalisation of the feature maps is memory-bound work, so the fused kernel makes the whole plain training step
faster: 1.26x on 2 CPU cores (benchmarks/results/perf/batch_norm.md).

Under XLA the layer takes Keras's own ops, which XLA fuses itself and runs faster than the fused kernel's
lowering. ``zoo.training.trainer.configure_fit`` sets ``fused_kernel`` to match the step it compiles: the plain
step, which conv nets get from ``zoo train`` and ``zoo tune`` on a GPU or a CPU; XLA, hence Keras's ops, for a
deterministic conv net whose TF runtime started before zoo could run its ops one at a time (a notebook).
Inference and every case the fused kernel does not cover (masks, renormalisation, synchronised statistics, a
missing scale or offset, an axis other than the last of a 4-D input) also run Keras's ops. Either
way the layer keeps Keras's semantics: moving statistics of the biased batch variance, float32 arithmetic for
float16 inputs, and the same weights, so checkpoints move between the two.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with a fused training kernel for NHWC feature maps.

    It keeps Keras's class name because Keras saves a layer's weights under a path made of its class name: weights
    and checkpoints saved with ``keras.layers.BatchNormalization`` load into it, and back.

    Args:
        **kwargs: those of ``keras.layers.BatchNormalization``.

    Example:
        >>> layer = BatchNormalization()
        >>> layer(tf.ones((2, 4, 4, 3)), training=True).shape
        TensorShape([2, 4, 4, 3])
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fused_kernel = True

    def _fusable(self, inputs, mask) -> bool:
        return (self.fused_kernel and mask is None and not self.renorm and not self.synchronized
                and self.scale and self.center and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and keras.backend.backend() == "tensorflow")

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, "float32")
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32"), epsilon=self.epsilon,
            data_format="NHWC", is_training=True)
        # The kernel returns the unbiased (n − 1) batch variance; Keras keeps moving averages of the biased one.
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), "float32")
        variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)
