"""The walker: a TOML table validated into a settings dataclass, one line per refusal.

It reads the dataclasses' type hints and each field's checks (`collectors.common.settings`), so
adding a key is adding a field. Every refusal names the key, the value and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union


class ConfigError(Exception):
    """One or more refusals; each is one line naming key, value and reason."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__("\n".join(f"{where}{p}" for p in problems))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, key: str, problems: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _convert(value, next(a for a in typing.get_args(tp) if a is not type(None)), key, problems)
    if origin is Literal:
        if value not in typing.get_args(tp):
            problems.append(f"{key} = {value!r}: must be {_type_name(tp)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{key} = {value!r}: must be a table")
            return None
        return build(tp, value, key, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{key} = {value!r}: must be {_type_name(tp)}")
            return []
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{key} = {value!r}: must be a table")
            return {}
        _, item_tp = typing.get_args(tp)
        return {k: _convert(v, item_tp, f"{key}.{k}", problems) for k, v in value.items()}
    if tp is Path:
        if not isinstance(value, str) or not value:
            problems.append(f"{key} = {value!r}: must be a non-empty path string")
            return Path()
        return Path(os.path.expanduser(os.path.expandvars(value)))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int in Python; TOML keeps them apart and so do we.
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        problems.append(f"{key} = {value!r}: must be {_type_name(tp)}")
        return None
    return value


def build(cls: Any, table: dict[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in fields:
            known = ", ".join(sorted(fields))
            problems.append(f"{key}: unknown key (known keys here: {known})")
            continue
        before = len(problems)
        converted = _convert(value, hints[name], key, problems)
        if len(problems) > before:
            continue
        for check in fields[name].metadata.get("checks", ()):
            reason = check(converted)
            if reason:
                shown = "***" if fields[name].metadata.get("secret") else repr(value)  # never echo a secret
                problems.append(f"{key} = {shown}: {reason}")
                break
        else:
            default_factory = fields[name].default_factory
            if isinstance(converted, dict) and default_factory is not dataclasses.MISSING:
                # Tables of named entries (buffer.services) add to the defaults, not replace them.
                converted = {**default_factory(), **converted}
            kwargs[name] = converted
    missing = [
        n
        for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in table
    ]
    for name in missing:
        problems.append(f"{prefix + '.' if prefix else ''}{name}: required key is missing")
    if missing:
        return None
    return cls(**kwargs)


def to_plain(obj: Any, secret: bool = False) -> Any:
    """A JSON-able view of a settings object; fields marked secret are masked ("***")."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_plain(getattr(obj, f.name), bool(f.metadata.get("secret")))
            for f in dataclasses.fields(obj)
            if not f.metadata.get("internal")
        }
    if isinstance(obj, dict):
        return {k: to_plain(v, secret) for k, v in obj.items()}
    if isinstance(obj, list):
        return ["***" if secret else to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if secret and obj:
        return "***"
    return obj
