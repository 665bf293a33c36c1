"""LeanClient (the HTTP client of a run) against a scripted HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cargo_verify.errors import InfraError
from cargo_verify.http import HttpSettings, NotFound, fetch, make_client
from cargo_verify.transport import (
    LeanClient,
    ReadTimeout,
    RemoteProtocolError,
    UnsupportedProtocol,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.url = ""


async def read_request(reader: asyncio.StreamReader, server: Server) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length) if length else b""
    server.requests.append(head.split(b"\r\n")[0])
    return head + body


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    server = Server()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        server.open += 1
        server.most_open = max(server.most_open, server.open)
        try:
            await handler(reader, writer, server)
        finally:
            server.open -= 1
            writer.close()

    listener = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield server


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def keep_answering(body: bytes, *headers: str) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        while await read_request(reader, server) is not None:
            writer.write(answer(body, *headers))
            await writer.drain()

    return handler


def client(**overrides: float) -> LeanClient:
    options = {"connect_timeout": 2.0, "read_timeout": 2.0, "write_timeout": 2.0,
               "max_connections": 4}
    options.update(overrides)
    return LeanClient(user_agent="test", **options)  # type: ignore[arg-type]


async def get(lean: LeanClient, url: str) -> tuple[int, bytes, int]:
    response = await lean.send(lean.build_request("GET", url), stream=True)
    try:
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    finally:
        await response.aclose()
    return response.status_code, body, response.num_bytes_downloaded


def test_connections_are_reused_and_bodies_framed_by_length() -> None:
    async def main() -> None:
        async with serve(await keep_answering(b"hello")) as server, client() as lean:
            for _ in range(3):
                assert await get(lean, server.url + "/a?x=1") == (200, b"hello", 5)
            assert server.connections == 1
            assert server.requests[0] == b"GET /a?x=1 HTTP/1.1"

    asyncio.run(main())


def test_large_bodies_stream_and_chunked_bodies_are_decoded() -> None:
    big = bytes(range(256)) * 1024  # 256 KiB: streamed, not read with the head

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        await read_request(reader, server)
        writer.write(answer(big))
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
        await writer.drain()
        await read_request(reader, server)

    async def main() -> None:
        async with serve(handler) as server, client() as lean:
            assert (await get(lean, server.url + "/big"))[1] == big
            assert (await get(lean, server.url + "/chunked"))[1] == b"hello world"
            assert server.connections == 1

    asyncio.run(main())


@pytest.mark.parametrize("size", [100, 300_000])
def test_a_body_cut_short_is_a_protocol_error(size: int) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        await read_request(reader, server)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        writer.write(b"x" * (size // 2))
        await writer.drain()

    async def main() -> None:
        async with serve(handler) as server, client() as lean:
            with pytest.raises(RemoteProtocolError, match="outstanding"):
                await get(lean, server.url + "/cut")

    asyncio.run(main())


def test_gzip_bodies_are_decoded() -> None:
    async def main() -> None:
        payload = b"line\n" * 1000
        handler = await keep_answering(gzip.compress(payload), "Content-Encoding: gzip")
        async with serve(handler) as server, client() as lean:
            status, body, raw = await get(lean, server.url + "/index")
            assert (status, body) == (200, payload)
            assert raw < len(payload)  # bytes on the wire, before decoding

    asyncio.run(main())


def test_an_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        await read_request(reader, server)
        writer.write(answer(b"once"))
        await writer.drain()
        # then close the kept-alive connection without answering the next request

    async def main() -> None:
        async with serve(handler) as server, client() as lean:
            assert (await get(lean, server.url + "/1"))[1] == b"once"
            assert (await get(lean, server.url + "/2"))[1] == b"once"
            assert server.connections == 2

    asyncio.run(main())


def test_a_silent_server_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        await read_request(reader, server)
        await asyncio.sleep(5)

    async def main() -> None:
        async with serve(handler) as server, client(read_timeout=0.2) as lean:
            with pytest.raises(ReadTimeout):
                await get(lean, server.url + "/slow")

    asyncio.run(main())


def test_no_more_connections_than_the_limit() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        while await read_request(reader, server) is not None:
            await asyncio.sleep(0.02)
            writer.write(answer(b"ok"))
            await writer.drain()

    async def main() -> None:
        async with serve(handler) as server, client(max_connections=2) as lean:
            results = await asyncio.gather(*(get(lean, f"{server.url}/{i}") for i in range(8)))
            assert all(body == b"ok" for _, body, _ in results)
            assert server.most_open <= 2

    asyncio.run(main())


def test_fetch_retries_server_errors_and_maps_not_found() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        while (request := await read_request(reader, server)) is not None:
            if b"/missing" in request:
                writer.write(answer(b"no", status="404 Not Found"))
            elif len(server.requests) == 1:
                writer.write(answer(b"busy", status="503 Service Unavailable"))
            else:
                writer.write(answer(b'{"ok": true}'))
            await writer.drain()

    async def main() -> None:
        settings = HttpSettings(backoff=0.01)
        async with serve(handler) as server, make_client(settings) as lean:
            assert await fetch(lean, server.url + "/x", settings, max_bytes=100) == b'{"ok": true}'
            with pytest.raises(NotFound):
                await fetch(lean, server.url + "/missing", settings, max_bytes=100)
            with pytest.raises(InfraError, match="exceeds"):
                await fetch(lean, server.url + "/x", settings, max_bytes=3)

    asyncio.run(main())


def test_unparsable_urls_are_infra_errors_at_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        while await read_request(reader, server) is not None:
            writer.write(answer(b"", "Location: http://[::1/x", status="302 Found"))
            await writer.drain()

    async def main() -> None:
        settings = HttpSettings(backoff=0.01)
        async with serve(handler) as server, make_client(settings) as lean:
            with pytest.raises(InfraError, match="redirect to an invalid URL"):
                await fetch(lean, server.url + "/x", settings, max_bytes=100)
            requests = len(server.requests)
            slow = HttpSettings(backoff=5.0)  # a retry would take seconds
            started = asyncio.get_running_loop().time()
            with pytest.raises(InfraError, match="Invalid IPv6 URL"):
                await fetch(lean, "http://[::1/x", slow, max_bytes=100)
            assert asyncio.get_running_loop().time() - started < 1.0  # refused, not retried
            assert len(server.requests) == requests

    asyncio.run(main())


def test_post_sends_a_json_body() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      server: Server) -> None:
        request = await read_request(reader, server)
        assert request is not None
        seen.append(request)
        writer.write(answer(b"[]"))
        await writer.drain()

    async def main() -> None:
        settings = HttpSettings()
        async with serve(handler) as server, make_client(settings) as lean:
            await fetch(lean, server.url + "/search", settings, max_bytes=100, method="POST",
                        json_body={"hash": "sha256:ab"})

    asyncio.run(main())
    assert seen[0].startswith(b"POST /search HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in seen[0]
    assert seen[0].endswith(b'\r\n\r\n{"hash":"sha256:ab"}')


_URL_CHARACTERS = "ab/%?#&=;:@!$'()*+,-._~[] \t\"<>\\^`{|}é\x7f"


@settings(max_examples=400, deadline=None)
@given(
    base=st.sampled_from([
        "http://127.0.0.1:8080", "https://index.crates.io", "http://EXAMPLE.com", "http://h:80",
        "https://bücher.de", "http://user@h", "ftp://h", "http://[::1", "http://a..é",
    ]),
    rest=st.text(alphabet=_URL_CHARACTERS, max_size=16),
)
def test_a_remembered_origin_builds_the_request_a_fresh_parse_builds(base: str, rest: str) -> None:
    """The per-origin shortcut of build_request must never change what goes on the wire."""

    def built(client: LeanClient, url: str) -> object:
        try:
            request = client.build_request("GET", url)
        except UnsupportedProtocol as exc:  # the only refusal; the same one is the same answer
            return str(exc)
        return request.origin, request.headers

    warm = LeanClient(connect_timeout=1, read_timeout=1, write_timeout=1, max_connections=1,
                      user_agent="t")
    built(warm, base + "/")  # the origin is now remembered
    fresh = LeanClient(connect_timeout=1, read_timeout=1, write_timeout=1, max_connections=1,
                       user_agent="t")
    url = f"{base}/{rest}"
    assert built(warm, url) == built(fresh, url)
