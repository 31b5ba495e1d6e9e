"""Training throughput, zoo vs a hand-written TF loop vs pythae vs plain PyTorch, as ratios of medians of alternating runs.

    ZOO_DATA_DIR=DATA .venv/bin/python benchmarks/perf/throughput.py \
        --peers-python benchmarks/.peers-venv/bin/python --rounds 7

One long-lived worker per framework and setting (benchmarks/perf/tf_worker.py: zoo and hand-written TF;
in the peers' venv, made by setup_peers.sh: pythae_worker.py, pythae, and torch_worker.py, a plain PyTorch
loop in eager mode and under torch.compile; one process per PyTorch thread count) builds and warms up its
models, then waits. The orchestrator asks them in turn, zoo, hand, hand_xla, pythae@1, pythae@2, torch@1,
torch@2, torch_compile@1, zoo, ...: only one contender runs at a time, each segment trains the same number of
steps, and the ratios are taken from the medians. Each round ends with a large float32 matrix product timed in
the TF worker and in the eager PyTorch workers; with the FLOPs per training step counted from the layer shapes
(benchmarks/perf/flops.py) this gives each contender's GFLOP/s and fraction of that peak.
Writes benchmarks/results/perf/throughput.{json,md} (``--out`` elsewhere; ``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "perf"
sys.path.insert(0, str(HERE))
import flops  # noqa: E402  (benchmarks/perf/flops.py)
from machine import describe  # noqa: E402

PEERS = ("pythae", "torch", "torch_compile")  # contenders run in the peers' venv
DEFAULT_STEPS = "mlp=160,conv=32"
QUICK_STEPS = "mlp=16,conv=2"


def launch(cmd, env):
    """Starts a worker; its stderr goes to an anonymous temporary file, shown if it fails to start."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    proc.log, proc.cmd, proc.launched = log, cmd, time.perf_counter()
    return proc


def wait_ready(proc):
    for line in proc.stdout:
        if line.strip() == "ready":
            proc.startup_seconds = time.perf_counter() - proc.launched
            return proc
    proc.log.seek(0)
    tail = proc.log.read()[-3000:]
    raise RuntimeError(f"worker failed to start: {' '.join(proc.cmd)}\n{tail}")


def start(cmd, env):
    return wait_ready(launch(cmd, env))


def ask(proc, who):
    proc.stdin.write(who + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers-python", default=str(HERE.parent / ".peers-venv" / "bin" / "python"))
    parser.add_argument("--arch", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--rounds", type=int, help="alternation rounds (default 7; 1 with --quick)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", help=f"steps per timed segment, default {DEFAULT_STEPS} ({QUICK_STEPS} with "
                        "--quick); the zoo's segment is the nearest multiple of its steps per graph call")
    parser.add_argument("--no-pythae", action="store_true", help="leave pythae out (as --peers without it)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="contenders of the peers' venv, comma-separated, from " + ", ".join(PEERS)
                        + " ('none' for the TF contenders only)")
    parser.add_argument("--peer-threads", default="1,2",
                        help="PyTorch thread counts tried for pythae (one process each); its best median counts")
    parser.add_argument("--torch-threads", default="1,2",
                        help="thread counts tried for plain PyTorch, eager (one process each); its best median counts")
    parser.add_argument("--compile-threads", default="1",
                        help="thread counts tried for plain PyTorch under torch.compile; its best median counts")
    parser.add_argument("--no-matmul", action="store_true", help="skip the matrix-product peak measurement")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 1 round of --steps {QUICK_STEPS} (unless --rounds/--steps are given); "
                        "the numbers are not results")
    parser.add_argument("--out", default=str(RESULTS / "throughput"), help="output path without suffix")
    parser.add_argument("--from-json", help="only rewrite the .md from a saved .json")
    args = parser.parse_args()
    args.rounds = args.rounds if args.rounds is not None else 1 if args.quick else 7
    args.steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    peer_kinds = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    unknown = set(peer_kinds) - set(PEERS)
    if unknown:
        parser.error(f"--peers: unknown {sorted(unknown)}; choose from {', '.join(PEERS)}")
    if args.no_pythae:
        peer_kinds = [p for p in peer_kinds if p != "pythae"]
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        args.rounds = len(next(iter(report["results"].values()))["images_per_s"]["zoo"])
        args.batch = report["batch_size"]
        return write_md(report, args, Path(args.from_json).with_suffix(""))
    steps = dict(item.split("=") for item in args.steps.split(","))
    from zoo.data.datasets import resolve_data_dir  # no TensorFlow in this process

    data_dir = str(resolve_data_dir(None))  # $ZOO_DATA_DIR, else ~/.zoo/datasets, as zoo's own workers read
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    report = {"command": " ".join(["python", *sys.argv]), "date": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"), "machine": describe(), "batch_size": args.batch, "results": {}}
    threads = {"pythae": args.peer_threads, "torch": args.torch_threads, "torch_compile": args.compile_threads}
    report["peers"] = peer_kinds
    report["flops_convention"] = FLOPS_CONVENTION
    for arch in args.arch:
        n = steps[arch]
        # All workers of this architecture start at once and warm up side by side (nothing is timed before
        # every one is ready).
        launched = {"tf": launch([sys.executable, str(HERE / "tf_worker.py"), arch, str(args.batch), n], env)}
        peers = {kind: [f"{kind}@{t}" for t in threads[kind].split(",")] for kind in peer_kinds}
        for kind, labels in peers.items():  # one process per PyTorch thread count
            for peer in labels:
                script, extra = (("pythae_worker.py", []) if kind == "pythae" else
                                 ("torch_worker.py", ["eager" if kind == "torch" else "compile"]))
                launched[peer] = launch([args.peers_python, str(HERE / script), arch, str(args.batch), n, data_dir,
                                         *extra], {**env, "PEER_THREADS": peer.split("@")[1]})
        variants = []  # (label, worker, contender)
        if os.environ.get("ZOO_BENCH_VARIANTS"):
            # The zoo with XLA off and on; zoo and hand-written TF with TensorFlow's own CPU default (oneDNN off),
            # and with TensorFlow's own gradient sums. Each in a TF worker of its own: TF reads
            # TF_ENABLE_ONEDNN_OPTS at import, and a deterministic plain step sets the fixed-order sums for its
            # whole process (zoo.training.gradient_sums).
            tf_worker = [sys.executable, str(HERE / "tf_worker.py"), arch, str(args.batch), n]
            launched["tf_xla_variants"] = launch(tf_worker, {**env, "ZOO_BENCH_ZOO": "zoo_nojit,zoo_jit"})
            launched["tf_onednn_off"] = launch(tf_worker, {**env, "TF_ENABLE_ONEDNN_OPTS": "0"})
            launched["tf_own_sums"] = launch(tf_worker, {**env, "ZOO_BENCH_TF_SUMS": "1"})
            variants = [("zoo_nojit", "tf_xla_variants", "zoo_nojit"), ("zoo_jit", "tf_xla_variants", "zoo_jit"),
                        ("zoo_onednn_off", "tf_onednn_off", "zoo"), ("hand_onednn_off", "tf_onednn_off", "hand"),
                        ("zoo_own_sums", "tf_own_sums", "zoo"), ("hand_own_sums", "tf_own_sums", "hand")]
        try:  # waited for side by side, so that each one's start-up time is its own
            with concurrent.futures.ThreadPoolExecutor(len(launched)) as pool:
                workers = dict(zip(launched, pool.map(wait_ready, launched.values())))
        except Exception:
            for proc in launched.values():
                proc.kill()
            raise
        startup = {name: round(proc.startup_seconds, 1) for name, proc in workers.items()}
        # How each zoo contender's step runs (XLA or not, the sums in order or not), as zoo train's manifest says.
        execution = {name: ask(proc, "execution") for name, proc in workers.items() if name.startswith("tf")}
        print(arch, "workers ready after (s):", startup, flush=True)
        order = [("zoo", "tf", "zoo"), *variants, ("hand", "tf", "hand"), ("hand_xla", "tf", "hand_xla"),
                 *[(peer, peer, peer) for labels in peers.values() for peer in labels]]
        # The matrix-product peak, once per round: TF (its default thread pool) and each eager PyTorch worker.
        matmuls = [] if args.no_matmul else [("matmul_tf", "tf"), *[(f"matmul_{peer}", peer)
                                                                   for peer in peers.get("torch", [])]]
        samples = {label: [] for label, _, _ in order}
        matmul = {label: [] for label, _ in matmuls}
        for r in range(args.rounds):
            for label, worker, who in order:
                samples[label].append(ask(workers[worker], who)["images_per_s"])
            for label, worker in matmuls:
                matmul[label].append(ask(workers[worker], "matmul")["gflops"])
            print(arch, r, {k: round(v[-1], 1) for k, v in {**samples, **matmul}.items()}, flush=True)
        for proc in workers.values():
            proc.stdin.write("quit\n")
            proc.stdin.close()
            proc.wait()
        med = {who: statistics.median(v) for who, v in samples.items()}
        for kind, labels in peers.items():
            # Each PyTorch-based contender at its best thread count on this machine and load (the highest median).
            best = max(labels, key=lambda peer: med[peer])
            samples[kind], med[kind] = samples[best], med[best]
            report.setdefault(f"{kind}_threads", {})[arch] = int(best.split("@")[1])
        refs = ("hand", "hand_xla", *peers)
        # Ratio per round (adjacent runs share the load), then the median of those ratios.
        paired = {f"zoo/{ref}": statistics.median(z / h for z, h in zip(samples["zoo"], samples[ref])) for ref in refs}
        result = {"steps_per_segment": int(n), "images_per_s": samples, "median_images_per_s": med,
                  "ratio_of_medians": {f"zoo/{ref}": med["zoo"] / med[ref] for ref in refs},
                  "median_of_paired_ratios": paired}
        count = flops.step_flops(flops.architecture_layers(arch), args.batch)
        per_image = count["per_example"]
        result["flops"] = {"per_image": per_image, "per_step": count["total"], "forward_per_step": count["forward"],
                           "per_image_without_input_grad": flops.flops_per_image(arch, first_input_grad=False)}
        result["gflops_per_s"] = {who: m * per_image / 1e9 for who, m in med.items()}
        if matmul:
            result["matmul_gflops"] = {"samples": matmul,
                                       "median": {label: statistics.median(v) for label, v in matmul.items()},
                                       "max": max(max(v) for v in matmul.values())}
        result["startup_seconds"] = startup
        result["zoo_execution"] = {worker: {k: v for k, v in found.items() if k != "who"}
                                   for worker, found in execution.items()}
        report["results"][arch] = result
    # The machine's float32 matrix-product peak: the best 2048x2048 product of the whole run (each sample is the
    # best of ~1 s; the load moves it, and the best is the closest to what the cores can do).
    peaks = [res["matmul_gflops"]["max"] for res in report["results"].values() if "matmul_gflops" in res]
    if peaks:
        report["matmul_peak_gflops"] = max(peaks)
        for res in report["results"].values():
            res["fraction_of_peak"] = {who: g / report["matmul_peak_gflops"] for who, g in res["gflops_per_s"].items()}
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_md(report, args, out)


FLOPS_CONVENTION = ("training-step FLOPs from the layer shapes (benchmarks/perf/flops.py): a multiply-add = 2 FLOPs; "
                    "Dense, Conv2D, Conv2DTranspose only, forward 2 x multiply-adds, backward = 2 x forward for every "
                    "weight layer (the first layer's input gradient included); biases, activations, batch norm, loss, "
                    "KL and Adam ignored (elementwise)")


def default_steps(report) -> str:
    """In words, the step zoo's default gave each architecture in this run (its TF worker's execution record)."""
    words = []
    for arch, res in report["results"].items():
        mode = res.get("zoo_execution", {}).get("tf", {}).get("zoo")
        if mode is None:
            continue
        step = ("the XLA-compiled step" if mode["xla_compiled"] else
                "the plain (not XLA) step with the gradient sums in a fixed order" if mode["gradients_added_in_order"]
                else "the plain (not XLA) step")
        words.append(f"{step} for the {arch}")
    return "; ".join(words) if words else "the step configure_fit picks"


def variant_table(report, label, intro, columns, cells) -> list[str]:
    """Markdown lines of a table over the architectures whose results have the variant ``label`` (none if none)."""
    rows = [(arch, res["median_images_per_s"]) for arch, res in report["results"].items()
            if label in res["median_images_per_s"]]
    if not rows:
        return []
    return ["", intro, "", "| arch | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|",
            *(f"| {arch} | " + " | ".join(cells(m)) + " |" for arch, m in rows)]


def torch_table(report) -> list[str]:
    """The plain-PyTorch contenders (none for reports without them)."""
    rows = [(arch, res) for arch, res in report["results"].items()
            if {"torch", "torch_compile"} & set(res["median_images_per_s"])]
    if not rows:
        return []
    lines = ["", "Plain PyTorch, the same layers, loss (fused BCE with logits, analytic Gaussian KL), Adam and batch "
             "size as the hand-written TF step (benchmarks/perf/torch_worker.py), eager and under `torch.compile`, "
             "in the same alternation:", "",
             "| arch | PyTorch eager, best threads | torch.compile | zoo / PyTorch eager | zoo / torch.compile "
             "| median of per-round ratios zoo/eager, zoo/compile |", "|---|---|---|---|---|---|"]

    def cell(d, key, fmt):
        return format(d[key], fmt) if key in d else "—"
    for arch, res in rows:
        m, q, p = res["median_images_per_s"], res["ratio_of_medians"], res["median_of_paired_ratios"]
        lines.append(f"| {arch} | {cell(m, 'torch', '.0f')} | {cell(m, 'torch_compile', '.0f')} | "
                     f"{cell(q, 'zoo/torch', '.2f')} | {cell(q, 'zoo/torch_compile', '.2f')} | "
                     f"{cell(p, 'zoo/torch', '.2f')}, {cell(p, 'zoo/torch_compile', '.2f')} |")
    return lines


LABELS = {"zoo": "zoo", "hand": "hand-written TF", "hand_xla": "hand-written TF + XLA", "pythae": "pythae",
          "torch": "PyTorch eager", "torch_compile": "torch.compile"}


def flops_table(report) -> list[str]:
    """GFLOP/s and fraction of the measured matrix-product peak per contender (none for older reports)."""
    rows = [(arch, res) for arch, res in report["results"].items() if "flops" in res]
    if not rows:
        return []
    who = [k for k in LABELS if any(k in res["gflops_per_s"] for _, res in rows)]
    lines = ["", "Arithmetic rate: FLOPs per training step counted from the layer shapes × images/s (medians), "
             "and its fraction of the float32 matrix-product peak measured in the same run: a 2048×2048 product "
             "timed for ~1 s (its best repeat) once a round in the TF worker (TensorFlow's default thread pool) and "
             "in each eager PyTorch worker (its thread count); the peak is the best of the whole run"
             + (f", {report['matmul_peak_gflops']:.0f} GFLOP/s" if "matmul_peak_gflops" in report else "")
             + ". Convention: " + report.get("flops_convention", FLOPS_CONVENTION) + ".", "",
             "| arch | MFLOP/image | matmul GFLOP/s during this arch's rounds, median (TF; PyTorch by threads) | "
             + " | ".join(f"{LABELS[k]} GFLOP/s (of peak)" for k in who) + " |",
             "|---" * (3 + len(who)) + "|"]
    for arch, res in rows:
        mm = res.get("matmul_gflops")
        peak = "—" if not mm else ", ".join(f"{k.removeprefix('matmul_')}: {v:.0f}" for k, v in mm["median"].items())
        frac = res.get("fraction_of_peak", {})
        lines.append(f"| {arch} | {res['flops']['per_image'] / 1e6:.2f} | {peak} | " + " | ".join(
            (f"{res['gflops_per_s'][k]:.1f}" + (f" ({100 * frac[k]:.0f} %)" if k in frac else ""))
            if k in res["gflops_per_s"] else "—" for k in who) + " |")
    return lines


# The targets the page judges: (ratio key, threshold) per contender, and the fraction of the matmul peak per arch.
RATIO_TARGETS = (("zoo/pythae", 1.3, "pythae"), ("zoo/torch", 1.3, "plain PyTorch, best threads"),
                 ("zoo/torch_compile", 1.15, "torch.compile"), ("zoo/hand", 1.0, "hand-written TF"),
                 ("zoo/hand_xla", 1.0, "hand-written TF + XLA"))
PEAK_TARGETS = {"mlp": 0.75, "conv": 0.50}


def targets_table(report):
    """One row per architecture: every ratio and the fraction of peak against its target, met or not."""
    lines = ["", "Targets (ratios of medians; fraction of the run's matmul peak):", "",
             "| arch | " + " | ".join(f"zoo / {name} (≥ {limit:g})" for _, limit, name in RATIO_TARGETS)
             + " | zoo, fraction of peak |", "|---" * (2 + len(RATIO_TARGETS)) + "|"]
    for arch, res in report["results"].items():
        q, cells = res["ratio_of_medians"], []
        for key, limit, _ in RATIO_TARGETS:
            cells.append(f"{q[key]:.2f} ({'met' if q[key] >= limit else 'not met'})" if key in q else "—")
        frac, limit = res.get("fraction_of_peak", {}).get("zoo"), PEAK_TARGETS.get(arch)
        cells.append("—" if frac is None else f"{100 * frac:.0f} %" + (
            "" if limit is None else f" of ≥ {100 * limit:.0f} % ({'met' if frac >= limit else 'not met'})"))
        lines.append(f"| {arch} | " + " | ".join(cells) + " |")
    return lines


def write_md(report, args, out):
    lines = [f"# Training throughput (images/s, batch {args.batch}, medians of {args.rounds} alternating segments)",
             "", f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; load average "
             f"{report['machine']['load_average_at_start']} → {report['machine']['load_average_at_end']} "
             "(shared, loaded machine: absolute numbers are not comparable across runs, ratios are)", "",
             "| arch | zoo | hand-written TF | hand-written TF + XLA | pythae | zoo / hand "
             "| zoo / hand + XLA | zoo / pythae | median of per-round ratios zoo/hand, zoo/hand+XLA, "
             "zoo/pythae |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arch, res in report["results"].items():
        m, q = res["median_images_per_s"], res["ratio_of_medians"]
        zp = q.get("zoo/pythae")
        lines.append(f"| {arch} | {m['zoo']:.0f} | {m['hand']:.0f} | {m['hand_xla']:.0f} | "
                     f"{m.get('pythae', float('nan')):.0f} | "
                     f"{q['zoo/hand']:.3f} | {q['zoo/hand_xla']:.3f} | "
                     + (f"{zp:.2f}" if zp else "—") + " | "
                     + ", ".join(f"{res['median_of_paired_ratios'][k]:.2f}" for k in
                                 ("zoo/hand", "zoo/hand_xla", "zoo/pythae") if k in res["median_of_paired_ratios"])
                     + " |")
    lines += torch_table(report)
    lines += targets_table(report)
    names = {"pythae": "pythae's column is its", "torch": "Plain PyTorch eager is at its",
             "torch_compile": "torch.compile is at its"}
    notes = []
    for kind, name in names.items():
        if not report.get(f"{kind}_threads"):
            continue
        notes.append(f"{name} best PyTorch thread count per architecture (each tried in its own process, "
                     "alternating with the others): " + ", ".join(
                         f"{arch}: {threads} thread{'s' if threads > 1 else ''} ("
                         + ", ".join(f"{peer.split('@')[1]}: {report['results'][arch]['median_images_per_s'][peer]:.0f}"
                                     for peer in report["results"][arch]["median_images_per_s"]
                                     if peer.startswith(kind + "@"))
                         + " images/s)" for arch, threads in report[f"{kind}_threads"].items()) + ".")
    if notes:
        lines += ["", "  \n".join(notes)]
    lines += flops_table(report)
    lines += variant_table(
        report, "zoo_nojit", "The zoo with `--set train.jit_compile=off` (no XLA) and `=on` (XLA), in the same "
        f"alternation, in a TF worker of their own (the default, `auto`, gives {default_steps(report)}):",
        ["zoo, XLA off", "zoo, XLA on", "XLA off / hand-written TF", "XLA on / hand-written TF", "XLA on / XLA off"],
        lambda m: [f"{m['zoo_nojit']:.0f}", f"{m['zoo_jit']:.0f}", f"{m['zoo_nojit'] / m['hand']:.3f}",
                   f"{m['zoo_jit'] / m['hand']:.3f}", f"{m['zoo_jit'] / m['zoo_nojit']:.3f}"])
    lines += variant_table(
        report, "zoo_onednn_off", "With TensorFlow's own CPU default on this CPU, oneDNN kernels off "
        "(`TF_ENABLE_ONEDNN_OPTS=0`, a TF worker of its own), in the same alternation:",
        ["zoo, oneDNN off", "hand-written TF, oneDNN off", "zoo / hand, both oneDNN off",
         "zoo (oneDNN on) / zoo (oneDNN off)"],
        lambda m: [f"{m['zoo_onednn_off']:.0f}", f"{m['hand_onednn_off']:.0f}",
                   f"{m['zoo_onednn_off'] / m['hand_onednn_off']:.3f}", f"{m['zoo'] / m['zoo_onednn_off']:.3f}"])
    lines += variant_table(
        report, "zoo_own_sums", "With TensorFlow's own gradient sums (AddN, Grappler's arithmetic optimiser on), as "
        "a hand-written step has them in a process of its own: a TF worker in which zoo does not set up the "
        "fixed-order sums of a deterministic plain step (zoo.training.gradient_sums), in the same alternation:",
        ["zoo, TF's sums", "hand-written TF, TF's sums", "zoo (default) / hand, TF's sums",
         "zoo (default) / zoo, TF's sums"],
        lambda m: [f"{m['zoo_own_sums']:.0f}", f"{m['hand_own_sums']:.0f}", f"{m['zoo'] / m['hand_own_sums']:.3f}",
                   f"{m['zoo'] / m['zoo_own_sums']:.3f}"])
    lines += ["", "Ratios of medians are the headline figures; the per-round ratios (each contender against the "
              "segment run right next to it) show how much the shared machine's load moves them. The zoo runs as "
              "`zoo train` does by default: TF deterministic ops (on for every contender of the TF worker), "
              f"16 steps per graph call at most, {default_steps(report)}, TensorFlow's "
              "oneDNN CPU kernels on (zoo sets `TF_ENABLE_ONEDNN_OPTS=1` when it is imported) and TF ops run one "
              "at a time (inter-op parallelism 1, as `zoo train` sets it for a deterministic run on one CPU). "
              "These are per-process settings, so the hand-written contenders of the same worker run with them "
              "too. \"hand-written TF\" is what a user would write by hand, a minimal "
              "`tf.function` step; \"+ XLA\" is the same step with `jit_compile=True`."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
