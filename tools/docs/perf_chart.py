"""The charts of docs/performance.md, drawn from the committed benchmark results.

    python tools/docs/perf_chart.py            # or: make perf-chart

reads the newest ``benchmarks/results/perf/throughput*.json`` by its run date (training throughput: zoo vs
hand-written TF, plain and XLA, vs pythae and plain PyTorch; written by ``benchmarks/perf/throughput.py``) and
``benchmarks/results/perf/iwae_eval.json`` (IWAE bound: zoo vs pythae's ``get_nll``; written by
``benchmarks/perf/iwae_eval.py``) and writes ``docs/assets/performance/throughput.png`` and
``iwae_eval.png``. Only matplotlib's Agg canvas and the Figure API are used (no pyplot state), at a
fixed size (900 px wide), and the PNG carries no software or date metadata, so the same inputs and
matplotlib version give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "perf"
OUT = REPO / "docs" / "assets" / "performance"

WIDTH_IN, DPI = 9.0, 100  # 900 px wide
ZOO_COLOUR = "#3f51b5"  # the site's indigo
COLOURS = {"zoo": ZOO_COLOUR, "hand_xla": "#607d8b", "hand": "#90a4ae", "pythae": "#e65100",
           "torch": "#ef6c00", "torch_compile": "#f57c00"}
ARCH_TITLES = {"mlp": "MLP 784-512-512, latent 32", "conv": "conv net (4 conv blocks, 32/64/64/64 filters), latent 32"}
TEXT, MUTED = "#212121", "#616161"


def _date(stamp: str) -> str:
    return stamp.split("T")[0]


def _machine(report: Mapping[str, Any]) -> str:
    machine = report["machine"]
    return f"{machine['cpu']}, {machine['cores']} cores, CPU only"


def _header(fig: Figure, height: int, title: str, subtitle: str) -> None:
    """A bold title and a grey line under it, placed in pixels from the top so they never overlap."""
    fig.text(0.02, 1 - 10 / height, title, ha="left", va="top", fontsize=15, fontweight="bold", color=TEXT)
    fig.text(0.02, 1 - 40 / height, subtitle, ha="left", va="top", fontsize=10.5, color=MUTED)


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    # No "Software" (matplotlib version) chunk and no timestamp: the bytes depend on the data only.
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def throughput_chart(report: Mapping[str, Any], path: Path) -> None:
    """One panel per architecture: images/s of each contender (median bar, one dot per round), with
    the zoo ÷ contender ratio of medians written on each contender's bar."""
    archs = [arch for arch in ("mlp", "conv") if arch in report["results"]]
    threads = {kind: report.get(f"{kind}_threads", {}) for kind in ("pythae", "torch", "torch_compile")}
    names = {"pythae": "pythae", "torch": "plain PyTorch", "torch_compile": "torch.compile"}
    contenders = 3 + sum(kind in report["results"][archs[0]]["median_images_per_s"] for kind in names)
    height = 90 + (60 + 38 * contenders) * len(archs)  # px
    fig = Figure(figsize=(WIDTH_IN, height / DPI), dpi=DPI)
    rounds = len(report["results"][archs[0]]["images_per_s"]["zoo"])
    _header(fig, height, "Training throughput, images per second (higher is better)",
            f"batch {report['batch_size']}, bar = median of {rounds} alternating rounds, dots = single rounds; "
            f"{_date(report['date'])}, {_machine(report)}")
    axes = fig.subplots(len(archs), 1, squeeze=False)[:, 0]
    fig.subplots_adjust(left=0.205, right=0.975, top=1 - 100 / height, bottom=35 / height, hspace=0.42)
    for ax, arch in zip(axes, archs):
        res = report["results"][arch]
        med, samples = res["median_images_per_s"], res["images_per_s"]
        rows = [("zoo", "zoo"), ("hand_xla", "hand-written TF\n+ XLA"), ("hand", "hand-written TF")]
        for kind, name in names.items():
            if kind in med:
                n = threads[kind].get(arch)
                rows.append((kind, f"{name}\n({n} thread{'s' if n != 1 else ''})" if n else name))
        rows = rows[::-1]  # zoo on top
        top = max(max(samples[key]) for key, _ in rows)
        for y, (key, _) in enumerate(rows):
            value = med[key]
            ax.barh(y, value, height=0.68, color=COLOURS[key], zorder=2)
            ax.scatter(samples[key], [y] * len(samples[key]), s=14, facecolors="white", edgecolors="#212121",
                       linewidths=0.8, zorder=4)
            if key != "zoo":
                ax.text(top * 0.012, y, f"zoo ÷ this = {med['zoo'] / value:.2f}×", va="center", ha="left",
                        fontsize=11.5, fontweight="bold", color="white", zorder=5)
            ax.text(max(value, max(samples[key])) + top * 0.015, y, f"{value:,.0f}", va="center", ha="left",
                    fontsize=11, color=TEXT)
        ax.set_yticks(range(len(rows)), [name for _, name in rows], fontsize=11, color=TEXT)
        ax.set_xlim(0, top * 1.13)
        ax.set_ylim(-0.55, len(rows) - 0.45)
        ax.set_title(ARCH_TITLES.get(arch, arch), loc="left", fontsize=12.5, color=TEXT, pad=6)
        ax.tick_params(axis="x", labelsize=10, colors=MUTED)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:,.0f}")
        ax.grid(axis="x", color="#e0e0e0", zorder=0)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_color("#bdbdbd")
    _save(fig, path)


def iwae_chart(report: Mapping[str, Any], path: Path) -> None:
    """Wall time of the IWAE bound for zoo and for pythae at each PyTorch thread count, with the
    pythae ÷ zoo time ratio (zoo's speed-up) on each pythae bar."""
    med = report["median_seconds"]
    peers = sorted((key for key in med if key.startswith("pythae")), key=lambda key: int(key.split("@")[1]))
    rows = [("zoo", "zoo"), *((key, f"pythae, {key.split('@')[1]} thread{'s' if key != 'pythae@1' else ''}")
                              for key in peers)][::-1]
    height = 330  # px
    fig = Figure(figsize=(WIDTH_IN, height / DPI), dpi=DPI)
    _header(fig, height, f"IWAE bound, k = {report['k']}, {report['images']:,} test images: wall time "
            "(lower is better)", f"MNIST, MLP 784-512-512, latent 32; each contender in a fresh process; "
            f"{_date(report['date'])}, {_machine(report)}")
    ax = fig.subplots()
    fig.subplots_adjust(left=0.165, right=0.975, top=1 - 85 / height, bottom=50 / height)
    top = max(med.values())
    for y, (key, _) in enumerate(rows):
        value = med[key]
        ax.barh(y, value, height=0.66, color=COLOURS["zoo" if key == "zoo" else "pythae"], zorder=2)
        if key != "zoo":
            ax.text(top * 0.012, y, f"this ÷ zoo = {value / med['zoo']:.2f}×", va="center", ha="left",
                    fontsize=11.5, fontweight="bold", color="white", zorder=3)
        ax.text(value + top * 0.012, y, f"{value:,.1f} s", va="center", ha="left", fontsize=11, color=TEXT)
    ax.set_yticks(range(len(rows)), [name for _, name in rows], fontsize=11, color=TEXT)
    ax.set_xlim(0, top * 1.12)
    ax.set_xlabel("seconds", fontsize=10, color=MUTED)
    ax.tick_params(axis="x", labelsize=10, colors=MUTED)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e0e0e0", zorder=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#bdbdbd")
    _save(fig, path)


def newest(folder: Path, name: str) -> Path:
    """The ``name*.json`` of ``folder`` whose report is dated last (the runs are kept side by side, one per date)."""
    runs = sorted(folder.glob(f"{name}*.json"), key=lambda path: json.loads(path.read_text()).get("date", ""))
    if not runs:
        raise SystemExit(f"no {name}*.json in {folder}; run benchmarks/perf/{name}.py first")
    return runs[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder with throughput.json, iwae_eval.json")
    parser.add_argument("--out", type=Path, default=OUT, help="folder the PNGs are written to")
    args = parser.parse_args(argv)
    for name, draw in (("throughput", throughput_chart), ("iwae_eval", iwae_chart)):
        source = newest(args.results, name) if name == "throughput" else args.results / f"{name}.json"
        target = args.out / f"{name}.png"
        draw(json.loads(source.read_text()), target)
        print(f"{source.relative_to(REPO) if source.is_relative_to(REPO) else source} -> "
              f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}")


if __name__ == "__main__":
    main()
