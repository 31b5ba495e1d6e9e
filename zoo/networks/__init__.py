"""Encoder trunks and decoders shared by every model, chosen by name (``model.architecture``).

``NETWORKS`` maps an architecture name to a factory ``(config) -> (encoder, decoder)``; a new family
is one function plus ``register_network(name, factory)`` in the module of the model that uses it.
The encoder maps images to a feature vector; the decoder maps codes [batch, latent] to the
likelihood's parameters [batch, height, width, channels × parameters].
"""

from __future__ import annotations

from typing import Callable

from zoo.errors import ZooError
from zoo.networks.batch_normalization import BatchNormalization
from zoo.networks.conv import ConvDecoder, ConvEncoder, conv_output_grid
from zoo.networks.locatello import LocatelloDecoder, LocatelloEncoder
from zoo.networks.mlp import MLPDecoder, MLPEncoder


def _mlp(config):
    return (MLPEncoder(config.hidden_units, name="encoder"),
            MLPDecoder(config.image_shape, tuple(reversed(config.hidden_units)), name="decoder"))


def _conv(config):
    return (ConvEncoder(config.conv_filters, config.conv_strides, config.kernel_size, name="encoder"),
            ConvDecoder(config.image_shape, config.conv_filters, config.conv_strides, config.kernel_size,
                        name="decoder"))


def _locatello(config):
    return LocatelloEncoder(name="encoder"), LocatelloDecoder(config.image_shape, name="decoder")


NETWORKS: dict[str, Callable] = {"mlp": _mlp, "conv": _conv, "locatello_conv": _locatello}


def register_network(name: str, factory: Callable) -> None:
    """Makes ``architecture: name`` build ``factory(config)``; a name is registered once."""
    if NETWORKS.get(name, factory) is not factory:
        raise ZooError(f"network '{name}' is already registered")
    NETWORKS[name] = factory


def build_networks(config):
    """The (encoder, decoder) pair of ``config.architecture``."""
    if config.architecture not in NETWORKS:
        raise ZooError(f"model field 'architecture': {config.architecture!r} is not one of {', '.join(NETWORKS)}")
    return NETWORKS[config.architecture](config)


__all__ = ["BatchNormalization", "ConvDecoder", "ConvEncoder", "LocatelloDecoder", "LocatelloEncoder", "MLPDecoder",
           "MLPEncoder", "NETWORKS", "build_networks",
           "conv_output_grid", "register_network"]
