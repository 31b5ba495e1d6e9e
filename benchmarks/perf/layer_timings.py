"""Per-layer timings of the benchmark's training step: which layers hold the step below the machine's peak.

    python benchmarks/perf/layer_timings.py [--arch mlp conv] [--repeats 50] [--out PATH]

For each weight layer of benchmarks/perf/flops.py's architectures, the layer's forward pass and its two
backward products (gradients with respect to its input and its weights) run alone, at the training batch
size, in TensorFlow with the process settings of `zoo train` (zoo imported first: oneDNN on; TF ops one at a
time), under XLA for the MLP and as a plain graph for the conv net, as zoo's default step runs them. Each
layer's best-of-rounds time gives its GFLOP/s and its share of the float32 matrix-product peak timed in the
same process. The sum over the weight layers, set against the whole step's time from the throughput run
(benchmarks/results/perf/throughput.json), shows how much of the step is spent outside the counted products:
activations, batch norm, sampling, the loss, Adam's update and the input pipeline.
Writes benchmarks/results/perf/layer_timings.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "perf"
sys.path.insert(0, str(HERE))
import flops  # noqa: E402
from machine import cpu_name  # noqa: E402

import zoo  # noqa: E402,F401  (first: zoo's TensorFlow CPU defaults)
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.training.devices import serialise_ops  # noqa: E402

assert serialise_ops(), "TF started before serialise_ops"


def best_seconds(fn, repeats: int, rounds: int = 5) -> float:
    """The best per-call time over ``rounds`` rounds of ``repeats`` calls (after a warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            out = fn()
        _ = out.numpy() if hasattr(out, "numpy") else out
        best = min(best, (time.perf_counter() - started) / repeats)
    return best


def layer_step(layer, batch: int, jit: bool):
    """A callable running ``layer``'s forward and both backward products once on random data."""
    if isinstance(layer, flops.Conv2DTranspose):
        keras_layer = keras.layers.Conv2DTranspose(layer.channels_out, layer.kernel, layer.stride, "same")
        shape = (batch, layer.height, layer.width, layer.channels_in)
    elif isinstance(layer, flops.Conv2D):
        keras_layer = keras.layers.Conv2D(layer.channels_out, layer.kernel, layer.stride, "same")
        shape = (batch, layer.height, layer.width, layer.channels_in)
    else:
        keras_layer = keras.layers.Dense(layer.units_out)
        shape = (batch, layer.units_in)
    x = tf.random.normal(shape, seed=0)
    keras_layer.build(shape)
    upstream = tf.random.normal(keras_layer.compute_output_shape(shape), seed=1)

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = keras_layer(x)
            loss = tf.reduce_sum(y * upstream)
        dx, dw = tape.gradient(loss, [x, keras_layer.kernel])
        return tf.reduce_sum(dx) + tf.reduce_sum(dw)

    return step


def weight_shapes(layer) -> list[tuple[int, ...]]:
    """The kernel and bias shapes of a weight layer, as Keras builds them."""
    if isinstance(layer, flops.Conv2DTranspose):
        return [(layer.kernel, layer.kernel, layer.channels_out, layer.channels_in), (layer.channels_out,)]
    if isinstance(layer, flops.Conv2D):
        return [(layer.kernel, layer.kernel, layer.channels_in, layer.channels_out), (layer.channels_out,)]
    return [(layer.units_in, layer.units_out), (layer.units_out,)]


def adam_step(layers, jit: bool):
    """A callable applying one Adam update to variables of the weight layers' shapes (batch norm left out)."""
    variables = [tf.Variable(tf.random.normal(shape, seed=index)) for index, shape in
                 enumerate(shape for layer in layers for shape in weight_shapes(layer))]
    grads = [tf.random.normal(v.shape, seed=100 + index) * 1e-3 for index, v in enumerate(variables)]
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(variables)

    @tf.function(jit_compile=jit)
    def step():
        optimizer.apply(grads, variables)
        return variables[0][0, 0]

    return step, sum(int(tf.size(v)) for v in variables)


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    a = tf.random.normal((size, size), seed=0)
    b = tf.random.normal((size, size), seed=1)
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return 2 * size ** 3 / best_seconds(product, repeats) / 1e9


def describe(layer) -> str:
    if isinstance(layer, flops.Conv2D):
        kind = "Conv2DTranspose" if isinstance(layer, flops.Conv2DTranspose) else "Conv2D"
        return (f"{kind} {layer.height}×{layer.width}×{layer.channels_in} → {layer.channels_out}, "
                f"{layer.kernel}×{layer.kernel}, stride {layer.stride}")
    return f"Dense {layer.units_in} → {layer.units_out}"


def measure(arch: str, batch: int, repeats: int) -> dict:
    jit = arch == "mlp"  # zoo's default step on one CPU: XLA for the MLP, the plain graph for the conv net
    peak = matmul_peak()
    rows = []
    for layer in flops.architecture_layers(arch):
        seconds = best_seconds(layer_step(layer, batch, jit), repeats)
        step_flops = flops.step_flops([layer], batch)["total"]
        rows.append({"layer": describe(layer), "flops": step_flops, "seconds": seconds,
                     "gflops_per_s": step_flops / seconds / 1e9})
    adam, parameters = adam_step(flops.architecture_layers(arch), jit)
    adam_seconds = best_seconds(adam, repeats)
    peak = max(peak, matmul_peak())  # once before and once after the layers: the better of the two
    for row in rows:
        row["fraction_of_peak"] = row["gflops_per_s"] / peak
    return {"xla": jit, "matmul_peak_gflops": peak, "layers": rows,
            "adam": {"parameters": parameters, "seconds": adam_seconds,
                     # Adam reads the parameter, its gradient and both moments and writes three of them back.
                     "gigabytes_per_s": 7 * 4 * parameters / adam_seconds / 1e9},
            "weight_layers_seconds": sum(row["seconds"] for row in rows),
            "weight_layers_flops": sum(row["flops"] for row in rows)}


def write_md(report: dict, out: Path) -> None:
    lines = ["# Per-layer timings of the training step", "",
             f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
             f"Machine: {report['machine']}; load average {report['load_average_at_start']} → "
             f"{report['load_average_at_end']}  ",
             f"Batch {report['batch_size']}; each layer's forward and both backward products alone, best of 5 "
             "rounds; the whole step's time is the zoo's median from "
             f"`{report['throughput_file']}` ({report['throughput_date']}).", ""]
    for arch, res in report["results"].items():
        lines += [f"## {arch} ({'XLA' if res['xla'] else 'plain graph'}; matrix-product peak "
                  f"{res['matmul_peak_gflops']:.0f} GFLOP/s)", "",
                  "| layer | MFLOP per step | ms per step | GFLOP/s | share of peak | share of the weight layers' time |",
                  "|---|---:|---:|---:|---:|---:|"]
        total = res["weight_layers_seconds"]
        for row in res["layers"]:
            lines.append(f"| {row['layer']} | {row['flops'] / 1e6:.1f} | {1e3 * row['seconds']:.3f} | "
                         f"{row['gflops_per_s']:.0f} | {100 * row['fraction_of_peak']:.0f} % | "
                         f"{100 * row['seconds'] / total:.0f} % |")
        adam = res.get("adam")
        if adam:
            lines += ["", f"Adam's update of the {adam['parameters']:,} weights alone: {1e3 * adam['seconds']:.2f} ms "
                      f"per step ({adam['gigabytes_per_s']:.0f} GB/s of parameter, gradient and moment traffic)."]
        step = res.get("whole_step_seconds")
        lines += ["", f"Weight layers alone: {1e3 * total:.2f} ms per step, "
                  f"{res['weight_layers_flops'] / total / 1e9:.0f} GFLOP/s "
                  f"({100 * res['weight_layers_flops'] / total / 1e9 / res['matmul_peak_gflops']:.0f} % of peak)."]
        if step:
            lines[-1] += (f" The whole zoo step: {1e3 * step:.2f} ms, so {100 * (1 - total / step):.0f} % of it is "
                          "spent outside the counted products (activations, batch norm, sampling, loss, Adam, "
                          "input pipeline) or in the products running slower inside the full graph.")
        lines.append("")
    lines += ["Shares above 100 % mean the dense count overstates a layer's work: it counts the padded border "
              "as computed (on a 7×7 grid with a 3×3 kernel, 18 % of the counted multiply-adds fall on the "
              "padding), and a 3×3 kernel at stride 1 can be run with fewer multiplications than the direct "
              "product. The small products (the 64-unit posterior head, the 32-unit latent input, the "
              "single-channel image layers) cannot fill the vector units at batch 128; the large ones run at "
              "60–90 % of the peak. What holds the whole step back is the time outside the products.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=50, help="calls per timed round (the conv net: a fifth)")
    parser.add_argument("--throughput", default=str(RESULTS / "throughput.json"))
    parser.add_argument("--out", default=str(RESULTS / "layer_timings"))
    args = parser.parse_args()
    report = {"command": " ".join(["python", *sys.argv]), "batch_size": args.batch,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{cpu_name()}, {os.cpu_count()} cores", "load_average_at_start": os.getloadavg(), "results": {}}
    throughput = json.loads(Path(args.throughput).read_text()) if Path(args.throughput).exists() else None
    report["throughput_date"] = throughput["date"] if throughput else None
    report["throughput_file"] = Path(args.throughput).name
    for arch in args.arch:
        res = measure(arch, args.batch, args.repeats if arch == "mlp" else max(1, args.repeats // 5))
        if throughput and arch in throughput["results"]:
            res["whole_step_seconds"] = args.batch / throughput["results"][arch]["median_images_per_s"]["zoo"]
        report["results"][arch] = res
    report["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    write_md(report, out)


if __name__ == "__main__":
    main()
