"""The one HTTP client of a run: explicit limits, retries with backoff, size caps."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from cargo_verify import __version__
from cargo_verify.errors import InfraError

if TYPE_CHECKING:
    from cargo_verify.transport import HttpClient, LeanClient

USER_AGENT = f"cargo-verify/{__version__}"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_RETRIES = 3
BACKOFF_BASE = 0.25  # seconds; doubled per attempt
MAX_RETRY_AFTER = 30.0
MAX_REDIRECTS = 5
MAX_INDEX_BYTES = 16 * 1024 * 1024  # the largest crates.io index files are ~2 MB
MAX_JSON_BYTES = 8 * 1024 * 1024  # bundles and Rekor entries are a few KB
MAX_CRATE_BYTES = 1024 * 1024 * 1024
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class NotFound(Exception):
    """The server answered 404/410/451: the resource does not exist."""


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    retries: int = MAX_RETRIES
    backoff: float = BACKOFF_BASE
    deadline: float | None = None  # monotonic time after which no new attempt starts
    max_connections: int = 64
    cainfo: str | None = None  # CA bundle (cargo's http.cainfo / CARGO_HTTP_CAINFO)


def make_client(settings: HttpSettings) -> LeanClient:
    # httpx's AsyncClient costs from hundreds of microseconds to milliseconds of CPU per
    # request under concurrency (see transport.py); LeanClient offers the part of its API
    # that `fetch` uses, at a small fraction of that.
    from cargo_verify.transport import LeanClient

    ssl_context = None
    if settings.cainfo is not None:
        import ssl

        try:
            ssl_context = ssl.create_default_context(cafile=settings.cainfo)
        except (OSError, ssl.SSLError) as exc:
            raise InfraError(f"cannot load the CA bundle {settings.cainfo}: {exc}") from exc
    return LeanClient(
        ssl_context=ssl_context,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        write_timeout=settings.read_timeout,
        max_connections=settings.max_connections,
        user_agent=USER_AGENT,
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def fetch(
    client: HttpClient,
    url: str,
    settings: HttpSettings,
    *,
    max_bytes: int,
    method: str = "GET",
    json_body: object | None = None,
    cross_host_redirects: bool = False,
    sink: HashingSink | None = None,
) -> bytes:
    """GET/POST `url` and return the body (or stream it into `sink` and return b"").

    Retries connection errors, timeouts, truncated bodies, 429 and 5xx with exponential
    backoff (honouring Retry-After), refuses bodies over `max_bytes`, and follows redirects
    only to the same host unless `cross_host_redirects` (for content checked by hash).
    Raises NotFound for 404/410/451 and InfraError for everything else that is not 2xx.
    """
    import asyncio

    from cargo_verify.transport import TransportError, UnsupportedProtocol

    last_problem = "no attempt made"
    last_retry_after: float | None = None
    for attempt in range(settings.retries + 1):
        if attempt:
            delay = settings.backoff * 2 ** (attempt - 1)
            if last_retry_after is not None:
                delay = max(delay, min(last_retry_after, MAX_RETRY_AFTER))
            if settings.deadline is not None and time.monotonic() + delay > settings.deadline:
                break
            await asyncio.sleep(delay)
        last_retry_after = None
        try:
            return await _fetch_once(
                client, url, settings, max_bytes, method, json_body, cross_host_redirects, sink
            )
        except _Retryable as exc:
            last_problem = str(exc)
            last_retry_after = exc.retry_after
        except UnsupportedProtocol as exc:  # the URL itself is unusable: asking again won't help
            raise InfraError(f"{method} {url}: {exc}") from None
        except TransportError as exc:  # timeouts, resets, refused connections, bad framing
            last_problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    raise InfraError(f"{method} {url} failed after {settings.retries + 1} attempts: {last_problem}")


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def _fetch_once(
    client: HttpClient,
    url: str,
    settings: HttpSettings,
    max_bytes: int,
    method: str,
    json_body: object | None,
    cross_host_redirects: bool,
    sink: HashingSink | None,
) -> bytes:
    from cargo_verify.transport import DecodingError, RemoteProtocolError

    current = url
    if sink is not None:
        sink.reset()
    for _ in range(MAX_REDIRECTS + 1):
        request = client.build_request(method, current, json=json_body)
        response = await client.send(request, stream=True)
        try:
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise InfraError(f"{current}: redirect without Location")
                try:
                    target = urljoin(current, location)
                    other_host = urlsplit(target).netloc != urlsplit(url).netloc
                except ValueError as exc:  # e.g. an unclosed IPv6 bracket
                    raise InfraError(
                        f"{current}: redirect to an invalid URL {location!r} ({exc})"
                    ) from None
                if not cross_host_redirects and other_host:
                    raise InfraError(f"{url}: refusing redirect to another host ({target})")
                current = target
                if response.status_code == 303:
                    method, json_body = "GET", None
                continue
            if response.status_code in (404, 410, 451):
                raise NotFound(f"{current}: HTTP {response.status_code}")
            if response.status_code in _RETRY_STATUSES:
                raise _Retryable(
                    f"HTTP {response.status_code}",
                    _retry_after(response.headers.get("retry-after")),
                )
            if not 200 <= response.status_code < 300:
                raise InfraError(f"{method} {current}: HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise InfraError(f"{current}: response of {declared} bytes exceeds {max_bytes}")
            chunks: list[bytes] = []
            received = 0
            try:
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > max_bytes:
                        raise InfraError(f"{current}: response exceeds {max_bytes} bytes")
                    if sink is not None:
                        sink(chunk)
                    else:
                        chunks.append(chunk)
            except DecodingError as exc:
                raise _Retryable(f"corrupt response body: {exc}") from exc
            except RemoteProtocolError as exc:  # truncated body, reset mid-stream
                raise _Retryable(f"incomplete response: {exc}") from exc
            raw_size = response.num_bytes_downloaded
            if declared is not None and declared.isdigit() and raw_size != int(declared):
                raise _Retryable(f"truncated response ({raw_size} of {declared} bytes)")
            return b"" if sink is not None else b"".join(chunks)
        finally:
            await response.aclose()
    raise InfraError(f"{url}: more than {MAX_REDIRECTS} redirects")


class HashingSink:
    """Streams a download into SHA-256 without keeping it in memory."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def reset(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def __call__(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
