"""The HTTP client of a run: lean HTTP/1.1 keep-alive over asyncio streams.

httpx's async client spends hundreds of microseconds of CPU per request in URL objects,
cookie handling and its connection pool (which polls every pooled socket per request), and
milliseconds once dozens of requests are in flight; importing it costs ~0.1 s more. A lockfile
of 1,000 crates makes ~3,000 requests, so that cost dominated whole runs. `LeanClient` offers
the small part of httpx's `AsyncClient` API that `http.fetch` uses (`build_request`,
`send(stream=True)`, responses with `status_code`, `headers.get`, `aiter_bytes`,
`num_bytes_downloaded`, `aclose`) and raises exceptions named like httpx's (below).

It keeps a pool of persistent connections per origin (LIFO reuse, a global connection cap),
applies connect/read/write timeouts, and frames bodies per RFC 9112: Content-Length, chunked,
or read-to-close. A body cut short raises `RemoteProtocolError` (callers retry it). A
connection is reused only after its body was read to the end and neither side asked to
close it. A request on a reused connection that fails before any byte of the answer arrived
(the server had closed the idle connection) is repeated once on a new connection.
Bodies sent with `Content-Encoding: gzip` or `deflate` are decoded in bounded steps.
Redirects are never followed here (`fetch` decides), and no proxy or cookie is used.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from types import TracebackType

_MAX_HEAD_BYTES = 64 * 1024
_READ_CHUNK = 256 * 1024
_DECODED_STEP = 1024 * 1024  # at most this much decompressed output per step
_SMALL_BODY = 64 * 1024  # read together with the head
_NO_BODY_STATUSES = frozenset({204, 304})
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
# A request target that needs no quoting or splitting: printable ASCII from "/", no fragment.
_PLAIN_TARGET = re.compile(r"/[!-\"$-~]*")
_ORIGIN_MEMO = 64

Origin = tuple[str, str, int]  # scheme, host, port


# -- errors, named and nested as httpx's ------------------------------------------------------


class TransportError(Exception):
    """The exchange failed on the wire or broke the protocol (`http.fetch` retries these)."""


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class NetworkError(TransportError):
    pass


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class WriteError(NetworkError):
    pass


class RemoteProtocolError(TransportError):
    """Malformed or cut-short answer."""


class UnsupportedProtocol(TransportError):
    """Not an http(s) URL this client can fetch."""


class DecodingError(Exception):
    """A Content-Encoding that does not decode."""


class HttpResponse(Protocol):
    """What `http.fetch` reads from a response."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def num_bytes_downloaded(self) -> int: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class HttpClient(Protocol):
    """What `http.fetch` needs from a client."""

    def build_request(self, method: str, url: str, *, json: Any = None) -> Any: ...

    async def send(self, request: Any, *, stream: bool = False) -> HttpResponse: ...


# -- the connection pool ----------------------------------------------------------------------


class _Connection:
    __slots__ = ("origin", "reader", "writer")

    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.origin = origin
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A reused connection failed before the server answered anything: try a new one."""


class ConnectionPool:
    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        write_timeout: float,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self._max = max(1, max_connections)
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            import certifi  # the CA bundle httpx uses, so trust is unchanged

            self._ssl_context = ssl.create_default_context(cafile=certifi.where())
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        tls = scheme == "https"
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=self._ssl() if tls else None,
                    server_hostname=host if tls else None,
                    limit=_MAX_HEAD_BYTES,
                )
        except TimeoutError as exc:
            raise ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(origin, reader, writer)

    async def acquire(self, origin: Origin) -> tuple[_Connection, bool]:
        """A connection to `origin`, and whether it was reused."""
        while True:
            if self._closed:
                raise ConnectError("the HTTP client is closed")
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if connection.usable():
                    return connection, True
                self.discard(connection)
            if self._open < self._max:
                self._open += 1
                try:
                    return await self._connect(origin), False
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            if not self._evict_idle():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self._wake()  # pass on a wake-up this task can no longer use
                    raise

    def _evict_idle(self) -> bool:
        for connections in self._idle.values():
            if connections:
                self.discard(connections.pop(0))
                return True
        return False

    def discard(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake()

    def release(self, connection: _Connection, reusable: bool) -> None:
        if reusable and not self._closed and connection.usable():
            self._idle.setdefault(connection.origin, []).append(connection)
            self._wake()
        else:
            self.discard(connection)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
                self._open -= 1
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


# -- requests and responses -------------------------------------------------------------------


class _Headers(dict[str, str]):
    """Response headers, lowercase names; repeated fields joined with ", "."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class LeanRequest:
    __slots__ = ("body", "headers", "method", "origin", "url")

    def __init__(
        self, method: str, url: str, origin: Origin, headers: bytes, body: bytes
    ) -> None:
        self.method = method
        self.url = url
        self.origin = origin
        self.headers = headers  # the serialized request head
        self.body = body


class LeanResponse:
    def __init__(
        self,
        pool: ConnectionPool,
        connection: _Connection,
        request: LeanRequest,
        status_code: int,
        headers: _Headers,
        keep_alive: bool,
        framing: tuple[str, int],
        body: bytes | None = None,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.request = request
        self.status_code = status_code
        self.headers = headers
        self._keep_alive = keep_alive
        self.num_bytes_downloaded = 0
        self.content = b""  # the body, after send(stream=False)
        self._framing = framing
        self._body = body  # already read (small bodies)
        if self._framing[0] == "none":
            self._finish(keep_alive)

    def _finish(self, reusable: bool) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._pool.release(connection, reusable)

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._pool.discard(connection)  # closed before the end: its state is unknown

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body, decoded from gzip/deflate if the server encoded it."""
        coding = (self.headers.get("content-encoding") or "identity").strip().lower()
        if coding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            decoder = zlib.decompressobj(zlib.MAX_WBITS)  # zlib wrapper, as RFC 9110 says
        else:
            async for chunk in self._raw():
                yield chunk
            return
        try:
            async for chunk in self._raw():
                while chunk:
                    out = decoder.decompress(chunk, _DECODED_STEP)
                    chunk = decoder.unconsumed_tail
                    if out:
                        yield out
            tail = decoder.flush()
        except zlib.error as exc:
            raise DecodingError(f"{coding} body cannot be decoded: {exc}") from exc
        if tail:
            yield tail

    async def _raw(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        mode, length = self._framing
        reader = connection.reader
        if self._body is not None:
            body, self._body = self._body, None
            self.num_bytes_downloaded = len(body)
            self._finish(self._keep_alive)
            yield body
        elif mode == "length":
            remaining = length
            while remaining:
                chunk = await self._read(reader, min(remaining, _READ_CHUNK))
                if not chunk:
                    raise RemoteProtocolError(
                        f"connection closed with {remaining} of {length} body bytes outstanding"
                    )
                remaining -= len(chunk)
                self.num_bytes_downloaded += len(chunk)
                yield chunk
            self._finish(self._keep_alive)
        elif mode == "chunked":
            async for chunk in self._chunks(reader):
                self.num_bytes_downloaded += len(chunk)
                yield chunk
            self._finish(self._keep_alive)
        else:  # until the server closes the connection
            while chunk := await self._read(reader, _READ_CHUNK):
                self.num_bytes_downloaded += len(chunk)
                yield chunk
            self._finish(False)

    async def _read(self, reader: asyncio.StreamReader, size: int) -> bytes:
        try:
            async with asyncio.timeout(self._pool.read_timeout):
                return await reader.read(size)
        except TimeoutError as exc:
            raise ReadTimeout("reading the response body timed out") from exc
        except OSError as exc:
            raise ReadError(f"reading the response body: {exc}") from exc

    async def _line(self, reader: asyncio.StreamReader) -> bytes:
        try:
            async with asyncio.timeout(self._pool.read_timeout):
                return await reader.readuntil(b"\r\n")
        except TimeoutError as exc:
            raise ReadTimeout("reading the response body timed out") from exc
        except asyncio.IncompleteReadError as exc:
            raise RemoteProtocolError("incomplete chunked response body") from exc
        except asyncio.LimitOverrunError as exc:
            raise RemoteProtocolError("chunk header exceeds 64 KiB") from exc
        except OSError as exc:
            raise ReadError(f"reading the response body: {exc}") from exc

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            size_text = (await self._line(reader)).split(b";", 1)[0].strip()
            if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise RemoteProtocolError(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                while (await self._line(reader)) != b"\r\n":  # trailer fields, ignored
                    pass
                return
            remaining = size
            while remaining:
                chunk = await self._read(reader, min(remaining, _READ_CHUNK))
                if not chunk:
                    raise RemoteProtocolError("connection closed inside a chunk")
                remaining -= len(chunk)
                yield chunk
            if await self._line(reader) != b"\r\n":
                raise RemoteProtocolError("chunk not followed by CRLF")


def _framing(method: str, status: int, headers: _Headers) -> tuple[str, int]:
    if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
        return ("none", 0)
    codings = headers.get("transfer-encoding")
    if codings:
        if codings.split(",")[-1].strip().lower() != "chunked":
            return ("close", 0)
        return ("chunked", 0)
    declared = headers.get("content-length")
    if declared is not None:
        lengths = {value.strip() for value in declared.split(",")}
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise RemoteProtocolError(f"invalid Content-Length {declared!r}")
        length = int(next(iter(lengths)))
        return ("length", length) if length else ("none", 0)
    return ("close", 0)


# -- the client ----------------------------------------------------------------------------


class LeanClient:
    """`async with LeanClient(...) as client:` then `fetch(client, url, ...)`."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        write_timeout: float,
        max_connections: int,
        user_agent: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._pool = ConnectionPool(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            max_connections=max_connections,
            ssl_context=ssl_context,
        )
        self._origins: dict[str, tuple[Origin, str]] = {}  # "scheme://netloc" -> parsed
        self._common = (
            f"User-Agent: {user_agent}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
            "Connection: keep-alive\r\n"
        ).encode()

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._pool.close()

    def build_request(self, method: str, url: str, *, json: Any = None) -> LeanRequest:
        origin_end = url.find("/", url.find("://") + 3) if "://" in url else -1
        known = self._origins.get(url[:origin_end]) if origin_end > 0 else None
        target = url[origin_end:]
        if known is None or not _PLAIN_TARGET.fullmatch(target) or target.endswith("?"):
            return self._build_parsed(method, url, json)
        # An origin parsed before and a target urlsplit would keep as it is (printable
        # ASCII, no fragment): the split, IDNA and port work is not repeated per request.
        return self._request(method, url, known[0], known[1], target, json)

    def _build_parsed(self, method: str, url: str, json: Any) -> LeanRequest:
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # e.g. an unclosed IPv6 bracket
            raise UnsupportedProtocol(f"invalid URL {url}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsupportedProtocol(f"unsupported URL scheme {parts.scheme!r} in {url}")
        try:
            host = parts.hostname
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise UnsupportedProtocol(f"invalid URL {url}: {exc}") from exc
        if not host or parts.username is not None:
            raise UnsupportedProtocol(f"unsupported URL {url}")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if not target.isascii() or " " in target:
            target = quote(target, safe=_URL_SAFE)
        try:
            netloc = parts.netloc if parts.netloc.isascii() else _idna_netloc(host, parts.port)
            origin = (scheme, _host_ascii(host), port)
        except UnicodeError as exc:  # a host name IDNA cannot encode
            raise UnsupportedProtocol(f"invalid host name in URL {url}: {exc}") from exc
        prefix = f"{parts.scheme}://{parts.netloc}"
        if len(self._origins) < _ORIGIN_MEMO and url.startswith(prefix + "/"):
            self._origins[prefix] = (origin, netloc)
        return self._request(method, url, origin, netloc, target, json)

    def _request(
        self, method: str, url: str, origin: Origin, netloc: str, target: str, json: Any
    ) -> LeanRequest:
        body = b""
        extra = b""
        if json is not None:
            body = jsonlib.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        elif method not in ("GET", "HEAD"):
            extra = b"Content-Length: 0\r\n"
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {netloc}\r\n".encode("ascii")
            + self._common
            + extra
            + b"\r\n"
        )
        return LeanRequest(method, url, origin, head, body)

    async def send(self, request: LeanRequest, *, stream: bool = False) -> LeanResponse:
        pool = self._pool
        for _ in range(2):
            connection, reused = await pool.acquire(request.origin)
            try:
                response = await self._exchange(connection, reused, request)
            except _StaleConnection:
                pool.discard(connection)
                continue
            except BaseException:
                pool.discard(connection)
                raise
            if not stream:
                try:
                    body = await response.aread()
                finally:
                    await response.aclose()
                response.content = body
            return response
        raise RemoteProtocolError("the server closed the connection without answering")

    async def _exchange(
        self, connection: _Connection, reused: bool, request: LeanRequest
    ) -> LeanResponse:
        pool = self._pool
        writer = connection.writer
        try:
            if len(request.body) < 65536:
                writer.write(request.headers + request.body)
            else:
                writer.writelines((request.headers, request.body))
            if writer.transport.get_write_buffer_size():  # usually all sent at once
                async with asyncio.timeout(pool.write_timeout):
                    await writer.drain()
        except TimeoutError as exc:
            raise WriteTimeout(f"sending to {request.origin[1]} timed out") from exc
        except OSError as exc:
            if reused:
                raise _StaleConnection from exc
            raise WriteError(f"sending to {request.origin[1]}: {exc}") from exc
        reader = connection.reader
        body: bytes | None = None
        try:
            # One deadline for the head and a small body: most answers (index files,
            # bundles, small crates) then cost one timer instead of one per read.
            async with asyncio.timeout(pool.read_timeout):
                while True:
                    status, headers, version = await self._read_head(reader, reused)
                    if 100 <= status < 200 and status != 101:
                        reused = False  # an interim answer: the connection is alive
                        continue
                    break
                framing = _framing(request.method, status, headers)
                if framing[0] == "length" and framing[1] <= _SMALL_BODY:
                    body = await _read_exactly(reader, framing[1])
        except TimeoutError as exc:
            raise ReadTimeout("waiting for the response timed out") from exc
        tokens = {t.strip().lower() for t in (headers.get("connection") or "").split(",")}
        keep_alive = "close" not in tokens and (version == b"HTTP/1.1" or "keep-alive" in tokens)
        return LeanResponse(pool, connection, request, status, headers, keep_alive, framing, body)

    async def _read_head(
        self, reader: asyncio.StreamReader, reused: bool
    ) -> tuple[int, _Headers, bytes]:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")  # under the caller's deadline
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _StaleConnection from exc
            raise RemoteProtocolError("server disconnected without a response") from exc
        except asyncio.LimitOverrunError as exc:
            raise RemoteProtocolError("response head exceeds 64 KiB") from exc
        except OSError as exc:
            if reused:
                raise _StaleConnection from exc
            raise ReadError(f"reading the response: {exc}") from exc
        lines = raw[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise RemoteProtocolError(f"malformed status line {lines[0][:100]!r}")
        headers = _Headers()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise RemoteProtocolError(f"malformed header line {line[:100]!r}")
            key = name.lower()
            value = value.strip()
            previous = dict.get(headers, key)
            dict.__setitem__(headers, key, value if previous is None else f"{previous}, {value}")
        return int(parts[1]), headers, parts[0].encode()


async def _read_exactly(reader: asyncio.StreamReader, length: int) -> bytes:
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise RemoteProtocolError(
            f"connection closed with {length - len(exc.partial)} of {length} body bytes "
            "outstanding"
        ) from exc
    except OSError as exc:
        raise ReadError(f"reading the response body: {exc}") from exc


def _host_ascii(host: str) -> str:
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _idna_netloc(host: str, port: int | None) -> str:
    ascii_host = _host_ascii(host)
    return ascii_host if port is None else f"{ascii_host}:{port}"
