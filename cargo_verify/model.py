"""Plain data passed between the parts: packages in, verdicts out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

CRATES_IO_SOURCES = frozenset(
    {
        "registry+https://github.com/rust-lang/crates.io-index",
        "sparse+https://index.crates.io/",
    }
)


class Status(enum.StrEnum):
    VERIFIED = "verified"
    FAILED = "failed"
    UNSIGNED = "unsigned"
    SKIPPED = "skipped"


class Code(enum.StrEnum):
    """Stable kebab-case reason codes: JSON `code`, SARIF rule ids, docs anchors."""

    CHECKSUM_MISSING = "checksum-missing"
    CHECKSUM_MISMATCH = "checksum-mismatch"  # lockfile vs index cksum
    TARBALL_MISMATCH = "tarball-mismatch"  # downloaded/cached bytes vs lockfile
    NOT_IN_INDEX = "not-in-index"
    UNSIGNED = "unsigned"
    UNSIGNED_WITH_TRUST = "unsigned-with-trust-entry"
    EVIDENCE_INVALID = "evidence-invalid"  # malformed bundle / Rekor entry
    EVIDENCE_MISMATCH = "evidence-mismatch"  # evidence is for another artifact
    SIGNATURE_INVALID = "signature-invalid"  # sigstore verification failed
    IDENTITY_MISMATCH = "identity-mismatch"  # signer does not satisfy the policy
    IDENTITY_CHANGED = "identity-changed"  # pinned identity differs
    SIGNED_THEN_UNSIGNED = "signed-then-unsigned"
    INFRA = "infrastructure-error"  # could not reach a verdict
    GIT_SOURCE = "git-source"
    PATH_SOURCE = "path-source"
    UNSUPPORTED_SOURCE = "unsupported-source"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Code, str] = {
    Code.CHECKSUM_MISSING: "A registry package in the lockfile has no checksum.",
    Code.CHECKSUM_MISMATCH: "The lockfile checksum differs from the registry index checksum.",
    Code.TARBALL_MISMATCH: "The .crate bytes do not hash to the lockfile checksum.",
    Code.NOT_IN_INDEX: "The registry index has no line for this name and version.",
    Code.UNSIGNED: "The package has no Sigstore evidence.",
    Code.UNSIGNED_WITH_TRUST: "A package with a trust entry has no Sigstore evidence.",
    Code.EVIDENCE_INVALID: "The Sigstore bundle or Rekor entry is malformed or inconsistent.",
    Code.EVIDENCE_MISMATCH: "The Sigstore evidence covers a different artifact.",
    Code.SIGNATURE_INVALID: "Sigstore verification (chain, SCT, log proof, signature) failed.",
    Code.IDENTITY_MISMATCH: "The signer identity does not satisfy the trust policy.",
    Code.IDENTITY_CHANGED: "The signer identity differs from the pinned identity.",
    Code.SIGNED_THEN_UNSIGNED: "A previously signed crate arrived without a signature.",
    Code.INFRA: "A network or service failure prevented a verdict.",
    Code.GIT_SOURCE: "Git dependencies carry no registry checksum or signature.",
    Code.PATH_SOURCE: "Path dependencies and workspace members are local code.",
    Code.UNSUPPORTED_SOURCE: "The package source kind is not a registry this tool can verify.",
}


@dataclass(frozen=True)
class Package:
    """One `[[package]]` of a lockfile."""

    name: str
    version: str
    source: str | None  # None for path packages / workspace members
    checksum: str | None
    line: int | None = None  # 1-based line of its `[[package]]` header, when known

    @property
    def is_registry(self) -> bool:
        return self.source is not None and self.source.startswith(("registry+", "sparse+"))

    @property
    def is_crates_io(self) -> bool:
        return self.source in CRATES_IO_SOURCES

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class TrustRule:
    """What a user trusts for one crate. Empty fields mean "any"."""

    issuer: str | None = None
    subject: str | None = None  # glob, matched against SAN and rebuilt `repo:…` forms
    repository: str | None = None  # OWNER/REPO (glob)
    workflow: str | None = None  # workflow file name or path (glob)
    environment: str | None = None
    ref: str | None = None  # glob, e.g. refs/tags/v*
    origin: str = "default"  # where it came from, e.g. "mochi.toml:12"

    @property
    def is_default(self) -> bool:
        return not any(
            (self.issuer, self.subject, self.repository, self.workflow, self.environment, self.ref)
        )

    def describe(self) -> str:
        if self.is_default:
            return "any OIDC subject (default)"
        parts = []
        for label, value in (
            ("issuer", self.issuer),
            ("subject", self.subject),
            ("repository", self.repository),
            ("workflow", self.workflow),
            ("environment", self.environment),
            ("ref", self.ref),
        ):
            if value is not None:
                parts.append(f"{label} = {value}")
        return ", ".join(parts) + f" ({self.origin})"

    def as_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("issuer", self.issuer),
                ("subject", self.subject),
                ("repository", self.repository),
                ("workflow", self.workflow),
                ("environment", self.environment),
                ("ref", self.ref),
            )
            if v is not None
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome for one package; the JSON report is built from these fields."""

    package: Package
    status: Status
    code: Code | None = None
    reason: str | None = None
    rekor_log_index: int | None = None
    issuer: str | None = None
    identity: str | None = None  # the certificate SAN
    repository: str | None = None  # source repository from Fulcio's extensions
    workflow: str | None = None  # build workflow path from Fulcio's extensions
    matched_form: str | None = None  # "san", "sub-claim (rebuilt)", …
    policy: str | None = None
    evidence: str | None = None  # "rekor", "bundle", "rekor-search", "cache"
    warning: bool = False  # unsigned under "warn"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.package.name,
            "version": self.package.version,
            "source": self.package.source,
            "checksum": self.package.checksum,
            "status": str(self.status),
        }
        if self.status is not Status.VERIFIED:
            out["reason"] = self.reason
            out["code"] = str(self.code) if self.code else None
        optional = (
            ("rekor_log_index", self.rekor_log_index),
            ("issuer", self.issuer),
            ("identity", self.identity),
            ("repository", self.repository),
            ("workflow", self.workflow),
            ("matched_form", self.matched_form),
            ("policy", self.policy),
            ("evidence", self.evidence),
        )
        out.update((key, value) for key, value in optional if value is not None)
        if self.package.line is not None:
            out["line"] = self.package.line
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Report:
    """All verdicts of one run, in lockfile order."""

    verdicts: tuple[Verdict, ...]
    lockfile: str | None = None  # path of the lockfile that was checked
    infra_errors: tuple[str, ...] = ()  # failures that prevented any verdict

    def count(self, status: Status) -> int:
        return sum(1 for v in self.verdicts if v.status is status)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "total": len(self.verdicts),
            "verified": self.count(Status.VERIFIED),
            "failed": self.count(Status.FAILED),
            "unsigned": self.count(Status.UNSIGNED),
            "skipped": self.count(Status.SKIPPED),
            "infrastructure_errors": sum(1 for v in self.verdicts if v.code is Code.INFRA),
        }

    @property
    def exit_code(self) -> int:
        """0 all good, 1 a package failed, 3 infrastructure prevented a verdict."""
        if any(v.status is Status.FAILED and v.code is not Code.INFRA for v in self.verdicts):
            return 1
        if self.infra_errors or any(v.code is Code.INFRA for v in self.verdicts):
            return 3
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "lockfile": self.lockfile,
            "packages": [v.to_json() for v in self.verdicts],
            "summary": self.summary,
        }
