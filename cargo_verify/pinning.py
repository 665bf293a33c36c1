"""Identity pinning: remember who signed each crate and refuse a silent change of signer.

The default policy accepts any valid signature; that stops tampering in transit but not a
new version published from another repository or account. `apply_pins` is a pure step over a
finished Report: for every verified package it compares the signer with the one the record
(`pin_record.py`, `cargo-verify-pins.toml`) pinned for the crate, and for every unsigned
package of a crate that was signed before it reports a downgrade. What is pinned stays the
same across normal releases (issuer, repository, workflow file; never the ref or tag), is per
crate (not per major, so pre-releases compare like any version) and ignores the evidence kind
(Rekor entry, message bundle and DSSE bundle carry the same certificate).

A change passes only when approved: `--accept-identity NAME`, or an explicit trust entry that
names a repository, workflow or subject and that the new signer satisfied. The updated record
returned carries the approval (who, when, what, how); writing it is the caller's choice.
"""

from __future__ import annotations

import dataclasses
import getpass
import subprocess
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from cargo_verify.config import crate_key
from cargo_verify.model import Code, Report, Status, TrustRule, Verdict
from cargo_verify.pin_record import (
    RECORD_FILE_NAME,
    Approval,
    CratePin,
    Era,
    PinRecord,
    SignerPin,
    read_record,
    record_path_for,
    sort_versions,
    version_order,
    write_record,
)

__all__ = [
    "RECORD_FILE_NAME",
    "PinOutcome",
    "PinState",
    "apply_pins",
    "check_pins",
    "default_approver",
    "record_path_for",
]

ACCEPT_VIA = "--accept-identity"


class PinState:
    """The JSON `pin` field, set on verdicts that pinning failed or approved (verdicts it
    merely confirmed or learned from are left as they were)."""

    ACCEPTED = "accepted"  # a change approved in this run
    CHANGED = "changed"  # refused: another signer
    DOWNGRADE = "signed-then-unsigned"  # refused: unsigned after signed


def default_approver(directory: Path | None = None) -> str:
    """Who approves: git's author identity (name <email>), else the login name."""
    try:
        done = subprocess.run(
            ["git", "var", "GIT_AUTHOR_IDENT"], cwd=directory, capture_output=True,
            text=True, timeout=10, check=False,
        )
        if done.returncode == 0 and ">" in done.stdout:
            return done.stdout.rsplit(">", 1)[0].strip() + ">"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _tag(verdict: Verdict, state: str, pinned: SignerPin | None = None) -> Verdict:
    extra: dict[str, object] = {**verdict.extra, "pin": state}
    if pinned is not None:
        extra["pinned_identity"] = pinned.trust_entry()
    return dataclasses.replace(verdict, extra=extra)


def _versions(era: Era) -> str:
    return ", ".join(era.versions) if era.versions else "no version yet"


class _Judge:
    def __init__(
        self,
        record: PinRecord,
        accepted: Collection[str],
        rule_for: Callable[[str], TrustRule] | None,
        today: date,
        approver: Callable[[], str],
    ) -> None:
        self.crates = dict(record.crates)
        self.accepted = {crate_key(name) for name in accepted}
        self.rule_for = rule_for
        self.today = today
        self._approver = approver
        self._by: str | None = None

    def by(self) -> str:
        if self._by is None:
            self._by = self._approver()
        return self._by

    def judge(self, verdict: Verdict) -> Verdict:
        if verdict.status is Status.VERIFIED:
            return self.signed(verdict)
        if verdict.status is Status.UNSIGNED:
            return self.unsigned(verdict)
        return verdict

    def approval_via(self, verdict: Verdict, allow_trust_entry: bool) -> str | None:
        key = crate_key(verdict.package.name)
        if key in self.accepted:
            return ACCEPT_VIA
        if allow_trust_entry and self.rule_for is not None:
            rule = self.rule_for(verdict.package.name)
            if not rule.is_default and (rule.repository or rule.workflow or rule.subject):
                return f"trust entry {rule.origin}"
        return None

    def signed(self, verdict: Verdict) -> Verdict:
        found = SignerPin.from_verdict(verdict)
        if found is None:
            return verdict
        name, version = verdict.package.name, verdict.package.version
        key = crate_key(name)
        pin = self.crates.get(key)
        if pin is None:
            self.crates[key] = CratePin(name, Era(found, self.today, (version,)))
            return verdict
        expected = pin.era_of(version) or pin.current
        if expected.signer.matches(found):
            if expected is pin.current:
                self.crates[key] = dataclasses.replace(pin, current=pin.current.with_version(
                    version))
            return verdict
        via = self.approval_via(verdict, allow_trust_entry=True)
        if via is None:
            return _tag(dataclasses.replace(
                verdict, status=Status.FAILED, code=Code.IDENTITY_CHANGED, reason=(
                    f"{name}@{version}: signed by {found.describe()}, but {RECORD_FILE_NAME} "
                    f"pins {expected.signer.describe()} (versions {_versions(expected)}; "
                    f"first seen {expected.first_seen.isoformat()}). If the crate really "
                    f"moved, approve it with `--accept-identity {name}`"
                )), PinState.CHANGED, expected.signer)
        approval = Approval(self.today, self.by(), version, pin.current.signer.describe(),
                            found.describe(), via)
        self.crates[key] = dataclasses.replace(
            pin, current=Era(found, self.today, (version,)),
            previous=(*pin.previous, pin.current), approvals=(*pin.approvals, approval),
        )
        return _tag(verdict, PinState.ACCEPTED)

    def unsigned(self, verdict: Verdict) -> Verdict:
        name, version = verdict.package.name, verdict.package.version
        key = crate_key(name)
        pin = self.crates.get(key)
        if pin is None or version in pin.accepted_unsigned or _predates_signing(pin, version):
            return verdict
        via = self.approval_via(verdict, allow_trust_entry=False)
        if via is None:
            return _tag(dataclasses.replace(
                verdict, status=Status.FAILED, code=Code.SIGNED_THEN_UNSIGNED, warning=False,
                reason=(
                    f"{name}@{version} has no Sigstore evidence, but {RECORD_FILE_NAME} records "
                    f"it signed by {pin.current.signer.describe()} (versions "
                    f"{_versions(pin.current)}): a crate that was signed is refused unsigned "
                    f"whatever `unsigned` says. If that is expected, approve it with "
                    f"`--accept-identity {name}`"
                )), PinState.DOWNGRADE, pin.current.signer)
        approval = Approval(self.today, self.by(), version, pin.current.signer.describe(),
                            "unsigned", via)
        self.crates[key] = dataclasses.replace(
            pin, accepted_unsigned=sort_versions((*pin.accepted_unsigned, version)),
            approvals=(*pin.approvals, approval),
        )
        return _tag(verdict, PinState.ACCEPTED)


def _predates_signing(pin: CratePin, version: str) -> bool:
    """An unsigned version older than every signed one is from before the crate signed."""
    signed = pin.signed_versions()
    return bool(signed) and version_order(version) < min(version_order(v) for v in signed)


def apply_pins(
    report: Report,
    record: PinRecord,
    accepted: Collection[str] = (),
    *,
    rule_for: Callable[[str], TrustRule] | None = None,
    today: date | None = None,
    approver: Callable[[], str] | None = None,
) -> tuple[Report, PinRecord]:
    """Check every verdict against the record; return the report and the updated record.

    Verdicts keep their lockfile order; a crate's versions are judged oldest first, so a
    lockfile holding an old and a new version of a crate pins the old signer and flags the
    new one. `accepted` holds crate names whose change the user approves; `rule_for` gives
    each crate's trust rule (an explicit rule naming the new signer approves too).
    """
    judge = _Judge(record, accepted, rule_for, today or datetime.now(UTC).date(),
                   approver or default_approver)
    verdicts = list(report.verdicts)
    order = sorted(range(len(verdicts)), key=lambda i: (
        crate_key(verdicts[i].package.name), version_order(verdicts[i].package.version)))
    for i in order:
        verdicts[i] = judge.judge(verdicts[i])
    return dataclasses.replace(report, verdicts=tuple(verdicts)), PinRecord(judge.crates)


@dataclass(frozen=True)
class PinOutcome:
    """The report after pinning, and the record before and after (None: no record)."""

    report: Report
    path: Path
    before: PinRecord | None
    after: PinRecord | None
    unused_accepts: tuple[str, ...] = ()  # --accept-identity names with nothing to approve

    @property
    def changed(self) -> bool:
        return self.after is not None and self.after != self.before

    def count(self, state: str) -> int:
        return sum(1 for v in self.report.verdicts if v.extra.get("pin") == state)

    @property
    def learned(self) -> tuple[str, ...]:
        """Crates the record did not know before this run."""
        if self.after is None:
            return ()
        known = self.before.crates if self.before is not None else {}
        return tuple(pin.name for key, pin in self.after.crates.items() if key not in known)

    def write(self) -> bool:
        """Write the updated record (atomically); True when the file changed."""
        if self.after is None or not self.changed:
            return False
        return write_record(self.path, self.after)


def check_pins(
    report: Report,
    path: Path,
    accepted: Collection[str] = (),
    *,
    rule_for: Callable[[str], TrustRule] | None = None,
    create: bool = False,
    today: date | None = None,
    approver: Callable[[], str] | None = None,
) -> PinOutcome:
    """Read the record at `path` and apply it; without a record, pin only when `create`."""
    before = read_record(path)
    if before is None and not create:
        return PinOutcome(report, path, None, None, tuple(accepted))
    judge_approver = approver or (lambda: default_approver(path.parent))
    new_report, after = apply_pins(report, before or PinRecord(), accepted,
                                   rule_for=rule_for, today=today, approver=judge_approver)
    approved = {crate_key(v.package.name) for v in new_report.verdicts
                if v.extra.get("pin") == PinState.ACCEPTED}
    unused = tuple(name for name in accepted if crate_key(name) not in approved)
    return PinOutcome(new_report, path, before, after, unused)
