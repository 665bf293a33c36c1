"""Fault and attack switches of the test world, set over HTTP (`POST /_faults`) or in-process.

Switches (all optional; `DELETE /_faults` clears them):
  latency_ms: int                      delay before every response
  http_errors: [{"path": prefix, "status": 503, "times": n, "retry_after": s}]
  tarball: {"name@version": "swap" | "truncate"}          bytes served on the CDN
  index: {"name@version": {field: value, ...}}             fields overridden in the index line
                                                          (`"sigstore": null` removes it)
  rekor_entry: {"<log index>": {"body_from": <other log index>}}
  attack: {"name@version" | "*": "<attack>" | ["<attack>", ...]}
                                                          attacks of `mock/attacks.py` on one
                                                          signed version, or on every one ("*")

Attacks that forge evidence (a certificate from another CA, an expired one, ...) do so when the
switch is set, so `set` needs the world (`Faults(world)`, as `build_app` makes it).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cargo_verify.mock.attacks import ATTACKS, Attack, Forged, Target, apply_forged, find_target
from cargo_verify.mock.attacks import signed_targets as _signed_targets

if TYPE_CHECKING:
    from cargo_verify.mock.world import World

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_KNOWN = {"latency_ms", "http_errors", "tarball", "index", "rekor_entry", "attack"}


@dataclass(frozen=True)
class _Armed:
    """One attack switched on against one target, with the evidence forged for it."""

    attack: Attack
    target: Target
    forged: Forged | None


class Faults:
    def __init__(self, world: World | None = None) -> None:
        self._lock = threading.Lock()
        self._world = world
        self.switches: dict[str, Any] = {}
        self._error_counts: dict[int, int] = {}
        self._armed: dict[str, list[_Armed]] = {}  # by "name@version"
        self._forged_cache: dict[tuple[str, str], Forged] = {}

    def set(self, switches: dict[str, Any]) -> None:
        unknown = set(switches) - _KNOWN
        if unknown:
            raise ValueError(f"unknown fault switches: {', '.join(sorted(unknown))}")
        armed = self._arm(switches["attack"]) if "attack" in switches else None
        with self._lock:
            self.switches.update(switches)
            self._error_counts.clear()
            if armed is not None:
                self._armed = armed

    def clear(self) -> None:
        with self._lock:
            self.switches.clear()
            self._error_counts.clear()
            self._armed = {}

    def describe(self) -> dict[str, Any]:
        return dict(self.switches)

    # -- attacks --------------------------------------------------------------------------------
    def _arm(self, spec: Any) -> dict[str, list[_Armed]]:
        if not isinstance(spec, dict):
            raise ValueError('"attack" must map "name@version" (or "*") to attack names')
        world = self._world
        if world is None:
            raise ValueError("attack switches need the world: build Faults(world)")
        armed: dict[str, list[_Armed]] = {}
        for where, names in spec.items():
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"attack[{where!r}] must be an attack name or a list of them")
            for name in names:
                if name not in ATTACKS:
                    raise ValueError(
                        f"unknown attack {name!r}; known: {', '.join(sorted(ATTACKS))}"
                    )
            for target in self._targets(world, str(where)):
                for name in names:
                    attack = ATTACKS[name]
                    forged = self._forge(world, attack, target)
                    armed.setdefault(target.key, []).append(_Armed(attack, target, forged))
        return armed

    @staticmethod
    def _targets(world: World, where: str) -> list[Target]:
        if where == "*":
            return _signed_targets(world)
        name, at, version = where.rpartition("@")
        target = find_target(world, name, version) if at else None
        if target is None:
            raise ValueError(f"attack target {where!r} is not a signed name@version of this world")
        return [target]

    def _forge(self, world: World, attack: Attack, target: Target) -> Forged | None:
        if attack.forge is None:
            return None
        cache_key = (attack.name, target.key)
        forged = self._forged_cache.get(cache_key)
        if forged is None:
            forged = self._forged_cache[cache_key] = attack.forge(world, target)
        return forged

    def _armed_for(self, key: str) -> list[_Armed]:
        return self._armed.get(key, [])

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
        for armed in self._armed_for(f"{name}@{version}"):
            if armed.attack.tarball is not None:
                data = armed.attack.tarball(data)
        return data

    def index_file(self, world: World, name: str, body: bytes) -> bytes:
        overrides = self.switches.get("index") or {}
        if not overrides and not self._armed:
            return body
        out: list[bytes] = []
        for line in body.splitlines():
            obj = json.loads(line)
            key = f"{obj.get('name')}@{obj.get('vers')}"
            change = overrides.get(key)
            armed = self._armed_for(key)
            if change or armed:
                for key_name, value in (change or {}).items():
                    if value is None:
                        obj.pop(key_name, None)
                    else:
                        obj[key_name] = value
                for item in armed:
                    if item.forged is not None:
                        obj = apply_forged(obj, item.forged)
                    if item.attack.line is not None:
                        obj = item.attack.line(world, item.target, obj)
                line = json.dumps(obj, separators=(",", ":")).encode()
            out.append(line)
        return b"".join(x + b"\n" for x in out)

    def rekor_entry(self, world: World, index: int, entry: dict[str, Any]) -> dict[str, Any]:
        change = (self.switches.get("rekor_entry") or {}).get(str(index))
        ((uuid, inner),) = entry.items()
        inner = dict(inner)
        if change and "body_from" in change:
            ((_, other),) = world.log.entry(int(change["body_from"])).items()
            inner["body"] = other["body"]
        for armed_list in list(self._armed.values()):
            for armed in armed_list:
                if armed.target.log_index == index and armed.attack.rekor_entry is not None:
                    inner = armed.attack.rekor_entry(world, armed.target, inner)
        return {uuid: inner}

    def bundle(self, world: World, name: str, version: str, data: bytes) -> bytes:
        armed = self._armed_for(f"{name}@{version}")
        if not armed:
            return data
        document: dict[str, Any] = json.loads(data)
        for item in armed:
            if item.forged is not None and item.forged.bundle is not None:
                document = item.forged.bundle
            if item.attack.bundle is not None:
                document = item.attack.bundle(world, item.target, document)
        return json.dumps(document, indent=2).encode() + b"\n"
