"""`--format json`, plus the format dispatch and the import boundary of report/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cargo_verify.model import Report
from cargo_verify.report import Format, reporter_for
from cargo_verify.report.github import GithubReporter
from cargo_verify.report.json import JsonReporter
from cargo_verify.report.sarif import SarifReporter
from tests.report import LINES, LOCKFILE_TEXT, header_lines, sample_report, write_lockfile


def test_the_sample_lockfile_lines_are_right() -> None:
    assert header_lines(LOCKFILE_TEXT) == LINES


def test_json_is_the_design_object(tmp_path: Path) -> None:
    report = sample_report(write_lockfile(tmp_path))
    document = json.loads(JsonReporter().render(report))

    assert list(document) == ["lockfile", "packages", "summary"]
    assert document == report.to_json()
    assert document["summary"] == {
        "total": 6,
        "verified": 1,
        "failed": 2,
        "unsigned": 2,
        "skipped": 1,
        "infrastructure_errors": 0,
    }
    by_name = {p["name"]: p for p in document["packages"]}
    assert [p["name"] for p in document["packages"]] == list(LINES)
    serde = by_name["serde"]
    assert serde["status"] == "verified"
    assert "reason" not in serde
    assert serde["rekor_log_index"] == 42
    assert serde["identity"].startswith("https://github.com/serde-rs/serde/")
    assert by_name["wrong-signer"]["code"] == "identity-mismatch"
    assert by_name["wrong-signer"]["line"] == LINES["wrong-signer"]
    assert by_name["app"]["source"] is None


def test_json_layout_is_stable(tmp_path: Path) -> None:
    report = sample_report(write_lockfile(tmp_path))
    text = JsonReporter().render(report)

    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "lockfile": ')
    assert '\n    {\n      "name": "app",\n      "version": "0.1.0",\n' in text
    assert text == JsonReporter().render(sample_report(write_lockfile(tmp_path)))
    package_keys = list(json.loads(text)["packages"][1])
    assert package_keys[:6] == ["name", "version", "source", "checksum", "status", "reason"]


def test_json_keeps_errors_that_prevented_any_verdict() -> None:
    report = Report(verdicts=(), lockfile="Cargo.lock", infra_errors=("index unreachable",))
    document = json.loads(JsonReporter().render(report))

    assert document["infra_errors"] == ["index unreachable"]
    assert document["packages"] == []
    assert "infra_errors" not in json.loads(JsonReporter().render(sample_report(None)))


def test_format_names_are_the_cli_names() -> None:
    assert [str(f) for f in Format] == ["human", "json", "sarif", "github"]
    assert Format("sarif") is Format.SARIF


@pytest.mark.parametrize(
    ("fmt", "cls"),
    [(Format.JSON, JsonReporter), (Format.SARIF, SarifReporter), (Format.GITHUB, GithubReporter)],
)
def test_reporter_for_builds_each_machine_format(fmt: Format, cls: type, tmp_path: Path) -> None:
    reporter = reporter_for(fmt, root=tmp_path)

    assert type(reporter) is cls
    assert reporter.render(sample_report(write_lockfile(tmp_path))).endswith("\n")


def test_reporter_for_rejects_unknown_options() -> None:
    with pytest.raises(TypeError):
        reporter_for(Format.JSON, colour=True)


def test_machine_formats_import_nothing_heavy(tmp_path: Path) -> None:
    lockfile = write_lockfile(tmp_path)
    script = f"""
import sys
from pathlib import Path
from cargo_verify.report import Format, reporter_for
from tests.report import sample_report
for fmt in (Format.JSON, Format.SARIF, Format.GITHUB):
    reporter_for(fmt, root=Path({str(tmp_path)!r})).render(sample_report(Path({str(lockfile)!r})))
from cargo_verify.report.github import step_summary
step_summary(sample_report(None))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {{"sigstore", "rich", "httpx"}})
print(heavy)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
