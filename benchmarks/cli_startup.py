"""Benchmark: how long the commands that must not import TensorFlow take to answer.

`zoo list`, `zoo --help`, `zoo train --help` and a mistyped model name (`zoo train vea`) read only the registry
files and Typer's help; each should answer in well under 2 s on an idle machine. Each command runs
``--repeats`` times in a fresh process (``python -m zoo …``); the table gives the median and the slowest wall
time, and whether TensorFlow was imported (checked by a run with ``-X importtime``).

    python benchmarks/cli_startup.py --repeats 7

writes ``benchmarks/results/cli_startup.json`` and ``.md`` with the command, date, machine and load. Compare
`zoo train vae --epochs 0`-style commands, which do import TensorFlow: about 5–8 s of start-up here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"
COMMANDS = {
    "zoo list": ["list"],
    "zoo --help": ["--help"],
    "zoo train --help": ["train", "--help"],
    "zoo train vea (unknown model)": ["train", "vea"],
    "zoo --version": ["--version"],
}


def _time(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, cwd=REPO_ROOT, check=False)
    return time.perf_counter() - started


def _imports_tensorflow(args: list[str]) -> bool:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo", *args], capture_output=True,
                          text=True, cwd=REPO_ROOT, check=False)
    return any(line.rstrip().endswith("| tensorflow") for line in done.stderr.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    rows = []
    for label, command in COMMANDS.items():
        _time(command)  # warm the file cache
        times = [_time(command) for _ in range(args.repeats)]
        rows.append({"command": label, "median_s": statistics.median(times), "max_s": max(times),
                     "imports_tensorflow": _imports_tensorflow(command)})
    record = {
        "command": "python benchmarks/cli_startup.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": [round(v, 2) for v in os.getloadavg()]},
        "repeats": args.repeats,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["# Start-up time of the commands that do not import TensorFlow", "",
             f"Command: `{record['command']}`  ", f"Date: {record['date']}  ",
             f"Machine: {record['machine']['cpus']} cores, load average {record['machine']['load_average']} at the "
             f"end; each command {args.repeats} times in a fresh process", "",
             "| command | median (s) | slowest (s) | imports TensorFlow |", "| --- | ---: | ---: | --- |"]
    for row in rows:
        lines.append(f"| `{row['command']}` | {row['median_s']:.2f} | {row['max_s']:.2f} | "
                     f"{'yes' if row['imports_tensorflow'] else 'no'} |")
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
