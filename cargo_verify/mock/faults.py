"""Fault and attack switches of the test world, set over HTTP (`POST /_faults`) or in-process.

Switches (all optional; `DELETE /_faults` clears them):
  latency_ms: int                      delay before every response
  http_errors: [{"path": prefix, "status": 503, "times": n, "retry_after": s}]
  tarball: {"name@version": "swap" | "truncate"}          bytes served on the CDN
  index: {"name@version": {field: value, ...}}             fields overridden in the index line
                                                          (`"sigstore": null` removes it)
  rekor_entry: {"<log index>": {"body_from": <other log index>}}
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cargo_verify.mock.world import World

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_KNOWN = {"latency_ms", "http_errors", "tarball", "index", "rekor_entry"}


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.switches: dict[str, Any] = {}
        self._error_counts: dict[int, int] = {}

    def set(self, switches: dict[str, Any]) -> None:
        unknown = set(switches) - _KNOWN
        if unknown:
            raise ValueError(f"unknown fault switches: {', '.join(sorted(unknown))}")
        with self._lock:
            self.switches.update(switches)
            self._error_counts.clear()

    def clear(self) -> None:
        with self._lock:
            self.switches.clear()
            self._error_counts.clear()

    def describe(self) -> dict[str, Any]:
        return dict(self.switches)

    # -- ASGI layer ---------------------------------------------------------------------------
    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"] == "/_faults":
                await app(scope, receive, send)
                return
            latency = self.switches.get("latency_ms")
            if latency:
                await asyncio.sleep(float(latency) / 1000)
            forced = self._forced_error(scope["path"])
            if forced is not None:
                status, retry_after = forced
                headers = [(b"content-type", b"text/plain")]
                if retry_after is not None:
                    headers.append((b"retry-after", str(retry_after).encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": b"injected fault\n"})
                return
            await app(scope, receive, send)

        return middleware

    def _forced_error(self, path: str) -> tuple[int, int | None] | None:
        rules = self.switches.get("http_errors") or []
        with self._lock:
            for number, rule in enumerate(rules):
                if not path.startswith(str(rule.get("path", ""))):
                    continue
                times = rule.get("times")
                used = self._error_counts.get(number, 0)
                if times is not None and used >= int(times):
                    continue
                self._error_counts[number] = used + 1
                return int(rule.get("status", 503)), rule.get("retry_after")
        return None

    # -- content hooks --------------------------------------------------------------------------
    def tarball(self, world: World, name: str, version: str, data: bytes) -> bytes:
        mode = (self.switches.get("tarball") or {}).get(f"{name}@{version}")
        if mode == "swap":
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if mode == "truncate":
            return data[: len(data) // 2]
        return data

    def index_file(self, world: World, name: str, body: bytes) -> bytes:
        overrides = self.switches.get("index") or {}
        if not overrides:
            return body
        out: list[bytes] = []
        for line in body.splitlines():
            obj = json.loads(line)
            change = overrides.get(f"{obj.get('name')}@{obj.get('vers')}")
            if change:
                for key, value in change.items():
                    if value is None:
                        obj.pop(key, None)
                    else:
                        obj[key] = value
                line = json.dumps(obj, separators=(",", ":")).encode()
            out.append(line)
        return b"".join(x + b"\n" for x in out)

    def rekor_entry(self, world: World, index: int, entry: dict[str, Any]) -> dict[str, Any]:
        change = (self.switches.get("rekor_entry") or {}).get(str(index))
        if not change:
            return entry
        ((uuid, inner),) = entry.items()
        inner = dict(inner)
        if "body_from" in change:
            ((_, other),) = world.log.entry(int(change["body_from"])).items()
            inner["body"] = other["body"]
        return {uuid: inner}

    def bundle(self, world: World, name: str, version: str, data: bytes) -> bytes:
        return data
