"""The identity record, `cargo-verify-pins.toml`: who signed each crate, kept next to the lockfile.

Every line of a crate's entry starts with the crate's name (TOML dotted keys under one
`[crates]` table), crates are sorted, and a blank line separates them:

    version = 1

    [crates]
    mochi-util.issuer = "https://token.actions.githubusercontent.com"
    mochi-util.repository = "example/mochi-util"
    mochi-util.workflow = ".github/workflows/release.yml"
    mochi-util.first-seen = 2026-01-15
    mochi-util.versions = ["0.1.0", "0.1.1"]

Two branches that pin different crates change different lines, and no line means anything
without its crate name, so any line-wise merge of two records, including git's `merge=union`
(which `cargo-verify pin` sets up), is a valid record; two branches that changed the same crate
differently give a duplicate key, a loud error, never a silently mixed entry. A crate's history
uses numbered sub-keys (`NAME.previous.1.…`, `NAME.approvals.1.…`). The format is documented in
docs/identity-pinning.md; `pinning.py` decides what goes in, this module reads and writes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cargo_verify._toml_lines import (
    KeyPath,
    LocatedReader,
    basic_string,
    parse_toml,
    read_toml_text,
)
from cargo_verify.atomic import atomic_write
from cargo_verify.config import crate_key
from cargo_verify.errors import ConfigError, UsageError
from cargo_verify.model import Verdict
from cargo_verify.semver import Version

RECORD_FILE_NAME = "cargo-verify-pins.toml"
RECORD_VERSION = 1

HEADER = f"""\
# {RECORD_FILE_NAME}: the signer identity of each crate, learned by cargo-verify.
# `cargo-verify check` fails when a crate arrives signed by another identity, or unsigned
# after it was signed. Written by `cargo-verify pin`, `check --update-pins` and
# `--accept-identity NAME`. Each line starts with its crate's name, so branches that pin
# different crates merge cleanly. Commit it. See docs/identity-pinning.md in cargo-verify.
"""

_SIGNER_KEYS = ("issuer", "repository", "workflow", "subject")
_ERA_KEYS = (*_SIGNER_KEYS, "first-seen", "versions")
_CRATE_KEYS = (*_ERA_KEYS, "accepted-unsigned", "previous", "approvals")
_APPROVAL_KEYS = ("date", "by", "version", "from", "to", "via")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class SignerPin:
    """The part of a signer identity that stays the same from one release to the next.

    For CI identities whose certificate names a source repository (GitHub, GitLab): issuer,
    repository and workflow file, never the ref or tag. Otherwise the SAN, with the
    `@ref` of a URI replaced by `@*` (an e-mail SAN is kept whole).
    """

    issuer: str
    repository: str | None = None
    workflow: str | None = None
    subject: str | None = None

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> SignerPin | None:
        if not verdict.issuer:
            return None
        if verdict.repository:
            return cls(verdict.issuer, repository=verdict.repository, workflow=verdict.workflow)
        if verdict.identity:
            return cls(verdict.issuer, subject=stable_subject(verdict.identity))
        return None

    def matches(self, other: SignerPin) -> bool:
        """Same signer? Repositories compare case-insensitively, as GitHub and GitLab do.

        A missing workflow on either side (certificates from before Fulcio added the
        build-signer extension) is not a difference.
        """
        if self.issuer != other.issuer:
            return False
        if self.repository is None or other.repository is None:
            return self.repository == other.repository and self.subject == other.subject
        if self.repository.casefold() != other.repository.casefold():
            return False
        return self.workflow is None or other.workflow is None or self.workflow == other.workflow

    def describe(self) -> str:
        if self.repository is not None:
            parts = [f"repository {self.repository}"]
            if self.workflow is not None:
                parts.append(f"workflow {self.workflow}")
        else:
            parts = [f"subject {self.subject}"]
        parts.append(f"issuer {self.issuer}")
        return ", ".join(parts)

    def trust_entry(self) -> dict[str, str]:
        """The trust-entry keys (mochi.toml `trust`, `[sigstore.trust.NAME]`) that pin it."""
        out = {"issuer": self.issuer}
        if self.repository is not None:
            out["repository"] = self.repository
            if self.workflow is not None:
                out["workflow"] = self.workflow
        elif self.subject is not None:
            out["subject"] = self.subject
        return out


def stable_subject(san: str) -> str:
    """The SAN without what changes per release: `https://host/path@refs/tags/v1` → `…@*`."""
    if "://" not in san:
        return san  # an e-mail address: its `@` is not a ref separator
    head, at, _ref = san.partition("@")
    return f"{head}@*" if at else san


@dataclass(frozen=True)
class Era:
    """One signer of a crate and the versions verified under it."""

    signer: SignerPin
    first_seen: date
    versions: tuple[str, ...] = ()

    def with_version(self, version: str) -> Era:
        if version in self.versions:
            return self
        return replace(self, versions=sort_versions((*self.versions, version)))


@dataclass(frozen=True)
class Approval:
    """A change a person approved: a new signer, or a version without a signature."""

    date: date
    by: str
    version: str
    previous: str  # the signer before, described
    new: str  # the signer after, described, or "unsigned"
    via: str  # "--accept-identity", or "trust entry mochi.toml:12"


@dataclass(frozen=True)
class CratePin:
    """Everything the record knows about one crate."""

    name: str
    current: Era
    previous: tuple[Era, ...] = ()  # oldest first
    accepted_unsigned: tuple[str, ...] = ()
    approvals: tuple[Approval, ...] = ()  # oldest first

    def eras(self) -> tuple[Era, ...]:
        return (self.current, *reversed(self.previous))

    def era_of(self, version: str) -> Era | None:
        """The era that lists `version` (the newest one, if several do)."""
        return next((era for era in self.eras() if version in era.versions), None)

    def signed_versions(self) -> list[str]:
        return [v for era in self.eras() for v in era.versions]


@dataclass(frozen=True)
class PinRecord:
    crates: Mapping[str, CratePin] = field(default_factory=dict)  # keyed by crate_key(name)

    def get(self, name: str) -> CratePin | None:
        return self.crates.get(crate_key(name))

    def render(self) -> str:
        parts = [HEADER, f"version = {RECORD_VERSION}\n\n[crates]\n"]
        for pin in sorted(self.crates.values(), key=lambda p: (crate_key(p.name), p.name)):
            parts.append(_render_crate(pin))
        return "".join(parts)


# -- versions ------------------------------------------------------------------------------


def version_order(text: str) -> tuple[int, Version | None, str]:
    """SemVer order; anything unparsable sorts last, by text."""
    try:
        return (0, Version.parse(text), "")
    except UsageError:
        return (1, None, text)


def sort_versions(versions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(versions), key=version_order))


# -- rendering -----------------------------------------------------------------------------


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else basic_string(name)


def _array(values: Iterable[str]) -> str:
    return "[" + ", ".join(basic_string(v) for v in values) + "]"


def _era_lines(prefix: str, era: Era) -> list[str]:
    lines = [f"{prefix}{key} = {basic_string(value)}" for key, value in _signer_items(era.signer)]
    lines.append(f"{prefix}first-seen = {era.first_seen.isoformat()}")
    lines.append(f"{prefix}versions = {_array(era.versions)}")
    return lines


def _signer_items(signer: SignerPin) -> list[tuple[str, str]]:
    values = (signer.issuer, signer.repository, signer.workflow, signer.subject)
    return [(k, v) for k, v in zip(_SIGNER_KEYS, values, strict=True) if v is not None]


def _render_crate(pin: CratePin) -> str:
    name = _key(pin.name)
    lines = _era_lines(f"{name}.", pin.current)
    if pin.accepted_unsigned:
        lines.append(f"{name}.accepted-unsigned = {_array(pin.accepted_unsigned)}")
    for number, era in enumerate(pin.previous, start=1):
        lines.extend(_era_lines(f"{name}.previous.{number}.", era))
    for number, approval in enumerate(pin.approvals, start=1):
        prefix = f"{name}.approvals.{number}."
        lines.append(f"{prefix}date = {approval.date.isoformat()}")
        for key, value in (
            ("by", approval.by),
            ("version", approval.version),
            ("from", approval.previous),
            ("to", approval.new),
            ("via", approval.via),
        ):
            lines.append(f"{prefix}{key} = {basic_string(value)}")
    return "\n" + "\n".join(lines) + "\n"


# -- reading -------------------------------------------------------------------------------


class _Reader(LocatedReader):
    def table(self, value: Any, path: KeyPath, allowed: tuple[str, ...]) -> dict[str, Any]:
        where = _dotted(path)
        if not isinstance(value, dict):
            raise self.error(f"`{where}` must be a table", path)
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise self.error(
                f"unknown key `{unknown[0]}` in `{where}` (expected {', '.join(allowed)})",
                (*path, unknown[0]),
            )
        return value

    def string(
        self, table: dict[str, Any], key: str, path: KeyPath, required: bool = True
    ) -> str | None:
        value = table.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(f"`{_dotted((*path, key))}` must be a non-empty string", (*path, key))
        return value

    def date(self, table: dict[str, Any], key: str, path: KeyPath) -> date:
        value = table.get(key)
        if not isinstance(value, date) or isinstance(value, datetime):
            raise self.error(
                f"`{_dotted((*path, key))}` must be a date like 2026-01-15", (*path, key)
            )
        return value

    def strings(self, table: dict[str, Any], key: str, path: KeyPath) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(
                f"`{_dotted((*path, key))}` must be an array of version strings", (*path, key)
            )
        return sort_versions(value)  # a union merge may have doubled an element

    def signer(self, table: dict[str, Any], path: KeyPath) -> SignerPin:
        issuer = self.string(table, "issuer", path)
        assert issuer is not None
        repository = self.string(table, "repository", path, required=False)
        workflow = self.string(table, "workflow", path, required=False)
        subject = self.string(table, "subject", path, required=False)
        if (repository is None) == (subject is None):
            raise self.error(
                f"`{_dotted(path)}` needs exactly one of `repository` and `subject`", path
            )
        if workflow is not None and repository is None:
            raise self.error(
                f"`{_dotted(path)}`: `workflow` goes with `repository`", (*path, "workflow")
            )
        return SignerPin(issuer, repository, workflow, subject)

    def era(
        self, value: Any, path: KeyPath, allowed: tuple[str, ...]
    ) -> tuple[Era, dict[str, Any]]:
        table = self.table(value, path, allowed)
        era = Era(
            self.signer(table, path),
            self.date(table, "first-seen", path),
            self.strings(table, "versions", path),
        )
        return era, table

    def approval(self, value: Any, path: KeyPath) -> Approval:
        table = self.table(value, path, _APPROVAL_KEYS)
        texts = [
            self.string(table, key, path) or "" for key in ("by", "version", "from", "to", "via")
        ]
        return Approval(self.date(table, "date", path), *texts)

    def numbered(self, value: Any, path: KeyPath) -> list[tuple[KeyPath, Any]]:
        """`NAME.previous.1.…`, `NAME.previous.2.…`: the entries in number order."""
        if value is None:
            return []
        if not isinstance(value, dict):
            raise self.error(f"`{_dotted(path)}` must be a table of numbered entries", path)
        for key in value:
            if not key.isdigit():
                raise self.error(
                    f"`{_dotted((*path, key))}`: entries are numbered 1, 2, …", (*path, key)
                )
        return [((*path, key), value[key]) for key in sorted(value, key=int)]

    def crate(self, name: str, value: Any) -> CratePin:
        path: KeyPath = ("crates", name)
        current, table = self.era(value, path, _CRATE_KEYS)
        previous = tuple(
            self.era(item, where, _ERA_KEYS)[0]
            for where, item in self.numbered(table.get("previous"), (*path, "previous"))
        )
        approvals = tuple(
            self.approval(item, where)
            for where, item in self.numbered(table.get("approvals"), (*path, "approvals"))
        )
        return CratePin(
            name, current, previous, self.strings(table, "accepted-unsigned", path), approvals
        )


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (
                part if _BARE_KEY.fullmatch(part) else basic_string(part)
            )
    return out


MERGE_HINT = (
    "; if this follows a git merge, keep both sides' lines for different crates and one "
    "side's for a crate both branches changed, then run `cargo-verify pin`"
)


def parse_record(text: str, file: str) -> PinRecord:
    try:
        data, lines = parse_toml(text, file)
    except ConfigError as error:
        if "<<<<<<<" in text or "Cannot overwrite" in error.message:
            raise ConfigError(error.message + MERGE_HINT, error.file, error.line) from None
        raise
    reader = _Reader(file, lines)
    top = reader.table(data, (), ("version", "crates"))
    version = top.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise reader.error(
            f"`version` must be an integer (this cargo-verify writes {RECORD_VERSION})",
            ("version",),
        )
    if version > RECORD_VERSION:
        raise reader.error(
            f"format version {version} is newer than this cargo-verify "
            f"understands ({RECORD_VERSION}): upgrade cargo-verify",
            ("version",),
        )
    crates_table = top.get("crates", {})
    if not isinstance(crates_table, dict):
        raise reader.error("`crates` must be a table", ("crates",))
    crates: dict[str, CratePin] = {}
    for name, value in crates_table.items():
        key = crate_key(name)
        if key in crates:
            raise reader.error(
                f"crate `{name}` is pinned twice (as `{crates[key].name}` too)", ("crates", name)
            )
        crates[key] = reader.crate(name, value)
    return PinRecord(crates)


def record_path_for(lockfile: Path) -> Path:
    """Where the record of a lockfile lives: next to it."""
    return lockfile.parent / RECORD_FILE_NAME


def read_record(path: Path, display: str | None = None) -> PinRecord | None:
    """The record at `path`, or None when there is none."""
    if not path.exists():
        return None
    name = display or str(path)
    return parse_record(read_toml_text(path, name), name)


def write_record(path: Path, record: PinRecord) -> bool:
    """Atomically replace the record; False (and no write) when the bytes would not change."""
    data = record.render().encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write(path, data)
    return True
