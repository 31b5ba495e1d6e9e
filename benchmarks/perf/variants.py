"""Training throughput of each zoo variant against pythae's implementation of the same model, as ratios of medians.

    ZOO_DATA_DIR=DATA .venv/bin/python benchmarks/perf/variants.py \
        --peers-python benchmarks/.peers-venv/bin/python --rounds 7 [--models a,b] [--steps N] [--quick]

Every variant runs on the one architecture of benchmarks/perf/throughput.py's MLP contenders (784-512-512-z,
z = 32, Bernoulli pixels on dynamically binarised MNIST, batch 128); each keeps its registry preset's own
hyperparameters (β, importance samples, pseudo-inputs, flow steps, codebook, MMD kernel and weight), and pythae's
model is given the same ones as far as its config allows. One model at a time (to bound memory): its zoo worker
(tf_variant_worker.py, in zoo's venv: the preset built and fitted through the trainer's own functions, as `zoo
train NAME` does) reports the resolved config, from which pythae's config is derived; then one pythae worker
(pythae_variant_worker.py, in the peers' venv made by setup_peers.sh) per PyTorch thread count starts, all warm
up, and the orchestrator asks them in turn, zoo, pythae@1, pythae@2, zoo, ... for --rounds segments of about
--steps steps each. pythae counts at its best thread count (the highest median); the headline is the ratio of
medians, zoo / pythae, against the 1.3 target. Worker start-up, the line protocol and the machine description
are throughput.py's.
Writes benchmarks/results/perf/variants.{json,md} (``--out`` elsewhere; ``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import throughput  # noqa: E402  (benchmarks/perf/throughput.py: launch, wait_ready, ask)
from machine import describe  # noqa: E402  (benchmarks/perf/machine.py)

TARGET = 1.3
DEFAULT_STEPS, QUICK_STEPS = 160, 16
# The benchmark's architecture, the same for every preset (overriding e.g. beta_vae's latent 10, svae's 256-128).
ARCHITECTURE = {"architecture": "mlp", "hidden_units": [512, 512], "latent_dim": 32, "likelihood": "bernoulli"}


class Peer(NamedTuple):
    """pythae's version of a zoo preset: its model and config classes, the encoder's output and the config fields
    taken from the zoo's resolved model config (``fields(config) -> dict``)."""

    model: str
    config: str
    encoder: str
    fields: Callable[[dict], dict]
    bce: bool = True  # a VAEConfig-type config, with reconstruction_loss; AE-type ones (VQVAE, WAE_MMD) are MSE only


def _kernel(m):  # pythae's multi-scale IMQ kernel with the zoo's bandwidth and scales
    return {"kernel_choice": "imq", "kernel_bandwidth": m["kernel_bandwidth"], "scales": list(m["kernel_scales"])}


PEERS = {
    "vae": Peer("VAE", "VAEConfig", "gaussian", lambda m: {}),
    "beta_vae": Peer("BetaVAE", "BetaVAEConfig", "gaussian", lambda m: {"beta": m["beta"]}),
    # pythae's α·MI + β·TC + γ·dim-KL with α = γ = 1 is the zoo's rate + (β − 1)·TC.
    "beta_tc_vae": Peer("BetaTCVAE", "BetaTCVAEConfig", "gaussian",
                        lambda m: {"alpha": 1.0, "beta": m["beta"], "gamma": 1.0,
                                   "use_mss": m["tc_estimator"] == "mss"}),
    # The discriminator is the zoo's widths, set by the worker (pythae_settings' "discriminator").
    "factor_vae": Peer("FactorVAE", "FactorVAEConfig", "gaussian",
                       lambda m: {"gamma": m["gamma"], "uses_default_discriminator": False}),
    "iwae": Peer("IWAE", "IWAEConfig", "gaussian", lambda m: {"number_samples": m["iw_train_samples"]}),
    "vamp": Peer("VAMP", "VAMPConfig", "gaussian", lambda m: {"number_components": m["num_pseudo_inputs"]}),
    "iaf_vae": Peer("VAE_IAF", "VAE_IAF_Config", "gaussian",
                    lambda m: {"n_made_blocks": m["flow_steps"], "n_hidden_in_made": len(m["flow_hidden_units"]),
                               "hidden_size": m["flow_hidden_units"][0]}),
    "vq_vae": Peer("VQVAE", "VQVAEConfig", "vq",
                   lambda m: {"num_embeddings": m["num_embeddings"], "commitment_loss_factor": m["commitment_cost"],
                              "quantization_loss_factor": 1.0}, bce=False),
    "wae_mmd": Peer("WAE_MMD", "WAE_MMD_Config", "deterministic",
                    lambda m: {"reg_weight": m["mmd_weight"], **_kernel(m)}, bce=False),
    "info_vae": Peer("INFOVAE_MMD", "INFOVAE_MMD_Config", "gaussian",
                     lambda m: {"alpha": m["alpha"], "lbd": m["lambda_mmd"], **_kernel(m)}),
    "svae": Peer("SVAE", "SVAEConfig", "vmf", lambda m: {}),
}

COMMON_DIFFERENCES = [
    "Data: the zoo reads its training split (55,000 images; 5,000 held out for validation) through its tf.data "
    "pipeline, which binarises each batch; pythae's side keeps the 60,000 training images in memory as one tensor, "
    "and draws and binarises (torch.bernoulli) shuffled batches in the loop (pythae's trainer would use a "
    "DataLoader), as throughput.py's pythae contender does.",
    "Likelihood: the zoo's Bernoulli on logits (fused sigmoid cross-entropy); pythae's decoder ends in a sigmoid "
    "and its reconstruction_loss='bce' is binary_cross_entropy on the probabilities (VQVAE and WAE_MMD have no "
    "such option: their cost is the summed squared error on the sigmoid output).",
    "Gaussian posteriors: the zoo's scale is softplus(raw) + 1e-4, pythae's exp(log_var / 2).",
    "The zoo runs as `zoo train` does: TF deterministic ops, TF ops one at a time, oneDNN, several steps per graph "
    "call and XLA where the model allows it (see each model's execution); its segment is a whole number of graph "
    "calls near --steps and ends after the DivergenceGuard's per-call check. pythae runs its trainer's step "
    "without its per-step callbacks and epoch logging. Neither side validates or checkpoints.",
    "pythae is at its best PyTorch thread count (1 or 2, each in its own process).",
]

DIFFERENCES = {
    "vae": [],
    "beta_vae": [],
    "beta_tc_vae": [
        "The zoo's rate is the analytic KL (plus (β − 1) · the minibatch TC estimate); pythae computes all three of "
        "its terms from the sampled code (log q(z|x) − log p(z) is a one-sample KL). Both use the minibatch-weighted "
        "estimate with the zoo's training-set size N (pythae's trainer passes the size of its training set).",
    ],
    "factor_vae": [
        "pythae's FactorVAE splits each batch of 128 in halves: the VAE loss (encoder, decoder, γ·TC) on 64 images "
        "and the discriminator's permuted codes from the other 64, so it decodes 64 images a step and its "
        "discriminator scores 64 + 64 codes; the zoo decodes all 128 and scores 128 real + 128 permuted codes. "
        "images/s counts the 128 images drawn a step on both sides.",
        "pythae's discriminator is replaced (set_discriminator) by one of the zoo preset's widths (6 × 1000, "
        "LeakyReLU 0.2; pythae's default has 5) with pythae's 2 logits (TC = their difference) where the zoo's "
        "has 1; pythae permutes each latent dimension in a Python loop.",
        "Training step: pythae's AdversarialTrainer (autoencoder loss backward, discriminator gradients zeroed, "
        "discriminator loss backward, which also reaches the encoder, then both Adam steps); the zoo's "
        "TrainingModel step, one tape, each optimiser on its own variables. Adam 1e-3 (VAE) and the preset's "
        "discriminator rate and betas on both sides.",
    ],
    "iwae": [
        "pythae's loss is −Σ w̃ · log w with the normalised weights detached (the same gradient as the zoo's "
        "−logsumexp bound); both decode k × 128 codes a step.",
    ],
    "vamp": [
        "pythae's pseudo-inputs are Linear(K → 784) of an identity matrix and hardtanh(0, 1) (a K × K × 784 product "
        "each step); the zoo's are the sigmoid of a K × 784 weight. Both encode the K pseudo-inputs every step; "
        "both rates are one-sample Monte Carlo.",
    ],
    "iaf_vae": [
        "The zoo's flow steps see a context h of the preset's context_dim numbers from the encoder (its head gives "
        "2·z + context_dim outputs) and use ELU and the gated update σ ⊙ z + (1 − σ) ⊙ m (TFP bijectors); pythae's "
        "MADEs have no context input (head 2·z), use ReLU and the affine update z · exp(s) + m. Same number of "
        "steps and MADE widths; pythae reverses the order of z before every step, the zoo between steps.",
    ],
    "vq_vae": [
        "pythae's reconstruction cost is the summed squared error (the zoo's −log p(x|z), Bernoulli); its codebook "
        "and commitment losses are means over the code's numbers (the zoo's sums over each image's code); it "
        "quantises by a one-hot × codebook product (the zoo gathers). The code's positions are passed as pythae's "
        "[C, H, W] embedding [d, 1, z/d] with the zoo's grouping.",
    ],
    "wae_mmd": [
        "pythae's WAE_MMD has a deterministic encoder (head z, no sampling) and the squared-error cost; the zoo keeps "
        "its Gaussian encoder (head 2·z), samples codes, uses the Bernoulli distortion and also computes the rate "
        "(logged, not in the loss). pythae's kernel takes norms of a [B, B, z] difference tensor, the zoo's a Gram "
        "expansion.",
    ],
    "info_vae": [
        "Same objective (distortion + (1 − α)·KL + (α + λ − 1)·MMD², IMQ kernel, analytic KL on both sides); pythae's "
        "kernel takes norms of a [B, B, z] difference tensor, the zoo's a Gram expansion.",
    ],
    "svae": [
        "The zoo samples the von Mises–Fisher posterior with Wood's rejection sampler in rounds of 4 proposals per "
        "code (zoo.von_mises_fisher, the law of TFP's sampler, XLA-compiled) and adds the rejection sampler's "
        "gradient correction g_cor (the preset's rejection_correction). pythae runs its own rejection loop "
        "(Python-level, up to 100 rounds) without g_cor. "
        "Both take the closed-form KL to the uniform prior.",
    ],
}


def limits(name: str, m: dict) -> list[str]:
    """Preset values pythae's config cannot take (the run goes on with pythae's nearest)."""
    notes = []
    if name == "iaf_vae" and len(set(m["flow_hidden_units"])) > 1:
        notes.append(f"pythae's MADEs have one width for all layers: {m['flow_hidden_units'][0]} for the zoo's "
                     f"{m['flow_hidden_units']}")
    if name == "beta_vae" and m.get("capacity_max", 0) > 0:
        notes.append("pythae's BetaVAE has no capacity schedule (|KL − C|): β × KL")
    return notes


def pythae_settings(name: str, zoo: dict) -> dict[str, Any]:
    """What pythae_variant_worker.py builds for the zoo preset whose resolved settings (tf_variant_worker.py's
    "settings") are ``zoo``."""
    peer, m = PEERS[name], zoo["model"]
    config = {"latent_dim": m["latent_dim"], **({"reconstruction_loss": "bce"} if peer.bce else {}), **peer.fields(m)}
    encoder = {"kind": peer.encoder, **({"embedding_dim": m["embedding_dim"]} if peer.encoder == "vq" else {})}
    settings = {"class": peer.model, "config_class": peer.config, "config": config, "encoder": encoder,
                "batch_size": zoo["batch_size"], "learning_rate": zoo["learning_rate"],
                "dataset_size": zoo["dataset_size"]}
    if name == "factor_vae":
        group = zoo["optimizer_groups"]["discriminator"]
        settings["discriminator"] = {"units": list(m["discriminator_units"]), "learning_rate": group["learning_rate"],
                                     "betas": [group["beta_1"], group["beta_2"]]}
    return settings


def read_settings(proc) -> dict:
    """A worker's first line, {"settings": ...}; raises with its stderr if it failed before."""
    line = proc.stdout.readline()
    try:
        return json.loads(line)["settings"]
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"worker failed before its settings: {' '.join(proc.cmd[:3])}\n{log_tail(proc)}") from None


def log_tail(proc, chars=3000) -> str:
    proc.log.seek(0)
    return proc.log.read()[-chars:]


def segment(proc, who) -> float:
    """One timed segment's images/s; raises with the worker's error or stderr if it has none."""
    try:
        answer = throughput.ask(proc, who)
    except (ValueError, BrokenPipeError) as error:
        raise RuntimeError(f"{who} worker died ({error})\n{log_tail(proc)}") from None
    if "error" in answer:
        raise RuntimeError(f"{who}: {answer['error']}")
    return answer["images_per_s"]


def stop(workers: dict) -> None:
    for proc in workers.values():
        try:
            proc.stdin.write("quit\n")
            proc.stdin.close()
            proc.wait(timeout=60)
        except Exception:  # noqa: BLE001 -- a worker that will not quit is killed (only our own child)
            proc.kill()
            proc.wait()


def run_model(name: str, args, env: dict) -> dict[str, Any]:
    """Starts, warms up and alternates the zoo and pythae workers of one model; returns its result."""
    overrides = {"model": ARCHITECTURE, "train": {"batch_size": args.batch}}
    workers = {"zoo": throughput.launch([sys.executable, str(HERE / "tf_variant_worker.py"), name, str(args.steps),
                                         json.dumps(overrides)], env)}
    try:
        zoo = read_settings(workers["zoo"])  # before the zoo's tracing: pythae's workers start meanwhile
        peer = pythae_settings(name, zoo)
        for threads in args.peer_threads.split(","):
            workers[f"pythae@{threads}"] = throughput.launch(
                [args.peers_python, str(HERE / "pythae_variant_worker.py"), str(args.steps), env["ZOO_DATA_DIR"],
                 json.dumps(peer)], {**env, "PEER_THREADS": threads})
        peer_workers = {label: read_settings(proc) for label, proc in workers.items() if label != "zoo"}
        with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:  # nothing is timed before all are ready
            list(pool.map(throughput.wait_ready, workers.values()))
        startup = {label: round(proc.startup_seconds, 1) for label, proc in workers.items()}
        print(name, "workers ready after (s):", startup, flush=True)
        samples = {label: [] for label in workers}
        for r in range(args.rounds):
            for label, proc in workers.items():
                samples[label].append(segment(proc, label.split("@")[0]))
            print(name, r, {label: round(v[-1], 1) for label, v in samples.items()}, flush=True)
    finally:
        stop(workers)
    return summarise(name, zoo, peer, peer_workers, samples, startup, args.steps)


def summarise(name, zoo, peer, peer_workers, samples, startup, steps) -> dict[str, Any]:
    med = {label: statistics.median(v) for label, v in samples.items()}
    best = max(peer_workers, key=lambda label: med[label])  # pythae at its best thread count
    samples, med = {**samples, "pythae": samples[best]}, {**med, "pythae": med[best]}
    ratio = med["zoo"] / med["pythae"]
    return {"zoo": zoo, "pythae": {**peer, "workers": peer_workers}, "pythae_threads": int(best.split("@")[1]),
            "steps_per_segment": {"zoo": zoo["segment_steps"], "pythae": steps},
            "images_per_s": samples, "median_images_per_s": med, "ratio_of_medians": ratio,
            "median_of_paired_ratios": statistics.median(z / p for z, p in zip(samples["zoo"], samples["pythae"])),
            "target": TARGET, "target_met": ratio >= TARGET, "startup_seconds": startup,
            "differences": DIFFERENCES[name], "pythae_limits": limits(name, zoo["model"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers-python", default=str(HERE.parent / ".peers-venv" / "bin" / "python"))
    parser.add_argument("--models", default=",".join(PEERS), help="comma-separated, from " + ", ".join(PEERS))
    parser.add_argument("--rounds", type=int, help="alternation rounds (default 7; 1 with --quick)")
    parser.add_argument("--steps", type=int, help=f"steps per timed segment, default {DEFAULT_STEPS} ({QUICK_STEPS} "
                        "with --quick); the zoo's is the nearest whole number of its graph calls")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--peer-threads", default="1,2",
                        help="PyTorch thread counts tried for pythae (one process each); its best median counts")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: 1 round of --steps {QUICK_STEPS} (unless "
                        "--rounds/--steps are given); the numbers are not results")
    parser.add_argument("--out", default=str(throughput.RESULTS / "variants"), help="output path without suffix")
    parser.add_argument("--from-json", help="only rewrite the .md from a saved .json")
    args = parser.parse_args()
    if args.from_json:
        return write_md(json.loads(Path(args.from_json).read_text()), Path(args.from_json).with_suffix(""))
    args.rounds = args.rounds if args.rounds is not None else 1 if args.quick else 7
    args.steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(PEERS))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(PEERS)}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    from zoo.run_dir import git_commit

    report = {"command": " ".join(["python", *sys.argv]), "git_commit": git_commit(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": describe(), "batch_size": args.batch, "rounds": args.rounds, "steps": args.steps,
              "quick": args.quick, "architecture": ARCHITECTURE, "target": TARGET,
              "peer_threads_tried": [int(t) for t in args.peer_threads.split(",")],
              "common_differences": COMMON_DIFFERENCES, "results": {}, "failures": {}}
    for name in models:
        try:
            report["results"][name] = run_model(name, args, env)
        except Exception as error:  # noqa: BLE001 -- one model's failure is reported, the others still run
            print(f"{name} failed: {error}", file=sys.stderr, flush=True)
            report["failures"][name] = str(error)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_md(report, out)
    return 1 if report["failures"] else 0


def _fields(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "—"


def write_md(report: dict, out: Path) -> None:
    m = report["machine"]
    lines = [f"# Zoo variants vs pythae: training throughput (images/s, batch {report['batch_size']}, medians of "
             f"{report['rounds']} alternating segments)", "",
             f"Command: `{report['command']}`  ", f"Date: {report['date']}; commit {report.get('git_commit', 'not recorded')}  ",
             f"Machine: {m['cpu']}, {m['cores']} cores; load average {m['load_average_at_start']} → "
             f"{m['load_average_at_end']} (shared machine: absolute numbers are not comparable across runs, ratios "
             "are)" + ("  \n**Smoke run (--quick): the numbers are not results.**" if report.get("quick") else ""),
             "", "Architecture of every model: MLP 784-512-512-z, z = 32, Bernoulli pixels, dynamically binarised "
             "MNIST; each preset's other hyperparameters kept, pythae given the same where its config allows.", "",
             f"| zoo preset | pythae model | zoo | pythae (threads) | zoo / pythae | median of per-round ratios "
             f"| ≥ {report['target']:g} |", "|---|---|---|---|---|---|---|"]
    for name, res in report["results"].items():
        med = res["median_images_per_s"]
        lines.append(f"| {name} | {res['pythae']['class']} | {med['zoo']:.0f} | {med['pythae']:.0f} "
                     f"({res['pythae_threads']}) | {res['ratio_of_medians']:.2f} | "
                     f"{res['median_of_paired_ratios']:.2f} | {'met' if res['target_met'] else 'not met'} |")
    for name, error in report["failures"].items():
        lines.append(f"| {name} | {PEERS[name].model} | failed | failed | — | — | — |")
    lines += ["", "Images/s of each round (zoo; pythae by PyTorch threads):", "",
              "| model | zoo | " + " | ".join(f"pythae@{t}" for t in report["peer_threads_tried"]) + " |",
              "|---" * (2 + len(report["peer_threads_tried"])) + "|"]
    for name, res in report["results"].items():
        rounds = res["images_per_s"]
        lines.append(f"| {name} | " + " | ".join(", ".join(f"{v:.0f}" for v in rounds.get(label, []))
                                                 for label in ["zoo", *(f"pythae@{t}" for t in
                                                                        report["peer_threads_tried"])]) + " |")
    lines += ["", "## Settings", "",
              "| model | zoo: preset values changed for the benchmark | zoo: hyperparameters | zoo: execution "
              "| pythae: config set | parameters zoo, pythae | segment steps zoo, pythae |",
              "|---|---|---|---|---|---|---|"]
    for name, res in report["results"].items():
        zoo, peer = res["zoo"], res["pythae"]
        changed = {k: f"{zoo['preset_model'][k]} → {v}" for k, v in zoo["overrides"]["model"].items()
                   if zoo["preset_model"].get(k) != v and k in zoo["preset_model"]}
        ex = zoo["execution"]
        execution = (f"{'XLA' if ex['xla_compiled'] else 'no XLA'}, {ex['steps_per_execution']} steps per graph call"
                     + "".join(f"; {group} Adam lr {g['learning_rate']:g}, betas {g['beta_1']:g}/{g['beta_2']:g}"
                               for group, g in zoo["optimizer_groups"].items()))
        pythae = _fields(peer["config"]) + (f"; discriminator {peer['discriminator']}" if "discriminator" in peer
                                            else "")
        peer_parameters = peer["workers"].get(f"pythae@{res['pythae_threads']}", {}).get("parameters", "?")
        lines.append(f"| {name} | {_fields(changed)} | {_fields(zoo['hyperparameters'])} | {execution} | "
                     f"{peer['class']}: {pythae} | {zoo.get('parameters', '?')}, {peer_parameters} | "
                     f"{res['steps_per_segment']['zoo']}, "
                     f"{res['steps_per_segment']['pythae']} |")
    lines += ["", "## Protocol differences", "", "All models:", "", *(f"- {d}" for d in report["common_differences"])]
    for name, res in report["results"].items():
        notes = res["differences"] + [f"pythae cannot take: {n}" for n in res["pythae_limits"]]
        if notes:
            lines += ["", f"{name} vs pythae's {res['pythae']['class']}:", "", *(f"- {d}" for d in notes)]
    if report["failures"]:
        lines += ["", "## Failures", ""] + [f"- {name}: `{error.splitlines()[0] if error else ''}`"
                                            for name, error in report["failures"].items()]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
