"""A fully resolved run: registry entry + config dataclass defaults + CLI overrides.

Precedence is: the config dataclass default < the registry entry's override < a
CLI flag. The resolved spec is saved in every run folder (``config.json``) and is
all that is needed to rebuild the model and repeat the run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from zoo.data import DataConfig
from zoo.errors import ZooError, suggest
from zoo.evaluation import EvalConfig
from zoo.registry import Entry
from zoo.training.train_config import TrainConfig

SEARCH_KEYS = {"values", "min", "max", "log", "step"}


def outcome_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A ``RunSpec.to_dict`` without its guard fields: what decides the numbers of a finished run (bench cells
    are reused when it matches, so adding or changing a guard does not invalidate results)."""
    sections = {"train": TrainConfig, "data": DataConfig, "evaluation": EvalConfig}
    return {key: ({k: v for k, v in value.items() if k not in sections[key].guard_fields()}
                  if key in sections and isinstance(value, Mapping) else value)
            for key, value in spec.items()}


def section_defaults() -> dict[str, dict[str, Any]]:
    """Each config section's field defaults (those with one), as they appear in ``RunSpec.to_dict``."""
    sections = {"train": TrainConfig, "data": DataConfig, "evaluation": EvalConfig}
    return {name: {f.name: _plain_default(f) for f in dataclasses.fields(cls)
                   if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
            for name, cls in sections.items()}


def _plain_default(field: dataclasses.Field) -> Any:
    value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    return list(value) if isinstance(value, tuple) else value


@dataclasses.dataclass(frozen=True)
class RunSpec:
    name: str
    class_path: str
    model: Mapping[str, Any]
    train: TrainConfig
    data: DataConfig
    evaluation: EvalConfig

    def model_class(self):
        return Entry(name=self.name, class_path=self.class_path, source="run config").model_class()

    def model_config(self, image_shape=None, num_classes=None):
        """The validated model config; the dataset fixes image shape and class count."""
        values = dict(self.model)
        if image_shape is not None:
            values["image_shape"] = list(image_shape)
        if num_classes is not None:
            values["num_classes"] = num_classes
        return self.model_class().config_class.from_dict(values, where=f"model '{self.name}'")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": self.class_path,
            "model": dict(self.model),
            "train": self.train.to_dict(),
            "data": self.data.to_dict(),
            "evaluation": self.evaluation.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "RunSpec":
        return cls(
            name=raw["name"],
            class_path=raw["class"],
            model=dict(raw["model"]),
            train=TrainConfig.from_dict(raw["train"]),
            data=DataConfig.from_dict(raw["data"]),
            evaluation=EvalConfig.from_dict(raw["evaluation"]),
        )


def merge_overrides(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merges per-section override mappings; later layers win field by field."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


SECTIONS = ("model", "train", "data", "evaluation")


def _check_names(overrides: Mapping[str, Mapping[str, Any]], fields: Mapping[str, list[str]]) -> None:
    """Unknown sections and fields of CLI overrides, each with the closest valid name."""
    for section, values in overrides.items():
        if section not in SECTIONS:
            raise ZooError(f"--set {section}.{next(iter(values), 'FIELD')}: unknown config section(s) {section}"
                           f"{suggest(section, SECTIONS)}; use {', '.join(SECTIONS[:-1])} or {SECTIONS[-1]}")
    for section, values in overrides.items():
        for key in values:
            if key not in fields[section]:
                raise ZooError(f"--set {section}.{key}: unknown key(s) {key}{suggest(key, fields[section])}; "
                               f"valid keys: {', '.join(fields[section])}")


def _check_finite(section: str, values: Mapping[str, Any]) -> None:
    """NaN and infinity pass every range check (comparisons with them are false), so they are refused here."""
    for key, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(item, float) and not math.isfinite(item) for item in items):
            raise ZooError(f"{section}.{key}: {value!r} is not a finite number")


class _NamingTheEntry:
    """Re-raises a ``ZooError`` met while checking a registry entry's own values with the entry and its file."""

    def __init__(self, entry: Entry):
        self.where = f"registry entry '{entry.name}' ({entry.source})"

    def __enter__(self):
        return self.where

    def __exit__(self, kind, error, traceback):
        if isinstance(error, ZooError) and not str(error).startswith(self.where):
            raise ZooError(f"{self.where}: {error}") from None
        return False


def _check_entry_sections(entry: Entry) -> None:
    """The entry's training, evaluation and data values on their own (its own dataset)."""
    with _NamingTheEntry(entry) as where:
        for section, config in (("train", TrainConfig), ("evaluation", EvalConfig)):
            _check_finite(section, getattr(entry, section))
            config.from_dict(dict(getattr(entry, section)), where=f"{where} {section}")
        _check_finite("data", entry.data)
        DataConfig.from_dict({"name": entry.dataset, **entry.data}, where=f"{where} data")


def _check_entry_model(entry: Entry, cls, data: DataConfig) -> None:
    """The entry's model values on their own, for the shape of the data the run will use."""
    with _NamingTheEntry(entry) as where:
        _check_finite("model", entry.model)
        cls.config_class.from_dict({**entry.model, "image_shape": list(data.expected_image_shape),
                                    "num_classes": data.expected_num_classes}, where=f"{where} model")


def resolve(entry: Entry, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> RunSpec:
    """Merges defaults, the entry's overrides and CLI overrides, validating every section."""
    overrides = overrides or {}
    cls = entry.model_class()
    _check_names(overrides, {"model": cls.config_class.field_names(), "train": TrainConfig.field_names(),
                             "data": DataConfig.field_names(), "evaluation": EvalConfig.field_names()})
    _check_entry_sections(entry)
    for section, values in overrides.items():
        _check_finite(section, values)
    where = f"registry entry '{entry.name}'"

    model_values = {**entry.model, **overrides.get("model", {})}
    data = DataConfig.from_dict({"name": entry.dataset, **entry.data, **overrides.get("data", {})},
                                where=f"{where} data")
    _check_entry_model(entry, cls, data)
    spec = RunSpec(
        name=entry.name,
        class_path=entry.class_path,
        model=model_values,
        train=TrainConfig.from_dict({**entry.train, **overrides.get("train", {})}, where=f"{where} train"),
        data=data,
        evaluation=EvalConfig.from_dict({**entry.evaluation, **overrides.get("evaluation", {})},
                                        where=f"{where} evaluation"),
    )
    # Checks the model config against the dataset's shape now, before any data is read.
    spec.model_config(spec.data.expected_image_shape, spec.data.expected_num_classes)
    validate_search_space(entry)
    return spec


def validate_search_space(entry: Entry) -> dict[str, dict[str, Any]]:
    """Checks that every searched key is a model or training field and that its range is well formed."""
    cls = entry.model_class()
    model_fields = set(cls.config_class.field_names())
    train_fields = set(TrainConfig.field_names())
    valid = sorted(model_fields | train_fields)
    checked = {}
    for key, spec in entry.search_space.items():
        where = f"registry entry '{entry.name}' search_space '{key}'"
        if key not in model_fields | train_fields:
            raise ZooError(f"{where}: not a config field of {cls.__name__}; valid keys: {', '.join(valid)}")
        if not isinstance(spec, Mapping) or not spec or set(spec) - SEARCH_KEYS:
            raise ZooError(f"{where}: give either {{values: [...]}} or {{min: .., max: .., log: bool, step: ..}}")
        if "values" in spec:
            if set(spec) != {"values"} or not isinstance(spec["values"], list) or not spec["values"]:
                raise ZooError(f"{where}: 'values' must be a non-empty list and stand alone")
        else:
            low, high = spec.get("min"), spec.get("max")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low >= high:
                raise ZooError(f"{where}: needs numbers min < max, got min={low!r} max={high!r}")
            if spec.get("log") and low <= 0:
                raise ZooError(f"{where}: a log-scaled range needs min > 0")
        checked[key] = dict(spec)
    return checked
