"""pythae side of benchmarks/perf/throughput.py and iwae_eval.py (runs in the peers' venv).

Throughput protocol as tf_worker.py: "pythae" on stdin trains STEPS steps, prints JSON.
The model is pythae's VAE (its forward computes the ELBO loss, reconstruction_loss="bce") with
custom encoder/decoder of the same architecture as zoo's; the loop is pythae's BaseTrainer
train step (model(inputs).loss → backward → Adam step) over a shuffled in-memory tensor,
dynamically binarised per batch like zoo's pipeline.
"""
from __future__ import annotations

import sys

import torch
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder

from torch_common import LATENT, load_mnist, networks, serve, timed_loop  # beside this file; sets the thread count


class Encoder(BaseEncoder):
    def __init__(self, arch):
        super().__init__()
        self.net = networks(arch)[0]

    def forward(self, x):
        mu, log_var = self.net(x).chunk(2, dim=-1)
        return ModelOutput(embedding=mu, log_covariance=log_var)


class Decoder(BaseDecoder):
    def __init__(self, arch):
        super().__init__()
        self.net = networks(arch)[1]

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))


def make_model(arch):
    return VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"),
               encoder=Encoder(arch), decoder=Decoder(arch))


def main():
    arch, batch, steps, data_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.manual_seed(0)
    grey = torch.from_numpy(load_mnist(data_dir).copy()).float() / 255.0
    model = make_model(arch)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    run = timed_loop(grey, batch, optimizer, lambda x: model({"data": x}).loss)

    run(5)
    serve(run, steps, batch)


if __name__ == "__main__":
    main()
