"""YAML configs into dataclasses: unknown keys are errors, ``key=value`` overrides parsed as YAML scalars."""

from __future__ import annotations

import dataclasses
import itertools
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Reads a YAML mapping with ``yaml.safe_load``; errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


_PART = re.compile(r"^([^\[\]]+)((?:\[-?\d+\])*)$")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Returns a copy of ``data`` with each ``a.b.c=value`` applied (value parsed as YAML: numbers, lists, ...).

    A part may index a list: ``data.sources[1].frame_counts=[7, 9]`` sets a field of the second source (negative
    indices count from the end). Missing sections are created; a missing list item is an error.
    """
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value")
        # Each part is a name and any list indices after it; the last step of the path is where the value goes.
        steps: list[str | int] = []
        for part in key.split("."):
            m = _PART.match(part)
            if m is None:
                raise ValueError(f"override {item!r}: {part!r} is not a key or key[index]")
            steps.append(m.group(1))
            steps.extend(int(i) for i in re.findall(r"-?\d+", m.group(2)))
        node: Any = out
        where = ""
        for step, following in itertools.pairwise(steps):
            node, where = _descend(node, step, following, item, where)
        last = steps[-1]
        if isinstance(last, int):
            _check_index(node, last, item, where)
        elif not isinstance(node, dict):
            raise ValueError(f"override {item!r}: {where} is not a section")
        node[last] = yaml.safe_load(raw)
    return out


def _check_index(node: Any, index: int, item: str, where: str) -> None:
    if not isinstance(node, list):
        raise ValueError(f"override {item!r}: {where} is not a list")
    if not -len(node) <= index < len(node):
        raise ValueError(f"override {item!r}: {where} has {len(node)} items, no [{index}]")


def _descend(node: Any, step: str | int, following: str | int, item: str, where: str) -> tuple[Any, str]:
    """One step down an override's path: into a list item, or into a section (created when missing)."""
    if isinstance(step, int):
        _check_index(node, step, item, where)
        child = node[step]
        here = f"{where}[{step}]"
    else:
        if not isinstance(node, dict):
            raise ValueError(f"override {item!r}: {where} is not a section")
        here = f"{where}.{step}" if where else step
        if step not in node and isinstance(following, str):
            node[step] = {}
        child = node.get(step)
    if isinstance(following, str) and not isinstance(child, dict):
        raise ValueError(f"override {item!r}: {here} is not a section")
    return child, here


def _convert(value: Any, annotation: Any, name: str) -> Any:
    """Lists from YAML become tuples where the field is a tuple (recursively, for optional tuples too); numbers in
    exponent form without a dot (``1e-4``), which YAML 1.1 reads as strings, become floats where a float is meant.
    Anything else of the wrong kind for a number field is an error naming the field."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and value is not None:
                return _convert(value, arg, name)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if annotation is float and not isinstance(value, bool):
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Builds dataclass ``cls`` from ``data``, refusing unknown keys (``where`` prefixes the error)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}unknown keys {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    return cls(**{k: _convert(v, hints[k], f"{where}{k}") for k, v in data.items()})
