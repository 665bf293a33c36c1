"""Record a Rust dependency in `mochi.toml` without disturbing anything else in the file.

An existing `[rust-dependencies.NAME]` entry (table, inline table or bare version string) is
edited in place with tomlkit, which keeps comments, key order, quoting and spacing. A new
entry is rendered as its own `[rust-dependencies.NAME]` table and inserted as one contiguous
block after the last `[rust-dependencies…]` table (or at the end of the file), so every
byte of the user's file outside that block stays as it was. Either way the result is parsed
again and compared with the intended data before anyone writes it; if the text splice cannot
produce exactly that data (a header-like line inside a multi-line string, say), tomlkit's
own insertion is used instead, and if that fails too, nothing is written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.items import InlineTable, Table

from cargo_verify._toml_lines import (
    TOMLDecodeError,
    decode_toml_bytes,
    parse_toml,
    toml_loads,
)
from cargo_verify.errors import ConfigError

SECTION = "rust-dependencies"
TRUST_KEYS = ("issuer", "subject")
_BOM = "\ufeff"
_CRATE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _newline_of(text: str) -> str:
    """CRLF when every line of the file ends in CRLF, else LF."""
    if "\r\n" in text and text.count("\r\n") == text.count("\n"):
        return "\r\n"
    return "\n"


def _value(value: str) -> str:
    return tomlkit.item(value).as_string()


def render_trust(trust: Mapping[str, str]) -> str:
    """`{ issuer = "…", subject = "…" }`, the inline form design §3.1 shows."""
    inner = ", ".join(f"{key} = {_value(value)}" for key, value in trust.items())
    return "{ " + inner + " }"


def render_table(name: str, version: str, trust: Mapping[str, str] | None, newline: str) -> str:
    lines = [f"[{SECTION}.{name}]", f"version = {_value(version)}"]
    if trust:
        lines.append(f"trust = {render_trust(trust)}")
    return newline.join(lines) + newline


def _header_path(line: str) -> tuple[str, ...] | None:
    """The key path of a `[table]` / `[[array]]` header line, or None for any other line."""
    if not line.lstrip().startswith("["):
        return None
    try:
        node: Any = toml_loads(line)
    except TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        path.append(key)
        node = node[key]
        if isinstance(node, list) and len(node) == 1:
            node = node[0]
    return tuple(path) if path and node == {} else None


def _is_trivia(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _splice_new_table(text: str, table: str, newline: str) -> str:
    """Insert `table` after the last [rust-dependencies…] table, or at the end of the file.

    A run of blank and comment lines right before the next header belongs to that header,
    so the new table goes before it.
    """
    lines = text.splitlines(keepends=True)
    headers = [(i, path) for i, line in enumerate(lines) if (path := _header_path(line))]
    ours = [k for k, (_, path) in enumerate(headers) if path[0] == SECTION]
    if ours:
        last = ours[-1]
        start = headers[last][0]
        end = headers[last + 1][0] if last + 1 < len(headers) else len(lines)
        while end > start + 1 and _is_trivia(lines[end - 1]):
            end -= 1
    else:
        end = len(lines)
    before, after = "".join(lines[:end]), "".join(lines[end:])
    chunk = ""
    if before and not before.endswith("\n"):
        chunk += newline
    if before.strip():
        chunk += newline  # a blank line between the previous content and the new table
    chunk += table
    if after and not _is_trivia(after.splitlines()[0]):
        chunk += newline  # and one before the next header when there was none
    return before + chunk + after


def _tomlkit_trust(trust: Mapping[str, str]) -> Any:
    return tomlkit.parse(f"trust = {render_trust(trust)}\n")["trust"]


def _edit_existing(document: tomlkit.TOMLDocument, name: str, version: str,
                   trust: Mapping[str, str] | None) -> None:
    deps: Any = document[SECTION]  # a Table, an InlineTable or tomlkit's out-of-order proxy
    entry = deps[name]
    if isinstance(entry, (Table, InlineTable)):
        entry["version"] = version
        if trust is not None:
            entry["trust"] = _tomlkit_trust(trust)
        return
    if trust is None:
        deps[name] = version
        return
    replacement = tomlkit.parse(
        f"x = {{ version = {_value(version)}, trust = {render_trust(trust)} }}\n"
    )["x"]
    deps[name] = replacement


def _tomlkit_insert(text: str, name: str, version: str, trust: Mapping[str, str] | None) -> str:
    document = tomlkit.parse(text)
    deps = document.get(SECTION)
    if isinstance(deps, InlineTable):
        inline = tomlkit.inline_table()
        inline["version"] = version
        if trust:
            inline["trust"] = _tomlkit_trust(trust)
        deps[name] = inline
        return document.as_string()
    table = tomlkit.table()
    table["version"] = version
    if trust:
        table["trust"] = _tomlkit_trust(trust)
    if deps is None:
        deps = tomlkit.table(is_super_table=True)
        document[SECTION] = deps
        deps = document[SECTION]
    deps[name] = table
    return document.as_string()


def _to_crlf(text: str) -> str:
    return re.sub(r"(?<!\r)\n", "\r\n", text)


def expected_data(data: dict[str, Any], name: str, version: str,
                  trust: Mapping[str, str] | None) -> dict[str, Any]:
    """What the file must parse to after the edit."""
    out = copy.deepcopy(data)
    deps = out.setdefault(SECTION, {})
    old = deps.get(name)
    if isinstance(old, dict):
        old["version"] = version
        if trust is not None:
            old["trust"] = dict(trust)
    elif trust is None and isinstance(old, str):
        deps[name] = version
    else:
        deps[name] = {"version": version, **({"trust": dict(trust)} if trust else {})}
    return out


def add_dependency_text(text: str, name: str, version: str,
                        trust: Mapping[str, str] | None = None, *, file: str = "mochi.toml") -> str:
    """`text` with `[rust-dependencies.NAME]` set to `version` and, if given, `trust`.

    `trust=None` keeps whatever trust entry the dependency already has; a mapping replaces it.
    Raises ConfigError for a file that is not valid TOML or whose `rust-dependencies` is not a
    table, and when no edit reproduces exactly the intended data.
    """
    if not _CRATE_NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a crate name", file)
    if trust is not None:
        unknown = set(trust) - set(TRUST_KEYS)
        if unknown or not trust:
            raise ConfigError(f"trust entry needs {' and/or '.join(TRUST_KEYS)}", file)
    data, _ = parse_toml(text, file)
    section = data.get(SECTION)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"`{SECTION}` must be a table", file)
    existing = section.get(name) if section is not None else None
    if existing is not None and not isinstance(existing, (dict, str)):
        raise ConfigError(f"`{SECTION}.{name}` must be a table or a version string", file)
    wanted = expected_data(data, name, version, trust)
    newline = _newline_of(text)
    candidates: list[str] = []
    if existing is None:
        candidates.append(_splice_new_table(text, render_table(name, version, trust, newline),
                                            newline))
        candidates.append(_tomlkit_insert(text, name, version, trust))
    else:
        document = tomlkit.parse(text)
        _edit_existing(document, name, version, trust)
        candidates.append(document.as_string())
    for candidate in candidates:
        if newline == "\r\n":
            candidate = _to_crlf(candidate)
        try:
            if toml_loads(candidate) == wanted:
                return candidate
        except TOMLDecodeError:
            continue
    raise ConfigError(
        f"cannot add [{SECTION}.{name}] without changing other entries; edit it by hand", file
    )


def add_dependency(data: bytes, name: str, version: str,
                   trust: Mapping[str, str] | None = None, *, file: str = "mochi.toml") -> bytes:
    """The bytes of a mochi.toml after recording the dependency (a leading BOM is kept)."""
    text = decode_toml_bytes(data, file)
    bom = _BOM if data.startswith(_BOM.encode("utf-8")) else ""
    return (bom + add_dependency_text(text, name, version, trust, file=file)).encode("utf-8")
