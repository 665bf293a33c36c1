"""Evidence store: the Sigstore evidence packages verified with, kept for the next check.

A verdict in the verification cache depends on the trust policy and the trusted root; the
evidence it rests on does not. When either changes (or the cache format does), every package
is verified again, and the bundle it verified with a moment ago is still the registry's
evidence for exactly these bytes. Keeping it lets that re-check run without the index and
evidence requests (and, with the `.crate` in cargo's cache, without the network at all).

Nothing stored is trusted. A stored bundle goes through the same sigstore-python checks and
the same identity policy as a fetched one, against the tarball's freshly computed digest. It
is only ever used to pass: a package whose stored evidence does not verify is checked again
from the registry, and that verdict is the one reported.

One file per lockfile beside its verdict file: a JSON header line (format, and per entry its
key, kind, log index, offset and length) followed by the bundle documents back to back. It
is read on the first package the verdict cache cannot answer (a warm run never opens it) and
written once at the end, when this run added something, keeping only entries of packages
still in the lockfile. A file that does not parse is ignored as a whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cargo_verify.cache import replace_cache_file, scope_file_stem

_FORMAT = 1
KINDS = ("bundle", "rekor")  # a bundle named by the index line; one rebuilt from a Rekor entry

# (sparse index URL, crate name, version, lockfile checksum)
EvidenceKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class StoredEvidence:
    kind: str  # one of KINDS
    bundle_json: str
    log_index: int | None  # the Rekor entry the index line named, if it named one


class EvidenceStore:
    def __init__(self, directory: Path, scope: str | None = None) -> None:
        self.directory = directory
        self.path = directory / f"evidence-{scope_file_stem(scope)}.bin"
        self._loaded: dict[EvidenceKey, StoredEvidence] | None = None
        self._added: dict[EvidenceKey, StoredEvidence] = {}

    def get(self, key: EvidenceKey) -> StoredEvidence | None:
        return self._added.get(key) or self._entries().get(key)

    def add(self, key: EvidenceKey, evidence: StoredEvidence) -> None:
        self._added[key] = evidence

    @property
    def has_additions(self) -> bool:
        return bool(self._added)

    def flush(self, keep: set[EvidenceKey]) -> None:
        """Write the store if this run added evidence: entries whose key is in `keep`."""
        if not self._added:
            return
        merged = {k: v for k, v in self._entries().items() if k in keep}
        merged.update((k, v) for k, v in self._added.items() if k in keep)
        replace_cache_file(self.directory, self.path, encode(merged))
        self._loaded = merged
        self._added = {}

    def _entries(self) -> dict[EvidenceKey, StoredEvidence]:
        if self._loaded is None:
            try:
                self._loaded = decode(self.path.read_bytes())
            except OSError:
                self._loaded = {}
        return self._loaded


def encode(entries: dict[EvidenceKey, StoredEvidence]) -> bytes:
    rows: list[list[Any]] = []
    bodies: list[bytes] = []
    offset = 0
    for (index, name, version, checksum), evidence in entries.items():
        body = evidence.bundle_json.encode()
        rows.append([index, name, version, checksum, evidence.kind, evidence.log_index,
                     offset, len(body)])
        bodies.append(body)
        offset += len(body)
    header = json.dumps({"format": _FORMAT, "entries": rows}, separators=(",", ":"))
    return header.encode() + b"\n" + b"".join(bodies)


def decode(data: bytes) -> dict[EvidenceKey, StoredEvidence]:
    """The entries of a store file; {} for anything that is not a whole, valid one."""
    end = data.find(b"\n")
    if end < 0:
        return {}
    try:
        header = json.loads(data[:end])
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        return {}
    rows = header.get("entries")
    if not isinstance(rows, list):
        return {}
    body = memoryview(data)[end + 1 :]
    entries: dict[EvidenceKey, StoredEvidence] = {}
    for row in rows:
        entry = _entry(row, body)
        if entry is None:
            return {}  # a damaged file is not picked over: it is ignored as a whole
        entries[entry[0]] = entry[1]
    return entries


def _entry(row: Any, body: memoryview) -> tuple[EvidenceKey, StoredEvidence] | None:
    if not isinstance(row, list) or len(row) != 8:
        return None
    index, name, version, checksum, kind, log_index, offset, length = row
    if not all(isinstance(s, str) for s in (index, name, version, checksum)):
        return None
    if kind not in KINDS or not (log_index is None or _is_int(log_index)):
        return None
    if not (_is_int(offset) and _is_int(length)) or offset < 0 or length < 0:
        return None
    if offset + length > len(body):
        return None
    try:
        text = str(body[offset : offset + length], "utf-8")
    except UnicodeDecodeError:
        return None
    return (index, name, version, checksum), StoredEvidence(kind, text, log_index)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
