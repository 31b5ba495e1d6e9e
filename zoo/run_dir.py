"""The run folder: where a run's config, checkpoints, metrics and figures live.

    RUN/
      config.json        resolved RunSpec (rebuilds the model, repeats the run)
      manifest.json      command, versions, seed, dataset checksums, git commit, devices,
                         execution mode of each (re)start (XLA, ops one at a time, oneDNN)
      state.json         training progress: last finished epoch, its checkpoint, history
      metrics.csv        one row per finished epoch (rewritten from state.json)
      checkpoints/       epoch-NNNN.keras (last), best.keras
      model.keras        the final model (best validation ELBO), Keras safe-mode loadable
      metrics.json       test-set evaluation
      figures/*.png
      tensorboard/
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo import io as zio
from zoo.errors import ZooError

PACKAGES = ("tensorflow", "tensorflow-probability", "keras", "keras-tuner", "numpy", "matplotlib", "typer")


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.json")
    manifest = property(lambda self: self.root / "manifest.json")
    state = property(lambda self: self.root / "state.json")
    metrics_csv = property(lambda self: self.root / "metrics.csv")
    metrics = property(lambda self: self.root / "metrics.json")
    checkpoints = property(lambda self: self.root / "checkpoints")
    best_checkpoint = property(lambda self: self.root / "checkpoints" / "best.keras")
    model = property(lambda self: self.root / "model.keras")
    figures = property(lambda self: self.root / "figures")
    tensorboard = property(lambda self: self.root / "tensorboard")

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.keras"

    def exists(self) -> bool:
        return self.config.exists()

    def prepare(self) -> None:
        """Creates the folder, failing with one clear line when it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-probe"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise ZooError(f"cannot write to run folder {self.root}: {error.strerror or error}; "
                           "choose another --out") from None

    def read_json(self, path: Path, what: str) -> Any:
        try:
            return zio.read_json(path)
        except FileNotFoundError:
            raise ZooError(f"{self.root} has no {path.name}; is it a zoo run folder?") from None
        except (OSError, json.JSONDecodeError) as error:
            raise ZooError(f"{path} is unreadable or corrupt ({error}); {what}") from None

    def remove_other_checkpoints(self, keep: str | None) -> None:
        """Deletes every ``epoch-NNNN.keras`` except ``keep`` (the one ``state.json`` names)."""
        for path in self.checkpoints.glob("epoch-*.keras"):
            if path.name != keep:
                path.unlink(missing_ok=True)

    def tidy(self, state: dict[str, Any] | None) -> None:
        """Repairs what a killed run leaves behind, before the folder is used again.

        Deletes temporary files of interrupted atomic writes and checkpoints that
        ``state.json`` does not name (all of them when there is no state: the run
        starts over), and rewrites ``metrics.csv`` from the state's history, which
        a kill between the two writes can leave one epoch behind.
        """
        for folder in (self.root, self.checkpoints, self.figures):
            if folder.is_dir():
                zio.remove_temp_files(folder)
        if state is None:
            self.remove_other_checkpoints(keep=None)
            self.best_checkpoint.unlink(missing_ok=True)
        else:
            self.remove_other_checkpoints(keep=state.get("checkpoint"))
            self.write_metrics_csv(state.get("history", []))

    def write_metrics_csv(self, history: list[dict[str, Any]]) -> None:
        columns = sorted({key for row in history for key in row} - {"epoch"})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["epoch", *columns])
        writer.writeheader()
        writer.writerows(history)
        zio.write_text(self.metrics_csv, buffer.getvalue())


def git_commit() -> str | None:
    """The commit of the zoo source tree, with '-dirty' when it has uncommitted changes."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def build_manifest(spec_dict: dict[str, Any], checksums: dict[str, str], devices: list[str],
                   strategy: str, precision: str) -> dict[str, Any]:
    return {
        "command": ["zoo", *sys.argv[1:]],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": spec_dict,
        "seed": spec_dict["train"]["seed"],
        "dataset": {"name": spec_dict["data"]["name"], "checksums": checksums},
        "git_commit": git_commit(),
        "versions": {"python": platform.python_version(), **package_versions()},
        "platform": platform.platform(),
        "devices": devices,
        "strategy": strategy,
        "precision": precision,
    }
