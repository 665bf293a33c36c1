"""`--format json`: the design §3.4 object, one JSON document per run."""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote  # the C implementation
from pathlib import Path
from typing import Any

from cargo_verify.model import Report

_MAX_DEPTH = 64
_INF = float("inf")


class JsonReporter:
    """Renders `Report.to_json()` with a fixed key order, indent 2 and a trailing newline."""

    def __init__(self, *, root: Path | None = None) -> None:
        # `root` is accepted so every machine format takes the same options; JSON keeps
        # the lockfile path exactly as the caller gave it.
        self.root = root

    def render(self, report: Report) -> str:
        document: dict[str, Any] = report.to_json()
        if report.infra_errors:
            # Failures that prevented any verdict would otherwise leave no trace in the JSON.
            document["infra_errors"] = list(report.infra_errors)
        return dumps_indented(document) + "\n"


class _Unsupported(Exception):
    """A value the fast writer leaves to `json.dumps` (non-string keys, other types, depth)."""


def dumps_indented(value: Any) -> str:
    """Exactly `json.dumps(value, indent=2)`, about twice as fast on a report.

    With `indent` the standard encoder runs in pure Python, one generator per container. Here
    each container of plain scalars (a report's package entries) goes through the standard C
    encoder in one call, and only the containers around them are walked in Python. Anything
    beyond plain JSON data (or nested deeper than `_MAX_DEPTH`) is handed to `json.dumps`
    itself, so its output and errors stay the reference.
    """
    out: list[str] = []
    try:
        _write(value, out, "\n", 0)
    except _Unsupported:
        return json.dumps(value, indent=2)
    return "".join(out)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and value == value and value not in (_INF, -_INF):
        return float.__repr__(value)
    raise _Unsupported


_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})
_leaf_encoders: dict[str, Callable[[Any], str]] = {}


def _leaf_encoder(item_separator: str) -> Callable[[Any], str]:
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # Python built without `_json`
        return json.JSONEncoder(separators=(item_separator, ": ")).encode

    def refuse(value: object) -> None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    # No circular-reference markers: a container of scalars cannot contain itself.
    encode = make(None, refuse, _quote, None, ": ", item_separator, False, False, True)
    return lambda value: "".join(encode(value, 0))


def _leaf_container(value: dict[Any, Any] | list[Any] | tuple[Any, ...], newline: str) -> str:
    """A non-empty container of plain scalars, encoded in C: with `,` + newline + indent as
    the item separator, only the brackets' own line breaks are left to add."""
    inner = newline + "  "
    encoder = _leaf_encoders.get(inner)
    if encoder is None:
        encoder = _leaf_encoders[inner] = _leaf_encoder("," + inner)
    compact = encoder(value)
    return compact[0] + inner + compact[1:-1] + newline + compact[-1]


def _write(value: Any, out: list[str], newline: str, depth: int) -> None:
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        if _LEAF_TYPES.issuperset(map(type, value.values())):
            out.append(_leaf_container(value, newline))
            return
        if depth >= _MAX_DEPTH:
            raise _Unsupported
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Unsupported
            out.append(separator + _quote(key) + ": ")
            separator = "," + inner
            if isinstance(item, (dict, list, tuple)):
                _write(item, out, inner, depth + 1)
            else:
                out.append(_scalar(item))
        out.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        if _LEAF_TYPES.issuperset(map(type, value)):
            out.append(_leaf_container(value, newline))
            return
        if depth >= _MAX_DEPTH:
            raise _Unsupported
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            out.append(separator)
            separator = "," + inner
            if isinstance(item, (dict, list, tuple)):
                _write(item, out, inner, depth + 1)
            else:
                out.append(_scalar(item))
        out.append(newline + "]")
    else:
        out.append(_scalar(value))
