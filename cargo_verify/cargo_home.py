"""Where cargo keeps things: `$CARGO_HOME`, source identities and registry cache directories.

Cargo names each registry's directories under `$CARGO_HOME/registry/{index,cache,src}/` as
`<url host>-<16 hex>`; the hex is cargo's stable hash of the source kind and the canonical URL
(cargo-facts.md §5, cargo `SourceId`'s `Hash`, `CanonicalUrl`, `util::hex::short_hash`).
The URL handling here covers URLs as cargo writes them into Cargo.lock (already normalised
by the `url` crate) and the common spellings users write into config files; anything more
exotic falls back to the glob in `cached_crate_path`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote

CRATES_IO_GIT_INDEX = "https://github.com/rust-lang/crates.io-index"
CRATES_IO_SPARSE_INDEX = "sparse+https://index.crates.io/"
CRATES_IO_LOCK_SOURCE = "registry+" + CRATES_IO_GIT_INDEX


class SourceKind(enum.IntEnum):
    """Cargo's `SourceKind`; the values are the discriminants cargo hashes into directory names."""

    GIT = 0
    PATH = 1
    REGISTRY = 2  # a registry whose index is a git repository
    SPARSE = 3
    LOCAL_REGISTRY = 4
    DIRECTORY = 5


# Prefixes of source strings, as cargo prints a SourceId (`SourceKind::protocol`).
_PREFIXES: dict[str, SourceKind] = {
    "git": SourceKind.GIT,
    "path": SourceKind.PATH,
    "registry": SourceKind.REGISTRY,
    "sparse": SourceKind.SPARSE,
    "local-registry": SourceKind.LOCAL_REGISTRY,
    "directory": SourceKind.DIRECTORY,
}

_SPECIAL_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21", "file": ""}
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_U64 = (1 << 64) - 1


# --------------------------------------------------------------------------------------------
# $CARGO_HOME


def cargo_home(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """`$CARGO_HOME` (relative values are taken from `cwd`), else `~/.cargo`, as cargo does.

    Cargo never passes CARGO_HOME to external subcommands itself (cargo-facts.md §6), so this
    is always worked out here.
    """
    env = os.environ if env is None else env
    configured = env.get("CARGO_HOME", "")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else (cwd or Path.cwd()) / path
    home = env.get("HOME", "")
    if not home:
        home = pwd.getpwuid(os.getuid()).pw_dir
    return Path(home) / ".cargo"


# --------------------------------------------------------------------------------------------
# URLs and source identities


@dataclass(frozen=True)
class _Url:
    scheme: str
    authority: str | None  # None: no `//` part
    host: str
    path: str
    query: str | None
    fragment: str | None

    def serialize(self) -> str:
        out = self.scheme + ":"
        if self.authority is not None:
            out += "//" + self.authority
        out += self.path
        if self.query is not None:
            out += "?" + self.query
        if self.fragment is not None:
            out += "#" + self.fragment
        return out


def _parse_url(text: str) -> _Url | None:
    """A small subset of WHATWG URL parsing: enough to normalise what cargo hashes."""
    text = text.strip(" \t\n\r")
    found = _SCHEME_RE.match(text)
    if found is None:
        return None
    scheme = found.group()[:-1].lower()
    rest = text[found.end() :]
    fragment: str | None = None
    query: str | None = None
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
    if "?" in rest:
        rest, query = rest.split("?", 1)
    special = scheme in _SPECIAL_PORTS
    if special:
        rest = rest.replace("\\", "/")
    authority: str | None = None
    host = ""
    if rest.startswith("//"):
        rest = rest[2:]
        slash = rest.find("/")
        authority, rest = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        userinfo, _, hostport = authority.rpartition("@")
        host, port = hostport, ""
        if hostport.startswith("["):
            host, _, tail = hostport.partition("]")
            host += "]"
            port = tail[1:] if tail.startswith(":") else ""
        elif ":" in hostport:
            host, port = hostport.rsplit(":", 1)
        if special:
            host = host.lower()
            if port == _SPECIAL_PORTS[scheme]:
                port = ""
        hostport = host + (":" + port if port else "")
        authority = (userinfo + "@" if userinfo else "") + hostport
        if special and not rest:
            rest = "/"
    elif special and scheme == "file":
        authority, rest = "", rest if rest.startswith("/") else "/" + rest
    return _Url(scheme, authority, host, rest, query, fragment)


def canonical_url(url: str) -> str:
    """Cargo's `CanonicalUrl`: used to compare sources and to name their directories."""
    parsed = _parse_url(url)
    if parsed is None:
        return url
    path = parsed.path
    # One trailing slash goes, unless the path is just "/" (`pop_if_empty`).
    if path.endswith("/") and path != "/":
        path = path[:-1]
    scheme = parsed.scheme
    if parsed.host == "github.com":
        scheme = "https"  # cargo rewrites the whole scheme, `sparse+` included
        path = path.lower()
    if path.endswith(".git"):
        path = path[:-4]
    return _Url(
        scheme, parsed.authority, parsed.host, path, parsed.query, parsed.fragment
    ).serialize()


def url_host(url: str) -> str:
    """`Url::host_str()`, or "" when there is none (file: URLs)."""
    parsed = _parse_url(url)
    return parsed.host if parsed is not None else ""


@dataclass(frozen=True)
class SourceIdentity:
    """What makes two cargo `SourceId`s equal: kind (with git reference) and canonical URL."""

    kind: SourceKind
    url: str  # canonical; sparse URLs keep `sparse+`, git URLs lose query and fragment
    git_reference: tuple[str, str] | None = None  # ("branch", "main"), ("default", "")


def split_source(source: str) -> tuple[SourceKind, str] | None:
    """`registry+URL` → (REGISTRY, URL); `sparse+URL` → (SPARSE, `sparse+URL`); unknown → None."""
    prefix, sep, rest = source.partition("+")
    kind = _PREFIXES.get(prefix) if sep else None
    if kind is None or not rest:
        return None
    return kind, source if kind is SourceKind.SPARSE else rest


@functools.lru_cache(maxsize=1024)  # a lockfile repeats a handful of sources 1,000s of times
def source_identity(source: str) -> SourceIdentity | None:
    """Identity of a source string as cargo compares them, or None if it is not one."""
    split = split_source(source)
    if split is None:
        return None
    kind, url = split
    if kind is not SourceKind.GIT:
        return SourceIdentity(kind, canonical_url(url))
    url = url.split("#", 1)[0]
    base, _, query = url.partition("?")
    reference = ("default", "")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in ("branch", "ref"):
            reference = ("branch", value)
        elif key in ("rev", "tag"):
            reference = (key, value)
    return SourceIdentity(kind, canonical_url(base), reference)


# --------------------------------------------------------------------------------------------
# Cargo's stable hash: SipHash-1-3 with 128-bit output, keys (0, 0)


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _U64


def _sip_rounds(v: list[int], count: int) -> None:
    v0, v1, v2, v3 = v
    for _ in range(count):
        v0 = (v0 + v1) & _U64
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _U64
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _U64
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _U64
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    v[:] = [v0, v1, v2, v3]


def siphash13_128(data: bytes) -> tuple[int, int]:
    """SipHash-1-3, 128-bit variant, zero keys (rustc-stable-hash `SipHasher128`)."""
    v = [0x736F6D6570736575, 0x646F72616E646F6D ^ 0xEE, 0x6C7967656E657261, 0x7465646279746573]
    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v[3] ^= m
        _sip_rounds(v, 1)
        v[0] ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v[3] ^= last
    _sip_rounds(v, 1)
    v[0] ^= last
    v[2] ^= 0xEE
    _sip_rounds(v, 3)
    first = v[0] ^ v[1] ^ v[2] ^ v[3]
    v[1] ^= 0xDD
    _sip_rounds(v, 3)
    return first, v[0] ^ v[1] ^ v[2] ^ v[3]


def stable_hash(kind: SourceKind, url: str) -> int:
    """Cargo's `hash_u64(source_id)` for a non-git source with this (canonical) URL."""
    # The kind is a small enum discriminant: StableHasher writes it as one byte. A str is
    # written as its bytes followed by 0xFF.
    lo, hi = siphash13_128(bytes([int(kind)]) + url.encode() + b"\xff")
    return (lo * 3 + hi) & _U64


@functools.lru_cache(maxsize=256)  # a pure-Python SipHash: once per registry, not per crate
def registry_cache_dir_name(index_url: str, kind: SourceKind | None = None) -> str:
    """`<host>-<16 hex>`: the directory cargo uses for this registry under registry/{cache,…}.

    `index_url` is the URL cargo hashes: for sparse registries it keeps `sparse+`
    (`sparse+https://index.crates.io/`); for git-index registries it is the bare index URL
    (`https://github.com/rust-lang/crates.io-index`). `kind` defaults from that prefix.
    """
    if kind is None:
        kind = SourceKind.SPARSE if index_url.startswith("sparse+") else SourceKind.REGISTRY
    digest = stable_hash(kind, canonical_url(index_url)).to_bytes(8, "little").hex()
    return f"{url_host(index_url)}-{digest}"


def download_source(source: str, crates_io_protocol: str = "sparse") -> str:
    """The source cargo really downloads from, before `[source]` replacement: crates.io in a
    Cargo.lock is always the git-index spelling, but cargo fetches it over sparse by default."""
    if source == CRATES_IO_LOCK_SOURCE and crates_io_protocol == "sparse":
        return CRATES_IO_SPARSE_INDEX
    return source


def _safe_file_part(text: str) -> bool:
    return bool(text) and "/" not in text and "\\" not in text and text not in (".", "..")


def crate_cache_dir(
    home: Path, source: str, crates_io_protocol: str = "sparse"
) -> tuple[Path, bool] | None:
    """Where cargo keeps the `.crate` files of this source, and whether that is the exact
    registry directory (`<home>/registry/cache/<dir>`; False: a local registry's own
    directory); None for sources without one. The same for every crate of a source."""
    split = split_source(download_source(source, crates_io_protocol))
    if split is None:
        return None
    kind, url = split
    if kind is SourceKind.LOCAL_REGISTRY:
        parsed = _parse_url(url)
        if parsed is None or parsed.scheme != "file":
            return None
        return Path(unquote(parsed.path)), False
    if kind not in (SourceKind.REGISTRY, SourceKind.SPARSE):
        return None
    return home / "registry" / "cache" / registry_cache_dir_name(url, kind), True


def crate_file_name(name: str, version: str) -> str | None:
    """`<name>-<version>.crate`, or None if either part could leave its directory."""
    if not (_safe_file_part(name) and _safe_file_part(version)):
        return None
    return f"{name}-{version}.crate"


def cached_crate_path(
    home: Path,
    source: str,
    name: str,
    version: str,
    *,
    checksum: str | None = None,
    crates_io_protocol: str = "sparse",
) -> Path | None:
    """The `.crate` cargo would use for this package, if it is on disk.

    `source` is a lockfile source string or a resolved one (`config.resolve_source`):
    `registry+…`/`sparse+…` look in `<home>/registry/cache/<dir>/`, `local-registry+file://…`
    in that directory. The exact registry directory is always preferred. Only when that file
    is absent, and only when `checksum` is given, other cache directories are searched
    (`registry/cache/*/<name>-<version>.crate`, e.g. left by cargo < 1.85 whose hash differed,
    or by a mirror) and a file is returned only if its sha256 equals `checksum`: a same-named
    crate from another registry proves nothing. Callers must still hash what they read.
    """
    file_name = crate_file_name(name, version)
    where = crate_cache_dir(home, source, crates_io_protocol)
    if file_name is None or where is None:
        return None
    directory, in_registry_cache = where
    exact = directory / file_name
    if exact.is_file():
        return exact
    if checksum is None or not in_registry_cache:
        return None
    for candidate in sorted(directory.parent.glob(f"*/{_glob_escape(file_name)}")):
        if candidate.is_file() and sha256_file(candidate) == checksum:
            return candidate
    return None


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def sha256_file(path: Path | str) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks."""
    return sha256_and_close(open(path, "rb"))


def sha256_and_close(handle: BinaryIO) -> str:
    """SHA-256 (hex) of what is left to read in an open binary file, which is then closed."""
    with handle:
        digest = hashlib.sha256()
        while block := handle.read(1 << 20):
            digest.update(block)
        return digest.hexdigest()
