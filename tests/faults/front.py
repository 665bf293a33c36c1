"""A misbehaving HTTP/1.1 front for the test world, on a raw asyncio TCP server.

Requests are relayed to the world (URLs of the world in response bodies are rewritten to the
front's, so every later request comes back here) unless a rule for the path says otherwise:

  reset            close the connection with a TCP reset before answering
  reset-mid-body   send the headers and half the body, then reset
  truncate         declare the full Content-Length, send half the body, close cleanly
  slowloris        send the headers, then one byte of body every 0.2 s, forever
  huge             declare a 10 GB body, then send a little of it
  endless          a chunked body that never ends (64 KiB chunks)
  redirect         302 to the same path on `location_base` (another host)

A rule applies to paths starting with its prefix, `times` times or forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field


@dataclass
class Rule:
    prefix: str
    behaviour: str
    times: int | None = None
    location_base: str | None = None
    used: int = field(default=0)


class FaultyFront:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.url = ""

    def start(self) -> FaultyFront:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def add(self, prefix: str, behaviour: str, times: int | None = None,
            location_base: str | None = None) -> None:
        self.rules.append(Rule(prefix, behaviour, times, location_base))

    def _rule_for(self, path: str) -> Rule | None:
        for rule in self.rules:
            if path.startswith(rule.prefix) and (rule.times is None or rule.used < rule.times):
                rule.used += 1
                return rule
        return None

    # -- one client connection (keep-alive) -----------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                self.seen.append(target)
                if not await self._answer(method, target, body, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError,
                asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(
        self, method: str, target: str, body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        rule = self._rule_for(target)
        behaviour = rule.behaviour if rule else None
        if behaviour == "reset":
            _reset(writer)
            return False
        if behaviour == "redirect":
            assert rule is not None and rule.location_base
            writer.write(_head(302, 0, [("Location", rule.location_base.rstrip("/") + target)]))
            await writer.drain()
            return True
        if behaviour == "huge":
            writer.write(_head(200, 10 * 1024**3) + b"x" * 1024)
            await writer.drain()
            await asyncio.sleep(1)
            _reset(writer)
            return False
        if behaviour == "endless":
            writer.write(_head(200, None, [("Transfer-Encoding", "chunked")]))
            chunk = b"%x\r\n%s\r\n" % (65536, b"{" * 65536)
            while True:
                writer.write(chunk)
                await writer.drain()
        status, headers, payload = await self._relay(method, target, body)
        if behaviour == "slowloris":
            writer.write(_head(status, len(payload), headers))
            for byte in payload:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
            return True
        if behaviour in ("truncate", "reset-mid-body"):
            writer.write(_head(status, len(payload), headers) + payload[: len(payload) // 2])
            await writer.drain()
            if behaviour == "truncate":
                writer.close()
            else:
                _reset(writer)
            return False
        writer.write(_head(status, len(payload), headers) + payload)
        await writer.drain()
        return True

    async def _relay(self, method: str, target: str, body: bytes) -> tuple[
            int, list[tuple[str, str]], bytes]:
        host_port = self.upstream.split("://", 1)[1]
        host, _, port = host_port.partition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        request = (
            f"{method} {target} HTTP/1.0\r\nHost: {host_port}\r\nContent-Length: {len(body)}\r\n"
            "Content-Type: application/json\r\n\r\n"
        ).encode() + body
        writer.write(request)
        await writer.drain()
        raw = await reader.read()
        writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() in ("content-type", "retry-after", "location"):
                headers.append((name, value.strip().replace(self.upstream, self.url)))
        return status, headers, payload.replace(self.upstream.encode(), self.url.encode())


def _head(status: int, length: int | None, headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
