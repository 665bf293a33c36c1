"""`--format github`: workflow commands line by line, escaping, and the step summary."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cargo_verify.model import Report, Status
from cargo_verify.report.github import (
    GithubReporter,
    escape_data,
    escape_property,
    step_summary,
    workflow_command,
)
from tests.report import (
    FOUND_SAN,
    LINES,
    LOCKFILE_TEXT,
    POLICY,
    WRONG_SIGNER_REASON,
    sample_report,
    verdicts,
    write_lockfile,
)

# The inverse of GitHub's escaping, decoded in one pass as the runner does.
_ESCAPES = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def unescape(text: str) -> str:
    return re.sub("%(25|0D|0A|3A|2C)", lambda m: _ESCAPES[m.group(0)], text)


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """`::name k=v,k=v::message` → (name, properties, message), all unescaped."""
    match = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line)
    assert match is not None, line
    name, raw_properties, message = match.groups()
    properties = {}
    for pair in (raw_properties or "").split(","):
        if pair:
            key, _, value = pair.partition("=")
            properties[key] = unescape(value)
    return name, properties, unescape(message)


def test_two_failures_and_one_warning_line_by_line(tmp_path: Path) -> None:
    output = GithubReporter(root=tmp_path).render(sample_report(write_lockfile(tmp_path)))

    assert output.splitlines() == [
        "::error file=rust/Cargo.lock,line=16,"
        "title=cargo-verify signature-invalid%3A bad-sig 1.2.3::"
        "bad-sig 1.2.3: Sigstore verification failed: 100%25 invalid, see log%0D%0Aline two",
        "::warning file=rust/Cargo.lock,line=22,"
        "title=cargo-verify unsigned%3A no-sig 0.3.1::"
        "no-sig 0.3.1: no Sigstore evidence in the index, no bundle",
        "::error file=rust/Cargo.lock,line=40,"
        "title=cargo-verify identity-mismatch%3A wrong-signer 2.0.0::"
        f"wrong-signer 2.0.0: {WRONG_SIGNER_REASON}; expected {POLICY}; found {FOUND_SAN}",
    ]
    assert output.endswith("\n")


def test_commands_point_at_the_named_package_header(tmp_path: Path) -> None:
    output = GithubReporter(root=tmp_path).render(sample_report(write_lockfile(tmp_path)))
    lockfile_lines = (tmp_path / "rust" / "Cargo.lock").read_text().splitlines()

    seen = []
    for line in output.splitlines():
        name, properties, message = parse_command(line)
        assert name in {"error", "warning"}
        number = int(properties["line"])
        package = message.split(" ", 1)[0]
        assert (tmp_path / properties["file"]).is_file()
        assert lockfile_lines[number - 1] == "[[package]]"
        assert lockfile_lines[number] == f'name = "{package}"'
        assert number == LINES[package]
        seen.append(package)
    assert seen == ["bad-sig", "no-sig", "wrong-signer"]
    assert LOCKFILE_TEXT.splitlines() == lockfile_lines


def test_nothing_to_say_when_all_is_well() -> None:
    quiet = tuple(v for v in verdicts() if v.status in (Status.VERIFIED, Status.SKIPPED))
    assert GithubReporter().render(Report(verdicts=quiet, lockfile="Cargo.lock")) == ""


def test_infrastructure_errors_become_file_less_errors() -> None:
    report = Report(verdicts=(), lockfile="Cargo.lock", infra_errors=("index: 503, retried",))
    assert GithubReporter().render(report) == (
        "::error title=cargo-verify%3A infrastructure error::index: 503, retried\n"
    )


def test_without_a_lockfile_path_no_file_or_line_is_claimed() -> None:
    output = GithubReporter().render(Report(verdicts=verdicts()))
    for line in output.splitlines():
        _, properties, _ = parse_command(line)
        assert set(properties) == {"title"}


def test_lockfile_path_is_kept_as_given_without_root() -> None:
    output = GithubReporter().render(Report(verdicts=verdicts(), lockfile="sub/Cargo.lock"))
    assert output.startswith("::error file=sub/Cargo.lock,line=16,")


def test_escaping_matches_the_actions_toolkit() -> None:
    assert escape_data("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad:e,f"
    assert escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"
    assert escape_data("%0A") == "%250A"
    assert workflow_command("notice", "hi", {"file": None, "line": None}) == "::notice::hi"
    assert workflow_command("error", "m", {"file": "a,b:c", "line": 3}) == (
        "::error file=a%2Cb%3Ac,line=3::m"
    )


@given(st.text())
def test_escaping_round_trips_and_stays_on_one_line(text: str) -> None:
    data, prop = escape_data(text), escape_property(text)

    assert unescape(data) == text
    assert unescape(prop) == text
    assert "\n" not in data and "\r" not in data
    assert not {"\n", "\r", ":", ","} & set(prop)


def test_step_summary_counts_and_table(tmp_path: Path) -> None:
    summary = step_summary(sample_report(write_lockfile(tmp_path)))
    lines = summary.splitlines()

    assert lines[0] == "## cargo-verify: failed"
    assert "**6 packages**: 1 verified, 2 failed, 2 unsigned, 1 skipped" in lines
    header = lines.index("| Package | Version | Status | Reason / identity |")
    rows = lines[header + 2 :]
    rows = rows[: rows.index("")] if "" in rows else rows
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == [
        "bad-sig",
        "wrong-signer",
        "no-sig",
        "quiet",
        "app",
        "serde",
    ]
    assert rows[0].startswith("| bad-sig | 1.2.3 | **failed** | `signature-invalid` ")
    assert rows[2].startswith("| no-sig | 0.3.1 | unsigned (warning) | `unsigned` ")
    assert rows[3].startswith("| quiet | 0.1.0 | unsigned | ")
    assert rows[5] == (
        "| serde | 1.0.200 | verified | "
        "https://github.com/serde-rs/serde/.github/workflows/release.yml@refs/tags/v1.0.200 |"
    )
    for row in rows:
        # Exactly five cell borders: escaped pipes inside reasons do not count.
        assert len(re.findall(r"(?<!\\)\|", row)) == 5, row
    assert summary.endswith("\n")


def test_step_summary_keeps_remote_text_inert() -> None:
    hostile = "<img src=x onerror=alert(1)> | *bold* `code`\n## heading"
    report = Report(verdicts=(replace(verdicts()[1], reason=hostile),))
    (row,) = [line for line in step_summary(report).splitlines() if line.startswith("| bad-sig")]

    assert re.search(r"(?<!\\)[<>]", row) is None
    assert "\\<img src=x onerror=alert(1)\\>" in row
    assert "\\| \\*bold\\* \\`code\\` ## heading |" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 5


def test_step_summary_reports_incomplete_runs() -> None:
    report = Report(verdicts=(), lockfile="Cargo.lock", infra_errors=("rekor unreachable",))
    summary = step_summary(report)

    assert summary.startswith("## cargo-verify: incomplete (infrastructure error)\n")
    assert "- rekor unreachable" in summary.splitlines()
    assert "| Package |" not in summary


def test_step_summary_passes_when_everything_verified() -> None:
    verified = tuple(v for v in verdicts() if v.status is Status.VERIFIED)
    assert step_summary(Report(verdicts=verified)).startswith("## cargo-verify: passed\n")
