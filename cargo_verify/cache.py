"""Verification cache: verdicts of packages that verified, keyed by everything they depend on.

A key covers the package (name, version, source, lockfile checksum), the trust rule applied,
the digest of the trust material and the tool version, so a changed policy or trusted root
forces re-verification. The record keeps the evidence the verdict rests on (Rekor log index,
bundle or entry) and the signer. A signature by an allowed identity over exactly these bytes,
logged in Rekor, stays true, so a hit needs no network.

Entries live in one JSON file per lockfile (named by the digest of its path), read once at
the start of a run and written once at the end (temp file + rename, so a concurrent reader
never sees half a file). The file holds the entries the last run used or added, so it stays
as large as the lockfile. A warm re-check of 1,000 crates reads one file instead of 1,000.
A file that does not parse, or an entry whose recorded key differs, is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cargo_verify import __version__
from cargo_verify.model import Package, TrustRule

_FORMAT = 3  # bump whenever the checks get stricter: older passes must be re-verified


def cache_key(package: Package, rule: TrustRule, root_digest: str) -> str:
    material = json.dumps(
        {
            "format": _FORMAT,
            "tool": __version__,
            "name": package.name,
            "version": package.version,
            "source": package.source,
            "checksum": package.checksum,
            "rule": rule.as_dict(),
            "root": root_digest,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


class VerdictCache:
    """`get`/`put` during a run, `flush()` once at the end. `scope` names the lockfile.

    The file also keeps the validated contents of the lockfile and mochi.toml it was made
    for (`plan_get`/`plan_put`, by file digest; see plan_cache.py), so a warm re-check reads
    one file and parses nothing.
    """

    def __init__(self, directory: Path, scope: str | None = None) -> None:
        self.directory = directory
        self.path = directory / f"lock-{scope_file_stem(scope)}.json"
        self._loaded: dict[str, dict[str, Any]] | None = None
        self._plan: dict[str, dict[str, Any]] = {}
        self._used: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._plan_dirty = False

    def _entries(self) -> dict[str, dict[str, Any]]:
        if self._loaded is None:
            self._loaded = {}
            try:
                document = json.loads(self.path.read_bytes())
            except (OSError, ValueError, UnicodeDecodeError):
                return self._loaded
            if not isinstance(document, dict) or document.get("format") != _FORMAT:
                return self._loaded
            entries = document.get("entries")
            if isinstance(entries, dict):
                self._loaded = {
                    key: record for key, record in entries.items() if isinstance(record, dict)
                }
            plan = document.get("plan")
            if isinstance(plan, dict):
                self._plan = {k: v for k, v in plan.items() if isinstance(v, dict)}
        return self._loaded

    def get(self, key: str) -> dict[str, Any] | None:
        record = self._entries().get(key)
        if record is not None:
            self._used[key] = record
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._entries()[key] = record
        self._used[key] = record
        self._dirty = True

    def plan_get(self, kind: str, digest: str) -> Any:
        self._entries()
        stored = self._plan.get(kind)
        return stored.get("value") if stored and stored.get("digest") == digest else None

    def plan_put(self, kind: str, digest: str, value: Any) -> None:
        self._entries()
        self._plan[kind] = {"digest": digest, "value": value}
        self._plan_dirty = True

    def flush_plan(self) -> None:
        """Write a changed plan, keeping the verdicts as they are (before a run starts)."""
        if self._plan_dirty:
            self._write(self._entries())

    def flush(self) -> None:
        """Write the entries this run used or added, if that changes the file."""
        unchanged = self._loaded is None or set(self._used) == set(self._loaded)
        if not self._dirty and not self._plan_dirty and unchanged:
            return
        if self._write(self._used):
            self._loaded = dict(self._used)
            self._dirty = False

    def _write(self, entries: dict[str, dict[str, Any]]) -> bool:
        document = {"format": _FORMAT, "entries": entries, "plan": self._plan}
        if not replace_cache_file(self.directory, self.path,
                                  json.dumps(document, sort_keys=True).encode()):
            return False
        self._plan_dirty = False
        return True


def scope_file_stem(scope: str | None) -> str:
    """The part of a cache file's name that stands for its lockfile."""
    return hashlib.sha256((scope or "").encode()).hexdigest()[:32]


def replace_cache_file(directory: Path, path: Path, data: bytes) -> bool:
    """Write `data` to `path` through a temporary file and a rename, so a concurrent reader
    sees the old file or the new one, never half of one. False when it cannot be written:
    a cache that cannot be written only costs speed. Not fsynced: a file cut short by a
    crash is ignored by its reader."""
    import tempfile  # ~5 ms (shutil, lzma, bz2): a warm run that changes nothing skips it

    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return False
    return True
