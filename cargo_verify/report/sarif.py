"""`--format sarif`: SARIF 2.1.0 in the subset GitHub code scanning reads.

One rule per `Code` (all of them, so the rule set only changes with the tool), one
result per failed or warned verdict, located at the package's `[[package]]` line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cargo_verify.model import Code, Report, Verdict
from cargo_verify.report import finding_level, finding_message, lockfile_path

SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"
TOOL_NAME = "cargo-verify"
PROJECT_URL = "https://github.com/cargo-verify/cargo-verify"
README_URL = f"{PROJECT_URL}/blob/main/README.md"
SOURCE_ROOT_ID = "%SRCROOT%"
DEFAULT_LOCKFILE = "Cargo.lock"
# A finding without a code (a bug upstream) still needs a rule to point at.
UNCLASSIFIED_RULE_ID = "unclassified"
# Regions span the `[[package]]` header: columns 1..11, endColumn is exclusive.
_HEADER_END_COLUMN = len("[[package]]") + 1
_FINGERPRINT_KEY = "cargoVerifyFinding/v1"

_RULE_LEVELS: dict[Code, str] = {
    Code.UNSIGNED: "warning",
    Code.GIT_SOURCE: "note",
    Code.PATH_SOURCE: "note",
    Code.UNSUPPORTED_SOURCE: "note",
}
_SEVERITY_FOR_LEVEL = {"error": "error", "warning": "warning", "note": "recommendation"}


def help_uri(rule_id: str) -> str:
    """The README anchor that documents a code."""
    return f"{README_URL}#code-{rule_id}"


def fingerprint(verdict: Verdict) -> str:
    """Stable across runs and line moves: the same package, version and code."""
    package = verdict.package
    rule_id = str(verdict.code) if verdict.code else UNCLASSIFIED_RULE_ID
    material = "\0".join((package.name, package.version, rule_id))
    return hashlib.sha256(material.encode()).hexdigest()


class SarifReporter:
    """Renders a Report as one SARIF log with one run."""

    def __init__(self, *, root: Path | None = None, tool_version: str | None = None) -> None:
        self.root = root
        if tool_version is None:
            from cargo_verify import __version__

            tool_version = __version__
        self.tool_version = tool_version

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2) + "\n"

    def document(self, report: Report) -> dict[str, Any]:
        findings = [v for v in report.verdicts if finding_level(v) is not None]
        rules = [
            _rule(str(code), code.description, _RULE_LEVELS.get(code, "error")) for code in Code
        ]
        if any(v.code is None for v in findings):
            rules.append(
                _rule(
                    UNCLASSIFIED_RULE_ID, "A verification failure without a reason code.", "error"
                )
            )
        rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
        uri, base_id = self._artifact(report)
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": TOOL_NAME,
                    "version": self.tool_version,
                    "informationUri": PROJECT_URL,
                    "rules": rules,
                }
            },
        }
        if base_id is not None and self.root is not None:
            run["originalUriBaseIds"] = {base_id: {"uri": self.root.resolve().as_uri() + "/"}}
        run["invocations"] = [_invocation(report)]
        run["results"] = [_result(v, rule_index, uri, base_id) for v in findings]
        return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}

    def _artifact(self, report: Report) -> tuple[str, str | None]:
        """The lockfile's artifact URI and, when relative, the base it is relative to."""
        path = lockfile_path(report, self.root) or DEFAULT_LOCKFILE
        if Path(path).is_absolute():
            return Path(path).as_uri(), None
        return quote(path), SOURCE_ROOT_ID


def _rule(rule_id: str, description: str, level: str) -> dict[str, Any]:
    uri = help_uri(rule_id)
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": description},
        "fullDescription": {"text": description},
        "helpUri": uri,
        "help": {
            "text": f"{description} See {uri}",
            "markdown": f"{description}\n\nSee [`{rule_id}`]({uri}).",
        },
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["security", "supply-chain"],
            "precision": "very-high",
            "problem.severity": _SEVERITY_FOR_LEVEL[level],
        },
    }


def _invocation(report: Report) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not report.infra_errors}
    if report.infra_errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": error}} for error in report.infra_errors
        ]
    return invocation


def _result(
    verdict: Verdict, rule_index: dict[str, int], uri: str, base_id: str | None
) -> dict[str, Any]:
    package = verdict.package
    rule_id = str(verdict.code) if verdict.code else UNCLASSIFIED_RULE_ID
    digest = fingerprint(verdict)
    artifact: dict[str, Any] = {"uri": uri}
    if base_id is not None:
        artifact["uriBaseId"] = base_id
    # GitHub needs a line to show a result; without one, point at the top of the file.
    line = package.line if package.line is not None else 1
    return {
        "ruleId": rule_id,
        "ruleIndex": rule_index[rule_id],
        "level": finding_level(verdict),
        "message": {"text": finding_message(verdict)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": {
                        "startLine": line,
                        "startColumn": 1,
                        "endLine": line,
                        "endColumn": _HEADER_END_COLUMN,
                    },
                }
            }
        ],
        # GitHub matches alerts by primaryLocationLineHash only; deriving it from the
        # package rather than the line text keeps an alert stable when the lockfile shifts.
        "partialFingerprints": {
            "primaryLocationLineHash": f"{digest[:16]}:1",
            _FINGERPRINT_KEY: digest,
        },
        "properties": {
            "package": package.name,
            "version": package.version,
            "source": package.source,
            "status": str(verdict.status),
        },
    }
