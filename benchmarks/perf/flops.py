"""Floating-point operations of one training step, counted from the layer shapes (stdlib only).

Used by benchmarks/perf/throughput.py to turn images/s into GFLOP/s and a fraction of the machine's
measured float32 matrix-product peak; checked by tests/test_perf_flops.py against hand counts.

Convention (the usual one for training FLOPs, as in Kaplan et al. 2020's 6·N per token):

* a multiply-add counts as 2 FLOPs;
* only the weight layers count: Dense, Conv2D and Conv2DTranspose. Their forward pass is 2 × the
  multiply-adds of the matrix product / convolution; biases, activations, batch norm, the loss, the
  reparameterisation, the KL term and the optimiser update are elementwise and are **ignored** (they are
  O(activations) or O(parameters) per step, a rough 1–2 % of the total for these nets, and are bound by memory,
  not by the arithmetic units whose peak is the yardstick);
* the backward pass of a weight layer is 2 × its forward: one product for the gradient with respect to
  the layer's input, one for the gradient with respect to its weights. By default this is counted for the
  first layer too, although no framework computes the gradient with respect to the images;
  ``first_input_grad=False`` drops that one product (the count of the work actually done);
* a convolution is counted as dense over its output grid, padding included: Conv2D does
  H_out·W_out·k_h·k_w·C_in·C_out multiply-adds per image; Conv2DTranspose is the backward-data pass of
  a convolution, so it does H_in·W_in·k_h·k_w·C_in·C_out (every *input* pixel is scattered through the
  whole kernel), which is not H_out·W_out·… when the stride is above 1.
"""
from __future__ import annotations

import dataclasses
import math

LATENT = 32
IMAGE = (28, 28, 1)


@dataclasses.dataclass(frozen=True)
class Dense:
    """A matrix product [batch, units_in] × [units_in, units_out]."""
    units_in: int
    units_out: int

    def macs(self) -> int:  # multiply-adds per example
        return self.units_in * self.units_out


@dataclasses.dataclass(frozen=True)
class Conv2D:
    """A 2-D convolution with "same" padding over an input grid height × width × channels_in."""
    height: int
    width: int
    channels_in: int
    channels_out: int
    kernel: int = 3
    stride: int = 1

    def output_grid(self) -> tuple[int, int]:
        return math.ceil(self.height / self.stride), math.ceil(self.width / self.stride)

    def macs(self) -> int:
        # One kernel × kernel × channels_in dot product per output position and channel.
        h, w = self.output_grid()
        return h * w * self.kernel * self.kernel * self.channels_in * self.channels_out


@dataclasses.dataclass(frozen=True)
class Conv2DTranspose(Conv2D):
    """A transposed 2-D convolution with "same" padding: the input grid height × width grows by the stride."""

    def output_grid(self) -> tuple[int, int]:
        return self.height * self.stride, self.width * self.stride

    def macs(self) -> int:
        # Each input position scatters a kernel × kernel × channels_out patch: counted over the input grid.
        return self.height * self.width * self.kernel * self.kernel * self.channels_in * self.channels_out


def step_flops(layers, batch: int = 1, first_input_grad: bool = True) -> dict:
    """FLOPs of one training step (forward + backward) of ``layers`` on ``batch`` examples.

    ``layers`` is the sequence of weight layers, input side first (the first one is the one whose input
    gradient ``first_input_grad=False`` leaves out). Returns forward, backward and total FLOPs of the step
    and the total per example.
    """
    layers = list(layers)
    forward = 2 * batch * sum(layer.macs() for layer in layers)
    backward = 2 * forward
    if layers and not first_input_grad:
        backward -= 2 * batch * layers[0].macs()
    return {"forward": forward, "backward": backward, "total": forward + backward,
            "per_example": (forward + backward) / batch if batch else 0.0}


def architecture_layers(arch: str, latent: int = LATENT, image=IMAGE) -> list:
    """The weight layers of the benchmark's VAE, encoder then decoder, as tf_worker / torch_worker build them.

    ``mlp``: 784-512-512-(2·latent) encoder, latent-512-512-784 decoder. ``conv``: the reference conv net
    (filters 32, 64, 64, 64, strides 1, 2, 2, 1, 3×3 kernels) and its mirrored decoder.
    """
    h, w, c = image
    if arch == "mlp":
        pixels = h * w * c
        return [Dense(pixels, 512), Dense(512, 512), Dense(512, 2 * latent),
                Dense(latent, 512), Dense(512, 512), Dense(512, pixels)]
    if arch == "conv":
        filters, strides = (32, 64, 64, 64), (1, 2, 2, 1)
        layers, grid, channels = [], (h, w), c
        for f, s in zip(filters, strides):
            layer = Conv2D(grid[0], grid[1], channels, f, 3, s)
            layers.append(layer)
            grid, channels = layer.output_grid(), f
        layers.append(Dense(grid[0] * grid[1] * channels, 2 * latent))  # posterior head
        layers.append(Dense(latent, grid[0] * grid[1] * channels))      # decoder projection
        widths = tuple(reversed(filters))[1:] + (c,)                      # 64, 64, 32, then the image channels
        for f, s in zip(widths, reversed(strides)):
            layer = Conv2DTranspose(grid[0], grid[1], channels, f, 3, s)
            layers.append(layer)
            grid, channels = layer.output_grid(), f
        assert grid == (h, w) and channels == c, (grid, channels)
        return layers
    raise ValueError(f"unknown architecture {arch!r}")


def flops_per_image(arch: str, first_input_grad: bool = True) -> float:
    """Training-step FLOPs per image of the benchmark's ``arch`` (see the module docstring's convention)."""
    return step_flops(architecture_layers(arch), 1, first_input_grad)["per_example"]


if __name__ == "__main__":
    for name in ("mlp", "conv"):
        print(name, f"{flops_per_image(name) / 1e6:.2f} MFLOP/image per training step "
              f"({flops_per_image(name, first_input_grad=False) / 1e6:.2f} without the images' gradient)")
