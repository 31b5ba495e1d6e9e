"""Plain-PyTorch side of benchmarks/perf/throughput.py (runs in the peers' venv, made by setup_peers.sh).

    torch_worker.py ARCH BATCH STEPS DATA_DIR [eager|compile]      (PyTorch threads: PEER_THREADS, default 1)

Protocol as pythae_worker.py / tf_worker.py: the worker builds and warms up its step (for "compile" that
includes torch.compile's tracing and code generation), prints "ready", then for each line on stdin trains
STEPS steps and prints JSON {"who", "images_per_s", "seconds", "steps"}; "quit" ends it. The line "matmul"
instead times a large float32 torch.mm at this process's thread count and prints {"who", "gflops", ...}.

The loop is what a user would write by hand, the PyTorch twin of tf_worker.py's hand-written step: the same
layers as zoo's model (the shapes of pythae_worker.py / tf_worker.py), a diagonal Gaussian posterior with
scale softplus(raw) + 1e-4 as zoo's, one reparameterised sample, Bernoulli likelihood as fused
BCE-with-logits summed over pixels, analytic KL to N(0, I), the batch mean, Adam(lr 1e-3), batch BATCH
drawn from a shuffled in-memory MNIST and dynamically binarised per batch. "compile" runs the same loss
function under torch.compile (default inductor backend; AOTAutograd compiles its backward too); the
Adam update stays eager, as in the usual `model = torch.compile(model)` recipe.
"""
from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn.functional as F

from torch_common import THREADS, load_mnist, networks, timed_loop  # beside this file

MIN_POSTERIOR_SCALE = 1e-4  # zoo.models.vae's


def matmul_gflops(n=2048, seconds=1.0):
    """Best float32 n×n matrix-product rate over ~``seconds`` of repeats (2·n³ FLOPs each), at THREADS threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best, reps, start = 0.0, 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
        reps += 1
    return {"gflops": best, "n": n, "reps": reps, "threads": THREADS}


def main():
    arch, batch, steps, data_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    mode = sys.argv[5] if len(sys.argv) > 5 else "eager"
    if mode not in ("eager", "compile"):
        raise SystemExit(f"mode must be eager or compile, got {mode!r}")
    who = f"{'torch' if mode == 'eager' else 'torch_compile'}@{THREADS}"
    torch.manual_seed(0)
    grey = torch.from_numpy(load_mnist(data_dir).copy()).float() / 255.0
    enc, dec = networks(arch)
    enc.train()
    dec.train()
    optimizer = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)

    def loss_fn(x):
        loc, raw = enc(x).chunk(2, dim=-1)
        scale = F.softplus(raw) + MIN_POSTERIOR_SCALE
        z = loc + scale * torch.randn_like(loc)
        logits = dec(z)
        distortion = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
        rate = (0.5 * (loc ** 2 + scale ** 2 - 1.0) - torch.log(scale)).sum(dim=-1)
        return (distortion + rate).mean()

    loss_step = torch.compile(loss_fn) if mode == "compile" else loss_fn
    run = timed_loop(grey, batch, optimizer, loss_step)

    run(5)  # warm-up; under torch.compile this traces and generates the kernels
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command == "matmul":
            print(json.dumps({"who": f"matmul_torch@{THREADS}", **matmul_gflops()}), flush=True)
            continue
        seconds = run(steps)
        print(json.dumps({"who": who, "images_per_s": steps * batch / seconds, "seconds": seconds, "steps": steps}),
              flush=True)


if __name__ == "__main__":
    main()
