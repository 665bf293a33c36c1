"""Trust entries of `mochi.toml` (design §3.1): `[rust-dependencies.NAME]` tables.

    [rust-dependencies.mochi-example]
    version = "^0.1"
    trust = { issuer = "https://token.actions.githubusercontent.com", subject = "repo:…:v*" }

`trust` may also be written as a sub-table, `[rust-dependencies.mochi-example.trust]`. Its keys
are those of `[sigstore.trust.<crate>]` in cargo config (config.TRUST_KEYS): `issuer` (the
OIDC issuer URL), `subject` (a glob, `*` = any run of characters), `repository`, `workflow`,
`environment`, `ref`. A dependency may also be a bare requirement string (`name = "^0.1"`).
Besides `version` and `trust`, a dependency table may carry cargo's own dependency keys
(`package`, `registry`, `features`, …), which are checked for type only where this module
reads them; any other key is an error, because a misspelt `trust` would silently leave the
crate with the default policy. With `package = "real-name"` the trust entry applies to that
crate. This module only reads the file; it never writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cargo_verify._toml_lines import KeyPath, line_of, parse_toml, read_toml_text
from cargo_verify.config import crate_key, trust_rule_from_table
from cargo_verify.errors import CargoVerifyError, ConfigError
from cargo_verify.model import TrustRule
from cargo_verify.semver import VersionReq

TABLE = "rust-dependencies"
# Keys of a cargo dependency table that may sit next to `version` and `trust`.
CARGO_DEPENDENCY_KEYS = (
    "package",
    "registry",
    "features",
    "default-features",
    "optional",
    "git",
    "branch",
    "tag",
    "rev",
    "path",
)
_OWN_KEYS = ("version", "trust")


@dataclass(frozen=True)
class RustDependency:
    """One `[rust-dependencies.NAME]` entry."""

    name: str  # the key in mochi.toml
    crate: str  # the crate it refers to (`package = …`, else `name`)
    version: str | None
    trust: TrustRule | None
    line: int | None


@dataclass(frozen=True)
class MochiManifest:
    path: str
    dependencies: Mapping[str, RustDependency] = field(default_factory=dict)

    def trust_rules(self) -> dict[str, TrustRule]:
        """Crate name → trust rule, for the dependencies that have one."""
        return {d.crate: d.trust for d in self.dependencies.values() if d.trust is not None}


def read_manifest(path: Path, display: str | None = None) -> MochiManifest:
    """Read `mochi.toml`. `display` is the name used in messages and origins (default: the
    path as given, e.g. `mochi.toml`)."""
    name = display or str(path)
    return parse_manifest(read_toml_text(path, name), name)


def read_trust_rules(path: Path, display: str | None = None) -> dict[str, TrustRule]:
    """Crate name → TrustRule (origin `mochi.toml:LINE`) of every trust entry in the file."""
    return read_manifest(path, display).trust_rules()


def parse_manifest(text: str, file: str) -> MochiManifest:
    data, lines = parse_toml(text.removeprefix("\ufeff"), file)
    return _ManifestReader(file, lines).read(data)


class _ManifestReader:
    def __init__(self, file: str, lines: dict[KeyPath, int]) -> None:
        self.file = file
        self.lines = lines

    def line(self, *where: str) -> int | None:
        return line_of(self.lines, (TABLE, *where))

    def error(self, message: str, *where: str) -> ConfigError:
        return ConfigError(message, self.file, self.line(*where))

    def read(self, data: dict[str, Any]) -> MochiManifest:
        table = data.get(TABLE)
        if table is None:
            return MochiManifest(self.file)
        if not isinstance(table, dict):
            raise self.error(f"`{TABLE}` must be a table")
        dependencies: dict[str, RustDependency] = {}
        crates: dict[str, str] = {}
        for name, entry in table.items():
            dependency = self.dependency(name, entry)
            key = crate_key(dependency.crate)
            if dependency.trust is not None and key in crates:
                raise self.error(
                    f"two trust entries for crate `{dependency.crate}`: `{crates[key]}` and "
                    f"`{name}` (crates.io treats `-`/`_` and case as the same name)",
                    name,
                )
            if dependency.trust is not None:
                crates[key] = name
            dependencies[name] = dependency
        return MochiManifest(self.file, dependencies)

    def dependency(self, name: str, entry: object) -> RustDependency:
        if isinstance(entry, str):
            self.check_requirement(entry, name)
            return RustDependency(name, name, entry, None, self.line(name))
        if not isinstance(entry, dict):
            raise self.error(f"`{TABLE}.{name}` must be a version string or a table", name)
        for key in entry:
            if key not in _OWN_KEYS + CARGO_DEPENDENCY_KEYS:
                raise self.error(
                    f"unknown key `{key}` in `{TABLE}.{name}`: expected `version`, `trust` or "
                    f"a cargo dependency key ({', '.join(CARGO_DEPENDENCY_KEYS)})",
                    name,
                    key,
                )
        version = entry.get("version")
        if version is not None:
            if not isinstance(version, str):
                raise self.error(f"`{TABLE}.{name}.version` must be a string", name, "version")
            self.check_requirement(version, name, "version")
        crate = entry.get("package", name)
        if not isinstance(crate, str) or not crate:
            raise self.error(f"`{TABLE}.{name}.package` must be a crate name", name, "package")
        trust = None
        if "trust" in entry:
            trust = self.trust(name, entry["trust"])
        return RustDependency(name, crate, version, trust, self.line(name))

    def check_requirement(self, requirement: str, *where: str) -> None:
        try:
            VersionReq.parse(requirement)
        except CargoVerifyError as error:
            raise self.error(f"`{TABLE}.{'.'.join(where)}`: {error}", *where) from None

    def trust(self, name: str, value: object) -> TrustRule:
        dotted = f"{TABLE}.{name}.trust"
        if not isinstance(value, dict):
            raise self.error(
                f'`{dotted}` must be a table, e.g. trust = {{ issuer = "…", subject = "…" }}',
                name,
                "trust",
            )
        line = self.line(name, "trust")
        return trust_rule_from_table(
            value,
            origin=f"{self.file}:{line}" if line is not None else self.file,
            file=self.file,
            line_of_key=lambda key: self.line(name, "trust", key),
            table_name=dotted,
            table_line=line,
        )
