"""Sparse registry client: config.json, one index fetch per crate, tarball hashing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

from cargo_verify.errors import InfraError
from cargo_verify.http import (
    MAX_CRATE_BYTES,
    MAX_INDEX_BYTES,
    MAX_JSON_BYTES,
    HashingSink,
    HttpSettings,
    NotFound,
    fetch,
)

if TYPE_CHECKING:
    import asyncio

    from cargo_verify.transport import HttpClient

CRATES_IO_SPARSE = "sparse+https://index.crates.io/"
_DL_MARKERS = ("{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}")


class IndexError_(Exception):
    """An index line or config.json that cannot be used (malformed, not found)."""


def index_path(name: str) -> str:
    """Cargo's sparse index path for a crate name (lowercased)."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def _prefix(name: str) -> str:
    if len(name) <= 2:
        return str(len(name))
    if len(name) == 3:
        return f"3/{name[0]}"
    return f"{name[:2]}/{name[2:4]}"


@dataclass(frozen=True)
class SigstoreRef:
    """The `sigstore` field of an index line (design §3.3)."""

    rekor_log_index: int | None
    rekor_url: str | None
    bundle_url: str | None


@dataclass(frozen=True)
class IndexLine:
    name: str
    version: str
    cksum: str
    yanked: bool
    sigstore: SigstoreRef | None
    raw: dict[str, Any]


def parse_sigstore_field(value: Any, index_file_url: str) -> SigstoreRef | None:
    """Validate the extension; anything malformed is an error, never silently 'unsigned'."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise IndexError_("`sigstore` field is not an object")
    log_index = value.get("rekor_log_index")
    if log_index is not None and (
        not isinstance(log_index, int) or isinstance(log_index, bool) or log_index < 0
    ):
        raise IndexError_(
            f"`sigstore.rekor_log_index` is not a non-negative integer: {log_index!r}"
        )
    rekor_url = value.get("rekor_url")
    if rekor_url is not None and (
        not isinstance(rekor_url, str) or not rekor_url.startswith(("http://", "https://"))
    ):
        raise IndexError_(f"`sigstore.rekor_url` is not an http(s) URL: {rekor_url!r}")
    bundle = value.get("bundle")
    if bundle is not None:
        if not isinstance(bundle, str) or not bundle:
            raise IndexError_(f"`sigstore.bundle` is not a URL: {bundle!r}")
        try:
            bundle = urljoin(index_file_url, bundle)
        except ValueError as exc:  # e.g. an unclosed IPv6 bracket
            raise IndexError_(f"`sigstore.bundle` is not a valid URL: {bundle!r} ({exc})") from None
        if not bundle.startswith(("http://", "https://")):
            raise IndexError_(f"`sigstore.bundle` is not an http(s) URL: {bundle!r}")
    if log_index is None and bundle is None:
        raise IndexError_("`sigstore` field has neither `rekor_log_index` nor `bundle`")
    return SigstoreRef(log_index, rekor_url, bundle)


def parse_index_file(text: bytes, index_file_url: str) -> dict[str, dict[str, Any]]:
    """Index file → {version: raw line object}. Lines cargo would skip are skipped too."""
    out: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexError_(f"{index_file_url} line {number} is not JSON") from exc
        if not isinstance(obj, dict):
            raise IndexError_(f"{index_file_url} line {number} is not a JSON object")
        version = obj.get("vers")
        if isinstance(version, str):
            # Cargo keeps the first line for a version; a duplicate is suspicious either way.
            if version in out:
                raise IndexError_(f"{index_file_url} lists version {version} twice")
            out[version] = obj
    return out


def index_line_from(raw: dict[str, Any], index_file_url: str) -> IndexLine:
    cksum = raw.get("cksum")
    name = raw.get("name")
    if not isinstance(cksum, str) or not isinstance(name, str):
        raise IndexError_("index line lacks `name` or `cksum`")
    return IndexLine(
        name=name,
        version=str(raw.get("vers")),
        cksum=cksum.lower(),
        yanked=bool(raw.get("yanked", False)),
        sigstore=parse_sigstore_field(raw.get("sigstore"), index_file_url),
        raw=raw,
    )


class _ReportingSink(HashingSink):
    """A HashingSink that also reports the running byte count (download progress)."""

    def __init__(self, on_bytes: Callable[[int], None]) -> None:
        super().__init__()
        self._on_bytes = on_bytes

    def __call__(self, chunk: bytes) -> None:
        super().__call__(chunk)
        self._on_bytes(self.size)


class SparseRegistry:
    """One sparse index. Fetches config.json and each crate's file at most once per run."""

    def __init__(self, index_url: str, client: HttpClient, http: HttpSettings) -> None:
        if index_url.startswith("sparse+"):
            index_url = index_url[len("sparse+") :]
        if not index_url.endswith("/"):
            raise IndexError_(f"sparse registry URL must end in a slash: {index_url}")
        self.base = index_url
        self._client = client
        self._http = http
        self._config: asyncio.Task[dict[str, Any]] | None = None
        self._files: dict[str, asyncio.Task[dict[str, dict[str, Any]] | None]] = {}

    def file_url(self, name: str) -> str:
        return self.base + index_path(name)

    async def config(self) -> dict[str, Any]:
        import asyncio  # not at module level: runs answered from the cache never need it

        if self._config is None:
            self._config = asyncio.ensure_future(self._load_config())
        return await asyncio.shield(self._config)

    async def _load_config(self) -> dict[str, Any]:
        url = self.base + "config.json"
        try:
            raw = await fetch(self._client, url, self._http, max_bytes=MAX_JSON_BYTES)
        except NotFound as exc:
            raise InfraError(f"{url}: registry has no config.json") from exc
        try:
            config = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InfraError(f"{url}: config.json is not JSON") from exc
        if not isinstance(config, dict) or not isinstance(config.get("dl"), str):
            raise InfraError(f"{url}: config.json has no `dl` string")
        return config

    async def versions(self, name: str) -> dict[str, dict[str, Any]] | None:
        """All index lines of a crate (None when the registry does not know it)."""
        import asyncio

        key = name.lower()
        task = self._files.get(key)
        if task is None:
            task = self._files[key] = asyncio.ensure_future(self._load_file(name))
        return await asyncio.shield(task)

    async def _load_file(self, name: str) -> dict[str, dict[str, Any]] | None:
        await self.config()  # cargo asks for config.json first; an unusable registry fails early
        url = self.file_url(name)
        try:
            raw = await fetch(self._client, url, self._http, max_bytes=MAX_INDEX_BYTES)
        except NotFound:
            return None
        return parse_index_file(raw, url)

    async def line(self, name: str, version: str) -> IndexLine | None:
        lines = await self.versions(name)
        if lines is None or version not in lines:
            return None
        raw = lines[version]
        if raw.get("name") != name:
            raise IndexError_(
                f"index line for {name} {version} names another crate: {raw.get('name')!r}"
            )
        return index_line_from(raw, self.file_url(name))

    async def download_url(self, name: str, version: str, cksum: str) -> str:
        dl = str((await self.config())["dl"])
        if not any(marker in dl for marker in _DL_MARKERS):
            return f"{dl.rstrip('/')}/{quote(name)}/{quote(version)}/download"
        return (
            dl.replace("{crate}", quote(name))
            .replace("{version}", quote(version))
            .replace("{prefix}", _prefix(name))
            .replace("{lowerprefix}", _prefix(name.lower()))
            .replace("{sha256-checksum}", cksum)
        )

    async def tarball_sha256(
        self, url: str, on_bytes: Callable[[int], None] | None = None
    ) -> tuple[str, int]:
        """sha256 and size of the body at `url`; `on_bytes(received so far)` after each chunk."""
        sink = HashingSink() if on_bytes is None else _ReportingSink(on_bytes)
        await fetch(
            self._client,
            url,
            self._http,
            max_bytes=MAX_CRATE_BYTES,
            cross_host_redirects=True,  # checked by hash; crates.io redirects to its CDN
            sink=sink,
        )
        return sink.hexdigest(), sink.size

    async def rekor_url_default(self) -> str | None:
        config = await self.config()
        value = config.get("sigstore")
        if isinstance(value, dict) and isinstance(value.get("rekor_url"), str):
            return str(value["rekor_url"])
        return None

    async def get_json(self, url: str, *, post: object | None = None) -> Any:
        raw = await fetch(
            self._client,
            url,
            self._http,
            max_bytes=MAX_JSON_BYTES,
            method="POST" if post is not None else "GET",
            json_body=post,
        )
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexError_(f"{url} did not return JSON") from exc
