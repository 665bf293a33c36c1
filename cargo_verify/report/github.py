"""`--format github`: workflow commands that annotate Cargo.lock, plus a job step summary.

Escaping follows @actions/core (`command.ts`): data escapes `%`, CR and LF; property
values additionally escape `:` and `,`. Escaping `%` first keeps the rest unambiguous,
and no escaped text can start a second command on a new line.
"""

from __future__ import annotations

from pathlib import Path

from cargo_verify.model import Report, Status, Verdict
from cargo_verify.report import finding_detail, finding_level, finding_message, lockfile_path

TITLE_PREFIX = "cargo-verify"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str, properties: dict[str, str | int | None]) -> str:
    """`::name key=value,...::message`, leaving out properties that have no value."""
    pairs = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    head = f"::{name} {pairs}" if pairs else f"::{name}"
    return f"{head}::{escape_data(message)}"


class GithubReporter:
    """One `::error` per failed package, one `::warning` per unsigned package under `warn`."""

    def __init__(self, *, root: Path | None = None) -> None:
        self.root = root

    def render(self, report: Report) -> str:
        file = lockfile_path(report, self.root)
        lines = [
            workflow_command("error", error, {"title": f"{TITLE_PREFIX}: infrastructure error"})
            for error in report.infra_errors
        ]
        for verdict in report.verdicts:
            level = finding_level(verdict)
            if level is None:
                continue
            code = str(verdict.code) if verdict.code else str(verdict.status)
            package = verdict.package
            properties: dict[str, str | int | None] = {
                "file": file,
                "line": package.line if file is not None else None,
                "title": f"{TITLE_PREFIX} {code}: {package.name} {package.version}",
            }
            lines.append(workflow_command(level, finding_message(verdict), properties))
        return "".join(line + "\n" for line in lines)


_STATUS_ORDER = {Status.FAILED: 0, Status.UNSIGNED: 1, Status.SKIPPED: 2, Status.VERIFIED: 3}


def step_summary(report: Report) -> str:
    """Markdown for `$GITHUB_STEP_SUMMARY`: outcome, counts, then one row per package.

    Problems come first so a long lockfile does not bury them.
    """
    counts = report.summary
    parts = [
        f"{counts['verified']} verified",
        f"{counts['failed']} failed",
        f"{counts['unsigned']} unsigned",
        f"{counts['skipped']} skipped",
    ]
    if counts["infrastructure_errors"]:
        parts.append(f"{counts['infrastructure_errors']} infrastructure errors")
    out = [f"## {TITLE_PREFIX}: {_outcome(report)}", ""]
    if report.lockfile is not None:
        out += [f"Lockfile: {_cell(report.lockfile)}", ""]
    out += [f"**{counts['total']} packages**: {', '.join(parts)}", ""]
    if report.infra_errors:
        out += ["Errors that prevented a verdict:", ""]
        out += [f"- {_cell(error)}" for error in report.infra_errors]
        out.append("")
    if report.verdicts:
        out += ["| Package | Version | Status | Reason / identity |", "| --- | --- | --- | --- |"]
        out += [_row(v) for v in sorted(report.verdicts, key=lambda v: _STATUS_ORDER[v.status])]
        out.append("")
    return "\n".join(out)


def _outcome(report: Report) -> str:
    match report.exit_code:
        case 0:
            return "passed"
        case 1:
            return "failed"
        case _:
            return "incomplete (infrastructure error)"


def _row(verdict: Verdict) -> str:
    package = verdict.package
    status = str(verdict.status)
    if verdict.status is Status.FAILED:
        status = f"**{status}**"
    elif verdict.warning:
        status += " (warning)"
    if verdict.status is Status.VERIFIED:
        detail = _cell(verdict.identity or "")
    else:
        code = f"`{verdict.code}` " if verdict.code else ""
        detail = code + _cell(finding_detail(verdict))
    return f"| {_cell(package.name)} | {_cell(package.version)} | {status} | {detail} |"


# Backslash-escaped so remote text (reasons, identities) renders as text, not markup or HTML.
_MARKDOWN_SPECIALS = frozenset("\\`*_[]<>|~&")


def _cell(text: str) -> str:
    """Text that stays inside one table cell (or list item) and renders literally."""
    flat = " ".join(text.splitlines())
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIALS else ch for ch in flat)
