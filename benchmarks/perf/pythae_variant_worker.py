"""pythae side of benchmarks/perf/variants.py (runs in the peers' venv): one pythae model on the zoo's architecture.

    pythae_variant_worker.py STEPS DATA_DIR SETTINGS_JSON      (PEER_THREADS: PyTorch threads, torch_common.py)

SETTINGS_JSON (made by variants.py from the zoo preset's resolved config) names pythae's model and config class,
the config fields to set, the encoder's output ("gaussian": mean and log-variance, as pythae_worker.py's;
"deterministic": the code only, pythae's AE-type encoders; "vq": code positions as pythae's [C, H, W] embedding;
"vmf": mean direction and log-concentration), the batch size, the learning rate and the training-set size that
pythae's trainer passes to the model. The networks are pythae_worker.py's (the benchmark's MLP, sigmoid decoder),
with the encoder's last layer sized for its output. The step is pythae's trainer's: BaseTrainer's (model(inputs,
epoch, dataset_size).loss → backward → Adam step) or, for FactorVAE, AdversarialTrainer's two optimisers.
Protocol: first {"settings": {...}} (pythae's full config), then "ready" after 5 warm-up steps; every other
line trains STEPS steps and prints {"who", "images_per_s", "seconds"}; "quit" ends it.
"""
from __future__ import annotations

import json
import sys

import torch
from torch import nn
import pythae.models
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseDiscriminator, BaseEncoder

from torch_common import LATENT, THREADS, load_mnist, networks, serve, timed_loop  # beside this file; sets the thread count
from pythae_worker import Decoder, Encoder  # the plain VAE's encoder (mean, log-variance) and decoder


class HeadEncoder(BaseEncoder):
    """The benchmark's MLP encoder with a last layer of ``outputs`` numbers, read by ``read`` into pythae's output."""

    def __init__(self, outputs, read):
        super().__init__()
        self.net = networks("mlp")[0]
        self.net[-1] = nn.Linear(self.net[-1].in_features, outputs)
        self.read = read

    def forward(self, x):
        return self.read(self.net(x))


class PositionsDecoder(BaseDecoder):
    """The MLP decoder for VQVAE's quantised [B, C, 1, positions] embedding, flattened back to the zoo's order."""

    def __init__(self):
        super().__init__()
        self.decoder = Decoder("mlp")

    def forward(self, z):
        return self.decoder(z.permute(0, 2, 3, 1).reshape(len(z), -1))


class Discriminator(BaseDiscriminator):
    """FactorVAE's discriminator with the zoo preset's widths (LeakyReLU 0.2), two logits as pythae reads them."""

    def __init__(self, units):
        super().__init__()
        layers, width = [], LATENT
        for size in units:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        self.layers = nn.Sequential(*layers, nn.Linear(width, 2))

    def forward(self, z):
        return self.layers(z)  # pythae's FactorVAE indexes the logits tensor itself


def networks_for(encoder):
    kind = encoder["kind"]
    if kind == "gaussian":
        return Encoder("mlp"), Decoder("mlp")
    if kind == "deterministic":
        return HeadEncoder(LATENT, lambda h: ModelOutput(embedding=h)), Decoder("mlp")
    if kind == "vmf":
        return (HeadEncoder(LATENT + 1, lambda h: ModelOutput(embedding=h[:, :-1], log_concentration=h[:, -1:])),
                Decoder("mlp"))
    if kind == "vq":
        # Position p holds numbers p·d .. p·d + d − 1 of the code, as in the zoo; pythae quantises over channels.
        dim = encoder["embedding_dim"]

        def read(h):
            return ModelOutput(embedding=h.reshape(len(h), 1, LATENT // dim, dim).permute(0, 3, 1, 2))
        return HeadEncoder(LATENT, read), PositionsDecoder()
    raise SystemExit(f"unknown encoder kind {kind!r}")


class BothOptimizers:
    """AdversarialTrainer's two Adam optimisers behind the one-optimiser interface of torch_common.timed_loop."""

    def __init__(self, autoencoder, discriminator):
        self.autoencoder, self.discriminator = autoencoder, discriminator

    def zero_grad(self, set_to_none=True):
        self.autoencoder.zero_grad(set_to_none=set_to_none)
        self.discriminator.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.autoencoder.step()
        self.discriminator.step()


class AdversarialBackward:
    """AdversarialTrainer._optimizers_step's two backward passes, in its order: the discriminator's gradients
    from the autoencoder loss are dropped, and the discriminator loss adds to the encoder's (pythae does not
    detach the real codes it scores)."""

    def __init__(self, output, discriminator_optimizer):
        self.output, self.discriminator_optimizer = output, discriminator_optimizer

    def backward(self):
        self.output.autoencoder_loss.backward(retain_graph=True)
        self.discriminator_optimizer.zero_grad()
        self.output.discriminator_loss.backward()


def main():
    steps, data_dir, settings = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    torch.manual_seed(0)
    assert settings["config"]["latent_dim"] == LATENT, "torch_common's networks are built for LATENT"
    config = getattr(pythae.models, settings["config_class"])(input_dim=(1, 28, 28), **settings["config"])
    encoder, decoder = networks_for(settings["encoder"])
    model = getattr(pythae.models, settings["class"])(config, encoder=encoder, decoder=decoder)
    model.train()
    batch, rate, size = settings["batch_size"], settings["learning_rate"], settings["dataset_size"]
    kwargs = {"epoch": 0, "dataset_size": size, "uses_ddp": False}  # what pythae's trainers pass to the model
    disc = settings.get("discriminator")
    if disc:  # FactorVAE: AdversarialTrainer, the autoencoder's optimiser on encoder and decoder only
        model.set_discriminator(Discriminator(disc["units"]))
        autoencoder = torch.optim.Adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=rate)
        discriminator = torch.optim.Adam(model.discriminator.parameters(), lr=disc["learning_rate"],
                                         betas=tuple(disc["betas"]))
        optimizer = BothOptimizers(autoencoder, discriminator)
        loss_of = lambda x: AdversarialBackward(model({"data": x}, **kwargs), discriminator)  # noqa: E731
        trainer = "AdversarialTrainer"
    else:  # BaseTrainer: one Adam over all the model's parameters
        optimizer = torch.optim.Adam(model.parameters(), lr=rate)
        loss_of = lambda x: model({"data": x}, **kwargs).loss  # noqa: E731
        trainer = "BaseTrainer"
    grey = torch.from_numpy(load_mnist(data_dir).copy()).float() / 255.0
    run = timed_loop(grey, batch, optimizer, loss_of)
    print(json.dumps({"settings": {
        "class": settings["class"], "config": config.to_dict(), "trainer": trainer, "threads": THREADS,
        "parameters": sum(p.numel() for p in model.parameters()), "images_in_memory": len(grey)}},
        default=str), flush=True)

    run(5)
    serve(run, steps, batch)


if __name__ == "__main__":
    main()
