"""The lock hook: a candidate mochi.lock replaces the old one only if every entry verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cargo_verify._cli import main
from cargo_verify.atomic import PAUSE_ENV
from cargo_verify.errors import ConfigError
from cargo_verify.http import HttpSettings
from cargo_verify.lock_api import run_lock_hook
from cargo_verify.mochi_lock import LockEntry, render_lock
from cargo_verify.mock.world import RunningWorld
from cargo_verify.model import Code, Package, Status
from cargo_verify.pipeline import Policies, Settings, verify_packages
from cargo_verify.verify import TrustRootSpec
from tests.test_atomic import temp_files, wait_for_pause

CRATES = [
    ("mochi-util", "0.1.0"), ("mochi-util", "0.1.1"), ("mochi-util", "0.2.0"),
    ("mochi-example", "0.1.0"), ("mochi-example", "0.1.1"), ("mochi-example", "0.2.0-beta.1"),
    ("mochi-log", "0.1.0"), ("left-pad-rs", "0.1.0"), ("legacy-unsigned", "0.1.0"),
]


pytestmark = pytest.mark.usefixtures("hermetic_cargo_home")


def settings(trust_files: dict[str, Path], retries: int = HttpSettings().retries) -> Settings:
    return Settings(
        trust_root=TrustRootSpec(str(trust_files["trusted_root"])), jobs=1,
        http=HttpSettings(retries=retries),
    )


@pytest.fixture(scope="module")
def entries(world: RunningWorld, trust_files: dict[str, Path]) -> list[LockEntry]:
    """Every fixture crate, verified once by the pipeline, as lock entries."""
    packages = []
    for name, version in CRATES:
        raw = world.world.registry.index_file(name)
        assert raw is not None
        line = next(json.loads(x) for x in raw.decode().splitlines()
                    if json.loads(x)["vers"] == version)
        packages.append(Package(name, version, world.world.index_url, line["cksum"]))
    report = verify_packages(packages, settings(trust_files), Policies())
    assert [v.status for v in report.verdicts] == [Status.VERIFIED] * 8 + [Status.UNSIGNED]
    return [LockEntry.from_verdict(v) for v in report.verdicts]


@pytest.fixture
def project(tmp_path: Path, entries: list[LockEntry]) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "mochi.lock").write_text(render_lock(entries[:2]))
    (directory / "mochi.lock.new").write_text(render_lock(entries))
    return directory


def test_verified_candidate_replaces_the_lock_with_its_exact_bytes(
    project: Path, trust_files: dict[str, Path]
) -> None:
    candidate = project / "mochi.lock.new"
    candidate.write_bytes(candidate.read_bytes() + b"# Mochi's own trailing comment\n")
    result = run_lock_hook(candidate, project / "mochi.lock", settings=settings(trust_files))
    assert result.accepted and result.changed and result.exit_code == 0
    assert (project / "mochi.lock").read_bytes() == candidate.read_bytes()
    assert result.report.count(Status.VERIFIED) == 8
    again = run_lock_hook(candidate, project / "mochi.lock", settings=settings(trust_files))
    assert again.accepted and not again.changed


def _tamper_checksum(text: str, entries: list[LockEntry]) -> str:
    return text.replace(entries[1].checksum, entries[0].checksum)  # mochi-util 0.1.1 ← 0.1.0's


def _tamper_identity(text: str, entries: list[LockEntry]) -> str:
    assert entries[4].identity is not None and entries[7].identity is not None
    return text.replace(f'identity = "{entries[4].identity}"',
                        f'identity = "{entries[7].identity}"')


def _tamper_log_index(text: str, entries: list[LockEntry]) -> str:
    return text.replace(f"rekor-log-index = {entries[6].rekor_log_index}\n",
                        f"rekor-log-index = {entries[5].rekor_log_index}\n")


def _tamper_unsigned(text: str, entries: list[LockEntry]) -> str:
    return text.replace("unsigned = true\n", 'rekor-log-index = 1\nissuer = "https://x.example"\n'
                        'identity = "https://github.com/example/x"\n')


def _tamper_version(text: str, entries: list[LockEntry]) -> str:
    return text.replace('name = "mochi-log"\nversion = "0.1.0"',
                        'name = "mochi-log"\nversion = "0.1.9"')


@pytest.mark.parametrize(
    ("tamper", "victim", "code"),
    [
        (_tamper_checksum, "mochi-util@0.1.1", Code.CHECKSUM_MISMATCH),
        (_tamper_identity, "mochi-example@0.1.1", Code.IDENTITY_CHANGED),
        (_tamper_log_index, "mochi-log@0.1.0", Code.EVIDENCE_MISMATCH),
        (_tamper_unsigned, "legacy-unsigned@0.1.0", Code.SIGNED_THEN_UNSIGNED),
        (_tamper_version, "mochi-log@0.1.9", Code.NOT_IN_INDEX),
    ],
)
def test_one_tampered_entry_among_many_refuses_the_whole_lock(
    project: Path, trust_files: dict[str, Path], entries: list[LockEntry],
    tamper: object, victim: str, code: Code,
) -> None:
    candidate = project / "mochi.lock.new"
    original = candidate.read_text()
    assert callable(tamper)
    tampered = tamper(original, entries)
    assert tampered != original
    candidate.write_text(tampered)
    old = (project / "mochi.lock").read_bytes()
    result = run_lock_hook(candidate, project / "mochi.lock", settings=settings(trust_files))
    assert not result.accepted and not result.changed and result.exit_code == 1
    failed = [v for v in result.report.verdicts if v.status is Status.FAILED]
    assert [(v.package.key, v.code) for v in failed] == [(victim, code)]
    assert len(result.report.verdicts) == len(CRATES)
    assert (project / "mochi.lock").read_bytes() == old


def test_trust_entries_of_mochi_toml_next_to_the_lock_apply(
    project: Path, trust_files: dict[str, Path]
) -> None:
    (project / "mochi.toml").write_text(
        '[rust-dependencies.left-pad-rs]\nversion = "0.1"\ntrust = { subject = "repo:example/*" }\n'
    )
    old = (project / "mochi.lock").read_bytes()
    result = run_lock_hook(project / "mochi.lock.new", project / "mochi.lock",
                           settings=settings(trust_files))
    assert not result.accepted
    (failed,) = [v for v in result.report.verdicts if v.status is Status.FAILED]
    assert (failed.package.name, failed.code) == ("left-pad-rs", Code.IDENTITY_MISMATCH)
    assert (project / "mochi.lock").read_bytes() == old


def test_unreachable_registry_refuses_with_exit_3(
    project: Path, trust_files: dict[str, Path], entries: list[LockEntry]
) -> None:
    unreachable = LockEntry("mochi-util", "0.1.0", "sparse+http://127.0.0.1:1/index/",
                            entries[0].checksum, 1, "https://issuer.example", "https://id")
    candidate = project / "mochi.lock.new"
    candidate.write_text(render_lock([*entries[3:5], unreachable]))
    old = (project / "mochi.lock").read_bytes()
    result = run_lock_hook(candidate, project / "mochi.lock",
                           settings=settings(trust_files, retries=0))
    assert not result.accepted and result.exit_code == 3
    assert (project / "mochi.lock").read_bytes() == old


def test_malformed_candidate_names_file_and_line(
    project: Path, trust_files: dict[str, Path]
) -> None:
    candidate = project / "mochi.lock.new"
    candidate.write_text(candidate.read_text().replace('checksum = "', 'chekcsum = "', 1))
    with pytest.raises(ConfigError) as error:
        run_lock_hook(candidate, project / "mochi.lock", settings=settings(trust_files))
    assert error.value.file == str(candidate)
    assert error.value.line == 10  # the first entry's `checksum` line
    assert "unknown key `chekcsum`" in error.value.message


def test_cli_accepts_and_refuses(
    project: Path, trust_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lock-hook", str(project / "mochi.lock.new"), "--lock", str(project / "mochi.lock"),
            "--trusted-root", str(trust_files["trusted_root"])]
    candidate = project / "mochi.lock.new"
    good = candidate.read_text()
    candidate.write_text(good.replace('version = "0.2.0"', 'version = "0.2.1"'))
    old = (project / "mochi.lock").read_bytes()
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "error[not-in-index]: mochi-util@0.2.1" in captured.out
    assert "lock refused" in captured.err
    assert (project / "mochi.lock").read_bytes() == old

    candidate.write_text(good)
    assert main([*args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["accepted"] is True and document["changed"] is True
    assert document["summary"]["verified"] == 8 and document["summary"]["unsigned"] == 1

    candidate.write_text("version = 1\n[[package]]\nname = 3\n")
    assert main(args) == 2
    assert "mochi.lock.new:3: `name` must be a non-empty string" in capsys.readouterr().err


# (pause point, signal, expected lock, exit status)
KILL_CASES = [
    ("mid-write@mochi.lock", signal.SIGKILL, "old", -signal.SIGKILL),
    ("before-rename@mochi.lock", signal.SIGKILL, "old", -signal.SIGKILL),
    ("after-rename@mochi.lock", signal.SIGKILL, "new", -signal.SIGKILL),
    ("mid-write@mochi.lock", signal.SIGINT, "new", 130),  # held until the rename is done
]


def test_killed_during_the_write_leaves_the_old_or_the_new_lock(
    project: Path, trust_files: dict[str, Path], entries: list[LockEntry], tmp_path: Path
) -> None:
    old = render_lock(entries[:2]).encode()
    new = render_lock(entries[4:5]).encode()  # one entry: verified in-process, no worker pool
    processes = []
    for i, (point, *_) in enumerate(KILL_CASES):
        directory = tmp_path / f"case-{i}"
        directory.mkdir()
        (directory / "mochi.lock").write_bytes(old)
        (directory / "candidate.lock").write_bytes(new)
        process = subprocess.Popen(
            [sys.executable, "-m", "cargo_verify", "lock-hook", "candidate.lock",
             "--trusted-root", str(trust_files["trusted_root"])],
            cwd=directory, env=dict(os.environ, **{PAUSE_ENV: point}),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        processes.append((directory, process))
    for _, process in processes:
        wait_for_pause(process)
    for (_, process), (_, sig, *_) in zip(processes, KILL_CASES, strict=True):
        process.send_signal(sig)
    for (directory, process), (point, sig, state, status) in zip(processes, KILL_CASES,
                                                                 strict=True):
        process.wait(timeout=60)
        assert process.stderr is not None
        process.stderr.close()
        case = f"{point} + {sig.name}"
        assert process.returncode == status, case
        content = (directory / "mochi.lock").read_bytes()
        assert content in (old, new), f"{case}: mochi.lock is neither old nor new"
        assert content == (old if state == "old" else new), case
        if sig is not signal.SIGKILL:
            assert temp_files(directory) == [], case
