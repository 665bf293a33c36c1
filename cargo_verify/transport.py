"""A lean HTTP/1.1 keep-alive transport for httpx, built on asyncio streams.

httpx's default async transport (httpcore over anyio) spends milliseconds of CPU per request
once dozens of requests are in flight: every request polls every pooled socket and re-scans
the waiting queue. A lockfile of 1,000 crates makes ~3,000 requests, so that cost dominated a
whole run. This transport keeps httpx's client API (request building, redirects decisions in
`http.fetch`, content decoding, exceptions) and replaces only the wire part: a pool of
persistent connections per origin, reused in LIFO order, with connect/read/write timeouts.

Framing follows RFC 9112: Content-Length, chunked transfer coding, or read-to-close. A body
cut short raises `httpx.RemoteProtocolError` (callers retry it); a connection is reused only
after its response body was read to the end and neither side asked to close it. A request on
a reused connection that fails before any byte of the answer arrived (the server closed an
idle connection) is repeated once on a new connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from types import TracebackType

_MAX_HEAD_BYTES = 64 * 1024
_READ_CHUNK = 256 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})

Origin = tuple[str, str, int]  # scheme, host, port


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


class PooledTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        write_timeout: float,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._max = max(1, max_connections)
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    # -- pool -------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=self._ssl() if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                    limit=_MAX_HEAD_BYTES,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(origin, reader, writer)

    async def _acquire(self, origin: Origin) -> tuple[_Connection, bool]:
        """A connection to `origin` and whether it was reused."""
        while True:
            if self._closed:
                raise httpx.ConnectError("transport is closed")
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if connection.usable():
                    return connection, True
                self._discard(connection)
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
                    if not waiter.cancelled() and waiter.done():
                        self._wake()  # pass on a wake-up this task can no longer use
                    raise

    def _evict_idle(self) -> bool:
        for connections in self._idle.values():
            if connections:
                self._discard(connections.pop(0))
                return True
        return False

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake()

    def _release(self, connection: _Connection, reusable: bool) -> None:
        if reusable and not self._closed and connection.usable():
            self._idle.setdefault(connection.origin, []).append(connection)
            self._wake()
        else:
            self._discard(connection)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
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

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    # -- one exchange -----------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        port = url.port or (443 if scheme == "https" else 80)
        origin: Origin = (scheme, url.host, port)
        head = _request_head(request)
        body = await request.aread()
        for _ in range(2):
            connection, reused = await self._acquire(origin)
            try:
                return await self._exchange(connection, reused, request, head, body)
            except _StaleConnection:
                self._discard(connection)
                continue
            except BaseException:
                self._discard(connection)
                raise
        raise httpx.RemoteProtocolError("server closed the connection without answering")

    async def _exchange(
        self,
        connection: _Connection,
        reused: bool,
        request: httpx.Request,
        head: bytes,
        body: bytes,
    ) -> httpx.Response:
        writer, reader = connection.writer, connection.reader
        try:
            writer.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                writer.write(body)
            async with asyncio.timeout(self._write_timeout):
                await writer.drain()
        except TimeoutError as exc:
            raise httpx.WriteTimeout(f"sending to {request.url.host} timed out") from exc
        except OSError as exc:
            if reused:
                raise _StaleConnection from exc
            raise httpx.WriteError(f"sending to {request.url.host}: {exc}") from exc
        while True:
            status, reason, headers, version = await self._read_head(reader, reused)
            if 100 <= status < 200 and status != 101:
                reused = False  # an interim answer arrived: the connection is alive
                continue
            break
        framing = _framing(request.method, status, headers)
        keep_alive = _keep_alive(version, headers)
        stream = _ResponseStream(self, connection, reader, framing, keep_alive, self._read_timeout)
        if framing[0] == "none":
            stream.finish_empty()
        return httpx.Response(
            status,
            headers=headers,
            stream=stream,
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def _read_head(
        self, reader: asyncio.StreamReader, reused: bool
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        try:
            async with asyncio.timeout(self._read_timeout):
                raw = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError as exc:
            raise httpx.ReadTimeout("waiting for the response timed out") from exc
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _StaleConnection from exc
            raise httpx.RemoteProtocolError("server disconnected without a response") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("response head exceeds 64 KiB") from exc
        except OSError as exc:
            if reused:
                raise _StaleConnection from exc
            raise httpx.ReadError(f"reading the response: {exc}") from exc
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:100]!r}")
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise httpx.RemoteProtocolError(f"malformed header line {line[:100]!r}")
            headers.append((name, value.strip()))
        return int(parts[1]), parts[2] if len(parts) > 2 else b"", headers, parts[0]


def _request_head(request: httpx.Request) -> bytes:
    target = request.url.raw_path
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), target)]
    has_host = False
    for name, value in request.headers.raw:
        if name.lower() == b"host":
            has_host = True
        lines.append(name + b": " + value)
    if not has_host:
        lines.insert(1, b"Host: " + request.url.netloc)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


def _framing(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[str, int]:
    if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
        return ("none", 0)
    codings = b",".join(_header(headers, b"transfer-encoding")).lower()
    if codings:
        if codings.split(b",")[-1].strip() != b"chunked":
            return ("close", 0)
        return ("chunked", 0)
    lengths = {value.strip() for value in _header(headers, b"content-length")}
    if lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise httpx.RemoteProtocolError(f"invalid Content-Length {sorted(lengths)!r}")
        length = int(next(iter(lengths)))
        return ("length", length) if length else ("none", 0)
    return ("close", 0)


def _keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    tokens = {t.strip().lower() for v in _header(headers, b"connection") for t in v.split(b",")}
    if b"close" in tokens:
        return False
    return version == b"HTTP/1.1" or b"keep-alive" in tokens


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one response; gives the connection back to the pool when fully read."""

    def __init__(
        self,
        transport: PooledTransport,
        connection: _Connection,
        reader: asyncio.StreamReader,
        framing: tuple[str, int],
        keep_alive: bool,
        read_timeout: float,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._reader = reader
        self._mode, self._length = framing
        self._keep_alive = keep_alive
        self._timeout = read_timeout

    def finish_empty(self) -> None:
        self._done(self._keep_alive)

    def _done(self, reusable: bool) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport._release(connection, reusable)

    async def _read(self, size: int) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._reader.read(size)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("reading the response body timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(f"reading the response body: {exc}") from exc

    async def _read_line(self) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._reader.readuntil(b"\r\n")
        except TimeoutError as exc:
            raise httpx.ReadTimeout("reading the response body timed out") from exc
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("incomplete chunked response body") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("chunk header exceeds 64 KiB") from exc
        except OSError as exc:
            raise httpx.ReadError(f"reading the response body: {exc}") from exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._connection is None:
            return
        if self._mode == "length":
            remaining = self._length
            while remaining:
                chunk = await self._read(min(remaining, _READ_CHUNK))
                if not chunk:
                    raise httpx.RemoteProtocolError(
                        f"connection closed with {remaining} of {self._length} body bytes "
                        "outstanding"
                    )
                remaining -= len(chunk)
                yield chunk
            self._done(self._keep_alive)
        elif self._mode == "chunked":
            async for chunk in self._chunks():
                yield chunk
            self._done(self._keep_alive)
        else:  # read until the server closes the connection
            while chunk := await self._read(_READ_CHUNK):
                yield chunk
            self._done(False)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            line = await self._read_line()
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError(f"bad chunk size {size_text[:20]!r}") from None
            if size < 0:
                raise httpx.RemoteProtocolError("negative chunk size")
            if size == 0:
                while (await self._read_line()) != b"\r\n":  # trailer fields, ignored
                    pass
                return
            remaining = size
            while remaining:
                chunk = await self._read(min(remaining, _READ_CHUNK))
                if not chunk:
                    raise httpx.RemoteProtocolError("connection closed inside a chunk")
                remaining -= len(chunk)
                yield chunk
            if await self._read_line() != b"\r\n":
                raise httpx.RemoteProtocolError("chunk not followed by CRLF")

    async def aclose(self) -> None:
        self._done(False)  # closed before the end: the connection's state is unknown
