"""The model registry: preset names → a model class plus overrides of its defaults.

Sources, later ones overriding earlier ones by name:

1. ``registry.yaml``, the built-in presets: kept at the repository root and shipped in the wheel
   as ``zoo/registry.yaml``;
2. installed packages exposing an entry point in the ``zoo.registry`` group whose
   object is a mapping of entries (or a path to a YAML file with a ``models:`` block);
3. the YAML file named by ``$ZOO_REGISTRY``;
4. the YAML file given with ``--registry``.

An entry::

    vae:
      class: zoo.models.vae:VAE       # "module:Class", imported lazily
      family: likelihood bound        # the heading `zoo list` shows it under
      description: ...
      paper: ...
      dataset: mnist                  # default dataset
      model: {latent_dim: 32}         # overrides of the model's config dataclass
      train: {epochs: 30}             # overrides of TrainConfig
      data: {}                        # overrides of DataConfig
      evaluation: {}                  # overrides of EvalConfig
      search_space:                   # what `zoo tune` searches
        latent_dim: {values: [2, 4, 8, 16, 32, 64]}
        learning_rate: {min: 1.0e-4, max: 3.0e-3, log: true}

Validation happens when an entry is resolved: unknown keys, wrong types and
out-of-range values, an import path that does not resolve and a class that is
not a zoo model all raise ``ZooError`` naming the entry.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from zoo.errors import ZooError, suggest


def _builtin_registry() -> Path:
    """The copy an installed wheel carries inside the package, else the repository root's (a checkout or an
    editable install, where the root's file is the only one)."""
    packaged = resources.files("zoo") / "registry.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "registry.yaml"


BUILTIN_REGISTRY = _builtin_registry()
ENTRY_POINT_GROUP = "zoo.registry"
ENTRY_KEYS = ("class", "family", "description", "paper", "dataset", "model", "train", "data", "evaluation",
              "search_space")
CONFIG_SECTIONS = ("model", "train", "data", "evaluation")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registry entry, as written (not yet validated against the class)."""

    name: str
    class_path: str
    source: str
    family: str = ""
    description: str = ""
    paper: str = ""
    dataset: str = "mnist"
    model: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    evaluation: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    search_space: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def model_class(self):
        """Imports the class, checking that it is a zoo model."""
        from zoo.models.vae import VAE

        module_name, _, attribute = self.class_path.partition(":")
        if not module_name or not attribute:
            raise ZooError(f"registry entry '{self.name}' ({self.source}): class '{self.class_path}' "
                           "must look like 'package.module:ClassName'")
        try:
            cls = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise ZooError(f"registry entry '{self.name}' ({self.source}): cannot import class "
                           f"'{self.class_path}' ({error})") from None
        if not (isinstance(cls, type) and issubclass(cls, VAE)):
            raise ZooError(f"registry entry '{self.name}' ({self.source}): '{self.class_path}' is not a zoo model "
                           "(it must subclass zoo.models.VAE)")
        return cls

    def to_yaml_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.class_path}
        for key in ENTRY_KEYS[1:]:
            value = getattr(self, key)
            if value:
                out[key] = dict(value) if isinstance(value, Mapping) else value
        return out


class Registry:
    """All known entries, by name, with the problems met while loading plugins."""

    def __init__(self, entries: dict[str, Entry], warnings: list[str]):
        self.entries = entries
        self.warnings = warnings

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            raise ZooError(f"unknown model '{name}'{suggest(name, self.entries)}; choose one of: "
                           f"{', '.join(self.entries)} "
                           "(or add an entry with --registry FILE)")
        return self.entries[name]


def parse_entries(raw: Any, source: str) -> dict[str, Entry]:
    """Checks the shape of a ``models:`` mapping and turns it into entries."""
    if isinstance(raw, Mapping) and "models" in raw:
        extra = sorted(set(raw) - {"models"})
        if extra:
            raise ZooError(f"{source}: unknown top-level key(s) {', '.join(extra)}; the file holds one 'models:' block")
        raw = raw["models"]
    if not isinstance(raw, Mapping):
        raise ZooError(f"{source}: expected a 'models:' mapping of name → entry")
    entries = {}
    for name, body in raw.items():
        if not isinstance(body, Mapping):
            raise ZooError(f"{source}: entry '{name}' must be a mapping with at least a 'class' key")
        unknown = sorted(set(body) - set(ENTRY_KEYS))
        if unknown:
            raise ZooError(f"{source}: entry '{name}' has unknown key(s) {', '.join(unknown)}; "
                           f"valid keys: {', '.join(ENTRY_KEYS)}")
        if "class" not in body:
            raise ZooError(f"{source}: entry '{name}' needs a 'class' key ('package.module:ClassName')")
        for key in (*CONFIG_SECTIONS, "search_space"):
            if not isinstance(body.get(key, {}) or {}, Mapping):
                raise ZooError(f"{source}: entry '{name}': '{key}' must be a mapping")
        for key in ("class", "family", "description", "paper", "dataset"):
            if key in body and not isinstance(body[key], str):
                raise ZooError(f"{source}: entry '{name}': '{key}' must be a string")
        fields = {key: (dict(body[key] or {}) if key in (*CONFIG_SECTIONS, "search_space") else body[key])
                  for key in ENTRY_KEYS[1:] if key in body}
        entries[str(name)] = Entry(name=str(name), class_path=body["class"], source=source, **fields)
    return entries


def read_registry_file(path: str | os.PathLike) -> dict[str, Entry]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ZooError(f"cannot read registry file {path}: {error.strerror or error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ZooError(f"registry file {path} is not valid YAML{where}; fix the syntax") from None
    return parse_entries(raw or {}, str(path))


def _entry_point_entries(warnings: list[str]) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point '{point.name}' ({point.value})"
        try:
            loaded = point.load()
            loaded = loaded() if callable(loaded) else loaded
            if isinstance(loaded, (str, os.PathLike)):
                entries.update(read_registry_file(loaded))
            else:
                entries.update(parse_entries(loaded, source))
        except Exception as error:  # a broken plugin must not hide the other models
            warnings.append(f"skipped {source}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    return entries


def load_registry(extra_file: str | os.PathLike | None = None) -> Registry:
    """Loads the built-in registry, plugins, ``$ZOO_REGISTRY`` and ``extra_file`` in that order."""
    warnings: list[str] = []
    entries = read_registry_file(BUILTIN_REGISTRY)
    entries.update(_entry_point_entries(warnings))
    for path in (os.environ.get("ZOO_REGISTRY"), extra_file):
        if path:
            entries.update(read_registry_file(path))
    return Registry(entries, warnings)


def print_warnings(registry: Registry) -> None:
    for warning in registry.warnings:
        print(f"warning: {warning}", file=sys.stderr)
