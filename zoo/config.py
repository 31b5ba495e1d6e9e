"""Typed, validated configuration dataclasses.

Every config in the zoo (model, training, evaluation) is a dataclass that
inherits ``Config``. Building one validates it: unknown keys, wrong types and
out-of-range values raise ``ZooError`` naming the field, the bad value and what
is allowed. Defaults live once, in the dataclass; registry entries and CLI flags
only override them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, Mapping

from zoo.errors import ZooError


def choice_field(default: str, choices: tuple[str, ...], help: str = "") -> Any:
    """A string field restricted to ``choices``."""
    return dataclasses.field(default=default, metadata={"choices": choices, "help": help})


def bounded_field(default: Any, *, minimum: float | None = None, maximum: float | None = None,
                  exclusive_minimum: bool = False, help: str = "", guard: bool = False) -> Any:
    """A numeric field with an inclusive (or exclusive) lower bound and an upper bound.

    ``guard``: the field only stops or refuses a run (a divergence threshold, a memory limit) and never changes
    the numbers of a run that finishes, so ``run_spec.outcome_of`` leaves it out.
    """
    return dataclasses.field(
        default=default,
        metadata={"minimum": minimum, "maximum": maximum, "exclusive_minimum": exclusive_minimum, "help": help,
                  "guard": guard},
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of all zoo configs: validation on construction, dict round-trips."""

    # Shown in error messages, e.g. "model 'vae'", "training".
    kind: ClassVar[str] = "config"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            coerced = _coerce(value, hints[field.name], self._where(field.name))
            object.__setattr__(self, field.name, coerced)
            _check_bounds(coerced, field, self._where(field.name))
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; subclasses override and raise ``ZooError``."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str | None = None):
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ZooError(
                f"{where or cls.kind}: unknown key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(cls.field_names())}"
            )
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def guard_fields(cls) -> set[str]:
        """The fields that only stop or refuse a run (``bounded_field(guard=True)``)."""
        return {f.name for f in dataclasses.fields(cls) if f.metadata.get("guard")}

    def replace(self, **changes: Any):
        return self.from_dict({**self.to_dict(), **changes})

    def _where(self, name: str) -> str:
        return f"{self.kind} field '{name}'"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Checks ``value`` against a simple annotation, converting lists to tuples and ints to floats."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ZooError as error:
                errors.append(str(error))
        raise ZooError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise ZooError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, where) for v in value)
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ZooError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ZooError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ZooError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ZooError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {annotation!r} ({where})")


def _check_bounds(value: Any, field: dataclasses.Field, where: str) -> None:
    meta = field.metadata
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ZooError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
    values = value if isinstance(value, tuple) else (value,)
    minimum, maximum = meta.get("minimum"), meta.get("maximum")
    for item in values:
        if item is None or not isinstance(item, (int, float)):
            continue
        if minimum is not None:
            too_small = item <= minimum if meta.get("exclusive_minimum") else item < minimum
            if too_small:
                bound = f"> {minimum}" if meta.get("exclusive_minimum") else f">= {minimum}"
                raise ZooError(f"{where}: {value!r} is out of range; it must be {bound}")
        if maximum is not None and item > maximum:
            raise ZooError(f"{where}: {value!r} is out of range; it must be <= {maximum}")
