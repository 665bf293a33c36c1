"""Cargo.lock, read the way cargo 1.95 reads it (cargo-facts.md §1; cargo `resolver/encode.rs`
`into_resolve` and `cargo-util-schemas` `lockfile.rs`).

What cargo refuses is refused here too, as a ConfigError naming file and line: unsupported
`version = N`, duplicate packages, malformed `source` or dependency strings, versions that are
not SemVer, malformed TOML, invalid UTF-8. On top of that, and stricter than cargo, this
reader also refuses: checksums that are not 64 lowercase hex digits, registry crate names
outside cargo's publishable set (ASCII letters, digits, `-`, `_`), names of any package with
path separators, dots, whitespace or control characters, source strings with whitespace or
control characters, and files over 64 MiB. Names of path and git packages may be non-ASCII
letters, because cargo accepts those for local packages.

The format version (1–4) is detected exactly as cargo does. Files without a `version` key
are V1 unless a package has a `checksum`, a dependency entry omits a version (or omits the
source of a non-path package), or the file has exactly one package and ends with exactly one
newline; then they are V2. As in cargo, if a V2+ file also lists checksums in `[metadata]`
(a bad merge), all checksums are dropped, and a warning says so.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cargo_verify._toml_lines import (
    KeyPath,
    LocatedReader,
    line_of,
    parse_toml,
    read_toml_text,
    type_name,
)
from cargo_verify.cargo_home import SourceIdentity, source_identity
from cargo_verify.errors import CargoVerifyError, ConfigError
from cargo_verify.model import CRATES_IO_SOURCES, Package
from cargo_verify.semver import Version

MAX_LOCKFILE_BYTES = 64 * 1024 * 1024
SUPPORTED_VERSIONS = (3, 4)  # the explicit markers stable cargo 1.95 understands

_CHECKSUM_RE = re.compile(r"[0-9a-f]{64}")
_REGISTRY_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SPECIAL_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:", "file:")
_CONTROL_OR_SPACE_RE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_METADATA_CHECKSUM = "checksum "


class SourceType(enum.StrEnum):
    """What a package's `source` says about where it comes from."""

    REGISTRY = "registry"  # `registry+…` (git index) or `sparse+…`
    GIT = "git"
    PATH = "path"  # no source: path dependency or workspace member (or `path+…`)
    OTHER = "other"


def source_type(source: str | None) -> SourceType:
    if source is None or source.startswith("path+"):
        return SourceType.PATH
    if source.startswith(("registry+", "sparse+")):
        return SourceType.REGISTRY
    if source.startswith("git+"):
        return SourceType.GIT
    return SourceType.OTHER


def is_sparse(source: str | None) -> bool:
    return source is not None and source.startswith("sparse+")


def is_crates_io(source: str | None) -> bool:
    """True for both spellings of crates.io (model.CRATES_IO_SOURCES)."""
    return source in CRATES_IO_SOURCES


def registry_index_url(source: str | None) -> str | None:
    """The index URL of a registry source, as cargo uses it: `registry+URL` → URL, while a
    sparse source keeps its prefix (`sparse+https://index.crates.io/`)."""
    if source is None:
        return None
    if source.startswith("registry+"):
        return source.removeprefix("registry+")
    if source.startswith("sparse+"):
        return source
    return None


@dataclass(frozen=True)
class Lockfile:
    """The packages of a Cargo.lock, in file order (a legacy `[root]` first, as in cargo)."""

    path: str
    version: int  # 1–4
    packages: list[Package]
    warnings: list[str] = field(default_factory=list)

    def registry_packages(self) -> list[Package]:
        return [p for p in self.packages if source_type(p.source) is SourceType.REGISTRY]

    def find(self, name: str, version: str | None = None) -> list[Package]:
        return [
            p for p in self.packages if p.name == name and (version is None or p.version == version)
        ]


def read_lockfile(path: Path) -> Lockfile:
    """Read and validate a Cargo.lock file. Every problem is a ConfigError with file:line."""
    return parse_lockfile(read_toml_text(path), str(path))


def parse_lockfile(text: str, path: str) -> Lockfile:
    """Parse Cargo.lock text; `path` is only used in messages and in the result."""
    if len(text) > MAX_LOCKFILE_BYTES:
        raise ConfigError(f"larger than {MAX_LOCKFILE_BYTES // (1024 * 1024)} MiB", path)
    original = text
    text = text.removeprefix("\ufeff")
    data, lines = parse_toml(text, path)
    return _Reader(path, lines).read(data, original)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PackageId:
    """A dependency / `[metadata]` reference: `name`, `name version`, `name version (source)`."""

    name: str
    version: str | None
    source: str | None


@dataclass
class _Entry:
    name: str
    version: str
    source: str | None
    identity: SourceIdentity | None
    checksum: str | None
    dependencies: list[tuple[_PackageId, int | None]]
    replace: _PackageId | None
    line: int | None


class _Reader(LocatedReader):
    def __init__(self, path: str, lines: dict[KeyPath, int]) -> None:
        super().__init__(path, lines)
        self.format_version = 1
        self.warnings: list[str] = []

    # -- top level ----------------------------------------------------------------------

    def read(self, data: dict[str, Any], original: str) -> Lockfile:
        explicit = self.read_version(data)
        self.format_version = explicit or 1
        entries = self.read_packages(data)
        self.check_duplicates(entries)
        checksums = self.detect_and_collect(entries, data)
        if (
            self.format_version == 1
            and original.endswith("\n")
            and not original.endswith("\n\n")
            and len(entries) == 1
        ):
            self.format_version = 2
        packages = [
            Package(e.name, e.version, e.source, checksums.get(id(e)), e.line) for e in entries
        ]
        self.check_patch(data)
        return Lockfile(self.file, self.format_version, packages, self.warnings)

    def read_version(self, data: dict[str, Any]) -> int | None:
        if "version" not in data:
            return None
        value = data["version"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
            raise self.error(
                f"invalid `version`: expected an unsigned integer, found {type_name(value)}",
                ("version",),
            )
        if value not in SUPPORTED_VERSIONS:
            hint = (
                " (version 5 is only readable by nightly cargo with -Znext-lockfile-bump)"
                if value == 5
                else ""
            )
            raise self.error(
                f"lock file version `{value}` was found, but this version of Cargo does not "
                f"understand this lock file, perhaps Cargo needs to be updated?{hint}",
                ("version",),
            )
        return value

    def read_packages(self, data: dict[str, Any]) -> list[_Entry]:
        tables: list[tuple[object, KeyPath]] = []
        if "root" in data:
            tables.append((data["root"], ("root",)))
        packages = data.get("package", [])
        if not isinstance(packages, list):
            raise self.error(
                f"invalid `package`: expected an array of tables, found {type_name(packages)}",
                ("package",),
            )
        tables.extend((table, ("package", i)) for i, table in enumerate(packages))
        return [self.read_package(table, where) for table, where in tables]

    # -- one package --------------------------------------------------------------------

    def string_field(
        self, table: dict[str, Any], key: str, where: KeyPath, *, required: bool
    ) -> str | None:
        if key not in table:
            if required:
                raise self.error(f"missing field `{key}` in package", where)
            return None
        value = table[key]
        if not isinstance(value, str):
            raise self.error(
                f"invalid `{key}`: expected a string, found {type_name(value)}", (*where, key)
            )
        return value

    def read_package(self, table: object, where: KeyPath) -> _Entry:
        if not isinstance(table, dict):
            raise self.error(f"invalid package: expected a table, found {type_name(table)}", where)
        name = self.string_field(table, "name", where, required=True)
        version = self.string_field(table, "version", where, required=True)
        assert name is not None and version is not None
        source = self.string_field(table, "source", where, required=False)
        identity = None if source is None else self.check_source(source, (*where, "source"))
        self.check_name(name, source, (*where, "name"))
        self.check_version(name, version, (*where, "version"))
        checksum = self.string_field(table, "checksum", where, required=False)
        if checksum is not None:
            self.check_checksum(checksum, name, version, (*where, "checksum"))
        dependencies: list[tuple[_PackageId, int | None]] = []
        raw_deps = table.get("dependencies")
        if raw_deps is not None:
            if not isinstance(raw_deps, list):
                raise self.error(
                    f"invalid `dependencies`: expected an array, found {type_name(raw_deps)}",
                    (*where, "dependencies"),
                )
            for i, dep in enumerate(raw_deps):
                dep_where = (*where, "dependencies", i)
                dependencies.append(
                    (self.package_id(dep, dep_where), line_of(self.lines, dep_where))
                )
        replace = None
        if "replace" in table:
            replace = self.package_id(table["replace"], (*where, "replace"))
        return _Entry(
            name,
            version,
            source,
            identity,
            checksum,
            dependencies,
            replace,
            line_of(self.lines, where),
        )

    def check_source(self, source: str, where: KeyPath) -> SourceIdentity:
        kind, plus, rest = source.partition("+")
        if not plus:
            raise self.error(f"invalid source `{source}`", where)
        if kind not in ("git", "registry", "sparse", "path"):
            raise self.error(f"unsupported source protocol: {kind} (in `{source}`)", where)
        if _CONTROL_OR_SPACE_RE.search(source):
            raise self.error(f"invalid source `{source}`: whitespace or control character", where)
        url = source if kind == "sparse" else rest
        scheme = _SCHEME_RE.match(url)
        if scheme is None:
            raise self.error(f"invalid url `{rest}`: relative URL without a base", where)
        after = url[scheme.end() :]
        if not after.startswith("/") and scheme.group().lower() not in _SPECIAL_SCHEMES:
            raise self.error(
                f"invalid url `{rest}`: cannot-be-a-base-URLs are not supported", where
            )
        identity = source_identity(source)
        assert identity is not None  # the prefix was checked above
        return identity

    def check_name(self, name: str, source: str | None, where: KeyPath) -> None:
        if source_type(source) is SourceType.REGISTRY:
            if not _REGISTRY_NAME_RE.fullmatch(name):
                raise self.error(
                    f"invalid crate name {name!r}: registry crate names may only contain "
                    "ASCII letters, digits, `-` and `_`",
                    where,
                )
        elif not name or not all(c.isalnum() or c in "-_" for c in name):
            raise self.error(
                f"invalid package name {name!r}: only letters, digits, `-` and `_` are allowed",
                where,
            )

    def check_version(self, name: str, version: str, where: KeyPath) -> None:
        try:
            Version.parse(version)
        except CargoVerifyError as error:
            raise self.error(f"invalid version for package `{name}`: {error}", where) from None

    def check_checksum(self, checksum: str, name: str, version: str, where: KeyPath) -> None:
        if not _CHECKSUM_RE.fullmatch(checksum):
            raise self.error(
                f"invalid checksum for `{name} {version}`: expected 64 lowercase hex digits "
                f"(a SHA-256), found {checksum!r}",
                where,
            )

    def package_id(self, value: object, where: KeyPath) -> _PackageId:
        if not isinstance(value, str):
            raise self.error(
                f"invalid package id: expected a string, found {type_name(value)}", where
            )
        return self.parse_package_id(value, where)

    def parse_package_id(self, text: str, where: KeyPath) -> _PackageId:
        parts = text.split(" ", 2)
        source = None
        if len(parts) == 3:
            wrapped = parts[2]
            if not (wrapped.startswith("(") and wrapped.endswith(")") and len(wrapped) >= 2):
                raise self.error(f"invalid serialized PackageId {text!r}", where)
            source = wrapped[1:-1]
            self.check_source(source, where)
        return _PackageId(parts[0], parts[1] if len(parts) > 1 else None, source)

    # -- whole-file rules ---------------------------------------------------------------

    def check_duplicates(self, entries: Iterable[_Entry]) -> None:
        seen: set[tuple[str, str, str | None]] = set()
        for entry in entries:
            key = (entry.name, entry.version, entry.source)
            if key in seen:
                raise ConfigError(
                    f"package `{entry.name}` is specified twice in the lockfile",
                    self.file,
                    entry.line,
                )
            seen.add(key)

    def lookup(self, index: dict[str, dict[str, list[_Entry]]], ref: _PackageId) -> _Entry | None:
        """cargo's `lookup_id`, including its side effect of detecting the V2 encoding."""
        by_version = index.get(ref.name)
        if by_version is None:
            return None
        if ref.version is None:
            self.format_version = max(self.format_version, 2)
            if len(by_version) != 1:
                return None
            by_source = next(iter(by_version.values()))
        else:
            found = by_version.get(ref.version)
            if found is None:
                return None
            by_source = found
        if ref.source is not None:
            wanted = source_identity(ref.source)
            return next((e for e in by_source if e.identity == wanted), None)
        path_entries = [e for e in by_source if e.source is None]
        if path_entries:
            return path_entries[0] if len(path_entries) == 1 else None
        if len(by_source) == 1:
            self.format_version = max(self.format_version, 2)
            return by_source[0]
        return None

    def detect_and_collect(self, entries: list[_Entry], data: dict[str, Any]) -> dict[int, str]:
        """Finish format detection and return the checksum of each entry (keyed by `id`)."""
        checksums: dict[int, str | None] = {}
        for entry in entries:
            if entry.checksum is not None:
                self.format_version = max(self.format_version, 2)
                checksums[id(entry)] = entry.checksum
        index: dict[str, dict[str, list[_Entry]]] = {}
        for entry in entries:
            index.setdefault(entry.name, {}).setdefault(entry.version, []).append(entry)
        for entry in entries:
            for dep, _line in entry.dependencies:
                self.lookup(index, dep)
            if entry.replace is not None:
                self.lookup(index, entry.replace)
        from_metadata = self.metadata_checksums(data, index, checksums)
        if from_metadata and self.format_version >= 2:
            if any(c is not None for c in checksums.values()):
                self.warnings.append(
                    f"{self.file}: [metadata] lists checksums, but the file is in the V2+ "
                    "format (a bad merge?); like cargo, all of its checksums are ignored"
                )
            checksums.clear()
        return {key: value for key, value in checksums.items() if value is not None}

    def metadata_checksums(
        self,
        data: dict[str, Any],
        index: dict[str, dict[str, list[_Entry]]],
        checksums: dict[int, str | None],
    ) -> bool:
        metadata = data.get("metadata")
        if metadata is None:
            return False
        if not isinstance(metadata, dict):
            raise self.error(
                f"invalid `metadata`: expected a table, found {type_name(metadata)}",
                ("metadata",),
            )
        found = False
        for key, value in metadata.items():
            where: KeyPath = ("metadata", key)
            if not isinstance(value, str):
                raise self.error(
                    f"invalid [metadata] value: expected a string, found {type_name(value)}",
                    where,
                )
            if not key.startswith(_METADATA_CHECKSUM):
                continue
            found = True
            ref = self.parse_package_id(key.removeprefix(_METADATA_CHECKSUM), where)
            if value != "<none>":
                self.check_checksum(value, ref.name, ref.version or "", where)
            entry = self.lookup(index, ref)
            if entry is not None:
                checksums[id(entry)] = None if value == "<none>" else value
        return found

    def check_patch(self, data: dict[str, Any]) -> None:
        patch = data.get("patch")
        if patch is None:
            return
        if not isinstance(patch, dict):
            raise self.error(
                f"invalid `patch`: expected a table, found {type_name(patch)}", ("patch",)
            )
        unused = patch.get("unused", [])
        if not isinstance(unused, list):
            raise self.error(
                f"invalid `patch.unused`: expected an array of tables, found {type_name(unused)}",
                ("patch", "unused"),
            )
        for i, table in enumerate(unused):
            self.read_package(table, ("patch", "unused", i))
