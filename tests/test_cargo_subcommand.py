"""`cargo verify` runs `cargo-verify verify ARGS` from PATH, which is `cargo-verify check ARGS`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cargo_verify.mock.world import RunningWorld
from tests.conftest import LockedProject, cargo_bin, cargo_env, lock_project

DEPENDENCIES = """\
mochi-log = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
"""
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def project(world: RunningWorld, tmp_path: Path) -> LockedProject:
    return lock_project(tmp_path / "work", {"mochi": world}, DEPENDENCIES)


def cargo_verify(
    project: LockedProject, cwd: Path, *args: str, with_tool: bool = True
) -> subprocess.CompletedProcess[str]:
    env = cargo_env(project.cargo_home)
    cargo = Path(cargo_bin())
    env["PATH"] = f"{VENV_BIN}:{cargo.parent}" if with_tool else str(cargo.parent)
    return subprocess.run(
        [str(cargo), "verify", *args], cwd=cwd, env=env, text=True, capture_output=True,
        timeout=300,
    )


def test_cargo_verify_passes(project: LockedProject, tmp_path: Path) -> None:
    assert (VENV_BIN / "cargo-verify").is_file()

    done = cargo_verify(
        project, tmp_path, "--lockfile", str(project.lockfile), "--format", "json", "--no-cache"
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    statuses = {f"{p['name']}@{p['version']}": p["status"] for p in report["packages"]}
    assert statuses == {
        "app@0.1.0": "skipped",
        "legacy-unsigned@0.1.0": "unsigned",
        "mochi-log@0.1.0": "verified",
        "mochi-util@0.2.0": "verified",
    }


def test_cargo_verify_fails(project: LockedProject) -> None:
    done = cargo_verify(
        project, project.directory, "--format", "json", "--no-cache", "--unsigned", "deny"
    )

    assert done.returncode == 1, done.stderr
    failed = [p for p in json.loads(done.stdout)["packages"] if p["status"] == "failed"]
    assert [(p["name"], p["code"]) for p in failed] == [("legacy-unsigned", "unsigned")]


def test_cargo_verify_check_is_the_same(project: LockedProject) -> None:
    done = cargo_verify(project, project.directory, "check", "--no-cache", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "OK: 2 verified, 1 unsigned, 1 skipped, 0 failed"


def test_cargo_verify_usage_error(project: LockedProject, tmp_path: Path) -> None:
    done = cargo_verify(project, tmp_path, "--lockfile", str(tmp_path / "missing.lock"))
    assert done.returncode == 2
    assert "missing.lock" in done.stderr


def test_cargo_verify_needs_the_tool_on_path(project: LockedProject) -> None:
    done = cargo_verify(project, project.directory, "--no-cache", with_tool=False)
    assert done.returncode != 0
    assert "no such command" in done.stderr
