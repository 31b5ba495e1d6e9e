"""A registry entry's ``search_space`` block as keras-tuner hyperparameters.

Each key of the block is a field of the model's config dataclass (β, latent
size, ...) or of ``TrainConfig`` (learning rate, batch size, ...):

- ``{values: [...]}``            → ``hp.Choice`` (lists and other non-scalars are
  carried as JSON strings, since keras-tuner choices must be scalars);
- ``{min, max, log, step}``      → ``hp.Int`` for an integer field, ``hp.Float``
  for a float field; ``log: true`` samples uniformly in log space (then ``step``,
  if given, is keras-tuner's multiplicative step).

Everything is checked before any data is read: the key must be a config field
(``zoo.run_spec.validate_search_space``), its kind must fit the field's type, and
every value of a choice, and both ends of a range, must make a valid config.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Mapping

from zoo.errors import ZooError
from zoo.registry import Entry
from zoo.run_spec import resolve, validate_search_space
from zoo.training.train_config import TrainConfig

# Training fields the tuner owns or that are not hyper-parameters of the model.
NOT_SEARCHABLE = {
    "epochs": "the tuner sets the epochs (--max-epochs; Hyperband chooses per trial)",
    "strategy": "it is a device setting (--strategy), not a hyper-parameter",
    "precision": "it is a device setting, not a hyper-parameter",
    "deterministic": "it is a reproducibility setting, not a hyper-parameter",
}


@dataclasses.dataclass(frozen=True)
class SearchParam:
    """One searched config field and how keras-tuner samples it."""

    name: str
    section: str  # "model" or "train"
    kind: str  # "choice", "int" or "float"
    values: tuple = ()  # choices as keras-tuner sees them (scalars or JSON strings)
    encoded: bool = False  # choices are JSON strings of non-scalar values
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    default: Any = None

    def declare(self, hp) -> Any:
        """Registers the hyperparameter in ``hp`` and returns the decoded value of this trial."""
        if self.kind == "choice":
            raw = hp.Choice(self.name, list(self.values), default=self.default)
        elif self.kind == "int":
            raw = hp.Int(self.name, int(self.low), int(self.high), step=None if self.step is None else int(self.step),
                         sampling="log" if self.log else "linear", default=self.default)
        else:
            raw = hp.Float(self.name, float(self.low), float(self.high), step=self.step,
                           sampling="log" if self.log else "linear", default=self.default)
        return self.decode(raw)

    def decode(self, raw: Any) -> Any:
        """A keras-tuner value → the config value (JSON strings back to lists)."""
        return json.loads(raw) if self.encoded else raw

    @property
    def log_axis(self) -> bool:
        """Whether plots should put this parameter on a log axis."""
        if self.kind != "choice":
            return self.log
        numbers = [v for v in self.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return len(numbers) == len(self.values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 8

    def describe(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"values": [self.decode(v) for v in self.values]}
        out = {"min": self.low, "max": self.high, "log": self.log}
        if self.step is not None:
            out["step"] = self.step
        return out


def _field_type(config_class, name: str) -> Any:
    """The field's type, with ``X | None`` reduced to ``X``."""
    annotation = typing.get_type_hints(config_class)[name]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return options[0]
    return annotation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_search_space(entry: Entry, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[SearchParam]:
    """The entry's search space as ``SearchParam``s, fully validated (``ZooError`` naming the key)."""
    checked = validate_search_space(entry)
    if not checked:
        raise ZooError(f"registry entry '{entry.name}' has no search_space block; add one to tune it "
                       "(e.g. search_space: {latent_dim: {values: [2, 4, 8]}})")
    overrides = {section: dict(values) for section, values in (overrides or {}).items()}
    base = resolve(entry, overrides)
    config_class = entry.model_class().config_class
    model_fields = set(config_class.field_names())
    params = []
    for name, block in checked.items():
        where = f"registry entry '{entry.name}' search_space '{name}'"
        if name in NOT_SEARCHABLE:
            raise ZooError(f"{where}: cannot be searched; {NOT_SEARCHABLE[name]}")
        section = "model" if name in model_fields else "train"
        field_type = _field_type(config_class if section == "model" else TrainConfig, name)
        current = base.model.get(name) if section == "model" else getattr(base.train, name)
        if "values" in block:
            param = _choice(name, section, block["values"], field_type, current, where)
            candidates = [param.decode(v) for v in param.values]
        else:
            param = _range(name, section, block, field_type, current, where)
            candidates = [param.low, param.high]
        for value in candidates:
            layered = {**overrides, section: {**overrides.get(section, {}), name: value}}
            try:
                resolve(entry, layered)
            except ZooError as error:
                raise ZooError(f"{where}: value {value!r} is not valid ({error})") from None
        params.append(param)
    return params


def _choice(name: str, section: str, values: list, field_type: Any, current: Any, where: str) -> SearchParam:
    scalar_types = {type(v) for v in values}
    if field_type is float and all(_is_number(v) for v in values):
        values, scalar_types = [float(v) for v in values], {float}
    scalar = len(scalar_types) == 1 and next(iter(scalar_types)) in (int, float, str, bool)
    if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
        raise ZooError(f"{where}: 'values' lists the same value twice")
    if scalar:
        default = current if current in values else None
        return SearchParam(name, section, "choice", tuple(values), encoded=False, default=default)
    encoded = tuple(json.dumps(v) for v in values)
    plain = json.dumps(list(current)) if isinstance(current, tuple) else json.dumps(current)
    return SearchParam(name, section, "choice", encoded, encoded=True, default=plain if plain in encoded else None)


def _range(name: str, section: str, block: Mapping, field_type: Any, current: Any, where: str) -> SearchParam:
    low, high, log, step = block["min"], block["max"], bool(block.get("log", False)), block.get("step")
    if step is not None and (not _is_number(step) or step <= 0):
        raise ZooError(f"{where}: step must be a positive number, got {step!r}")
    if field_type is int:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or \
                (step is not None and not isinstance(step, int)):
            raise ZooError(f"{where}: '{name}' is an integer field; give integer min, max (and step)")
        kind = "int"
    elif field_type is float:
        kind = "float"
    else:
        raise ZooError(f"{where}: a min/max range needs a numeric field, '{name}' is not; use {{values: [...]}}")
    default = current if _is_number(current) and low <= current <= high and step is None else None
    return SearchParam(name, section, kind, low=low, high=high, log=log, step=step, default=default)


def apply_values(params: list[SearchParam], values: Mapping[str, Any],
                 overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``overrides`` with each searched field set to its decoded value in ``values`` (keras-tuner values)."""
    layered = {section: dict(fields) for section, fields in (overrides or {}).items()}
    for param in params:
        if param.name in values:
            layered.setdefault(param.section, {})[param.name] = param.decode(values[param.name])
    return layered
