"""What the PyTorch workers of throughput.py share (pythae_worker.py, torch_worker.py; the peers' venv): the
benchmark's networks in PyTorch, MNIST from the data folder and the timed loop over shuffled batches."""
from __future__ import annotations

import gzip
import os
import time

import numpy as np
import torch
from torch import nn

LATENT = 32
# PyTorch's intra-op pool collapses on a loaded 2-core machine (measured: 130-180 images/s with 2 threads
# vs 900-3000 with 1 for the MLP), so a peer runs with its best setting unless PEER_THREADS says otherwise.
THREADS = int(os.environ.get("PEER_THREADS", "1"))
torch.set_num_threads(THREADS)  # before anything runs (and before inductor reads the thread count)


def block(cin, cout, stride, transpose=False):
    if transpose:
        layer = nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=stride - 1, bias=False)
    else:
        layer = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    return [layer, nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]


def networks(arch):
    """Encoder (images → 2·LATENT posterior parameters) and decoder (codes → logits [B, 1, 28, 28]), the layer
    shapes of tf_worker.py's and zoo's presets."""
    if arch == "mlp":
        enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                            nn.Linear(512, 2 * LATENT))
        dec = nn.Sequential(nn.Linear(LATENT, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                            nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))
    elif arch == "conv":
        enc = nn.Sequential(*block(1, 32, 1), *block(32, 64, 2), *block(64, 64, 2), *block(64, 64, 1),
                            nn.Flatten(), nn.Linear(7 * 7 * 64, 2 * LATENT))
        dec = nn.Sequential(nn.Linear(LATENT, 7 * 7 * 64), nn.Unflatten(1, (64, 7, 7)),
                            *block(64, 64, 1, True), *block(64, 64, 2, True), *block(64, 32, 2, True),
                            nn.ConvTranspose2d(32, 1, 3, padding=1))
    else:
        raise SystemExit(f"unknown architecture {arch!r}")
    return enc, dec


def load_mnist(data_dir, split="train"):
    prefix = "train" if split == "train" else "t10k"
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte"):
        path = os.path.join(data_dir, "mnist", name)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    raise FileNotFoundError(f"MNIST {split} images under {data_dir}/mnist")


def timed_loop(grey, batch, optimizer, loss_of):
    """``run(n)``: n Adam steps of ``loss_of(x)`` on batches of a reshuffled-per-epoch ``grey``, each batch
    dynamically binarised; returns the seconds taken."""
    state = {"order": torch.randperm(len(grey)), "pos": 0}

    def run(n):
        t = time.perf_counter()
        for _ in range(n):
            if state["pos"] + batch > len(grey):
                state["order"], state["pos"] = torch.randperm(len(grey)), 0
            rows = state["order"][state["pos"]:state["pos"] + batch]
            state["pos"] += batch
            x = torch.bernoulli(grey[rows])  # dynamic binarisation
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(x)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t

    return run


def serve(run, steps, batch, who="pythae"):
    """The worker protocol after warm-up: "ready", then one timed segment of ``steps`` per stdin line until "quit"."""
    import json
    import sys

    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        seconds = run(steps)
        print(json.dumps({"who": who, "images_per_s": steps * batch / seconds, "seconds": seconds}), flush=True)
