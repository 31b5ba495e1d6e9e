"""pythae side of benchmarks/perf/throughput.py and iwae_eval.py (runs in the peers' venv).

Throughput protocol as tf_worker.py: "pythae" on stdin trains STEPS steps, prints JSON.
The model is pythae's VAE (its forward computes the ELBO loss, reconstruction_loss="bce") with
custom encoder/decoder of the same architecture as zoo's; the loop is pythae's BaseTrainer
train step (model(inputs).loss → backward → Adam step) over a shuffled in-memory tensor,
dynamically binarised per batch like zoo's pipeline.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder

LATENT = 32
# PyTorch's intra-op pool collapses on a loaded 2-core machine (measured: 130-180 images/s with 2 threads
# vs 900-3000 with 1 for the MLP), so the peer runs with its best setting; override with PEER_THREADS.
torch.set_num_threads(int(os.environ.get("PEER_THREADS", "1")))


def block(conv, cin, cout, stride, transpose=False):
    if transpose:
        layer = nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=stride - 1, bias=False)
    else:
        layer = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    return [layer, nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]


class Encoder(BaseEncoder):
    def __init__(self, arch):
        super().__init__()
        if arch == "mlp":
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU())
            width = 512
        else:
            self.net = nn.Sequential(*block(None, 1, 32, 1), *block(None, 32, 64, 2), *block(None, 64, 64, 2),
                                     *block(None, 64, 64, 1), nn.Flatten())
            width = 7 * 7 * 64
        self.head = nn.Linear(width, 2 * LATENT)

    def forward(self, x):
        mu, log_var = self.head(self.net(x)).chunk(2, dim=-1)
        return ModelOutput(embedding=mu, log_covariance=log_var)


class Decoder(BaseDecoder):
    def __init__(self, arch):
        super().__init__()
        if arch == "mlp":
            self.net = nn.Sequential(nn.Linear(LATENT, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                     nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))
        else:
            self.net = nn.Sequential(nn.Linear(LATENT, 7 * 7 * 64), nn.Unflatten(1, (64, 7, 7)),
                                     *block(None, 64, 64, 1, True), *block(None, 64, 64, 2, True),
                                     *block(None, 64, 32, 2, True), nn.ConvTranspose2d(32, 1, 3, padding=1))

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))


def make_model(arch):
    return VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"),
               encoder=Encoder(arch), decoder=Decoder(arch))


def load_mnist(data_dir, split="train"):
    import gzip
    import os
    prefix = "train" if split == "train" else "t10k"
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte"):
        path = os.path.join(data_dir, "mnist", name)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    raise FileNotFoundError(f"MNIST {split} images under {data_dir}/mnist")


def main():
    arch, batch, steps, data_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.manual_seed(0)
    grey = torch.from_numpy(load_mnist(data_dir).copy()).float() / 255.0
    model = make_model(arch)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    state = {"order": torch.randperm(len(grey)), "pos": 0}

    def run(n):
        t = time.perf_counter()
        for _ in range(n):
            if state["pos"] + batch > len(grey):
                state["order"], state["pos"] = torch.randperm(len(grey)), 0
            rows = state["order"][state["pos"]:state["pos"] + batch]
            state["pos"] += batch
            x = torch.bernoulli(grey[rows])  # dynamic binarisation
            optimizer.zero_grad()
            loss = model({"data": x}).loss
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t

    run(5)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        seconds = run(steps)
        print(json.dumps({"who": "pythae", "images_per_s": steps * batch / seconds, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
