"""Convolutional encoder trunk and decoder of the reference conv VAE.

Each block is Conv2D (or Conv2DTranspose) → BatchNorm → LeakyReLU(0.2), as in the
Fashion-MNIST / Cartoon Set tutorial: filters (32, 64, 64, 64) with strides
(1, 2, 2, 1) for 28×28 images, and five stride-2 blocks for the Cartoon Set.
The decoder mirrors the encoder: a dense layer to the encoder's last grid, then
transposed convolutions with the strides reversed.
"""

from __future__ import annotations

import math

import keras

from zoo.errors import ZooError
from zoo.networks.batch_normalization import BatchNormalization


def conv_output_grid(image_size: int, strides) -> int:
    """Side length of the encoder's last feature map; refuses sizes the strides cannot halve."""
    total = math.prod(strides)
    if image_size % total:
        raise ZooError(
            f"image size {image_size} is not supported by conv strides {tuple(strides)}: "
            f"it must be a multiple of {total} (e.g. {total * max(1, round(image_size / total))})"
        )
    return image_size // total


def _block(layer_cls, filters, kernel_size, strides):
    return [
        layer_cls(filters, kernel_size, strides=strides, padding="same", use_bias=False),
        BatchNormalization(),
        keras.layers.LeakyReLU(negative_slope=0.2),
    ]


def _run_blocks(blocks, features, training):
    for layer in blocks:
        # Only BatchNormalization behaves differently in training.
        if isinstance(layer, keras.layers.BatchNormalization):
            features = layer(features, training=training)
        else:
            features = layer(features)
    return features


class ConvEncoder(keras.layers.Layer):
    """Stride-2 Conv-BN-LeakyReLU blocks followed by a flatten; returns a feature vector."""

    def __init__(self, filters=(32, 64, 64, 64), strides=(1, 2, 2, 1), kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [
            layer
            for width, stride in zip(filters, strides)
            for layer in _block(keras.layers.Conv2D, width, kernel_size, stride)
        ]
        self.flatten = keras.layers.Flatten()

    def call(self, images, training=False):
        return self.flatten(_run_blocks(self.blocks, images, training))


class ConvDecoder(keras.layers.Layer):
    """Dense to the encoder's last grid, then transposed-conv blocks mirroring the encoder."""

    def __init__(self, image_shape, filters=(32, 64, 64, 64), strides=(1, 2, 2, 1), kernel_size=3,
                 params_per_channel=1, **kwargs):
        super().__init__(**kwargs)
        height, width, channels = image_shape
        grid_h, grid_w = conv_output_grid(height, strides), conv_output_grid(width, strides)
        filters_rev, strides_rev = tuple(reversed(filters)), tuple(reversed(strides))
        self.project = keras.layers.Dense(grid_h * grid_w * filters_rev[0])
        self.reshape = keras.layers.Reshape((grid_h, grid_w, filters_rev[0]))
        self.blocks = [
            layer
            for width_, stride in zip(filters_rev[1:], strides_rev[:-1])
            for layer in _block(keras.layers.Conv2DTranspose, width_, kernel_size, stride)
        ]
        self.out = keras.layers.Conv2DTranspose(
            channels * params_per_channel, kernel_size, strides=strides_rev[-1], padding="same", dtype="float32"
        )

    def call(self, codes, training=False):
        features = self.reshape(self.project(codes))
        return self.out(_run_blocks(self.blocks, features, training))
