"""The run folder: where a run's config, checkpoints, metrics and figures live.

    RUN/
      .zoo-run           marker: zoo made this folder (zoo version, created time); zoo only
                         replaces or tidies folders that have it
      config.json        resolved RunSpec (rebuilds the model, repeats the run)
      manifest.json      command, versions, seed, dataset checksums, git commit, devices,
                         execution mode of each (re)start (XLA, ops one at a time, oneDNN)
      state.json         training progress: last finished epoch, its checkpoint, history
      metrics.csv        one row per finished epoch (rewritten from state.json)
      checkpoints/       epoch-NNNN.keras (last, and those of ``keep_epochs``), best.keras
      model.keras        the final model (best validation ELBO), Keras safe-mode loadable
      metrics.json       test-set evaluation
      figures/*.png
      tensorboard/

Any other file in the folder is the user's: ``--overwrite`` removes only the names above.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo import io as zio
from zoo.errors import ZooError

MARKER = ".zoo-run"
# Everything zoo writes at the top of a run folder (the marker too); --overwrite removes these and nothing else.
OWNED_FILES = (MARKER, "config.json", "manifest.json", "state.json", "metrics.csv", "metrics.json", "model.keras",
               ".write-probe")
OWNED_FOLDERS = ("checkpoints", "figures", "tensorboard")
# The sections of a RunSpec's config.json: a folder without the marker but with such a config is a run made by
# a zoo from before the marker.
SPEC_KEYS = ("name", "class", "model", "train", "data", "evaluation")

PACKAGES = ("tensorflow", "tensorflow-probability", "keras", "keras-tuner", "numpy", "matplotlib", "typer")


class RunDir:
    def __init__(self, root: str | Path, keep_epochs: tuple[int, ...] = ()):
        self.root = Path(root)
        # Epochs whose checkpoints outlive the next epoch's (the bench scores a model part-way through training).
        self.keep_epochs = tuple(int(epoch) for epoch in keep_epochs)

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

    marker = property(lambda self: self.root / MARKER)

    def exists(self) -> bool:
        return self.config.exists()

    def _has_zoo_config(self) -> bool:
        try:
            config = zio.read_json(self.config)
        except (OSError, ValueError):
            return False
        return isinstance(config, dict) and all(key in config for key in SPEC_KEYS)

    def is_zoo_run(self) -> bool:
        """Made by zoo: has the marker, or (a run from before the marker) a config.json that is a RunSpec."""
        return self.marker.is_file() or self._has_zoo_config()

    def owned(self, name: str) -> bool:
        return name in OWNED_FILES or name in OWNED_FOLDERS or (name.startswith(".") and zio.TEMP_MARKER in name)

    def kind(self) -> str:
        """``absent`` (no folder, or not a folder), ``empty``, ``zoo`` (a zoo run folder) or ``foreign``."""
        if not self.root.is_dir():
            return "absent"
        if self.is_zoo_run():
            return "zoo"
        try:
            names = [path.name for path in self.root.iterdir()]
        except OSError:
            return "absent"  # unreadable: prepare() reports it
        # Leftovers of a zoo killed before it wrote anything else do not make a folder the user's.
        leftover = [name == ".write-probe" or (self.owned(name) and zio.TEMP_MARKER in name) for name in names]
        return "empty" if all(leftover) else "foreign"

    def not_zoo_error(self, doing: str) -> ZooError:
        what = "its config.json is not a zoo config" if self.config.exists() else "no config.json"
        return ZooError(f"{self.root} is not a zoo run folder (no {MARKER} marker, {what}); zoo will not "
                        f"{doing} a folder it did not make: choose another --out")

    def mark(self, note: dict[str, Any] | None = None) -> None:
        """Writes the marker once; later starts leave it (and its created time) as it is."""
        if not self.marker.exists():
            zio.write_json(self.marker, {"zoo_version": zoo_version(),
                                         "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                         **(note or {})})

    def remove_owned(self) -> list[str]:
        """Deletes what zoo wrote (``OWNED_FILES``, ``OWNED_FOLDERS``, temporary files); keeps every other file."""
        removed = []
        for path in sorted(self.root.iterdir()):
            if not self.owned(path.name):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
        return removed

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
        """Deletes every ``epoch-NNNN.keras`` except ``keep`` (the one ``state.json`` names) and, unless ``keep``
        is None (the run starts over), those of ``keep_epochs``."""
        kept = {keep, *(self.epoch_checkpoint(epoch).name for epoch in self.keep_epochs)} if keep else set()
        for path in self.checkpoints.glob("epoch-*.keras"):
            if path.name not in kept:
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
    """The commit of the zoo source tree, with '-dirty' when it has uncommitted changes. Changes under
    benchmarks/results/ do not count: that is where `zoo bench` writes, so a rerun bench rewrites tracked result
    files of the very commit it runs."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=source,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def zoo_version() -> str | None:
    try:
        return metadata.version("zoo")
    except metadata.PackageNotFoundError:
        return None


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
