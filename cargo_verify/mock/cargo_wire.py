"""Cargo's registry wire formats, server side: index paths, the publish body, index lines.

Checked against cargo 1.95 (`crates/cargo-util/src/registry.rs` `make_dep_path`,
`crates/crates-io/lib.rs` `NewCrate` / `NewCrateDependency`, `ops/registry/publish.rs`)
and the Cargo Book's registry-index.md / registry-web-api.md.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from cargo_verify.errors import CargoVerifyError

__all__ = [
    "PublishBodyError",
    "build_publish_body",
    "index_line_from_publish",
    "index_path",
    "is_semver",
    "parse_publish_body",
]

_NAME = re.compile(r"[A-Za-z0-9_-]+")
# crates.io's stricter rule for a package being published (Book: "Name restrictions").
_PUBLISHABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-((0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DEP_KINDS = ("normal", "build", "dev")
_U32 = struct.Struct("<I")


class PublishBodyError(CargoVerifyError, ValueError):
    """A publish request body or its metadata does not follow cargo's format."""


def index_path(name: str) -> str:
    """The path of a crate's index file below the index root: `1/a`, `3/x/xyz`, `mo/ch/mochi`.

    Raises ValueError for a name that is not a cargo package name, so a caller can
    use the result as a file-system path.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a crate name: {name!r}")
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def is_semver(version: str) -> bool:
    return _SEMVER.fullmatch(version) is not None


def parse_publish_body(body: bytes) -> tuple[dict[str, Any], bytes]:
    """Split cargo's publish body into (metadata, .crate bytes).

    Layout: u32 LE length of the JSON, the JSON metadata object, u32 LE length of the
    `.crate`, the `.crate` bytes, and nothing after it.
    """
    json_len, offset = _read_u32(body, 0, "the metadata length")
    if json_len > len(body) - offset:
        raise PublishBodyError(
            f"publish body: metadata length is {json_len} bytes, "
            f"but only {len(body) - offset} bytes follow it"
        )
    raw_json = body[offset : offset + json_len]
    offset += json_len
    crate_len, offset = _read_u32(body, offset, "the .crate length")
    remaining = len(body) - offset
    if crate_len != remaining:
        raise PublishBodyError(
            f"publish body: .crate length is {crate_len} bytes, but {remaining} bytes follow it"
        )
    try:
        meta = json.loads(raw_json.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PublishBodyError(f"publish body: metadata is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise PublishBodyError("publish body: metadata must be a JSON object")
    return meta, body[offset:]


def build_publish_body(meta: dict[str, Any], crate: bytes) -> bytes:
    """Encode a publish body the way cargo does (for fixtures and tests)."""
    raw_json = json.dumps(meta, separators=(",", ":")).encode()
    return _U32.pack(len(raw_json)) + raw_json + _U32.pack(len(crate)) + crate


def _read_u32(body: bytes, offset: int, what: str) -> tuple[int, int]:
    end = offset + _U32.size
    if end > len(body):
        raise PublishBodyError(
            f"publish body: truncated before {what} "
            f"(needs 4 bytes at offset {offset}, body has {len(body)})"
        )
    (value,) = _U32.unpack_from(body, offset)
    return value, end


def index_line_from_publish(meta: dict[str, Any], cksum: str) -> dict[str, Any]:
    """Turn cargo's publish metadata into a sparse-index line (without `pubtime`/`sigstore`).

    Differences handled (Book, registry-index.md): deps `version_req` → `req`; a renamed
    dependency's `explicit_name_in_toml` becomes `name` and the real name moves to
    `package`; features using `dep:` or `?/` syntax go to `features2` with `v: 2`, as
    crates.io does.
    """
    if not _SHA256_HEX.fullmatch(cksum):
        raise PublishBodyError(f"cksum must be 64 lowercase hex digits, got {cksum!r}")
    name = _string(meta, "name", "metadata")
    if not _PUBLISHABLE_NAME.fullmatch(name):
        raise PublishBodyError(
            f"invalid crate name {name!r}: ASCII letters, digits, `-` and `_`, "
            "starting with a letter, at most 64 characters"
        )
    vers = _string(meta, "vers", "metadata")
    if not is_semver(vers):
        raise PublishBodyError(f"invalid version {vers!r} of crate `{name}`: not SemVer 2.0")
    raw_deps = meta.get("deps", [])
    if not isinstance(raw_deps, list):
        raise PublishBodyError("metadata field `deps` must be an array")
    deps = [_index_dep(dep, f"deps[{i}]") for i, dep in enumerate(raw_deps)]
    features = _features(meta.get("features"))
    plain = {k: v for k, v in features.items() if not _uses_new_feature_syntax(v)}
    extended = {k: v for k, v in features.items() if k not in plain}

    line: dict[str, Any] = {
        "name": name,
        "vers": vers,
        "deps": deps,
        "cksum": cksum,
        "features": plain,
        "yanked": False,
    }
    links = _optional_string(meta, "links", "metadata")
    if links is not None:
        line["links"] = links
    rust_version = _optional_string(meta, "rust_version", "metadata")
    if rust_version is not None:
        line["rust_version"] = rust_version
    if extended:
        line["features2"] = extended
        line["v"] = 2
    return line


def _index_dep(dep: Any, where: str) -> dict[str, Any]:
    if not isinstance(dep, dict):
        raise PublishBodyError(f"metadata {where} must be an object")
    package = _string(dep, "name", where)
    if not _NAME.fullmatch(package):
        raise PublishBodyError(f"metadata {where}.name is not a crate name: {package!r}")
    renamed = _optional_string(dep, "explicit_name_in_toml", where)
    kind = dep.get("kind")
    if kind is None:
        kind = "normal"
    if kind not in _DEP_KINDS:
        raise PublishBodyError(f"metadata {where}.kind must be one of {_DEP_KINDS}, got {kind!r}")
    out: dict[str, Any] = {
        "name": renamed if renamed is not None else package,
        "req": _string(dep, "version_req", where),
        "features": _string_list(dep.get("features", []), f"{where}.features"),
        "optional": _bool(dep, "optional", where, default=False),
        "default_features": _bool(dep, "default_features", where, default=True),
        "target": _optional_string(dep, "target", where),
        "kind": kind,
        "registry": _optional_string(dep, "registry", where),
        "package": package if renamed is not None else None,
    }
    artifact = dep.get("artifact")
    if artifact is not None:
        out["artifact"] = _string_list(artifact, f"{where}.artifact")
    bindep_target = _optional_string(dep, "bindep_target", where)
    if bindep_target is not None:
        out["bindep_target"] = bindep_target
    if _bool(dep, "lib", where, default=False):
        out["lib"] = True
    return out


def _features(raw: Any) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PublishBodyError("metadata field `features` must be an object")
    return {
        str(feature): _string_list(values, f"features.{feature}") for feature, values in raw.items()
    }


def _uses_new_feature_syntax(values: list[str]) -> bool:
    return any(v.startswith("dep:") or "?/" in v for v in values)


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise PublishBodyError(f"{where} field `{key}` must be a non-empty string, got {value!r}")
    return value


def _optional_string(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise PublishBodyError(f"{where} field `{key}` must be a string or null, got {value!r}")
    return value


def _bool(obj: dict[str, Any], key: str, where: str, *, default: bool) -> bool:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise PublishBodyError(f"{where} field `{key}` must be a boolean, got {value!r}")
    return value


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PublishBodyError(f"metadata {where} must be an array of strings, got {value!r}")
    return list(value)
