"""`cargo-verify add` against the local test world: resolution, the four steps, the two files."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cargo_verify._cli import main
from cargo_verify.atomic import PAUSE_ENV
from cargo_verify.commands.add import StepDisplay
from cargo_verify.lock_api import verify_one
from cargo_verify.mochi_lock import read_lock
from cargo_verify.mock.world import RunningWorld
from cargo_verify.model import Status
from tests.test_atomic import temp_files, wait_for_pause

GITHUB = "https://token.actions.githubusercontent.com"
SAN = "https://github.com/example/mochi-example/.github/workflows/release.yml@refs/tags/v{}"

MOCHI_TOML = """\
# Demo project -- hand formatted, keep the layout!
[package]
name    =    'demo'     # literal string and odd spacing
version = "1.0.0"

[rust-dependencies.mochi-util]   # header comment
version='0.1'

	# comment that belongs to the next table
[mochi]
edition = 2026
"""


pytestmark = pytest.mark.usefixtures("hermetic_cargo_home")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "mochi.toml").write_text(MOCHI_TOML)
    return directory


def index_line(world: RunningWorld, name: str, version: str) -> dict[str, Any]:
    raw = world.world.registry.index_file(name)
    assert raw is not None
    lines = [json.loads(line) for line in raw.decode().splitlines()]
    return next(line for line in lines if line["vers"] == version)


def add(world: RunningWorld, trusted_root: Path, project: Path, *args: str) -> int:
    return main([
        "add", *args, "--registry", world.world.index_url, "--trusted-root", str(trusted_root),
        "--mochi-toml", str(project / "mochi.toml"),
    ])


def snapshot(project: Path) -> dict[str, bytes | None]:
    return {
        name: (project / name).read_bytes() if (project / name).exists() else None
        for name in ("mochi.toml", "mochi.lock")
    }


def test_add_picks_highest_match_shows_four_steps_and_keeps_formatting(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert add(world, trust_files["trusted_root"], project, "mochi-example@^0.1") == 0
    out = capsys.readouterr().out.splitlines()
    line = index_line(world, "mochi-example", "0.1.1")
    assert out[0] == "[1/4] Resolving versions ... mochi-example@0.1.1"
    assert out[1].startswith(f"[2/4] Downloading .crate from {world.url}/ ... ")
    assert out[1].endswith(("KB", " B"))
    assert out[2:7] == [
        "[3/4] Verifying Sigstore bundle ...",
        f"      Rekor index: {line['sigstore']['rekor_log_index']}",
        f"      Fulcio cert SAN: {SAN.format('0.1.1')}",
        "      Trust policy: any OIDC subject (default)",
        "      Verification: OK",
    ]
    assert out[7].startswith("[4/4] ")

    toml = (project / "mochi.toml").read_text()
    block = '\n[rust-dependencies.mochi-example]\nversion = "^0.1"\n'
    assert toml == MOCHI_TOML.replace("version='0.1'\n", "version='0.1'\n" + block)

    (entry,) = read_lock(project / "mochi.lock").entries
    assert (entry.name, entry.version, entry.checksum) == ("mochi-example", "0.1.1", line["cksum"])
    assert entry.source == world.world.index_url
    assert entry.rekor_log_index == line["sigstore"]["rekor_log_index"]
    assert (entry.issuer, entry.identity) == (GITHUB, SAN.format("0.1.1"))


def test_yanked_versions_are_skipped(
    fresh_world: RunningWorld, tmp_path: Path, project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, _ = fresh_world.world.write_trust_files(tmp_path)
    fresh_world.world.registry.yank("mochi-example", "0.1.1", True)
    assert add(fresh_world, root, project, "mochi-example@^0.1") == 0
    assert "mochi-example@0.1.0 (skipped yanked 0.1.1)" in capsys.readouterr().out
    assert read_lock(project / "mochi.lock").entries[0].version == "0.1.0"

    fresh_world.world.registry.yank("mochi-example", "0.1.0", True)
    before = snapshot(project)
    assert add(fresh_world, root, project, "mochi-example@=0.1.0") == 2
    assert "every version of mochi-example matching \"=0.1.0\" is yanked" in (
        capsys.readouterr().err
    )
    assert snapshot(project) == before


def test_prerelease_only_when_the_requirement_names_one(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = snapshot(project)
    assert add(world, trust_files["trusted_root"], project, "mochi-example@^0.2") == 2
    err = capsys.readouterr().err
    assert 'no version of mochi-example matches "^0.2"' in err
    assert '"^0.2.0-beta.1"' in err
    assert snapshot(project) == before

    assert add(world, trust_files["trusted_root"], project, "mochi-example@^0.2.0-beta.1") == 0
    assert "mochi-example@0.2.0-beta.1" in capsys.readouterr().out


def test_untrusted_publisher_fails_and_leaves_both_files_identical(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = trust_files["trusted_root"]
    assert add(world, root, project, "mochi-util@^0.1") == 0  # a lock with an entry already
    capsys.readouterr()
    before = snapshot(project)
    code = add(world, root, project, "left-pad-rs", "--trust-issuer", GITHUB,
               "--trust-subject", "repo:example/*")
    assert code == 1
    captured = capsys.readouterr()
    assert "Verification: FAILED [identity-mismatch]" in captured.out
    assert "expected: issuer = https://token.actions.githubusercontent.com, subject = " \
           "repo:example/* (command line)" in captured.out
    assert "found:    issuer https://token.actions.githubusercontent.com, SAN " \
           "https://github.com/someone-else/left-pad-rs/" in captured.out
    assert "were not changed" in captured.err
    assert snapshot(project) == before


def test_trust_entry_written_and_matched_through_the_sub_claim_form(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    subject = "repo:example/mochi-example:ref:refs/tags/v*"
    code = add(world, trust_files["trusted_root"], project, "mochi-example@^0.1",
               "--trust-issuer", GITHUB, "--trust-subject", subject)
    assert code == 0
    out = capsys.readouterr().out
    assert f"Trust policy: issuer = {GITHUB}, subject = {subject} (command line)" in out
    assert "matched the sub-claim" in out
    data = tomllib.loads((project / "mochi.toml").read_text())
    assert data["rust-dependencies"]["mochi-example"] == {
        "version": "^0.1", "trust": {"issuer": GITHUB, "subject": subject},
    }


def test_trust_entry_already_in_mochi_toml_is_enforced(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest = project / "mochi.toml"
    manifest.write_text(MOCHI_TOML + '\n[rust-dependencies.left-pad-rs]\nversion = "0.1"\n'
                        'trust = { subject = "repo:example/*" }\n')
    before = snapshot(project)
    assert add(world, trust_files["trusted_root"], project, "left-pad-rs") == 1
    out = capsys.readouterr().out
    assert "Trust policy: subject = repo:example/* (" in out and "mochi.toml:" in out
    assert snapshot(project) == before


def test_unsigned_crate_follows_the_unsigned_setting(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = trust_files["trusted_root"]
    before = snapshot(project)
    assert add(world, root, project, "legacy-unsigned", "--unsigned", "deny") == 1
    assert snapshot(project) == before
    capsys.readouterr()

    assert add(world, root, project, "legacy-unsigned") == 0  # default: warn
    captured = capsys.readouterr()
    assert "Rekor index: none" in captured.out
    assert "warning: legacy-unsigned@0.1.0 has no Sigstore evidence" in captured.err
    (entry,) = read_lock(project / "mochi.lock").entries
    assert not entry.signed
    assert 'unsigned = true' in (project / "mochi.lock").read_text()
    assert tomllib.loads((project / "mochi.toml").read_text())["rust-dependencies"][
        "legacy-unsigned"] == {"version": "0.1.0"}


def test_without_requirement_the_one_in_mochi_toml_is_kept(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest = project / "mochi.toml"
    manifest.write_text(MOCHI_TOML + '\n[rust-dependencies.mochi-example]\nversion = "=0.1.0"\n')
    before = manifest.read_bytes()
    assert add(world, trust_files["trusted_root"], project, "mochi_example") == 0
    assert "mochi-example@0.1.0" in capsys.readouterr().out
    assert manifest.read_bytes() == before
    assert read_lock(project / "mochi.lock").entries[0].version == "0.1.0"


def test_json_output_matches_the_python_api(
    world: RunningWorld, trust_files: dict[str, Path], project: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = trust_files["trusted_root"]
    assert add(world, root, project, "mochi-example@^0.1", "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["written"] is True
    assert document["summary"]["verified"] == 1
    (package,) = document["packages"]

    from cargo_verify.lock_api import settings_for

    result = verify_one(
        "mochi-example", "^0.1", registry=world.world.index_url,
        settings=settings_for(project, trusted_root=str(root)), project_dir=project,
    )
    assert result.status is Status.VERIFIED
    assert result.to_json() == package
    for key in ("name", "version", "source", "checksum", "rekor_log_index", "issuer",
                "identity", "policy"):
        assert getattr(result, key) == package[key]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("mochi-example@^0.1 || ^0.2", "cargo has no `||`"), ("mochi example", "not a crate name"),
     ("mochi-example@", "empty version requirement")],
)
def test_bad_spec_is_a_usage_error_before_any_work(
    project: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    before = snapshot(project)
    assert main(["add", spec, "--mochi-toml", str(project / "mochi.toml"),
                 "--registry", "sparse+http://127.0.0.1:1/index/"]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(project) == before


def test_missing_mochi_toml_is_a_usage_error(
    world: RunningWorld, trust_files: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert add(world, trust_files["trusted_root"], tmp_path, "mochi-example") == 2
    assert "mochi.toml" in capsys.readouterr().err
    assert not (tmp_path / "mochi.lock").exists()


def test_download_bar_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for err, expect_bar in ((Terminal(), True), (io.StringIO(), False)):
        out = io.StringIO()
        display = StepDisplay(out, err)
        url = "http://127.0.0.1:1/dl/x-1.0.0.crate"
        for received in (0, 70_000, 148_480):
            display.downloading(url, received, False)
        display.downloading(url, 148_480, True)
        assert "[2/4] Downloading .crate from http://127.0.0.1:1/ ... 145 KB" in out.getvalue()
        assert ("downloading" in err.getvalue()) is expect_bar


# -- a real signal while `add` writes ------------------------------------------------------

# (pause point, signal, expected mochi.lock, expected mochi.toml, exit status)
KILL_CASES = [
    ("mid-write@mochi.lock", signal.SIGKILL, "old", "old", -signal.SIGKILL),
    ("between-files", signal.SIGKILL, "new", "old", -signal.SIGKILL),
    ("after-rename@mochi.toml", signal.SIGKILL, "new", "new", -signal.SIGKILL),
    ("before-commit", signal.SIGINT, "old", "old", 130),
    ("mid-write@mochi.lock", signal.SIGINT, "new", "new", 130),  # held until both are written
    ("between-files", signal.SIGTERM, "new", "new", -signal.SIGTERM),
]


def test_killed_during_the_write_leaves_old_or_new_files(
    world: RunningWorld, trust_files: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = trust_files["trusted_root"]
    old_lock = tmp_path / "old"
    old_lock.mkdir()
    (old_lock / "mochi.toml").write_text(MOCHI_TOML)
    assert add(world, root, old_lock, "mochi-util@^0.1") == 0
    old = snapshot(old_lock)
    expected_new = tmp_path / "expected"
    expected_new.mkdir()
    for name, content in old.items():
        assert content is not None
        (expected_new / name).write_bytes(content)
    assert add(world, root, expected_new, "mochi-example@^0.1") == 0
    new = snapshot(expected_new)
    capsys.readouterr()

    processes = []
    for i, (point, *_) in enumerate(KILL_CASES):
        directory = tmp_path / f"case-{i}"
        directory.mkdir()
        for name, content in old.items():
            assert content is not None
            (directory / name).write_bytes(content)
        env = dict(os.environ, **{PAUSE_ENV: point})
        process = subprocess.Popen(
            [sys.executable, "-m", "cargo_verify", "add", "mochi-example@^0.1",
             "--registry", world.world.index_url, "--trusted-root", str(root)],
            cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        processes.append((directory, process))
    for _, process in processes:  # all paused at their point before any signal is sent
        wait_for_pause(process)
    for (_, process), (_, sig, *_) in zip(processes, KILL_CASES, strict=True):
        process.send_signal(sig)
    states = {"old": old, "new": new}
    for (directory, process), (point, sig, lock_state, toml_state, status) in zip(
        processes, KILL_CASES, strict=True
    ):
        process.wait(timeout=60)
        assert process.stderr is not None
        process.stderr.close()
        case = f"{point} + {sig.name}"
        assert process.returncode == status, case
        for name, state in (("mochi.lock", lock_state), ("mochi.toml", toml_state)):
            content = (directory / name).read_bytes()
            assert content in (old[name], new[name]), f"{case}: {name} is neither old nor new"
            assert content == states[state][name], f"{case}: {name} should be {state}"
        if sig is not signal.SIGKILL:
            assert temp_files(directory) == [], case
