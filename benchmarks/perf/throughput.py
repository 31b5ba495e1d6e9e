"""Training throughput, zoo vs a hand-written TF loop vs pythae, as ratios of medians of alternating runs.

    ZOO_DATA_DIR=/work/shared/datasets /work/venv/bin/python benchmarks/perf/throughput.py \
        --peers-python benchmarks/.peers-venv/bin/python --rounds 7

One long-lived worker per framework (benchmarks/perf/tf_worker.py: zoo and hand-written;
pythae_worker.py: pythae in the peers' venv, made by setup_peers.sh) builds and warms up
its models, then waits. The orchestrator asks them in turn, zoo, hand, pythae, zoo, hand,
pythae, ...: only one contender runs at a time, each segment trains the same number of
steps, and the ratios are taken from the medians. Writes benchmarks/results/perf/throughput.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "perf"


def start(cmd, env):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    for line in proc.stdout:
        if line.strip() == "ready":
            return proc
    raise RuntimeError(f"worker failed to start: {' '.join(cmd)}")


def ask(proc, who):
    proc.stdin.write(who + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers-python", default=str(HERE.parent / ".peers-venv" / "bin" / "python"))
    parser.add_argument("--arch", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", default="mlp=160,conv=32",
                        help="steps per timed segment (a multiple of the zoo's steps per graph call)")
    parser.add_argument("--no-pythae", action="store_true")
    parser.add_argument("--peer-threads", default="1,2",
                        help="PyTorch thread counts tried for pythae (one process each); its best median counts")
    parser.add_argument("--out", default=str(RESULTS / "throughput"))
    parser.add_argument("--from-json", help="only rewrite the .md from a saved .json")
    args = parser.parse_args()
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        args.rounds = len(next(iter(report["results"].values()))["images_per_s"]["zoo"])
        args.batch = report["batch_size"]
        return write_md(report, args, Path(args.from_json).with_suffix(""))
    steps = dict(item.split("=") for item in args.steps.split(","))
    data_dir = os.environ.setdefault("ZOO_DATA_DIR", "/work/shared/datasets")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    report = {"command": " ".join(["python", *sys.argv]), "date": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"), "machine": machine(), "batch_size": args.batch, "results": {}}
    for arch in args.arch:
        n = steps[arch]
        workers = {"tf": start([sys.executable, str(HERE / "tf_worker.py"), arch, str(args.batch), n], env)}
        peers = [] if args.no_pythae else [f"pythae@{t}" for t in args.peer_threads.split(",")]
        for peer in peers:  # one pythae process per PyTorch thread count
            workers[peer] = start([args.peers_python, str(HERE / "pythae_worker.py"), arch, str(args.batch), n,
                                   data_dir], {**env, "PEER_THREADS": peer.split("@")[1]})
        variants = []  # (label, worker, contender)
        if os.environ.get("ZOO_BENCH_VARIANTS"):
            # The zoo without XLA, and zoo and hand-written TF with TensorFlow's own CPU default (oneDNN off):
            # TF reads TF_ENABLE_ONEDNN_OPTS at import, so the latter run in a second TF worker.
            workers["tf_onednn_off"] = start([sys.executable, str(HERE / "tf_worker.py"), arch, str(args.batch), n],
                                             {**env, "TF_ENABLE_ONEDNN_OPTS": "0"})
            variants = [("zoo_nojit", "tf", "zoo_nojit"), ("zoo_jit", "tf", "zoo_jit"),
                        ("zoo_onednn_off", "tf_onednn_off", "zoo"),
                        ("hand_onednn_off", "tf_onednn_off", "hand")]
        order = [("zoo", "tf", "zoo"), *variants, ("hand", "tf", "hand"), ("hand_xla", "tf", "hand_xla"),
                 *[(peer, peer, peer) for peer in peers]]
        samples = {label: [] for label, _, _ in order}
        for r in range(args.rounds):
            for label, worker, who in order:
                samples[label].append(ask(workers[worker], who)["images_per_s"])
            print(arch, r, {k: round(v[-1], 1) for k, v in samples.items()}, flush=True)
        for proc in workers.values():
            proc.stdin.write("quit\n")
            proc.stdin.close()
            proc.wait()
        med = {who: statistics.median(v) for who, v in samples.items()}
        if peers:
            # pythae at its best thread count on this machine and load (the highest median).
            best = max(peers, key=lambda peer: med[peer])
            samples["pythae"], med["pythae"] = samples[best], med[best]
            report.setdefault("pythae_threads", {})[arch] = int(best.split("@")[1])
        # Ratio per round (adjacent runs share the load), then the median of those ratios.
        paired = {f"zoo/{ref}": statistics.median(z / h for z, h in zip(samples["zoo"], samples[ref]))
                  for ref in ("hand", "hand_xla")}
        if "pythae" in samples:
            paired["zoo/pythae"] = statistics.median(z / p for z, p in zip(samples["zoo"], samples["pythae"]))
        report["results"][arch] = {"steps_per_segment": int(n), "images_per_s": samples, "median_images_per_s": med,
                                   "ratio_of_medians": {"zoo/hand": med["zoo"] / med["hand"],
                                                        "zoo/hand_xla": med["zoo"] / med["hand_xla"],
                                                        **({"zoo/pythae": med["zoo"] / med["pythae"]}
                                                           if "pythae" in med else {})},
                                   "median_of_paired_ratios": paired}
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_md(report, args, out)


def variant_table(report, label, intro, columns, cells) -> list[str]:
    """Markdown lines of a table over the architectures whose results have the variant ``label`` (none if none)."""
    rows = [(arch, res["median_images_per_s"]) for arch, res in report["results"].items()
            if label in res["median_images_per_s"]]
    if not rows:
        return []
    return ["", intro, "", "| arch | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|",
            *(f"| {arch} | " + " | ".join(cells(m)) + " |" for arch, m in rows)]


def write_md(report, args, out):
    lines = [f"# Training throughput (images/s, batch {args.batch}, medians of {args.rounds} alternating segments)",
             "", f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; load average "
             f"{report['machine']['load_average_at_start']} → {report['machine']['load_average_at_end']} "
             "(shared, loaded machine: absolute numbers are not comparable across runs, ratios are)", "",
             "| arch | zoo | hand-written TF | hand-written TF + XLA | pythae | zoo / hand (target ≥ 0.95) "
             "| zoo / hand + XLA | zoo / pythae (target ≥ 1.3) | median of per-round ratios zoo/hand, zoo/hand+XLA, "
             "zoo/pythae |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arch, res in report["results"].items():
        m, q = res["median_images_per_s"], res["ratio_of_medians"]
        zp = q.get("zoo/pythae")
        lines.append(f"| {arch} | {m['zoo']:.0f} | {m['hand']:.0f} | {m['hand_xla']:.0f} | "
                     f"{m.get('pythae', float('nan')):.0f} | "
                     f"{q['zoo/hand']:.3f} ({'met' if q['zoo/hand'] >= 0.95 else 'not met'}) | "
                     f"{q['zoo/hand_xla']:.3f} | "
                     + (f"{zp:.2f} ({'met' if zp >= 1.3 else 'not met'})" if zp else "—") + " | "
                     + ", ".join(f"{v:.2f}" for v in res["median_of_paired_ratios"].values()) + " |")
    if report.get("pythae_threads"):
        lines += ["", "pythae's column is its best PyTorch thread count per architecture (each tried in its own "
                  "process, alternating with the others): " + ", ".join(
                      f"{arch}: {threads} thread{'s' if threads > 1 else ''} ("
                      + ", ".join(f"{peer.split('@')[1]}: {report['results'][arch]['median_images_per_s'][peer]:.0f}"
                                  for peer in report["results"][arch]["median_images_per_s"] if "@" in peer)
                      + " images/s)" for arch, threads in report["pythae_threads"].items()) + "."]
    lines += variant_table(
        report, "zoo_nojit", "The zoo with `--set train.jit_compile=off` (no XLA) and `=on` (XLA), in the same "
        "alternation (the default, `auto`, is XLA for the MLP and no XLA for the conv net):",
        ["zoo, XLA off", "zoo, XLA on", "XLA off / hand-written TF", "XLA on / hand-written TF", "XLA on / XLA off"],
        lambda m: [f"{m['zoo_nojit']:.0f}", f"{m['zoo_jit']:.0f}", f"{m['zoo_nojit'] / m['hand']:.3f}",
                   f"{m['zoo_jit'] / m['hand']:.3f}", f"{m['zoo_jit'] / m['zoo_nojit']:.3f}"])
    lines += variant_table(
        report, "zoo_onednn_off", "With TensorFlow's own CPU default on this CPU, oneDNN kernels off "
        "(`TF_ENABLE_ONEDNN_OPTS=0`, a second TF worker), in the same alternation:",
        ["zoo, oneDNN off", "hand-written TF, oneDNN off", "zoo / hand, both oneDNN off",
         "zoo (oneDNN on) / zoo (oneDNN off)"],
        lambda m: [f"{m['zoo_onednn_off']:.0f}", f"{m['hand_onednn_off']:.0f}",
                   f"{m['zoo_onednn_off'] / m['hand_onednn_off']:.3f}", f"{m['zoo'] / m['zoo_onednn_off']:.3f}"])
    lines += ["", "Ratios of medians are the headline figures; the per-round ratios (each contender against the "
              "segment run right next to it) show how much the shared machine's load moves them. The zoo runs as "
              "`zoo train` does by default: TF deterministic ops (on for every contender of the TF worker), "
              "16 steps per graph call at most, XLA for the MLP and the plain step for the conv net, TensorFlow's "
              "oneDNN CPU kernels on (zoo sets `TF_ENABLE_ONEDNN_OPTS=1` when it is imported) and TF ops run one "
              "at a time (inter-op parallelism 1, as `zoo train` sets it for a deterministic run on one CPU). "
              "These are per-process settings, so the hand-written contenders of the same worker run with them "
              "too. \"hand-written TF\" is what a user would write by hand, a minimal "
              "`tf.function` step; \"+ XLA\" is the same step with `jit_compile=True`."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
