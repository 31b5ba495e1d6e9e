"""Configuration of the base VAE; variants inherit it and add their own fields."""

from __future__ import annotations

import dataclasses

from zoo.config import Config, bounded_field
from zoo.errors import ZooError
from zoo.likelihoods import LIKELIHOODS
from zoo.networks import NETWORKS, conv_output_grid


@dataclasses.dataclass(frozen=True)
class VAEConfig(Config):
    """Architecture and objective of a VAE.

    ``image_shape`` and ``num_classes`` come from the dataset at training time;
    the rest are the model's hyper-parameters.
    """

    kind = "model"

    image_shape: tuple[int, ...] = (28, 28, 1)
    num_classes: int = bounded_field(10, minimum=0, help="number of classes (0: unlabeled data)")
    latent_dim: int = bounded_field(32, minimum=1, help="size of the latent code z")
    architecture: str = dataclasses.field(default="mlp", metadata={"help": "encoder/decoder family (zoo.networks)"})
    hidden_units: tuple[int, ...] = bounded_field((512, 512), minimum=1, help="MLP widths, input side first")
    conv_filters: tuple[int, ...] = bounded_field((32, 64, 64, 64), minimum=1, help="conv widths, input side first")
    conv_strides: tuple[int, ...] = bounded_field((1, 2, 2, 1), minimum=1, help="conv strides, input side first")
    kernel_size: int = bounded_field(3, minimum=1)
    likelihood: str = dataclasses.field(default="bernoulli", metadata={"help": "observation model p(x|z) (zoo.likelihoods)"})
    analytic_kl: bool = dataclasses.field(
        default=True, metadata={"help": "closed-form KL when TFP has one, else a Monte Carlo estimate"}
    )

    def validate(self) -> None:
        # Names of the network and likelihood registries, which plugins may extend.
        for name, known in (("architecture", NETWORKS), ("likelihood", LIKELIHOODS)):
            if getattr(self, name) not in known:
                raise ZooError(f"{self._where(name)}: {getattr(self, name)!r} is not one of {', '.join(known)}")
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ZooError(f"model field 'image_shape': expected [height, width, channels], got {list(self.image_shape)}")
        if self.architecture == "conv":
            if len(self.conv_filters) != len(self.conv_strides):
                raise ZooError(
                    "model fields 'conv_filters' and 'conv_strides' must have the same length, got "
                    f"{len(self.conv_filters)} and {len(self.conv_strides)}"
                )
            conv_output_grid(self.image_shape[0], self.conv_strides)
            conv_output_grid(self.image_shape[1], self.conv_strides)
        if self.architecture == "locatello_conv":  # four fixed stride-2 layers
            conv_output_grid(self.image_shape[0], (2, 2, 2, 2))
            conv_output_grid(self.image_shape[1], (2, 2, 2, 2))
