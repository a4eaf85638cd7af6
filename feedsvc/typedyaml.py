"""Settings: YAML data checked against frozen dataclasses, every problem reported at once.

A dataclass field declares a setting: its type (str, int, float, bool, Path, Literal, tuple,
dict, a nested dataclass, ``X | None``, ``str | tuple[str, ...]``), its default, and an optional
check in its metadata (``check(fn)``: ``fn(value)`` returns a message or None). Problems read
``key.path: message`` in plain words; an unknown key gets a "did you mean".
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

T = TypeVar("T")
Check = Callable[[Any], str | None]
_MISSING = object()


def check(whole: Check | None = None, each: Check | None = None) -> dict[str, Check]:
    """Field metadata: ``whole`` checks the value, ``each`` every value of a mapping."""
    return {k: v for k, v in (("check", whole), ("each", each)) if v is not None}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class _Problems(list[str]):
    def add(self, path: str, message: str) -> None:
        self.append(f"{path or '(top level)'}: {message}")


def validate(cls: type[T], data: Any) -> tuple[T | None, list[str]]:
    problems = _Problems()
    value = _dataclass(cls, data, "", problems)
    return (value if not problems else None), list(problems)


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _dataclass(cls: type, data: Any, path: str, problems: _Problems) -> Any:
    if not isinstance(data, dict):
        problems.add(path, "expected a mapping")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    start = len(problems)
    values = {}
    for name, spec in fields.items():
        raw = data.get(name, _MISSING)
        if raw is _MISSING:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                problems.add(_join(path, name), "required key is missing")
            continue
        before = len(problems)
        value = _convert(_hints(cls)[name], raw, _join(path, name), problems)
        if len(problems) == before:
            _run_checks(spec.metadata, value, _join(path, name), problems)
            values[name] = value
    for key in data:
        if key not in fields:
            import difflib  # only for a mistyped key: 1.7 ms of every start

            close = difflib.get_close_matches(str(key), fields, n=1)
            problems.add(_join(path, str(key)), "unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return cls(**values) if len(problems) == start else None


def _run_checks(metadata: Any, value: Any, path: str, problems: _Problems) -> None:
    if value is None:
        return
    if "each" in metadata:
        for key, item in value.items():
            if message := metadata["each"](item):
                problems.add(_join(path, key), message)
    if "check" in metadata and (message := metadata["check"](value)):
        problems.add(path, message)


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a path"}


def _convert(kind: Any, value: Any, path: str, problems: _Problems) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return _union(args, value, path, problems)
    if origin is Literal:
        if value in args:
            return value
        problems.add(path, "expected one of " + ", ".join(str(a) for a in args))
        return None
    if origin is tuple:
        if not isinstance(value, list | tuple):
            problems.add(path, "expected a list")
            return None
        return tuple(_convert(args[0], item, _join(path, i), problems) for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            problems.add(path, "expected a mapping")
            return None
        return {str(k): _convert(args[1], v, _join(path, str(k)), problems) for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind, value, path, problems)
    return _scalar(kind, value, path, problems)


def _union(args: tuple[Any, ...], value: Any, path: str, problems: _Problems) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    for option in options:  # the first type the value fits
        attempt = _Problems()
        converted = _convert(option, value, path, attempt)
        if not attempt:
            return converted
    if len(options) == 1:
        return _convert(options[0], value, path, problems)
    problems.add(path, "expected a name or a list of names")
    return None


def _scalar(kind: type, value: Any, path: str, problems: _Problems) -> Any:
    """YAML scalars, and strings from environment variables, as the declared type."""
    if kind is bool and isinstance(value, bool):
        return value
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind in (int, float) and not isinstance(value, bool):
        try:
            number = kind(value)
            if kind is int and isinstance(value, float) and value != number:
                raise ValueError
            return number
        except (TypeError, ValueError):
            pass
    if kind in (str, Path) and isinstance(value, str | int | float) and not isinstance(value, bool):
        return kind(str(value))
    problems.add(path, f"expected {_NAMES.get(kind, kind.__name__)}")
    return None


# checks that many settings share: each returns a message, or None when the value is good
def at_least(low: float, strict: bool = False) -> Any:
    def test(value: float) -> str | None:
        if value > low or (value == low and not strict):
            return None
        return f"must be {'greater than' if strict else 'at least'} {low:g}"
    return test


def between(low: int, high: int) -> Any:
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def time_zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def regex(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as e:
        return f"not a valid regular expression: {e}"
    return None
