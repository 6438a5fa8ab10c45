"""Frozen-dataclass options from plain dicts (TOML tables, JSON, CLI overrides) with clear errors."""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from typing import Any, Mapping, TypeVar

from progan.errors import ConfigError

T = TypeVar("T")


def parse(cls: type[T], data: Mapping[str, Any] | None, *, where: str) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean '{_join(where, close[0])}'?" if close else f"; valid keys: {', '.join(sorted(fields))}"
            raise ConfigError(f"unknown config key '{_join(where, key)}'{hint}")
        values[key] = coerce(value, hints[key], where=_join(where, key))
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def coerce(value: Any, annotation: Any, *, where: str) -> Any:
    """``value`` checked against (and, for containers and nested dataclasses, converted to) ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, where=where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"'{where}' must not be null")
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{where}' must be a table, got {_describe(value)}")
        return parse(annotation, value, where=where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{where}' must be a list, got {_describe(value)}")
        item = args[0] if args else Any
        return tuple(coerce(v, item, where=f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{where}' must be a table, got {_describe(value)}")
        key_type, value_type = args if args else (Any, Any)
        out = {}
        for k, v in value.items():
            if key_type is int:  # TOML/JSON keys are strings: {"256" = 14}
                try:
                    k = int(k)
                except ValueError:
                    raise ConfigError(f"'{where}' keys must be integers, got {k!r}") from None
            out[k] = coerce(v, value_type, where=f"{where}.{k}")
        return dict(sorted(out.items()))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"'{where}' must be true or false, got {_describe(value)}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"'{where}' must be an integer, got {_describe(value)}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond float range
                number = math.inf
            if not math.isfinite(number):
                raise ConfigError(f"'{where}' must be a finite number, got {value!r}")
            return number
        raise ConfigError(f"'{where}' must be a number, got {_describe(value)}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"'{where}' must be a string, got {_describe(value)}")
    if typing.get_origin(annotation) is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"'{where}' must be one of {', '.join(map(repr, args))}, got {value!r}")
    raise ConfigError(f"'{where}': unsupported option type {annotation}")


def to_dict(obj: Any) -> Any:
    """A dataclass (recursively) as plain JSON-ready data; tuples become lists."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def to_json(obj: Any) -> str:
    """Sorted, stable JSON of a dataclass or plain data."""
    return json.dumps(to_dict(obj), sort_keys=True)


def parse_value(text: str) -> Any:
    """A command-line override value: JSON/TOML-like literals, else the plain string."""
    lowered = text.strip()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(lowered)
    except ValueError:
        return text


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
