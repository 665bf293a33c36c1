"""The benchmark's test world: a persisted World served from pre-built responses.

    python bench/world_server.py --state DIR [--latency-ms N] [--port N]

Loads the state directory written by `synth.build_registry` (or by `cargo-verify mock serve
--state`) into the real `World` (registry, Rekor log, trust material), renders every
response once — sparse index files, config.json, `.crate` downloads, bundles, Rekor entries by
log index, trusted root — and serves them with a minimal HTTP/1.1 keep-alive server, so that
serving costs a dictionary lookup and a socket write and the tool's numbers are not drowned
by the web framework. The content is byte for byte what `cargo-verify mock serve` answers.

Per-request latency is injected before every answer (`--latency-ms`, or at run time with
`POST /_faults {"latency_ms": N}`). Once listening it prints one JSON line on stdout: base,
registry_index, trusted_root, trust_config, pid, crates, responses.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

from cargo_verify.mock.cargo_wire import index_path
from cargo_verify.mock.world import World, WorldOptions

Prebuilt = tuple[bytes, bytes]  # status line + headers, body

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}
_MAX_HEAD = 64 * 1024


def _response(status: int, body: bytes, content_type: str) -> Prebuilt:
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
        % (status, _REASONS.get(status, b"Status"), content_type.encode(), len(body))
    )
    return head, body


_NOT_FOUND = _response(404, b"not found\n", "text/plain")


def prebuild(world: World) -> dict[str, Prebuilt]:
    """Every GET the verifier and the baselines make, rendered once."""
    registry = world.registry
    routes: dict[str, Prebuilt] = {
        "/index/config.json": _response(200, registry.config_json(), "application/json"),
        "/trusted_root.json": _response(
            200, json.dumps(world.trusted_root).encode(), "application/json"
        ),
        "/trust_config.json": _response(
            200, json.dumps(world.trust_config).encode(), "application/json"
        ),
    }
    for name in registry.crates():
        body = registry.index_file(name)
        assert body is not None
        routes[f"/index/{index_path(name)}"] = _response(200, body, "text/plain")
        for line in body.splitlines():
            version = json.loads(line)["vers"]
            tarball = registry.tarball(name, version)
            if tarball is not None:
                routes[f"/dl/{name}/{version}/download"] = _response(
                    200, tarball, "application/gzip"
                )
            bundle = registry.bundle(name, version)
            if bundle is not None:
                routes[f"/bundles/{name}/{version}/bundle.sigstore.json"] = _response(
                    200, bundle, "application/json"
                )
    offset = world.log.log_index_offset
    for tree_index in range(world.log.size):
        log_index = offset + tree_index
        routes[f"/rekor/api/v1/log/entries?logIndex={log_index}"] = _response(
            200, json.dumps(world.log.entry(log_index)).encode(), "application/json"
        )
    return routes


class _Settings:
    def __init__(self, latency_ms: float) -> None:
        self.latency = latency_ms / 1000


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; answers leave in request order."""

    def __init__(self, routes: dict[str, Prebuilt], settings: _Settings) -> None:
        self._routes = routes
        self._settings = settings
        self._buffer = b""
        self._queue: collections.deque[Prebuilt] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                    self._transport.close()
                return
            head = self._buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
            length = 0
            for line in lines[1:]:
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            if len(self._buffer) < end + 4 + length:
                return
            body = self._buffer[end + 4 : end + 4 + length]
            self._buffer = self._buffer[end + 4 + length :]
            self._answer(method, target, body)

    def _answer(self, method: str, target: str, body: bytes) -> None:
        if target == "/_faults":
            self._queue.append(self._faults(method, body))
            self._release()
            return
        if method != "GET":
            answer = _response(405, b"only GET\n", "text/plain")
        else:
            answer = self._routes.get(target, _NOT_FOUND)
        self._queue.append(answer)
        if self._settings.latency > 0:
            self._loop.call_later(self._settings.latency, self._release)
        else:
            self._release()

    def _faults(self, method: str, body: bytes) -> Prebuilt:
        if method == "POST":
            try:
                switches: Any = json.loads(body or b"{}")
                self._settings.latency = float(switches.get("latency_ms") or 0) / 1000
            except (ValueError, AttributeError, TypeError):
                return _response(400, b"POST {\"latency_ms\": N}\n", "text/plain")
        elif method == "DELETE":
            self._settings.latency = 0.0
        state = {"latency_ms": self._settings.latency * 1000}
        return _response(200, json.dumps(state).encode(), "application/json")

    def _release(self) -> None:
        head, body = self._queue.popleft()
        if self._transport is not None and not self._transport.is_closing():
            if len(body) < 65536:
                self._transport.write(head + body)
            else:
                self._transport.writelines((head, body))


async def serve(state: Path, port: int, latency_ms: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    world = World(base, WorldOptions(state_dir=state, publish_fixtures=False))
    root_path, config_path = world.write_trust_files(state)
    routes = prebuild(world)
    crates = len(world.registry.crates())
    world.log.close()
    del world
    settings = _Settings(latency_ms)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(routes, settings), sock=sock, backlog=4096
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    ready = {
        "base": base,
        "registry_index": f"sparse+{base}/index/",
        "trusted_root": str(root_path),
        "trust_config": str(config_path),
        "pid": os.getpid(),
        "crates": crates,
        "responses": len(routes),
    }
    print(json.dumps(ready), flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.state, args.port, args.latency_ms))


if __name__ == "__main__":
    main()
