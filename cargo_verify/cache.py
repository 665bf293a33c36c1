"""Verification cache: verdicts of packages that verified, keyed by everything they depend on.

A key covers the package (name, version, lockfile checksum), the trust rule applied, the
digest of the trust material and the tool version, so a changed policy or trusted root forces
re-verification. Entries are single files written to a temp name and renamed into place, so
concurrent processes never see half-written entries; an entry that does not parse, or whose
recorded key differs from the one asked for, is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cargo_verify import __version__
from cargo_verify.model import Package, TrustRule

_FORMAT = 1


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
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(key).read_bytes())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        record = data.get("record")
        return record if isinstance(record, dict) else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(json.dumps({"key": key, "record": record}).encode())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return  # a cache that cannot be written only costs speed
