"""Encoder trunks and decoders shared by every model; chosen by config, never copied."""

from zoo.networks.conv import ConvDecoder, ConvEncoder, conv_output_grid
from zoo.networks.mlp import MLPDecoder, MLPEncoder

__all__ = ["ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder", "conv_output_grid"]
