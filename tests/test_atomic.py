"""atomic_write and deferred_interrupts, including real signals at the pause points."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cargo_verify.atomic import PAUSE_ENV, atomic_write, deferred_interrupts

OLD = b"old content\n" * 1000
NEW = b"new content, longer than the old one\n" * 2000
PAUSE_MARKER = "cargo-verify: test pause at "


def wait_for_pause(process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """Read the child's stderr until it reports it is paused; return what it printed."""
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.2)
        if ready:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith(PAUSE_MARKER):
                return "".join(seen)
        elif process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"child never paused; stderr so far:\n{''.join(seen)}")


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_replaces_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "mochi.lock"
    target.write_bytes(OLD)
    atomic_write(target, NEW)
    assert target.read_bytes() == NEW
    assert temp_files(tmp_path) == []


def test_keeps_permissions_of_the_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "mochi.toml"
    target.write_bytes(OLD)
    target.chmod(0o640)
    atomic_write(target, NEW)
    assert target.stat().st_mode & 0o777 == 0o640


def test_new_file_gets_umask_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write(tmp_path / "fresh", NEW)
    finally:
        os.umask(previous)
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o640


def test_symlink_is_kept_and_its_target_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.lock"
    real.write_bytes(OLD)
    link = tmp_path / "mochi.lock"
    link.symlink_to(real)
    atomic_write(link, NEW)
    assert link.is_symlink()
    assert real.read_bytes() == NEW


def test_failure_leaves_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "mochi.lock"
    target.write_bytes(OLD)
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == OLD
    assert temp_files(tmp_path) == []


def test_deferred_interrupts_finishes_the_block_then_raises() -> None:
    finished: list[str] = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal arrives here, but is held
        finished.append("block ran to the end")
    assert finished == ["block ran to the end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


_CHILD = """
import sys
from pathlib import Path
from cargo_verify.atomic import atomic_write
atomic_write(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes())
"""


@pytest.mark.parametrize(
    ("point", "sig", "expected"),
    [
        ("before-write", signal.SIGKILL, OLD),
        ("mid-write", signal.SIGKILL, OLD),
        ("before-fsync", signal.SIGKILL, OLD),
        ("before-rename", signal.SIGKILL, OLD),
        ("after-rename", signal.SIGKILL, NEW),
        ("mid-write", signal.SIGINT, OLD),
        ("before-rename", signal.SIGTERM, OLD),
    ],
)
def test_real_signal_at_each_point_leaves_old_or_new(
    tmp_path: Path, point: str, sig: signal.Signals, expected: bytes
) -> None:
    target = tmp_path / "mochi.lock"
    target.write_bytes(OLD)
    source = tmp_path / "new-content"
    source.write_bytes(NEW)
    env = dict(os.environ, **{PAUSE_ENV: f"{point}@mochi.lock"})
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(target), str(source)],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    wait_for_pause(process)
    process.send_signal(sig)
    process.wait(timeout=30)
    assert process.returncode != 0
    content = target.read_bytes()
    assert content in (OLD, NEW)  # never truncated, never mixed
    assert content == expected
    if sig is signal.SIGINT:  # KeyboardInterrupt runs the cleanup
        assert temp_files(tmp_path) == []
