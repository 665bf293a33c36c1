"""`mochi.lock`: the Rust crates a Mochi project locked, each with the evidence that verified it.

The format is documented in docs/mochi-lock.md. Reading is strict (unknown keys, missing keys,
bad checksums and duplicates are ConfigErrors naming file and line); writing is deterministic:
the same entries always give the same bytes, sorted by name, version and source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cargo_verify._toml_lines import (
    KeyPath,
    LocatedReader,
    basic_string,
    line_of,
    parse_toml,
    read_toml_text,
)
from cargo_verify.atomic import atomic_write
from cargo_verify.errors import ConfigError, UsageError
from cargo_verify.model import Package, Status, Verdict
from cargo_verify.semver import Version

LOCK_VERSION = 1
LOCK_FILE_NAME = "mochi.lock"
HEADER = (
    "# mochi.lock: the Rust crates of this Mochi project, locked and verified by cargo-verify.\n"
    "# Every entry was checked against its Sigstore evidence before this file was written.\n"
    "# Generated file: change it with `mochi pkg add` / `cargo-verify add`, not by hand.\n"
)
_CHECKSUM_RE = re.compile(r"[0-9a-f]{64}")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_REQUIRED = ("name", "version", "source", "checksum")
_EVIDENCE = ("rekor-log-index", "issuer", "identity")
_KNOWN = frozenset((*_REQUIRED, *_EVIDENCE, "unsigned"))


@dataclass(frozen=True)
class LockEntry:
    """One locked crate. Signed entries carry all three evidence fields; unsigned ones none."""

    name: str
    version: str
    source: str
    checksum: str
    rekor_log_index: int | None = None
    issuer: str | None = None
    identity: str | None = None
    line: int | None = None  # 1-based line of its `[[package]]` header when read from a file

    @property
    def signed(self) -> bool:
        return self.rekor_log_index is not None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def package(self) -> Package:
        return Package(self.name, self.version, self.source, self.checksum, self.line)

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> LockEntry:
        """The entry for a package that passed: verified (with evidence) or allowed unsigned."""
        package = verdict.package
        if verdict.status not in (Status.VERIFIED, Status.UNSIGNED):
            raise ValueError(f"{package.key} did not pass verification ({verdict.status})")
        if package.source is None or package.checksum is None:
            raise ValueError(f"{package.key} has no registry source or checksum")
        if verdict.status is Status.UNSIGNED:
            return cls(package.name, package.version, package.source, package.checksum)
        if verdict.rekor_log_index is None or verdict.issuer is None or verdict.identity is None:
            raise ValueError(f"{package.key} verified without log index, issuer or identity")
        return cls(
            package.name,
            package.version,
            package.source,
            package.checksum,
            verdict.rekor_log_index,
            verdict.issuer,
            verdict.identity,
        )


@dataclass(frozen=True)
class MochiLock:
    entries: tuple[LockEntry, ...] = ()

    def with_entry(self, entry: LockEntry) -> MochiLock:
        """This lock with `entry` replacing every entry of the same crate name."""
        kept = tuple(e for e in self.entries if e.name != entry.name)
        return MochiLock((*kept, replace(entry, line=None)))

    def packages(self) -> list[Package]:
        return [entry.package() for entry in self.entries]

    def find(self, name: str) -> tuple[LockEntry, ...]:
        return tuple(e for e in self.entries if e.name == name)

    def render(self) -> str:
        return render_lock(self.entries)


def render_lock(entries: Iterable[LockEntry]) -> str:
    ordered = sorted(entries, key=lambda e: (e.name, _version_order(e.version), e.source))
    parts = [HEADER, f"version = {LOCK_VERSION}\n"]
    for entry in ordered:
        parts.append("\n[[package]]\n")
        parts.append(f"name = {basic_string(entry.name)}\n")
        parts.append(f"version = {basic_string(entry.version)}\n")
        parts.append(f"source = {basic_string(entry.source)}\n")
        parts.append(f"checksum = {basic_string(entry.checksum)}\n")
        if entry.signed:
            assert entry.issuer is not None and entry.identity is not None
            parts.append(f"rekor-log-index = {entry.rekor_log_index}\n")
            parts.append(f"issuer = {basic_string(entry.issuer)}\n")
            parts.append(f"identity = {basic_string(entry.identity)}\n")
        else:
            parts.append("unsigned = true\n")
    return "".join(parts)


def _version_order(text: str) -> tuple[int, Version | None, str]:
    try:
        return (0, Version.parse(text), "")
    except UsageError:  # ordering only; invalid versions are refused on read
        return (1, None, text)


class _Reader(LocatedReader):
    def string(self, table: dict[str, Any], key: str, path: KeyPath) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            found = "nothing" if value is None else repr(value)
            raise self.error(f"`{key}` must be a non-empty string, found {found}", (*path, key))
        return value

    def entry(self, table: Any, index: int) -> LockEntry:
        path: KeyPath = ("package", index)
        if not isinstance(table, dict):
            raise self.error("each `package` must be a table (`[[package]]`)", path)
        for key in table:
            if key not in _KNOWN:
                raise self.error(
                    f"unknown key `{key}` in [[package]] (known: {', '.join(sorted(_KNOWN))})",
                    (*path, key),
                )
        name, version, source, checksum = (self.string(table, k, path) for k in _REQUIRED)
        if not _NAME_RE.fullmatch(name):
            raise self.error(f"`name` {name!r} is not a crate name", (*path, "name"))
        try:
            Version.parse(version)
        except UsageError as exc:
            raise self.error(
                f"`version` {version!r} is not a SemVer version: {exc.diagnostics()}",
                (*path, "version"),
            ) from None
        if not source.startswith(("sparse+", "registry+")):
            raise self.error(
                f"`source` must be a registry source (sparse+… or registry+…), found {source!r}",
                (*path, "source"),
            )
        if not _CHECKSUM_RE.fullmatch(checksum):
            raise self.error(
                "`checksum` must be 64 lowercase hex digits (sha256)", (*path, "checksum")
            )
        present = [k for k in _EVIDENCE if k in table]
        unsigned = table.get("unsigned", False)
        if not isinstance(unsigned, bool):
            raise self.error("`unsigned` must be true or false", (*path, "unsigned"))
        if unsigned:
            if present:
                raise self.error(
                    f"an `unsigned = true` entry cannot carry `{present[0]}`", (*path, present[0])
                )
            return LockEntry(name, version, source, checksum, line=line_of(self.lines, path))
        if len(present) != len(_EVIDENCE):
            missing = [k for k in _EVIDENCE if k not in table]
            raise self.error(
                f"{name}@{version}: missing {', '.join(f'`{k}`' for k in missing)} "
                "(a signed entry needs rekor-log-index, issuer and identity; "
                "an unsigned one says `unsigned = true`)",
                path,
            )
        log_index = table["rekor-log-index"]
        if not isinstance(log_index, int) or isinstance(log_index, bool) or log_index < 0:
            raise self.error(
                "`rekor-log-index` must be a non-negative integer", (*path, "rekor-log-index")
            )
        return LockEntry(
            name,
            version,
            source,
            checksum,
            log_index,
            self.string(table, "issuer", path),
            self.string(table, "identity", path),
            line=line_of(self.lines, path),
        )


def parse_lock(text: str, file: str) -> MochiLock:
    data, lines = parse_toml(text, file)
    reader = _Reader(file, lines)
    for key in data:
        if key not in ("version", "package"):
            raise reader.error(
                f"unknown top-level key `{key}` (expected `version` and [[package]] tables)", (key,)
            )
    version = data.get("version")
    if version != LOCK_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > LOCK_VERSION:
            message = (
                f"lock format version {version} is newer than this cargo-verify "
                f"understands ({LOCK_VERSION}); upgrade cargo-verify"
            )
        else:
            message = f"expected `version = {LOCK_VERSION}`, found {version!r}"
        raise reader.error(message, ("version",))
    raw = data.get("package", [])
    if not isinstance(raw, list):
        raise reader.error("`package` must be an array of tables ([[package]])", ("package",))
    entries = tuple(reader.entry(table, i) for i, table in enumerate(raw))
    seen: dict[tuple[str, str, str], LockEntry] = {}
    for entry in entries:
        identity = (entry.name, entry.version, entry.source)
        if identity in seen:
            raise ConfigError(
                f"{entry.key} from {entry.source} is listed twice "
                f"(first at line {seen[identity].line})",
                file,
                entry.line,
            )
        seen[identity] = entry
    return MochiLock(entries)


def read_lock(path: Path) -> MochiLock:
    return parse_lock(read_toml_text(path, str(path)), str(path))


def read_lock_or_empty(path: Path) -> MochiLock:
    """The lock at `path`, or an empty lock when the file does not exist yet."""
    if not path.exists():
        return MochiLock()
    return read_lock(path)


def write_lock(path: Path, lock: MochiLock) -> None:
    atomic_write(path, lock.render().encode("utf-8"))
