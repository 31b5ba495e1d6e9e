"""Fully connected encoder trunk and decoder (the 784-512-512 family of the MNIST notebooks)."""

from __future__ import annotations

import math

import keras


class MLPEncoder(keras.layers.Layer):
    """Flattens an image and applies dense layers; returns a feature vector.

    Args:
        hidden_units: widths of the hidden layers, input side first.
        activation: hidden activation.
    """

    def __init__(self, hidden_units=(512, 512), activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = [keras.layers.Dense(units, activation=activation) for units in hidden_units]

    def call(self, images, training=False):
        features = self.flatten(images)
        for layer in self.hidden:
            features = layer(features)
        return features


class MLPDecoder(keras.layers.Layer):
    """Maps a latent code to ``params_per_channel`` unconstrained parameters per pixel.

    Args:
        image_shape: (height, width, channels) of the output.
        hidden_units: widths of the hidden layers, latent side first.
        params_per_channel: how many distribution parameters each pixel channel needs.
    """

    def __init__(self, image_shape, hidden_units=(512, 512), activation="relu", params_per_channel=1, **kwargs):
        super().__init__(**kwargs)
        height, width, channels = image_shape
        self.hidden = [keras.layers.Dense(units, activation=activation) for units in hidden_units]
        # float32 output keeps the likelihood numerically safe under mixed precision.
        self.out = keras.layers.Dense(math.prod(image_shape) * params_per_channel, dtype="float32")
        self.reshape = keras.layers.Reshape((height, width, channels * params_per_channel))

    def call(self, codes, training=False):
        features = codes
        for layer in self.hidden:
            features = layer(features)
        return self.reshape(self.out(features))
