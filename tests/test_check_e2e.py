"""`cargo-verify check` end to end: real cargo locks a project against the test world, the
real CLI verifies the lockfile, and the human report says what a person needs to know."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

from cargo_verify.mock.world import RunningWorld
from tests.conftest import (
    CheckRunner,
    LockedProject,
    cargo_env,
    index_log_index,
    lock_project,
)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SIGNED_DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
mochi-log = { version = "0.1", registry = "mochi" }
"""
# What real cargo locks for SIGNED_DEPENDENCIES (mochi-log needs mochi-util ^0.2).
SIGNED_PACKAGES = ("mochi-example@0.1.1", "mochi-log@0.1.0", "mochi-util@0.1.1", "mochi-util@0.2.0")


def release_identity(name: str, version: str) -> str:
    return f"https://github.com/example/{name}/.github/workflows/release.yml@refs/tags/v{version}"




def test_lockfile_from_real_cargo_verifies(
    world: RunningWorld, tmp_path: Path, check_cli: CheckRunner
) -> None:
    project = lock_project(tmp_path, {"mochi": world}, SIGNED_DEPENDENCIES)

    run = check_cli(project, "--format", "json")

    assert run.exit_code == 0, run.stdout
    packages = run.packages
    registry_keys = sorted(k for k, p in packages.items() if p["source"] is not None)
    assert registry_keys == sorted(SIGNED_PACKAGES)
    for key in SIGNED_PACKAGES:
        name, version = key.split("@")
        package = packages[key]
        assert package["status"] == "verified", package
        assert package["rekor_log_index"] == index_log_index(world, name, version)
        assert package["issuer"] == GITHUB_ISSUER
        assert package["identity"] == release_identity(name, version)
        assert package["source"] == world.world.index_url
    assert packages["app@0.1.0"]["status"] == "skipped"
    assert run.document["summary"] == {
        "total": 5, "verified": 4, "failed": 0, "unsigned": 0, "skipped": 1,
        "infrastructure_errors": 0,
    }


MIXED_DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
left-pad-rs = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
local-helper = { path = "local-helper" }
"""
LOCAL_HELPER = {
    "local-helper/Cargo.toml": '[package]\nname = "local-helper"\nversion = "0.3.0"\n'
    'edition = "2021"\n',
    "local-helper/src/lib.rs": "pub fn help() {}\n",
}
# left-pad-rs is published by someone-else/left-pad-rs; mochi-util by GitHub, not GitLab.
MIXED_MOCHI_TOML = """\
[rust-dependencies.left-pad-rs]
version = "^0.1"
trust = { issuer = "https://token.actions.githubusercontent.com", subject = "repo:example/*" }

[rust-dependencies.mochi-util]
version = "^0.1"
trust = { issuer = "https://gitlab.com", subject = "repo:example/mochi-util:*" }
"""


def _mixed_project(world: RunningWorld, tmp_path: Path) -> LockedProject:
    project = lock_project(tmp_path, {"mochi": world}, MIXED_DEPENDENCIES, extra_files=LOCAL_HELPER)
    (project.directory / "mochi.toml").write_text(MIXED_MOCHI_TOML)
    return project


def test_human_report_names_each_problem_with_expected_and_found(
    world: RunningWorld, tmp_path: Path, check_cli: CheckRunner
) -> None:
    project = _mixed_project(world, tmp_path)

    run = check_cli(project)

    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    problems = [line for line in lines if line.lstrip().startswith("error[")]
    assert len(problems) == 2, run.stdout
    left_pad = next(line for line in problems if "left-pad-rs" in line)
    assert left_pad.lstrip().startswith("error[identity-mismatch]: left-pad-rs@0.1.0")
    expected, _, found = left_pad.partition("found")
    assert "expected" in expected
    assert f"issuer = {GITHUB_ISSUER}" in expected and "subject = repo:example/*" in expected
    assert "someone-else/left-pad-rs" in found and GITHUB_ISSUER in found
    util = next(line for line in problems if "mochi-util" in line)
    assert util.lstrip().startswith("error[identity-mismatch]: mochi-util@0.1.1")
    expected, _, found = util.partition("found")
    assert "issuer = https://gitlab.com" in expected
    assert "subject = repo:example/mochi-util:*" in expected
    assert GITHUB_ISSUER in found and release_identity("mochi-util", "0.1.1") in found
    assert "https://gitlab.com" not in found
    # Verified, unsigned, skipped and failed are counted separately.
    assert lines[-1] == "FAILED: 1 verified, 1 unsigned, 2 skipped, 2 failed"
    warnings = [line for line in lines if line.lstrip().startswith("warning[")]
    assert len(warnings) == 1 and "legacy-unsigned@0.1.0" in warnings[0]


def test_human_report_ok_summary(
    world: RunningWorld, tmp_path: Path, check_cli: CheckRunner
) -> None:
    project = lock_project(tmp_path, {"mochi": world}, SIGNED_DEPENDENCIES)

    run = check_cli(project, "-q")

    assert run.exit_code == 0
    assert run.stdout.splitlines()[-1] == "OK: 4 verified, 0 unsigned, 1 skipped, 0 failed"
    assert "error" not in run.stdout


def _cli(project: LockedProject, *args: str, stderr: int | None = None) -> subprocess.Popen[str]:
    env = cargo_env(project.cargo_home)
    env.pop("TERM", None)
    return subprocess.Popen(
        [sys.executable, "-m", "cargo_verify", "check", "--no-cache", *args],
        cwd=project.directory, env=env, text=True, stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE,
    )


def test_progress_display_keeps_piped_output_clean(
    world: RunningWorld, tmp_path: Path
) -> None:
    project = _mixed_project(world, tmp_path)

    # Both streams piped: no progress display at all.
    piped = _cli(project, "--format", "json")
    out, err = piped.communicate(timeout=120)
    assert piped.returncode == 1
    assert json.loads(out)["summary"]["failed"] == 2
    assert err == ""

    # stderr on a terminal: the progress display draws there, stdout stays plain JSON.
    controller, terminal = pty.openpty()
    drawn_chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(controller, drawn_chunks), daemon=True)
    try:
        on_tty = _cli(project, "--format", "json", stderr=terminal)
        os.close(terminal)
        reader.start()  # keep the terminal drained so the child never blocks on it
        tty_out, _ = on_tty.communicate(timeout=120)
        reader.join(timeout=10)
    finally:
        os.close(controller)
    drawn = b"".join(drawn_chunks).decode(errors="replace")
    assert on_tty.returncode == 1
    assert "\x1b" in drawn, "the progress display did not draw on the terminal"
    assert "\x1b" not in tty_out and "\r" not in tty_out
    assert json.loads(tty_out) == json.loads(out)


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO once the child side is closed
            return
        if not chunk:
            return
        into.append(chunk)


def test_human_report_is_plain_text_when_piped(world: RunningWorld, tmp_path: Path) -> None:
    project = _mixed_project(world, tmp_path)

    piped = _cli(project)
    out, err = piped.communicate(timeout=120)

    assert piped.returncode == 1
    assert err == ""
    assert not re.search(r"[\x1b\r]", out)
    assert out.splitlines()[-1] == "FAILED: 1 verified, 1 unsigned, 2 skipped, 2 failed"
