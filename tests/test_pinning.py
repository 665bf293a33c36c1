"""Identity pinning as a pure step over a Report, and the record's file format."""

from __future__ import annotations

from datetime import date

import pytest

from cargo_verify.errors import ConfigError
from cargo_verify.model import Code, Package, Report, Status, TrustRule, Verdict
from cargo_verify.pin_record import (
    CratePin,
    Era,
    PinRecord,
    SignerPin,
    parse_record,
    stable_subject,
)
from cargo_verify.pinning import PinState, apply_pins

GITHUB = "https://token.actions.githubusercontent.com"
DAY1 = date(2026, 1, 15)
DAY2 = date(2026, 2, 1)
SOURCE = "sparse+https://crates.example/index/"


def signed(name: str, version: str, repository: str, *, workflow: str = "release.yml",
           ref: str | None = None, evidence: str = "rekor") -> Verdict:
    ref = ref or f"refs/tags/v{version}"
    san = f"https://github.com/{repository}/.github/workflows/{workflow}@{ref}"
    return Verdict(
        Package(name, version, SOURCE, "0" * 64), Status.VERIFIED, issuer=GITHUB, identity=san,
        repository=repository, workflow=f".github/workflows/{workflow}", evidence=evidence,
        rekor_log_index=1, policy="any OIDC subject (default)",
    )


def unsigned(name: str, version: str) -> Verdict:
    return Verdict(Package(name, version, SOURCE, "0" * 64), Status.UNSIGNED, code=Code.UNSIGNED,
                   reason=f"{name}@{version} has no Sigstore evidence", warning=True)


def run(verdicts: list[Verdict], record: PinRecord | None = None,
        accepted: tuple[str, ...] = (), today: date = DAY1,
        rule_for: dict[str, TrustRule] | None = None) -> tuple[Report, PinRecord]:
    rules = rule_for or {}
    return apply_pins(
        Report(tuple(verdicts)), record or PinRecord(), accepted, today=today,
        approver=lambda: "Alice <alice@example.com>",
        rule_for=lambda name: rules.get(name, TrustRule()),
    )


def learned(verdicts: list[Verdict]) -> PinRecord:
    return run(verdicts)[1]


# -- what is pinned ------------------------------------------------------------------------


def test_github_signer_pins_repository_and_workflow_not_the_ref() -> None:
    pin = SignerPin.from_verdict(signed("a", "1.0.0", "example/a"))
    assert pin == SignerPin(GITHUB, repository="example/a",
                            workflow=".github/workflows/release.yml")


def test_other_identities_pin_the_san_without_its_ref() -> None:
    assert stable_subject("https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1") == (
        "https://gitlab.com/g/p//.gitlab-ci.yml@*"
    )
    assert stable_subject("alice@example.com") == "alice@example.com"
    assert stable_subject("spiffe://example.org/builder") == "spiffe://example.org/builder"
    verdict = Verdict(Package("a", "1.0.0", SOURCE, None), Status.VERIFIED,
                      issuer="https://accounts.example", identity="alice@example.com")
    assert SignerPin.from_verdict(verdict) == SignerPin("https://accounts.example",
                                                        subject="alice@example.com")


# -- normal releases never trip the pin -----------------------------------------------------


def test_first_signed_version_is_learned() -> None:
    report, record = run([signed("a", "0.1.0", "example/a")])
    assert report.exit_code == 0
    assert "pin" not in report.verdicts[0].extra  # nothing notable for the report
    pin = record.get("a")
    assert pin is not None
    assert pin.current == Era(SignerPin(GITHUB, "example/a", ".github/workflows/release.yml"),
                              DAY1, ("0.1.0",))


def test_new_release_new_tag_new_evidence_kind_and_prerelease_of_next_major_pass() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    report, after = run([
        signed("a", "0.2.0", "example/a", evidence="bundle"),
        signed("a", "1.0.0-beta.1", "example/a", ref="refs/heads/main", evidence="rekor-search"),
        signed("a", "0.1.0", "EXAMPLE/A", evidence="cache"),  # GitHub names ignore case
    ], record, today=DAY2)
    assert report.exit_code == 0
    assert all(v.status is Status.VERIFIED and "pin" not in v.extra for v in report.verdicts)
    pin = after.get("a")
    assert pin is not None
    assert pin.current.versions == ("0.1.0", "0.2.0", "1.0.0-beta.1")  # SemVer order
    assert pin.current.first_seen == DAY1
    assert pin.previous == () and pin.approvals == ()


def test_certificate_without_workflow_extension_is_not_a_change() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    old_style = Verdict(Package("a", "0.0.9", SOURCE, None), Status.VERIFIED, issuer=GITHUB,
                        identity="https://github.com/example/a/.github/workflows/release.yml@v",
                        repository="example/a", workflow=None)
    report, _ = run([old_style], record)
    assert report.exit_code == 0


# -- a change of signer --------------------------------------------------------------------


def test_other_repository_fails_naming_both_identities() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    report, after = run([signed("a", "0.2.0", "someone-else/a")], record)
    (verdict,) = report.verdicts
    assert report.exit_code == 1
    assert verdict.status is Status.FAILED and verdict.code is Code.IDENTITY_CHANGED
    assert verdict.extra["pin"] == PinState.CHANGED
    assert verdict.reason is not None
    assert "someone-else/a" in verdict.reason and "example/a" in verdict.reason
    assert "--accept-identity a" in verdict.reason
    assert after == record  # a refused change teaches the record nothing


def test_other_workflow_or_issuer_is_a_change() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    report, _ = run([signed("a", "0.2.0", "example/a", workflow="other.yml")], record)
    assert report.verdicts[0].code is Code.IDENTITY_CHANGED
    gitlab = Verdict(Package("a", "0.2.0", SOURCE, None), Status.VERIFIED,
                     issuer="https://gitlab.com", identity="https://gitlab.com/example/a//x@v1")
    report, _ = run([gitlab], record)
    assert report.verdicts[0].code is Code.IDENTITY_CHANGED


def test_accepted_change_moves_the_pin_and_records_who_approved_it() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    report, after = run([signed("a", "0.2.0", "someone-else/a")], record, accepted=("a",),
                        today=DAY2)
    assert report.exit_code == 0
    assert report.verdicts[0].extra["pin"] == PinState.ACCEPTED
    pin = after.get("a")
    assert pin is not None
    assert pin.current.signer.repository == "someone-else/a"
    assert pin.current.versions == ("0.2.0",) and pin.current.first_seen == DAY2
    assert [era.signer.repository for era in pin.previous] == ["example/a"]
    (approval,) = pin.approvals
    assert approval.by == "Alice <alice@example.com>" and approval.via == "--accept-identity"
    assert approval.version == "0.2.0" and approval.date == DAY2
    assert "example/a" in approval.previous and "someone-else/a" in approval.new
    # Afterwards both the old version (old signer) and the new one (new signer) pass.
    report, again = run([signed("a", "0.1.0", "example/a"), signed("a", "0.2.0", "someone-else/a")],
                        after)
    assert report.exit_code == 0 and again == after


def test_same_version_with_another_signer_is_a_change_even_after_a_move() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    _, moved = run([signed("a", "0.2.0", "b/a")], record, accepted=("a",))
    report, _ = run([signed("a", "0.1.0", "b/a")], moved)  # 0.1.0 was signed by example/a
    assert report.verdicts[0].code is Code.IDENTITY_CHANGED


def test_lockfile_with_two_signers_on_first_use_pins_the_older_and_flags_the_newer() -> None:
    report, record = run([signed("a", "2.0.0", "b/a"), signed("a", "1.0.0", "example/a")])
    assert [v.extra.get("pin") for v in report.verdicts] == [PinState.CHANGED, None]
    pin = record.get("a")
    assert pin is not None and pin.current.signer.repository == "example/a"


def test_explicit_trust_entry_naming_the_new_signer_approves_the_change() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    rule = TrustRule(issuer=GITHUB, repository="someone-else/a", origin="mochi.toml:4")
    report, after = run([signed("a", "0.2.0", "someone-else/a")], record,
                        rule_for={"a": rule})
    assert report.exit_code == 0
    pin = after.get("a")
    assert pin is not None and pin.approvals[0].via == "trust entry mochi.toml:4"
    # An issuer-only entry says nothing about which repository: it approves nothing.
    report, _ = run([signed("a", "0.2.0", "someone-else/a")], record,
                    rule_for={"a": TrustRule(issuer=GITHUB, origin="mochi.toml:4")})
    assert report.exit_code == 1


# -- signed, then unsigned -------------------------------------------------------------------


def test_unsigned_after_signed_fails_even_when_unsigned_is_allowed() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    report, _ = run([unsigned("a", "0.2.0")], record)
    (verdict,) = report.verdicts
    assert verdict.status is Status.FAILED and verdict.code is Code.SIGNED_THEN_UNSIGNED
    assert verdict.warning is False and report.exit_code == 1
    assert verdict.reason is not None and "example/a" in verdict.reason


def test_unsigned_versions_from_before_the_crate_signed_are_not_a_downgrade() -> None:
    record = learned([signed("a", "0.2.0", "example/a")])
    report, _ = run([unsigned("a", "0.1.0"), unsigned("never-signed", "1.0.0")], record)
    assert [v.status for v in report.verdicts] == [Status.UNSIGNED, Status.UNSIGNED]


def test_accepted_unsigned_version_is_remembered() -> None:
    record = learned([signed("a", "0.1.0", "example/a")])
    report, after = run([unsigned("a", "0.2.0")], record, accepted=("a",))
    assert report.verdicts[0].status is Status.UNSIGNED
    pin = after.get("a")
    assert pin is not None and pin.accepted_unsigned == ("0.2.0",)
    assert pin.approvals[0].new == "unsigned"
    report, _ = run([unsigned("a", "0.2.0")], after)
    assert report.exit_code == 0


def test_other_verdicts_pass_through_untouched() -> None:
    failed = Verdict(Package("a", "0.2.0", SOURCE, None), Status.FAILED,
                     code=Code.SIGNATURE_INVALID, reason="bad")
    skipped = Verdict(Package("b", "0.1.0", None, None), Status.SKIPPED, code=Code.PATH_SOURCE)
    record = learned([signed("a", "0.1.0", "example/a")])
    report, after = run([failed, skipped], record)
    assert report.verdicts == (failed, skipped) and after == record


# -- the file ----------------------------------------------------------------------------------


def moved_record() -> PinRecord:
    record = learned([signed("zeta", "1.0.0", "z/zeta"), signed("alpha_x", "0.3.0", "a/alpha"),
                      signed("alpha_x", "0.10.0", "a/alpha")])
    return run([signed("zeta", "2.0.0", "other/zeta"), unsigned("zeta", "2.1.0")], record,
               accepted=("zeta",), today=DAY2)[1]


def test_record_round_trips_sorted_with_every_line_naming_its_crate() -> None:
    record = moved_record()
    text = record.render()
    assert parse_record(text, "pins.toml") == record
    body = text.split("[crates]\n", 1)[1]
    assert body.index("alpha_x.") < body.index("zeta.")
    assert 'alpha_x.versions = ["0.3.0", "0.10.0"]' in body  # SemVer order
    for line in body.splitlines():
        assert line == "" or line.startswith(("alpha_x.", "zeta.")), line
    assert "\n\nzeta.issuer" in body  # a blank line between crates
    assert "zeta.previous.1.repository = \"z/zeta\"" in body
    assert 'zeta.approvals.1.by = "Alice <alice@example.com>"' in body
    assert "alpha_x.first-seen = 2026-01-15" in body


def test_any_line_wise_union_of_two_records_is_a_record() -> None:
    base = learned([signed("m", "1.0.0", "o/m")]).render()
    ours = learned([signed("m", "1.0.0", "o/m"), signed("a", "1.0.0", "o/x")]).render()
    theirs = learned([signed("m", "1.0.0", "o/m"), signed("b", "2.0.0", "o/x")]).render()
    # What git's union merge does when both insert at the same place: ours' new lines, then
    # theirs', a shared trailing blank line kept once.
    new_ours = [line for line in ours.splitlines() if line not in base.splitlines()]
    new_theirs = [line for line in theirs.splitlines() if line not in base.splitlines()]
    merged = base.replace("[crates]\n", "[crates]\n" + "\n".join(new_ours + new_theirs) + "\n")
    record = parse_record(merged, "merged")
    assert sorted(record.crates) == ["a", "b", "m"]
    b = record.get("b")
    assert b is not None and b.current.versions == ("2.0.0",)


def test_same_crate_changed_on_two_branches_is_a_loud_error_after_a_union_merge() -> None:
    record = learned([signed("a", "1.0.0", "o/a")])
    one = run([signed("a", "1.1.0", "o/a")], record)[1].render()
    two = run([signed("a", "1.2.0", "o/a")], record)[1].render()
    versions_two = next(line for line in two.splitlines() if line.startswith("a.versions"))
    merged = one.replace("a.versions", versions_two + "\na.versions")
    with pytest.raises(ConfigError) as caught:
        parse_record(merged, "pins.toml")
    assert "run `cargo-verify pin`" in caught.value.message


def test_record_tolerates_duplicate_versions_and_unsorted_crates() -> None:
    text = """version = 1

[crates]
b.issuer = "https://token.actions.githubusercontent.com"
b.repository = "o/b"
b.first-seen = 2026-01-15
b.versions = ["1.0.0", "1.0.0"]

a.issuer = "https://token.actions.githubusercontent.com"
a.subject = "alice@example.com"
a.first-seen = 2026-01-15
a.versions = []
"""
    record = parse_record(text, "pins.toml")
    b = record.get("b")
    assert b is not None and b.current.versions == ("1.0.0",)
    assert record.render().index("\na.issuer") < record.render().index("\nb.issuer")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("version = 2\n", "upgrade cargo-verify", 1),
        ("version = 1\n[crates]\na.issuer = \"x\"\na.repo = \"o/a\"\n", "unknown key `repo`", 4),
        ("version = 1\n[crates]\na.issuer = \"x\"\na.repository = \"o/a\"\n"
         "a.first-seen = \"2026-01-01\"\n", "must be a date", 5),
        ("version = 1\n[crates]\na.issuer = \"x\"\na.first-seen = 2026-01-01\n",
         "exactly one of `repository` and `subject`", 3),
        ("version = 1\n[crates]\na_b.issuer = \"x\"\na_b.subject = \"s\"\n"
         "a_b.first-seen = 2026-01-01\n\nA-b.issuer = \"x\"\nA-b.subject = \"s\"\n"
         "A-b.first-seen = 2026-01-01\n", "pinned twice", 7),
        ("version = 1\n[crates]\na.issuer = \"x\"\na.subject = \"s\"\n"
         "a.first-seen = 2026-01-01\na.previous.x.issuer = \"x\"\n", "numbered 1, 2", 6),
        ("version = 1\n<<<<<<< HEAD\n", "invalid TOML", 2),
    ],
)
def test_malformed_record_is_a_config_error_with_its_line(text: str, message: str,
                                                          line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_record(text, "cargo-verify-pins.toml")
    assert message in caught.value.message
    assert caught.value.line == line


def test_crate_names_match_the_way_crates_io_compares_them() -> None:
    record = PinRecord({"foo-bar": CratePin("Foo_Bar", Era(SignerPin(GITHUB, "o/f"), DAY1))})
    report, _ = run([signed("foo-bar", "1.0.0", "evil/f")], record)
    assert report.verdicts[0].code is Code.IDENTITY_CHANGED
