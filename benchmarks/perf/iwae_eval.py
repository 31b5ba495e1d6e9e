"""IWAE bound (k importance samples) on MNIST test images: zoo's iwae_bound vs pythae's get_nll.

    ZOO_DATA_DIR=DATA .venv/bin/python benchmarks/perf/iwae_eval.py --images 10000 --k 1000 --rounds 1

Same model size for both (MLP 784-512-512-32, Bernoulli pixels, random initial weights:
the cost does not depend on the weights), the same images (MNIST test split, first N,
binarised once with zoo's seed 0). zoo runs with the chunk and batch size of its
EvalConfig defaults, i.e. what ``zoo evaluate`` does. pythae runs once per PyTorch
thread count in ``--peer-threads`` (its best count depends on the machine's load) and
the ratio is taken against its fastest. Each measurement is a fresh process; the
contenders alternate within each round. Wall time covers only the evaluation call
(zoo: tracing included); peak RSS is the process's VmHWM. pythae's get_nll is called
as documented (batch_size=100, one image at a time), inside torch.no_grad() (which only
helps pythae). Writes benchmarks/results/perf/iwae_eval.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

ZOO = r'''
import json, os, resource, sys, time
import numpy as np
images = np.load(sys.argv[1]); k = int(sys.argv[2])
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.evaluation import EvalConfig
from zoo.evaluation.metrics import iwae_bound
model = VAE(VAEConfig(latent_dim=32), name="vae")
config = EvalConfig()
t = time.perf_counter()
bound = iwae_bound(model, images, num_samples=k, chunk=config.iw_chunk, batch_size=config.batch_size, seed=0).numpy()
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "mean_bound": float(bound.mean()),
                  "chunk": config.iw_chunk, "batch_size": config.batch_size,
                  "peak_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))) / 1024}))
'''

PYTHAE = r'''
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[3])
from pythae_worker import make_model
images = torch.from_numpy(np.load(sys.argv[1]).reshape(-1, 1, 28, 28)); k = int(sys.argv[2])
torch.manual_seed(0)
model = make_model("mlp").eval()
t = time.perf_counter()
with torch.no_grad():
    nll = model.get_nll(images, n_samples=k, batch_size=100)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "mean_bound": float(nll),
                  "peak_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))) / 1024}))
'''


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers-python", default=str(HERE.parent / ".peers-venv" / "bin" / "python"))
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--peer-threads", default="1,2",
                        help="PyTorch thread counts to run pythae with; the ratio uses its fastest")
    parser.add_argument("--out", default=str(HERE.parent / "results" / "perf" / "iwae_eval"))
    args = parser.parse_args()
    import numpy as np
    from zoo.data import load_dataset
    from zoo.data.datasets import DataConfig
    from zoo.data.pipeline import binarize_array
    test = load_dataset(DataConfig(name="mnist")).test
    images = binarize_array(np.asarray(test.x[: args.images]), seed=0)
    machine = describe()  # the load average as the rounds start
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "images.npy")
        np.save(path, images)
        peers = [f"pythae@{t}" for t in args.peer_threads.split(",")]
        samples = {w: [] for w in ["zoo", *peers]}
        for r in range(args.rounds):
            samples["zoo"].append(run([sys.executable, "-c", ZOO, path, str(args.k)]))
            for peer in peers:
                samples[peer].append(run([args.peers_python, "-c", PYTHAE, path, str(args.k), str(HERE)],
                                         {"PEER_THREADS": peer.split("@")[1]}))
            print(r, {w: round(v[-1]["seconds"], 1) for w, v in samples.items()}, flush=True)
    med = {w: statistics.median(s["seconds"] for s in v) for w, v in samples.items()}
    peak = {w: max(s["peak_rss_mb"] for s in v) for w, v in samples.items()}
    best_peer = min(peers, key=med.get)
    speedup = med[best_peer] / med["zoo"]
    report = {"command": " ".join(["python", *sys.argv]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {**machine, "load_average_at_end": os.getloadavg()},
              "images": args.images, "k": args.k, "samples": samples, "median_seconds": med,
              "peak_rss_mb": peak, "pythae_best": best_peer, "speedup_zoo_over_pythae": speedup,
              "paired_speedups": [p["seconds"] / z["seconds"] for z, p in zip(samples["zoo"], samples[best_peer])]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    md = [f"# IWAE bound, k = {args.k}, {args.images} MNIST test images: zoo vs pythae get_nll", "",
          f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
          f"Machine: {machine['cpu']}, {machine['cores']} cores, shared; load average "
          f"{machine['load_average_at_start']} → {report['machine']['load_average_at_end']}", "",
          "| | median wall time (s) | peak RSS (MB) | per-round times (s) |", "|---|---|---|---|"]
    for w in samples:
        md.append(f"| {w} | {med[w]:.1f} | {peak[w]:.0f} | {', '.join(format(s['seconds'], '.1f') for s in samples[w])} |")
    zoo_setting = samples["zoo"][0]
    md += ["", f"zoo: iw_chunk {zoo_setting['chunk']}, batch_size {zoo_setting['batch_size']} (EvalConfig defaults). "
           f"pythae@T: PyTorch on T threads; its fastest here is {best_peer}.", "",
           f"Speed-up zoo over {best_peer} (ratio of medians): **{speedup:.2f}×** (target ≥ 3: "
           f"{'met' if speedup >= 3 else 'not met'}); paired per round: "
           f"{', '.join(f'{x:.2f}' for x in report['paired_speedups'])}."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
