"""Replace files atomically: a reader, a crash or a signal sees the old file or the new one.

`atomic_write` writes a temporary file in the target's directory, fsyncs it, renames it over
the target (`rename(2)` is atomic on POSIX file systems) and fsyncs the directory so the
rename itself survives a power cut. `deferred_interrupts` holds SIGINT/SIGTERM/SIGHUP while a
group of related files is replaced, so Ctrl-C cannot stop between two renames; SIGKILL cannot
be held, which is why every single write is atomic on its own.

Test-only hook: when the environment variable `CARGO_VERIFY_TEST_PAUSE_AT` names a pause
point (`before-write`, `mid-write`, `before-fsync`, `before-rename`, `after-rename`, or a
point callers declare with `pause_point`, e.g. `add`'s `before-commit` and `between-files`),
the process prints `cargo-verify: test pause at POINT PATH` to stderr and sleeps there (until
a held signal arrives or PAUSE_SECONDS pass), so a test can send a real signal at that exact
moment. `POINT@FILENAME` pauses only for that file name; several entries
are separated by commas. Nothing but the tests sets it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

PAUSE_ENV = "CARGO_VERIFY_TEST_PAUSE_AT"
PAUSE_SECONDS = 120.0  # the tests end a pause with a signal long before this
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NEW_FILE_MODE = 0o666  # narrowed by the umask, as for any file the user creates
_held: list[int] = []  # signals deferred_interrupts is holding right now


def pause_point(name: str, path: Path | None = None) -> None:
    """Test-only: sleep at a named point when CARGO_VERIFY_TEST_PAUSE_AT asks for it."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    for item in wanted.split(","):
        point, _, file_name = item.strip().partition("@")
        if point != name or (file_name and (path is None or path.name != file_name)):
            continue
        where = f" {path}" if path is not None else ""
        sys.stderr.write(f"cargo-verify: test pause at {name}{where}\n")
        sys.stderr.flush()
        deadline = time.monotonic() + PAUSE_SECONDS
        while time.monotonic() < deadline and not _held:  # a held signal ends the pause
            time.sleep(0.02)
        return


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some platforms cannot open directories; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data` so that it always holds either the old or the new bytes.

    A symlink is followed (the link stays, its target is replaced). An existing file keeps its
    permission bits; a new one gets 0666 narrowed by the umask. On any error or exception the
    temporary file is removed and the target is untouched.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    try:
        existing_mode: int | None = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        existing_mode = None
    temporary = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(
        temporary,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
        _NEW_FILE_MODE,
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            pause_point("before-write", target)
            half = len(data) // 2
            handle.write(data[:half])
            handle.flush()
            pause_point("mid-write", target)
            handle.write(data[half:])
            handle.flush()
            pause_point("before-fsync", target)
            os.fsync(handle.fileno())
        if existing_mode is not None:
            os.chmod(temporary, existing_mode)
        pause_point("before-rename", target)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    pause_point("after-rename", target)
    _fsync_directory(directory)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then deliver the first one.

    Only the main thread can install signal handlers; elsewhere this is a no-op and each file
    write is still atomic on its own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = _held
    received.clear()

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[signal.Signals, Any] = {}
    for sig in DEFERRED_SIGNALS:
        previous[sig] = signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if received:
            first = received[0]
            received.clear()
            signal.raise_signal(first)
