"""Cargo configuration, read the way cargo 1.95 reads it, plus this project's `[sigstore]` table.

Files (cargo-facts.md §4; cargo `util/context/mod.rs`): starting at the working directory and
going up to `/`, each `<dir>/.cargo/config.toml` — or the legacy `<dir>/.cargo/config`, which
wins when both exist — then `$CARGO_HOME/config.toml` (or `config`) unless the walk already
read that directory. `include = ["a.toml", {path = "b.toml", optional = true}]` loads files
relative to the including file, before it; later includes beat earlier ones and the including
file beats them all. Tables merge key by key: for a scalar the deeper directory wins (the
home file loses to every project file); arrays are concatenated; a table in one file against
a non-table in another is an error, as is any float or date/time value (cargo refuses both).
`CARGO_<KEY>` environment variables (`.`/`-` → `_`, upper case) beat files for the keys read
here. Relative paths are resolved against the parent of the directory holding the file (the
project directory for `<dir>/.cargo/config.toml`), or the working directory for environment
values. Read from cargo's own tables: `[registries]` (`index`, `crates-io.protocol`),
`[source]` (replacement), `[install] verify`, `[net] offline`, `[http] cainfo`. Other keys
are cargo's business and are ignored.

This project's table is a top-level `[sigstore]`, which cargo ignores silently (cargo-facts.md
§4 — unlike `[http]`, `[net]` or `[source.X]`, where unknown keys make cargo warn):

    [sigstore]
    trusted-root = "sigstore/trusted_root.json"  # path; trusted_root.json or ClientTrustConfig
    rekor-url = "https://rekor.sigstore.dev"     # http(s) URL
    unsigned = "warn"                            # "deny" | "warn" (default) | "allow"
    rekor-search = false                         # opt-in Rekor search by the crate's sha256
    jobs = 8                                     # parallel verifications, >= 1
    cache-dir = "~/.cache/cargo-verify"          # path (no `~` expansion: cargo has none)
    offline = false                              # never fetch trust material

    [sigstore.trust.mochi-example]               # per crate; same keys as mochi.toml `trust`
    issuer = "https://token.actions.githubusercontent.com"
    subject = "repo:example/mochi-example:ref:refs/tags/v*"   # glob
    # also: repository = "OWNER/REPO", workflow = "release.yml", environment = "…",
    #       ref = "refs/tags/v*"

    [sigstore.exceptions.legacy-crate]
    reason = "upstream does not sign yet, tracked in #42"    # required, non-empty
    expires = "2026-06-30"   # optional; applies through that day. A string: cargo refuses
                             # TOML dates anywhere in its config files.
    version = "=1.2.3"       # optional; an exact version, or a cargo version requirement

Unknown keys and wrong types inside `[sigstore]` are errors naming file and line, in every
file read (not only the one that wins). The scalar keys may also come from the environment
(`CARGO_SIGSTORE_UNSIGNED=deny`, …), which beats files, as for cargo's own keys. A crate's
`trust` or `exceptions` entry is taken whole from the most specific file that has one (entries
are not merged key by key), so a project entry fully replaces the one in `$CARGO_HOME`. Crate
names are compared the way crates.io compares them: case-insensitive, `-` equal to `_`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cargo_verify._toml_lines import KeyPath, line_of, parse_toml, read_toml_text, type_name
from cargo_verify.cargo_home import (
    CRATES_IO_GIT_INDEX,
    CRATES_IO_SPARSE_INDEX,
    SourceIdentity,
    SourceKind,
    cargo_home,
    source_identity,
)
from cargo_verify.errors import CargoVerifyError, ConfigError
from cargo_verify.model import TrustRule
from cargo_verify.semver import Version, VersionReq

UNSIGNED_POLICIES = ("deny", "warn", "allow")
DEFAULT_UNSIGNED = "warn"
TRUST_KEYS = ("issuer", "subject", "repository", "workflow", "environment", "ref")
_SIGSTORE_SCALARS = (
    "trusted-root",
    "rekor-url",
    "unsigned",
    "rekor-search",
    "jobs",
    "cache-dir",
    "offline",
)
_SIGSTORE_TABLES = ("trust", "exceptions")
_EXCEPTION_KEYS = ("reason", "expires", "version")
_SOURCE_LOCATIONS = ("registry", "local-registry", "directory", "git")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*")
_HTTP_URL_RE = re.compile(r"https?://[^\s/?#]+\S*")
_EXACT_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-+]\S*)?")
_INCLUDE_FORBIDDEN = ("*", "?", "[", "]", "{", "}")


def crate_key(name: str) -> str:
    """How crates.io compares crate names: `Foo_Bar` and `foo-bar` are the same crate."""
    return name.lower().replace("_", "-")


def registry_source(index_url: str) -> str:
    """The source string of a registry with this index URL: `sparse+…` as is, else
    `registry+URL`."""
    return index_url if index_url.startswith("sparse+") else f"registry+{index_url}"


def _env_part(key: str) -> str:
    return key.replace("-", "_").upper()


def _did_you_mean(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"expected one of {', '.join(f'`{k}`' for k in allowed)}{hint}"


# --------------------------------------------------------------------------------------------
# Public result types


@dataclass(frozen=True)
class PolicyException:
    """A `[sigstore.exceptions.<crate>]` entry: lets a crate through despite the policy."""

    crate: str
    reason: str
    origin: str
    expires: date | None = None  # last day on which it applies
    version: str | None = None  # exact version or cargo requirement; None = every version

    def is_expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def matches_version(self, version: str) -> bool:
        if self.version is None:
            return True
        try:
            candidate = Version.parse(version)
            if _EXACT_VERSION_RE.fullmatch(self.version):
                return candidate == Version.parse(self.version)
            return VersionReq.parse(self.version).matches(candidate)
        except CargoVerifyError:
            return False

    def describe(self) -> str:
        scope = f" (version {self.version})" if self.version else ""
        until = f", until {self.expires.isoformat()}" if self.expires else ""
        return f"exception for {self.crate}{scope}: {self.reason}{until} ({self.origin})"


@dataclass(frozen=True)
class SigstoreSettings:
    """The merged `[sigstore]` table. `origins` maps a key (`unsigned`, `trust.<crate>`, …)
    to where its value came from; a key without an origin has its default."""

    trusted_root: Path | None = None
    rekor_url: str | None = None
    unsigned: str = DEFAULT_UNSIGNED
    rekor_search: bool = False
    jobs: int | None = None
    cache_dir: Path | None = None
    offline: bool = False
    trust: Mapping[str, TrustRule] = field(default_factory=dict)  # keyed by crate_key()
    exceptions: Mapping[str, PolicyException] = field(default_factory=dict)  # crate_key()
    origins: Mapping[str, str] = field(default_factory=dict)

    def origin(self, key: str) -> str:
        return self.origins.get(key, "default")

    def trust_for(self, crate: str) -> TrustRule | None:
        return self.trust.get(crate_key(crate))

    def exception_for(self, crate: str) -> PolicyException | None:
        return self.exceptions.get(crate_key(crate))


@dataclass(frozen=True)
class SourceDefinition:
    """One `[source.<name>]` table (or the built-in `crates-io`)."""

    name: str
    kind: SourceKind
    location: str  # URL (registry, git: `sparse+` kept) or absolute path (local ones)
    replace_with: str | None
    origin: str
    git_reference: tuple[str, str] | None = None

    @property
    def source_string(self) -> str:
        """The source as cargo prints a SourceId: `registry+URL`, `sparse+URL`, …"""
        if self.kind is SourceKind.SPARSE:
            return self.location
        if self.kind in (SourceKind.LOCAL_REGISTRY, SourceKind.DIRECTORY):
            return f"{self.kind_prefix}+{Path(self.location).as_uri()}"
        if (
            self.kind is SourceKind.GIT
            and self.git_reference
            and self.git_reference[0] != "default"
        ):
            return f"git+{self.location}?{self.git_reference[0]}={self.git_reference[1]}"
        return f"{self.kind_prefix}+{self.location}"

    @property
    def kind_prefix(self) -> str:
        return {
            SourceKind.GIT: "git",
            SourceKind.PATH: "path",
            SourceKind.REGISTRY: "registry",
            SourceKind.SPARSE: "sparse",
            SourceKind.LOCAL_REGISTRY: "local-registry",
            SourceKind.DIRECTORY: "directory",
        }[self.kind]


@dataclass(frozen=True)
class ResolvedSource:
    """Where cargo really gets a lockfile source's packages, after `[source]` replacement."""

    original: str  # as in Cargo.lock
    effective: str  # `sparse+https://index.crates.io/`, `local-registry+file:///…`, …
    kind: SourceKind
    via: tuple[str, ...] = ()  # `replace-with` names followed, in order
    origin: str | None = None  # where the first `replace-with` was configured

    @property
    def index_url(self) -> str | None:
        """URL cargo hashes for the cache directory (registry and sparse sources only)."""
        if self.kind is SourceKind.SPARSE:
            return self.effective
        if self.kind is SourceKind.REGISTRY:
            return self.effective.removeprefix("registry+")
        return None

    @property
    def local_path(self) -> Path | None:
        if self.kind not in (SourceKind.LOCAL_REGISTRY, SourceKind.DIRECTORY):
            return None
        url = self.effective.split("+", 1)[1]
        return Path(unquote(url.removeprefix("file://")))

    @property
    def is_local(self) -> bool:
        return self.kind in (SourceKind.LOCAL_REGISTRY, SourceKind.DIRECTORY)

    @property
    def is_replaced(self) -> bool:
        return bool(self.via)


@dataclass(frozen=True)
class CargoConfig:
    """Cargo's configuration as seen from `cwd`, with origins ("file:line")."""

    cwd: Path
    cargo_home: Path
    files: tuple[Path, ...] = ()  # every file read, highest precedence first
    registries: Mapping[str, str] = field(default_factory=dict)  # name → index URL
    sources: Mapping[str, SourceDefinition] = field(default_factory=dict)
    crates_io_protocol: str = "sparse"
    install_verify: str | None = None
    net_offline: bool = False
    http_cainfo: Path | None = None
    sigstore: SigstoreSettings = field(default_factory=SigstoreSettings)
    origins: Mapping[str, str] = field(default_factory=dict)  # "registries.x.index" → origin
    warnings: tuple[str, ...] = ()
    _id2name: Mapping[SourceIdentity, str] = field(default_factory=dict, repr=False)
    _registry_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def origin(self, key: str) -> str:
        return self.origins.get(key, "default")

    def registry_index(self, name: str) -> str | None:
        """The index URL of a named registry (`sparse+` kept), as cargo looks it up by name:
        `CARGO_REGISTRIES_<NAME>_INDEX` first, then `registries.<name>.index`."""
        if name == "crates-io":
            return CRATES_IO_GIT_INDEX
        from_env = self._registry_env.get(_env_part(name))
        return from_env if from_env is not None else self.registries.get(name)

    def resolve_source(self, source: str) -> ResolvedSource:
        """Follow `[source]` replacement the way cargo's `SourceConfigMap::load` does."""
        identity = source_identity(source)
        if identity is None:
            raise ConfigError(f"invalid source `{source}`")
        name = self._id2name.get(identity)
        if name is None:
            return ResolvedSource(source, source, identity.kind)
        original_name = name
        via: list[str] = []
        first_origin: str | None = None
        where = ""
        visited = {name}
        while True:
            definition = self.sources.get(name)
            if definition is None:  # cargo then tries the name as a registry name
                index = self.registry_index(name)
                if index is None:
                    raise _error_at(
                        f"could not find a configured source with the name `{name}` when "
                        f"attempting to lookup `{original_name}`",
                        where,
                    )
                effective = registry_source(index)
                kind = SourceKind.SPARSE if index.startswith("sparse+") else SourceKind.REGISTRY
                break
            if definition.replace_with is not None:
                where = definition.origin
                first_origin = first_origin or definition.origin
                name = definition.replace_with
                via.append(name)
                if name in visited:
                    raise _error_at(
                        "detected a cycle of `replace-with` sources, the source "
                        f"`{name}` is eventually replaced with itself",
                        where,
                    )
                visited.add(name)
                continue
            effective, kind = definition.source_string, definition.kind
            break
        if source_identity(effective) == identity:
            return ResolvedSource(source, source, identity.kind)
        replaced_kinds = (SourceKind.GIT, SourceKind.PATH)
        if kind in replaced_kinds and identity.kind not in replaced_kinds:
            raise _error_at(
                f"cannot replace `{original_name}` with `{name}`, the source "
                f"`{original_name}` supports checksums, but `{name}` does not",
                where,
            )
        return ResolvedSource(source, effective, kind, tuple(via), first_origin)


def _error_at(message: str, origin: str) -> ConfigError:
    """A ConfigError at an origin string ("path:line")."""
    file, _, line = origin.rpartition(":")
    if file and line.isdigit():
        return ConfigError(message, file, int(line))
    return ConfigError(message, origin or None)


# --------------------------------------------------------------------------------------------
# Reading files


@dataclass
class _Node:
    """A config value with where it was defined."""

    value: Any  # str | int | bool | dict[str, _Node] | list[_Node]
    file: Path
    line: int | None

    @property
    def origin(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)


@dataclass
class _Layer:
    """One file read, with its values as nodes."""

    path: Path
    root: _Node
    lines: dict[KeyPath, int]
    data: dict[str, Any]


def _to_node(value: Any, file: Path, lines: dict[KeyPath, int], where: KeyPath) -> _Node:
    line = line_of(lines, where) if where else None
    if isinstance(value, dict):
        children = {k: _to_node(v, file, lines, (*where, k)) for k, v in value.items()}
        return _Node(children, file, line)
    if isinstance(value, list):
        items = [_to_node(v, file, lines, (*where, i)) for i, v in enumerate(value)]
        return _Node(items, file, line)
    if isinstance(value, float | date | datetime | time):
        kind = "float" if isinstance(value, float) else "datetime"
        dotted = ".".join(str(part) for part in where)
        raise ConfigError(
            f"cargo refuses this config value: `{dotted}` has unsupported TOML configuration "
            f"type `{kind}`"
            + (' (write dates as strings, e.g. "2026-06-30")' if kind == "datetime" else ""),
            file,
            line,
        )
    return _Node(value, file, line)


def _merge(high: _Node, low: _Node, path: tuple[str, ...] = ()) -> None:
    """Merge a lower-precedence node into a higher one (cargo's `ConfigValue::merge`)."""
    if isinstance(high.value, dict) and isinstance(low.value, dict):
        for key, node in low.value.items():
            if key not in high.value:
                high.value[key] = node
            elif not _is_whole_entry((*path, key)):
                _merge(high.value[key], node, (*path, key))
        return
    if isinstance(high.value, list) and isinstance(low.value, list):
        high.value = low.value + high.value
        return
    containers = (dict, list)
    if isinstance(high.value, containers) or isinstance(low.value, containers):
        raise ConfigError(
            f"failed to merge config value `{'.'.join(path)}` from `{low.origin}` into "
            f"`{high.origin}`: expected {type_name(high.value)}, but found "
            f"{type_name(low.value)}",
            low.file,
            low.line,
        )


def _is_whole_entry(path: tuple[str, ...]) -> bool:
    return len(path) == 3 and path[0] == "sigstore" and path[1] in _SIGSTORE_TABLES


class _Loader:
    def __init__(self, cwd: Path, home: Path, env: Mapping[str, str]) -> None:
        self.cwd = cwd
        self.home = home
        self.env = env
        self.warnings: list[str] = []

    def discover(self) -> list[Path]:
        """cargo's `walk_tree`: the files of the cwd and its parents, then $CARGO_HOME."""
        found: list[Path] = []
        seen: set[Path] = set()
        for directory in (self.cwd, *self.cwd.parents):
            root = directory / ".cargo"
            path = self.file_in(root)
            if path is not None:
                found.append(path)
            seen.add(_canonical(root))
        if _canonical(self.home) not in seen and self.home not in seen:
            path = self.file_in(self.home)
            if path is not None:
                found.append(path)
        return found

    def file_in(self, directory: Path) -> Path | None:
        legacy, current = directory / "config", directory / "config.toml"
        if legacy.exists():
            if current.exists():
                if not _same_file(legacy, current):
                    self.warnings.append(f"both `{legacy}` and `{current}` exist. Using `{legacy}`")
            else:
                self.warnings.append(f"`{legacy}` is deprecated in favor of `config.toml`")
            return legacy
        return current if current.exists() else None

    def load(self, path: Path, seen: set[Path] | None = None) -> list[_Layer]:
        """The layers of one file and its includes, highest precedence first."""
        # Like cargo, one set per discovered file: a file included twice is refused too.
        seen = set() if seen is None else seen
        if path in seen:
            raise ConfigError(f"config `include` cycle detected with path `{path}`", path)
        seen.add(path)
        text = read_toml_text(path)
        data, lines = parse_toml(text, str(path))
        includes = self.include_paths(data, path, lines)
        try:
            root = _to_node(data, path, lines, ())
        except RecursionError:
            raise ConfigError("tables are nested too deeply", path) from None
        included: list[list[_Layer]] = [self.load(include, seen) for include in includes]
        layers = [_Layer(path, root, lines, data)]
        for group in reversed(included):  # a later include beats an earlier one
            layers.extend(group)
        return layers

    def include_paths(
        self, data: dict[str, Any], path: Path, lines: dict[KeyPath, int]
    ) -> list[Path]:
        if "include" not in data:
            return []
        value = data.pop("include")
        if not isinstance(value, list):
            raise ConfigError(
                f"expected a list of strings or a list of tables, but found {type_name(value)} "
                "at `include`",
                path,
                line_of(lines, ("include",)),
            )
        result: list[Path] = []
        for index, item in enumerate(value):
            where: KeyPath = ("include", index)
            line = line_of(lines, where)
            optional = False
            if isinstance(item, dict):
                target = item.get("path")
                if not isinstance(target, str):
                    problem = "missing field `path`" if target is None else "expected a string"
                    raise ConfigError(f"{problem} at `include[{index}].path`", path, line)
                flag = item.get("optional", False)
                if not isinstance(flag, bool):
                    raise ConfigError(
                        f"expected a boolean at `include[{index}].optional`", path, line
                    )
                optional = flag
            elif isinstance(item, str):
                target = item
            else:
                raise ConfigError(
                    f"expected a string or table, but found {type_name(item)} at "
                    f"`include[{index}]`",
                    path,
                    line,
                )
            if not target.endswith(".toml"):
                raise ConfigError(
                    f"expected a config include path ending with `.toml`, but found `{target}`",
                    path,
                    line,
                )
            if any(char in target for char in _INCLUDE_FORBIDDEN):
                raise ConfigError(
                    f"expected a config include path without glob patterns or template "
                    f"braces, but found `{target}`",
                    path,
                    line,
                )
            resolved = path.parent / target
            if optional and not resolved.exists():
                continue
            if not resolved.is_file():
                raise ConfigError(
                    f"failed to load config include `{target}`: file not found at `{resolved}`",
                    path,
                    line,
                )
            result.append(resolved)
        return result

    # -- environment --------------------------------------------------------------------

    def env_value(self, *key: str) -> tuple[str, str] | None:
        """(value, variable name) of `CARGO_<KEY>`, if set."""
        name = "CARGO_" + "_".join(_env_part(part) for part in key)
        value = self.env.get(name)
        return None if value is None else (value, name)


def _canonical(path: Path) -> Path:
    try:
        return path.resolve(strict=True)
    except OSError:
        return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Typed extraction


def _child(node: _Node | None, key: str) -> _Node | None:
    if node is None or not isinstance(node.value, dict):
        return None
    child = node.value.get(key)
    return child if isinstance(child, _Node) else None


def _table(node: _Node | None, dotted: str) -> dict[str, _Node]:
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        raise ConfigError(
            f"`{dotted}` must be a table, found {type_name(node.value)}", node.file, node.line
        )
    return node.value


def _string(node: _Node, dotted: str) -> str:
    if not isinstance(node.value, str):
        raise ConfigError(
            f"`{dotted}` must be a string, found {type_name(node.value)}", node.file, node.line
        )
    return node.value


def _relative_root(file: Path) -> Path:
    """cargo's `Definition::root`: the directory above the one holding the config file."""
    return file.parent.parent


def _config_path(value: str, file: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else _relative_root(file) / path


class _Extractor:
    def __init__(self, loader: _Loader, merged: _Node) -> None:
        self.loader = loader
        self.merged = merged
        self.origins: dict[str, str] = {}

    def env_or_node(self, *key: str) -> tuple[Any, str, Path | None, int | None] | None:
        """(value, origin, file, line) of a scalar key: environment first, then files."""
        from_env = self.loader.env_value(*key)
        if from_env is not None:
            return from_env[0], f"environment variable `{from_env[1]}`", None, None
        node: _Node | None = self.merged
        for part in key:
            node = _child(node, part)
        if node is None:
            return None
        return node.value, node.origin, node.file, node.line

    def registries(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, node in _table(_child(self.merged, "registries"), "registries").items():
            _table(node, f"registries.{name}")
            if name == "crates-io":
                continue
            found = self.env_or_node("registries", name, "index")
            if found is None:
                continue
            value, origin, file, line = found
            if not isinstance(value, str) or not _URL_RE.fullmatch(value):
                raise ConfigError(
                    f"invalid index URL for registry `{name}`: {value!r}", file or origin, line
                )
            result[name] = value
            self.origins[f"registries.{name}.index"] = origin
        return result

    def registry_env(self) -> dict[str, str]:
        """`CARGO_REGISTRIES_<NAME>_INDEX` variables, by `<NAME>`: the variable alone defines
        a registry (cargo-facts.md §4), found when something asks for it by name."""
        prefix, suffix = "CARGO_REGISTRIES_", "_INDEX"
        return {
            variable[len(prefix) : -len(suffix)]: value
            for variable, value in self.loader.env.items()
            if variable.startswith(prefix)
            and variable.endswith(suffix)
            and len(variable) > len(prefix) + len(suffix)
        }

    def crates_io_protocol(self) -> str:
        found = self.env_or_node("registries", "crates-io", "protocol")
        if found is None:
            return "sparse"
        value, origin, file, line = found
        if value not in ("sparse", "git"):
            raise ConfigError(
                f"unsupported registry protocol `{value}` (defined in {origin})",
                file or origin,
                line,
            )
        self.origins["registries.crates-io.protocol"] = origin
        return str(value)

    def scalar_string(self, *key: str) -> str | None:
        found = self.env_or_node(*key)
        if found is None:
            return None
        value, origin, file, line = found
        if not isinstance(value, str):
            raise ConfigError(
                f"`{'.'.join(key)}` must be a string, found {type_name(value)}",
                file or origin,
                line,
            )
        self.origins[".".join(key)] = origin
        return value

    def scalar_bool(self, *key: str) -> bool | None:
        found = self.env_or_node(*key)
        if found is None:
            return None
        value, origin, file, line = found
        if file is None:  # environment: cargo accepts exactly "true" / "false"
            if value not in ("true", "false"):
                raise ConfigError(f"{origin}: expected `true` or `false`, found {value!r}")
            value = value == "true"
        if not isinstance(value, bool):
            raise ConfigError(
                f"`{'.'.join(key)}` must be a boolean, found {type_name(value)}", file, line
            )
        self.origins[".".join(key)] = origin
        return value

    def scalar_path(self, *key: str) -> Path | None:
        """A path value: relative to the config file's project directory, or to the cwd
        when it comes from the environment."""
        value = self.scalar_string(*key)
        if value is None:
            return None
        found = self.env_or_node(*key)
        file = found[2] if found is not None else None
        return _config_path(value, file) if file is not None else self.loader.cwd / value

    def sources(
        self, crates_io_protocol: str
    ) -> tuple[dict[str, SourceDefinition], dict[SourceIdentity, str]]:
        crates_io = (
            CRATES_IO_SPARSE_INDEX
            if crates_io_protocol == "sparse"
            else f"registry+{CRATES_IO_GIT_INDEX}"
        )
        builtin = _source_from_string("crates-io", crates_io, "default")
        definitions: dict[str, SourceDefinition] = {"crates-io": builtin}
        id2name: dict[SourceIdentity, str] = {}
        for spelling in {f"registry+{CRATES_IO_GIT_INDEX}", crates_io}:
            identity = source_identity(spelling)
            assert identity is not None
            id2name[identity] = "crates-io"
        for name, node in _table(_child(self.merged, "source"), "source").items():
            definition = self.source_definition(name, node, crates_io)
            identity = source_identity(definition.source_string)
            assert identity is not None
            previous = id2name.get(identity)
            if previous is not None and previous != name and name != "crates-io":
                raise ConfigError(
                    f"source `{name}` defines source {definition.source_string}, but that "
                    f"source is already defined by `{previous}`\nnote: Sources are not allowed "
                    "to be defined multiple times.",
                    node.file,
                    node.line,
                )
            id2name[identity] = name
            definitions[name] = definition
        return definitions, id2name

    def source_definition(self, name: str, node: _Node, crates_io: str) -> SourceDefinition:
        table = _table(node, f"source.{name}")
        dotted = f"source.{name}"
        strings = {
            key: _string(table[key], f"{dotted}.{key}")
            for key in (
                "replace-with",
                "registry",
                "git",
                "branch",
                "tag",
                "rev",
                "local-registry",
                "directory",
            )
            if key in table
        }
        locations: list[tuple[SourceKind, str]] = []
        if "registry" in strings:
            url = _checked_url(strings["registry"], f"{dotted}.registry", table["registry"])
            kind = SourceKind.SPARSE if url.startswith("sparse+") else SourceKind.REGISTRY
            locations.append((kind, url))
        for key, kind in (
            ("local-registry", SourceKind.LOCAL_REGISTRY),
            ("directory", SourceKind.DIRECTORY),
        ):
            if key in strings:
                locations.append((kind, str(_config_path(strings[key], table[key].file))))
        reference: tuple[str, str] | None = None
        if "git" in strings:
            locations.append(
                (SourceKind.GIT, _checked_url(strings["git"], f"{dotted}.git", table["git"]))
            )
            reference = ("default", "")
            for key in ("rev", "tag", "branch"):  # cargo: branch, else tag, else rev
                if key in strings:
                    reference = (key, strings[key])
        else:
            for key in ("branch", "tag", "rev"):
                if key in strings:
                    raise ConfigError(
                        f"source definition `{dotted}` specifies `{key}`, but that requires "
                        "a `git` key to be specified",
                        table[key].file,
                        table[key].line,
                    )
        if name == "crates-io" and not locations:
            split = crates_io.startswith("sparse+")
            locations.append(
                (SourceKind.SPARSE, crates_io)
                if split
                else (SourceKind.REGISTRY, crates_io.removeprefix("registry+"))
            )
        if not locations:
            raise ConfigError(
                f"no source location specified for `{dotted}`, need `registry`, "
                "`local-registry`, `directory`, or `git` defined",
                node.file,
                node.line,
            )
        if len(locations) > 1:
            raise ConfigError(
                f"more than one source location specified for `{dotted}`", node.file, node.line
            )
        kind, location = locations[0]
        replace = table.get("replace-with")
        return SourceDefinition(
            name,
            kind,
            location,
            strings.get("replace-with"),
            replace.origin if replace is not None else node.origin,
            reference,
        )


def _checked_url(value: str, dotted: str, node: _Node) -> str:
    if not _URL_RE.fullmatch(value):
        raise ConfigError(
            f"configuration key `{dotted}` specified an invalid URL: {value!r}",
            node.file,
            node.line,
        )
    return value


def _source_from_string(name: str, source: str, origin: str) -> SourceDefinition:
    identity = source_identity(source)
    assert identity is not None
    location = source if identity.kind is SourceKind.SPARSE else source.split("+", 1)[1]
    return SourceDefinition(name, identity.kind, location, None, origin)


# --------------------------------------------------------------------------------------------
# [sigstore]


class _SigstoreLayer:
    """The validated `[sigstore]` table of one file."""

    def __init__(self, layer: _Layer) -> None:
        self.file = layer.path
        self.lines = layer.lines
        self.scalars: dict[str, tuple[Any, str]] = {}
        self.trust: dict[str, TrustRule] = {}
        self.exceptions: dict[str, PolicyException] = {}
        table = layer.data.get("sigstore")
        if table is None:
            return
        if not isinstance(table, dict):
            raise self.error(f"`sigstore` must be a table, found {type_name(table)}", ())
        for key, value in table.items():
            if key in _SIGSTORE_SCALARS:
                self.scalars[key] = (
                    _sigstore_scalar(key, value, self.file, self.line((key,))),
                    self.origin((key,)),
                )
            elif key == "trust":
                self.read_entries(key, value, self.read_trust)
            elif key == "exceptions":
                self.read_entries(key, value, self.read_exception)
            else:
                allowed = _SIGSTORE_SCALARS + _SIGSTORE_TABLES
                raise self.error(
                    f"unknown key `sigstore.{key}`: {_did_you_mean(key, allowed)}", (key,)
                )

    def line(self, where: tuple[str, ...]) -> int | None:
        return line_of(self.lines, ("sigstore", *where))

    def origin(self, where: tuple[str, ...]) -> str:
        line = self.line(where)
        return f"{self.file}:{line}" if line is not None else str(self.file)

    def error(self, message: str, where: tuple[str, ...]) -> ConfigError:
        return ConfigError(message, self.file, self.line(where))

    def read_entries(
        self, table: str, value: object, read: Callable[[str, str, dict[str, Any]], None]
    ) -> None:
        if not isinstance(value, dict):
            raise self.error(
                f"`sigstore.{table}` must be a table of crate names, found {type_name(value)}",
                (table,),
            )
        seen: dict[str, str] = {}
        for crate, entry in value.items():
            key = crate_key(crate)
            if key in seen:
                raise self.error(
                    f"`sigstore.{table}` has both `{seen[key]}` and `{crate}`: crates.io treats "
                    "these names as the same crate",
                    (table, crate),
                )
            seen[key] = crate
            if not isinstance(entry, dict):
                raise self.error(
                    f"`sigstore.{table}.{crate}` must be a table, found {type_name(entry)}",
                    (table, crate),
                )
            read(crate, key, entry)

    def read_trust(self, crate: str, key: str, entry: dict[str, Any]) -> None:
        where = ("trust", crate)
        rule = trust_rule_from_table(
            entry,
            origin=self.origin(where),
            file=self.file,
            line_of_key=lambda k: self.line((*where, k)),
            table_name=f"sigstore.trust.{crate}",
            table_line=self.line(where),
        )
        self.trust[key] = rule

    def read_exception(self, crate: str, key: str, entry: dict[str, Any]) -> None:
        where = ("exceptions", crate)
        dotted = f"sigstore.exceptions.{crate}"
        for name, value in entry.items():
            if name not in _EXCEPTION_KEYS:
                raise self.error(
                    f"unknown key `{name}` in `{dotted}`: {_did_you_mean(name, _EXCEPTION_KEYS)}",
                    (*where, name),
                )
            if not isinstance(value, str):
                raise self.error(
                    f"`{dotted}.{name}` must be a string, found {type_name(value)}",
                    (*where, name),
                )
        reason = entry.get("reason", "")
        if not reason.strip():
            raise self.error(
                f"`{dotted}` needs a non-empty `reason` (say why the crate may pass)", where
            )
        expires: date | None = None
        if "expires" in entry:
            try:
                expires = date.fromisoformat(entry["expires"])
            except ValueError:
                expires = None
            if expires is None or len(entry["expires"]) != 10:
                raise self.error(
                    f"`{dotted}.expires` must be a date written YYYY-MM-DD, found "
                    f"{entry['expires']!r}",
                    (*where, "expires"),
                )
        version = entry.get("version")
        if version is not None:
            try:
                if _EXACT_VERSION_RE.fullmatch(version):
                    Version.parse(version)
                else:
                    VersionReq.parse(version)
            except CargoVerifyError as problem:
                raise self.error(f"`{dotted}.version`: {problem}", (*where, "version")) from None
        self.exceptions[key] = PolicyException(
            crate, reason.strip(), self.origin(where), expires, version
        )


def _sigstore_scalar(key: str, value: object, file: Path, line: int | None) -> Any:
    dotted = f"sigstore.{key}"

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"`{dotted}` must be {expected}, found {value!r}", file, line)

    if key in ("rekor-search", "offline"):
        if not isinstance(value, bool):
            raise fail("a boolean (true or false)")
        return value
    if key == "jobs":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
            raise fail("an integer from 1 to 1024")
        return value
    if not isinstance(value, str) or not value:
        raise fail("a non-empty string")
    if key == "unsigned" and value not in UNSIGNED_POLICIES:
        raise fail('"deny", "warn" or "allow"')
    if key == "rekor-url" and not _HTTP_URL_RE.fullmatch(value):
        raise fail("an http:// or https:// URL")
    if key in ("trusted-root", "cache-dir"):
        return _config_path(value, file)
    return value


def _sigstore_env(key: str, raw: str, variable: str, cwd: Path) -> Any:
    """A `[sigstore]` scalar from `CARGO_SIGSTORE_<KEY>`; relative paths are taken from cwd."""
    where = f"environment variable `{variable}`"
    value: object = raw
    if key in ("rekor-search", "offline"):
        if raw not in ("true", "false"):
            raise ConfigError(f"{where}: expected `true` or `false`, found {raw!r}")
        value = raw == "true"
    elif key == "jobs":
        if not raw.isascii() or not raw.isdigit():
            raise ConfigError(f"{where}: expected an integer, found {raw!r}")
        value = int(raw)
    try:
        result = _sigstore_scalar(key, value, cwd / "_", None)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error.message}") from None
    return cwd / raw if key in ("trusted-root", "cache-dir") else result


def trust_rule_from_table(
    table: Mapping[str, Any],
    *,
    origin: str,
    file: Path | str,
    line_of_key: Callable[[str], int | None],
    table_name: str,
    table_line: int | None,
) -> TrustRule:
    """A TrustRule from a `trust` table (mochi.toml or `[sigstore.trust.<crate>]`).

    Keys: issuer (http(s) URL), subject, repository, workflow, environment, ref (strings;
    subject, repository, workflow and ref are globs). Unknown keys, non-strings, empty strings
    and empty tables are errors: each would otherwise silently weaken the policy.
    """
    values: dict[str, str] = {}
    for key, value in table.items():
        if key not in TRUST_KEYS:
            raise ConfigError(
                f"unknown key `{key}` in `{table_name}`: {_did_you_mean(key, TRUST_KEYS)}",
                file,
                line_of_key(key),
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"`{table_name}.{key}` must be a non-empty string, found {value!r}",
                file,
                line_of_key(key),
            )
        values[key] = value
    if not values:
        raise ConfigError(
            f"`{table_name}` is empty: give at least one of {', '.join(TRUST_KEYS)} "
            "(without an entry the default policy, any signer, applies)",
            file,
            table_line,
        )
    issuer = values.get("issuer")
    if issuer is not None and not _HTTP_URL_RE.fullmatch(issuer):
        raise ConfigError(
            f"`{table_name}.issuer` must be an http:// or https:// URL (the OIDC issuer), "
            f"found {issuer!r}",
            file,
            line_of_key("issuer"),
        )
    return TrustRule(
        issuer=issuer,
        subject=values.get("subject"),
        repository=values.get("repository"),
        workflow=values.get("workflow"),
        environment=values.get("environment"),
        ref=values.get("ref"),
        origin=origin,
    )


def _merge_sigstore(layers: list[_SigstoreLayer], loader: _Loader) -> SigstoreSettings:
    scalars: dict[str, tuple[Any, str]] = {}
    for key in _SIGSTORE_SCALARS:
        found = loader.env_value("sigstore", key)
        if found is not None:
            raw, variable = found
            value = _sigstore_env(key, raw, variable, loader.cwd)
            scalars[key] = (value, f"environment variable `{variable}`")
    trust: dict[str, TrustRule] = {}
    exceptions: dict[str, PolicyException] = {}
    origins: dict[str, str] = {}
    for layer in layers:  # highest precedence first: the first definition wins
        for key, (value, origin) in layer.scalars.items():
            scalars.setdefault(key, (value, origin))
        for crate, rule in layer.trust.items():
            if crate not in trust:
                trust[crate] = rule
                origins[f"trust.{crate}"] = rule.origin
        for crate, exception in layer.exceptions.items():
            if crate not in exceptions:
                exceptions[crate] = exception
                origins[f"exceptions.{crate}"] = exception.origin
    for key, (_value, origin) in scalars.items():
        origins[key] = origin

    def get(key: str, default: Any = None) -> Any:
        return scalars[key][0] if key in scalars else default

    return SigstoreSettings(
        trusted_root=get("trusted-root"),
        rekor_url=get("rekor-url"),
        unsigned=get("unsigned", DEFAULT_UNSIGNED),
        rekor_search=get("rekor-search", False),
        jobs=get("jobs"),
        cache_dir=get("cache-dir"),
        offline=get("offline", False),
        trust=trust,
        exceptions=exceptions,
        origins=origins,
    )


# --------------------------------------------------------------------------------------------


def load_cargo_config(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> CargoConfig:
    """Read cargo's configuration as cargo would when run in `cwd` (default: the current
    directory) with environment `env` (default: os.environ)."""
    env = dict(os.environ) if env is None else env
    cwd = Path(os.path.abspath(cwd if cwd is not None else Path.cwd()))
    home = cargo_home(env, cwd)
    loader = _Loader(cwd, home, env)
    layers: list[_Layer] = []
    for path in loader.discover():
        layers.extend(loader.load(path))
    merged = _Node({}, cwd, None)
    for layer in layers:
        try:
            _merge(merged, layer.root)
        except RecursionError:
            raise ConfigError("tables are nested too deeply", layer.path) from None
    sigstore = _merge_sigstore([_SigstoreLayer(layer) for layer in layers], loader)
    extract = _Extractor(loader, merged)
    registries = extract.registries()
    protocol = extract.crates_io_protocol()
    sources, id2name = extract.sources(protocol)
    install_verify = extract.scalar_string("install", "verify")
    net_offline = extract.scalar_bool("net", "offline")
    cainfo = extract.scalar_path("http", "cainfo")
    return CargoConfig(
        cwd=cwd,
        cargo_home=home,
        files=tuple(layer.path for layer in layers),
        registries=registries,
        sources=sources,
        crates_io_protocol=protocol,
        install_verify=install_verify,
        net_offline=bool(net_offline),
        http_cainfo=cainfo,
        sigstore=sigstore,
        origins=extract.origins,
        warnings=tuple(loader.warnings),
        _id2name=id2name,
        _registry_env=extract.registry_env(),
    )
