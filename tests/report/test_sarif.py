"""`--format sarif`: valid SARIF 2.1.0 with what GitHub code scanning requires."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]  # no stubs in the test extras
import pytest

from cargo_verify.model import Code, Report, Status, Verdict
from cargo_verify.report.sarif import SarifReporter
from tests.report import (
    FOUND_SAN,
    LINES,
    LOCKFILE_TEXT,
    POLICY,
    WANTED_SUBJECT,
    package,
    sample_report,
    verdicts,
    write_lockfile,
)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def render(report: Report, root: Path | None) -> dict[str, Any]:
    text = SarifReporter(root=root, tool_version="9.8.7").render(report)
    assert text.endswith("}\n")
    document: dict[str, Any] = json.loads(text)
    return document


def test_schema_file_is_the_official_one(validator: jsonschema.protocols.Validator) -> None:
    assert validator.schema["id"] == (
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    )
    # The validator has teeth: a log without runs, a result without a message.
    assert not validator.is_valid({"version": "2.1.0"})
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{}]}]}
    assert not validator.is_valid(broken)


def test_sarif_validates_against_the_schema(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    document = render(sample_report(write_lockfile(tmp_path)), tmp_path)

    validator.validate(document)
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-schema-2.1.0.json")
    assert len(document["runs"]) == 1


def test_driver_and_rules_carry_what_github_requires(tmp_path: Path) -> None:
    run = render(sample_report(write_lockfile(tmp_path)), tmp_path)["runs"][0]
    driver = run["tool"]["driver"]

    assert driver["name"] == "cargo-verify"
    assert driver["version"] == "9.8.7"
    assert urlsplit(driver["informationUri"]).scheme == "https"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == [str(code) for code in Code]
    for rule, code in zip(driver["rules"], Code, strict=True):
        assert rule["shortDescription"]["text"] == code.description
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"note", "warning", "error"}
        help_uri = urlsplit(rule["helpUri"])
        assert help_uri.scheme == "https" and help_uri.netloc
        assert help_uri.path.endswith("/README.md")
        assert help_uri.fragment == f"code-{code}"
    levels = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in driver["rules"]}
    assert levels["unsigned"] == "warning"
    assert levels["signature-invalid"] == "error"


def test_results_are_the_failures_and_the_unsigned_warning(tmp_path: Path) -> None:
    run = render(sample_report(write_lockfile(tmp_path)), tmp_path)["runs"][0]
    results = run["results"]
    rules = run["tool"]["driver"]["rules"]

    summary = [(r["ruleId"], r["level"], r["properties"]["package"]) for r in results]
    assert summary == [
        ("signature-invalid", "error", "bad-sig"),
        ("unsigned", "warning", "no-sig"),
        ("identity-mismatch", "error", "wrong-signer"),
    ]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        assert result["partialFingerprints"]["primaryLocationLineHash"]
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_locations_point_at_the_package_header(tmp_path: Path) -> None:
    run = render(sample_report(write_lockfile(tmp_path)), tmp_path)["runs"][0]
    lockfile_lines = LOCKFILE_TEXT.splitlines()

    for result in run["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "rust/Cargo.lock", "uriBaseId": "%SRCROOT%"}
        region = physical["region"]
        line = region["startLine"]
        assert line == LINES[result["properties"]["package"]]
        assert region["endLine"] == line
        header = lockfile_lines[line - 1]
        assert header[region["startColumn"] - 1 : region["endColumn"] - 1] == "[[package]]"
        assert lockfile_lines[line] == f'name = "{result["properties"]["package"]}"'
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"


def test_message_names_package_expected_and_found(tmp_path: Path) -> None:
    results = render(sample_report(write_lockfile(tmp_path)), tmp_path)["runs"][0]["results"]
    texts = {r["properties"]["package"]: r["message"]["text"] for r in results}

    assert texts["wrong-signer"].startswith("wrong-signer 2.0.0: ")
    assert f"expected {WANTED_SUBJECT}" in texts["wrong-signer"]
    assert f"expected {POLICY}" in texts["wrong-signer"]
    assert f"found {FOUND_SAN}" in texts["wrong-signer"]
    assert texts["bad-sig"].startswith("bad-sig 1.2.3: Sigstore verification failed")
    assert texts["no-sig"].startswith("no-sig 0.3.1: ")


def test_fingerprints_follow_the_package_not_the_line(tmp_path: Path) -> None:
    lockfile = write_lockfile(tmp_path)
    moved = tuple(
        replace(v, package=replace(v.package, line=100 + i)) for i, v in enumerate(verdicts())
    )
    bumped = tuple(
        replace(v, package=replace(v.package, version=v.package.version + "-1")) for v in verdicts()
    )

    def prints(report: Report) -> list[dict[str, str]]:
        return [r["partialFingerprints"] for r in render(report, tmp_path)["runs"][0]["results"]]

    original = prints(sample_report(lockfile))
    assert prints(sample_report(lockfile)) == original
    assert prints(Report(verdicts=moved, lockfile=str(lockfile))) == original
    bumped_prints = prints(Report(verdicts=bumped, lockfile=str(lockfile)))
    assert all(a != b for a, b in zip(original, bumped_prints, strict=True))
    assert len({p["primaryLocationLineHash"] for p in original}) == len(original)


def test_fingerprint_depends_on_the_code(tmp_path: Path) -> None:
    failed = Verdict(package("bad-sig", "1.2.3"), Status.FAILED, Code.SIGNATURE_INVALID, "x")
    other = replace(failed, code=Code.EVIDENCE_INVALID)

    def fingerprint(verdict: Verdict) -> str:
        run = render(Report(verdicts=(verdict,), lockfile="Cargo.lock"), None)["runs"][0]
        value: str = run["results"][0]["partialFingerprints"]["primaryLocationLineHash"]
        return value

    assert fingerprint(failed) != fingerprint(other)


def test_infrastructure_errors_mark_the_run_unsuccessful(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    report = sample_report(write_lockfile(tmp_path), infra_errors=("rekor: 503 after 3 tries",))
    document = render(report, tmp_path)

    validator.validate(document)
    (invocation,) = document["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == [
        {"level": "error", "message": {"text": "rekor: 503 after 3 tries"}}
    ]


def test_lockfile_outside_root_gets_an_absolute_uri(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    lockfile = write_lockfile(tmp_path / "elsewhere")
    document = render(sample_report(lockfile), tmp_path / "repo")

    validator.validate(document)
    artifact = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert artifact["artifactLocation"] == {"uri": lockfile.resolve().as_uri()}


def test_relative_uri_is_percent_encoded(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    lockfile = write_lockfile(tmp_path, "my crates/Cargo.lock")
    document = render(sample_report(lockfile), tmp_path)

    validator.validate(document)
    location = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "my%20crates/Cargo.lock"


def test_without_root_or_lines_the_log_is_still_valid(
    validator: jsonschema.protocols.Validator,
) -> None:
    document = render(Report(verdicts=verdicts(with_lines=False)), None)

    validator.validate(document)
    run = document["runs"][0]
    assert "originalUriBaseIds" not in run
    location = run["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "Cargo.lock", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 1


def test_all_verified_gives_an_empty_result_list(
    validator: jsonschema.protocols.Validator,
) -> None:
    verified = tuple(v for v in verdicts() if v.status is Status.VERIFIED)
    document = render(Report(verdicts=verified, lockfile="Cargo.lock"), None)

    validator.validate(document)
    assert document["runs"][0]["results"] == []


def test_a_failure_without_a_code_gets_its_own_rule(
    validator: jsonschema.protocols.Validator,
) -> None:
    odd = Verdict(package("bad-sig", "1.2.3"), Status.FAILED, None, "something broke")
    run = render(Report(verdicts=(odd,), lockfile="Cargo.lock"), None)["runs"][0]

    validator.validate({"version": "2.1.0", "runs": [run]})
    (result,) = run["results"]
    assert result["ruleId"] == "unclassified"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "unclassified"
