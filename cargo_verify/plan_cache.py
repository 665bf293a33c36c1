"""Validated lockfile and mochi.toml contents, kept by the SHA-256 of the file's bytes.

Reading and validating a 1,000-package Cargo.lock and a mochi.toml with 1,000 trust entries
costs ~0.15 s of pure Python (two TOML parses, line mapping, validation) — most of a warm
re-check. An unchanged file is the same bytes, so its result is looked up instead: exactly
what the reader returned (packages; trust rules with their origins), kept in the lockfile's
verification-cache file (`VerdictCache.plan_get`). A changed, unreadable or invalid file is
read the normal way, so every error is reported as before, and nothing is kept for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cargo_verify import __version__
from cargo_verify.model import Package, TrustRule

if TYPE_CHECKING:
    from cargo_verify.cache import VerdictCache

_FORMAT = 1
_MAX_BYTES = 16 * 1024 * 1024  # bigger files are read the normal way
_RULE_FIELDS = tuple(f.name for f in dataclasses.fields(TrustRule))


def _fields(item: Package | TrustRule) -> list[Any]:
    """Field values in order (dataclasses.astuple would deep-copy every string)."""
    return [getattr(item, f.name) for f in dataclasses.fields(item)]


def _digest(data: bytes, *context: str) -> str:
    tag = json.dumps([_FORMAT, __version__, *context]).encode()
    return hashlib.sha256(tag + b"\0" + data).hexdigest()


def _file_bytes(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > _MAX_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None  # the reader reports it


def is_unchanged(kind: str, path: Path, cache: VerdictCache, display: str | None = None) -> bool:
    """Whether the cache holds the result for `path`'s current bytes (kind "lockfile" or
    "mochi"; `display` as given to `trust_rules`). A cheap hash, no parse."""
    data = _file_bytes(path)
    if data is None:
        return False
    digest = _digest(data) if display is None else _digest(data, display)
    return cache.plan_get(kind, digest) is not None


def lockfile_packages(path: Path, cache: VerdictCache | None) -> list[Package]:
    """`read_lockfile(path).packages`, from the cache when the file is unchanged."""
    from cargo_verify._toml_lines import decode_toml_bytes

    data = _file_bytes(path) if cache is not None else None
    if cache is None or data is None:
        from cargo_verify.lockfile import read_lockfile

        return read_lockfile(path).packages
    digest = _digest(data)
    rows = cache.plan_get("lockfile", digest)
    if isinstance(rows, list):
        try:
            return [Package(*row) for row in rows]
        except TypeError:
            pass
    # the very bytes that were hashed, read as read_lockfile reads them
    from cargo_verify.lockfile import parse_lockfile  # not imported when the cache answers

    packages = parse_lockfile(decode_toml_bytes(data, str(path)), str(path)).packages
    cache.plan_put("lockfile", digest, [_fields(p) for p in packages])
    return packages


def trust_rules(path: Path, display: str, cache: VerdictCache | None) -> dict[str, TrustRule]:
    """`read_trust_rules(path, display)`, from the cache when the file is unchanged."""
    from cargo_verify._toml_lines import decode_toml_bytes

    data = _file_bytes(path) if cache is not None else None
    if cache is None or data is None:
        from cargo_verify.manifest import read_trust_rules

        return read_trust_rules(path, display)
    digest = _digest(data, display)
    table = cache.plan_get("mochi", digest)
    if isinstance(table, dict):
        try:
            return {crate: TrustRule(**fields) for crate, fields in table.items()}
        except TypeError:
            pass
    from cargo_verify.manifest import parse_manifest  # not imported when the cache answers

    rules = parse_manifest(decode_toml_bytes(data, display), display).trust_rules()
    stored = {crate: dict(zip(_RULE_FIELDS, _fields(rule), strict=True))
              for crate, rule in rules.items()}
    cache.plan_put("mochi", digest, stored)
    return rules
