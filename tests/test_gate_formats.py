"""The CI gate formats end to end: real cargo locks a project against the test world, two
fault switches break two packages, one package is unsigned (a warning under the default
`warn`), and the real CLI writes `--format github|sarif|json` with `--output`.

Expected lines are worked out from the lockfile text here, not from the parser under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the test extras
import pytest

from cargo_verify.commands.check import combined_exit_code
from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import WorldOptions, serve_in_thread
from tests.conftest import FROZEN, REPO, LockedProject, lock_project

DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
left-pad-rs = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
"""
WRONG_CKSUM = "0" * 64
FAULTS = {
    "tarball": {"left-pad-rs@0.1.0": "swap"},
    "index": {"mochi-util@0.1.1": {"cksum": WRONG_CKSUM}},
}
LOCKFILE = "app/Cargo.lock"  # relative to the workspace root, as GitHub shows it
# (level, code, name, version) in lockfile order.
EXPECTED_FINDINGS = [
    ("error", "tarball-mismatch", "left-pad-rs", "0.1.0"),
    ("warning", "unsigned", "legacy-unsigned", "0.1.0"),
    ("error", "checksum-mismatch", "mochi-util", "0.1.1"),
]
SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"


@dataclass(frozen=True)
class Gate:
    workspace: Path
    project: LockedProject

    @property
    def lockfile_text(self) -> str:
        return self.project.lockfile.read_text()

    def run(self, *args: str, summary: Path | None = None) -> subprocess.CompletedProcess[str]:
        """`cargo-verify check` in a fresh process, from the workspace root, as CI runs it."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("CARGO_", "GITHUB_"))
        }
        env |= {"CARGO_HOME": str(self.project.cargo_home), "GITHUB_WORKSPACE": str(self.workspace)}
        if summary is not None:
            env["GITHUB_STEP_SUMMARY"] = str(summary)
        return subprocess.run(
            [sys.executable, "-m", "cargo_verify", "check", "--lockfile", LOCKFILE, "--no-cache",
             "--trusted-root", str(self.project.trusted_root), *args],
            cwd=self.workspace, env=env, capture_output=True, text=True, timeout=300,
        )


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    """A private world (its faults are switched on) and a project locked against it.

    The faults go on after locking, so the lockfile holds the true checksums.
    """
    running = serve_in_thread(WorldOptions(clock=FixedClock(FROZEN)))
    try:
        workspace = tmp_path_factory.mktemp("workspace")
        project = lock_project(workspace, {"mochi": running}, DEPENDENCIES)
        running.world.faults.set(FAULTS)  # type: ignore[attr-defined]
        yield Gate(workspace, project)
    finally:
        running.stop()


def package_lines(lockfile_text: str) -> dict[tuple[str, str], int]:
    """1-based line of each `[[package]]` header, by (name, version)."""
    lines = lockfile_text.splitlines()
    found: dict[tuple[str, str], int] = {}
    for number, line in enumerate(lines, start=1):
        if line == "[[package]]":
            name = re.fullmatch(r'name = "(.+)"', lines[number])
            version = re.fullmatch(r'version = "(.+)"', lines[number + 1])
            assert name and version, lines[number : number + 2]
            found[(name.group(1), version.group(1))] = number
    return found


def locked_checksum(lockfile_text: str, name: str) -> str:
    match = re.search(rf'name = "{name}"\n(?:.+\n)*?checksum = "([0-9a-f]{{64}})"', lockfile_text)
    assert match is not None
    return match.group(1)


GITHUB_LINE = re.compile(
    r"::(?P<level>error|warning) file=(?P<file>[^,]+),line=(?P<line>\d+),"
    r"title=cargo-verify (?P<code>[a-z-]+)%3A (?P<name>\S+) (?P<version>\S+)::(?P<message>.+)"
)


def test_github_format_annotates_each_finding_line_by_line(gate: Gate, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    output = tmp_path / "annotations.txt"

    done = gate.run("--format", "github", "--output", str(output), summary=summary)

    assert done.returncode == 1, done.stderr
    text = gate.lockfile_text
    lines = package_lines(text)
    annotations = output.read_text().splitlines()
    assert len(annotations) == len(EXPECTED_FINDINGS), annotations
    for annotation, (level, code, name, version) in zip(
        annotations, EXPECTED_FINDINGS, strict=True
    ):
        match = GITHUB_LINE.fullmatch(annotation)
        assert match is not None, annotation
        assert match["level"] == level
        assert match["file"] == LOCKFILE
        assert int(match["line"]) == lines[(name, version)]
        assert (match["code"], match["name"], match["version"]) == (code, name, version)
        assert match["message"].startswith(f"{name} {version}: "), annotation
    tarball, unsigned, checksum = (GITHUB_LINE.fullmatch(a) for a in annotations)
    assert tarball and unsigned and checksum
    # Expected and found are in the message: the lockfile's checksum and what was served.
    assert f"expected sha256 {locked_checksum(text, 'left-pad-rs')}" in tarball["message"]
    assert f"expected {locked_checksum(text, 'mochi-util')}" in checksum["message"]
    assert f"found {WRONG_CKSUM}" in checksum["message"]
    assert "has no Sigstore evidence" in unsigned["message"]
    # The terminal still gets the human report.
    assert done.stdout.startswith(f"cargo-verify: {LOCKFILE}\n")
    assert "FAILED: 1 verified, 1 unsigned, 1 skipped, 2 failed" in done.stdout
    assert "::error" not in done.stdout
    # The job summary is appended to whatever earlier steps wrote.
    markdown = summary.read_text()
    assert markdown.startswith("earlier step\n## cargo-verify: failed\n")
    assert f"Lockfile: {LOCKFILE}" in markdown
    assert "**5 packages**: 1 verified, 2 failed, 1 unsigned, 1 skipped" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[:3] for row in rows[1:4]] == [
        ["| left-pad-rs", "0.1.0", "**failed**"],
        ["| mochi-util", "0.1.1", "**failed**"],
        ["| legacy-unsigned", "0.1.0", "unsigned (warning)"],
    ]


def test_sarif_output_validates_and_points_at_the_package_lines(
    gate: Gate, tmp_path: Path
) -> None:
    output = tmp_path / "cargo-verify.sarif"

    done = gate.run("--format", "sarif", "--output", str(output))

    assert done.returncode == 1, done.stderr
    assert "FAILED: 1 verified, 1 unsigned, 1 skipped, 2 failed" in done.stdout
    document = json.loads(output.read_text())
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(document)
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len({rule["id"] for rule in rules}) == len(rules)
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == gate.workspace.resolve().as_uri() + "/"
    lockfile_lines = gate.lockfile_text.splitlines()
    findings = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": LOCKFILE, "uriBaseId": "%SRCROOT%"}
        line = physical["region"]["startLine"]
        # The region is the package's own `[[package]]` header in the file on disk.
        assert lockfile_lines[line - 1] == "[[package]]"
        name = re.fullmatch(r'name = "(.+)"', lockfile_lines[line])
        version = re.fullmatch(r'version = "(.+)"', lockfile_lines[line + 1])
        assert name and version
        assert result["message"]["text"].startswith(f"{name[1]} {version[1]}: ")
        assert result["partialFingerprints"]["primaryLocationLineHash"]
        findings.append((result["level"], result["ruleId"], name[1], version[1]))
    assert findings == EXPECTED_FINDINGS


def test_json_output_file_with_human_report_on_the_terminal(gate: Gate, tmp_path: Path) -> None:
    output = tmp_path / "report.json"

    done = gate.run("--format", "json", "--output", str(output), "--quiet")

    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"cargo-verify: {LOCKFILE}\n")
    assert "error[tarball-mismatch]: left-pad-rs@0.1.0" in done.stdout
    document: dict[str, Any] = json.loads(output.read_text())
    assert document["summary"] == {
        "total": 5, "verified": 1, "failed": 2, "unsigned": 1, "skipped": 1,
        "infrastructure_errors": 0,
    }
    lines = package_lines(gate.lockfile_text)
    by_key = {(p["name"], p["version"]): p for p in document["packages"]}
    for _level, code, name, version in EXPECTED_FINDINGS:
        assert by_key[(name, version)]["code"] == code
        assert by_key[(name, version)]["line"] == lines[(name, version)]
    assert by_key[("mochi-example", "0.1.1")]["status"] == "verified"


def test_unsigned_deny_turns_the_warning_into_an_error_on_stdout(gate: Gate) -> None:
    done = gate.run("--format", "github", "--unsigned", "deny")

    assert done.returncode == 1, done.stderr
    annotations = [GITHUB_LINE.fullmatch(line) for line in done.stdout.splitlines()]
    assert [(m["level"], m["code"], m["name"]) if m else None for m in annotations] == [
        ("error", "tarball-mismatch", "left-pad-rs"),
        ("error", "unsigned", "legacy-unsigned"),
        ("error", "checksum-mismatch", "mochi-util"),
    ]


# -- several lockfiles in one run ---------------------------------------------------------------

LOCAL_ONLY_LOCK = """\
version = 4

[[package]]
name = "app"
version = "0.1.0"
"""


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CARGO_")}
    env["CARGO_HOME"] = str(cwd / "cargo-home")
    return subprocess.run(
        [sys.executable, "-m", "cargo_verify", "check", "--no-cache", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_document_formats_take_one_lockfile(tmp_path: Path, fmt: str) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Cargo.lock").write_text(LOCAL_ONLY_LOCK)

    done = run_cli(tmp_path, "--format", fmt, "a/Cargo.lock", "b/Cargo.lock")

    assert done.returncode == 2
    assert f"--format {fmt} writes one document per lockfile" in done.stderr
    assert done.stdout == ""


def test_each_lockfile_is_checked_and_a_missing_one_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Cargo.lock").write_text(LOCAL_ONLY_LOCK)

    done = run_cli(tmp_path, "--lockfile", "a/Cargo.lock", "missing/Cargo.lock")

    assert done.returncode == 2
    assert "lockfile not found" in done.stderr and "missing/Cargo.lock" in done.stderr
    assert "cargo-verify: a/Cargo.lock" in done.stdout
    assert "OK: 0 verified, 0 unsigned, 1 skipped, 0 failed" in done.stdout


def test_combined_exit_code_prefers_a_verification_failure() -> None:
    assert combined_exit_code([0, 0]) == 0
    assert combined_exit_code([0, 3]) == 3
    assert combined_exit_code([3, 2, 0]) == 2
    assert combined_exit_code([2, 1, 3]) == 1
