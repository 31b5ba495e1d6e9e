"""The convolutional encoder and decoder of the disentanglement studies (Locatello et al. 2019, ICML, Table 1).

Encoder: four stride-2 ReLU convolutions with 4x4 kernels and 32, 32, 64, 64 filters, then a dense layer of
256 ReLU units (the posterior head follows). Decoder: dense 256 and 1024 ReLU, reshape to 4x4x64, three
stride-2 4x4 ReLU transposed convolutions with 64, 32, 32 filters and a last one to the likelihood's
parameters. For 64x64 images, as in dSprites. No batch normalisation, unlike the tutorial's conv preset.
disentanglement_lib's code (architectures.conv_encoder) uses 2x2 kernels in the third and fourth
convolutions where the paper's table says 4x4; zoo follows the paper.
"""

from __future__ import annotations

import keras

from zoo.networks.conv import conv_output_grid

_FILTERS = (32, 32, 64, 64)
_KERNEL = 4
_STRIDES = (2, 2, 2, 2)


class LocatelloEncoder(keras.layers.Layer):
    """64x64 images -> 256 features."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.convs = [keras.layers.Conv2D(width, _KERNEL, strides=2, padding="same", activation="relu")
                      for width in _FILTERS]
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(256, activation="relu")

    def call(self, images, training=False):
        features = images
        for conv in self.convs:
            features = conv(features)
        return self.dense(self.flatten(features))


class LocatelloDecoder(keras.layers.Layer):
    """Codes -> the likelihood's parameters per pixel [batch, H, W, channels x params]."""

    def __init__(self, image_shape, params_per_channel=1, **kwargs):
        super().__init__(**kwargs)
        height, width, channels = image_shape
        self.grid = (conv_output_grid(height, _STRIDES), conv_output_grid(width, _STRIDES))
        self.hidden = [keras.layers.Dense(256, activation="relu"),
                       keras.layers.Dense(self.grid[0] * self.grid[1] * _FILTERS[-1], activation="relu")]
        self.reshape = keras.layers.Reshape((*self.grid, _FILTERS[-1]))
        self.deconvs = [keras.layers.Conv2DTranspose(width_, _KERNEL, strides=2, padding="same", activation="relu")
                        for width_ in reversed(_FILTERS[:-1])]
        self.out = keras.layers.Conv2DTranspose(channels * params_per_channel, _KERNEL, strides=2, padding="same",
                                                dtype="float32")

    def call(self, codes, training=False):
        features = codes
        for layer in self.hidden:
            features = layer(features)
        features = self.reshape(features)
        for deconv in self.deconvs:
            features = deconv(features)
        return self.out(features)
