"""Shared fixtures: the local test world served on 127.0.0.1 by uvicorn in a thread."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread

REPO = Path(__file__).resolve().parents[1]
FROZEN = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorld]:
    """One world per test session (read-only use: tests must not change its state)."""
    running = serve_in_thread(WorldOptions(clock=FixedClock(FROZEN)))
    running.world.write_trust_files(tmp_path_factory.mktemp("trust"))
    yield running
    running.stop()


@pytest.fixture
def fresh_world() -> Iterator[RunningWorld]:
    """A private world for tests that publish, yank or switch on faults."""
    running = serve_in_thread(WorldOptions(clock=FixedClock(FROZEN)))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def trust_files(world: RunningWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root, config = world.world.write_trust_files(tmp_path_factory.mktemp("trust-files"))
    return {"trusted_root": root, "trust_config": config}


def cargo_env(cargo_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CARGO_HOME"] = str(cargo_home)
    env.pop("CARGO_REGISTRY_DEFAULT", None)
    env["CARGO_TERM_COLOR"] = "never"
    env["CARGO_NET_RETRY"] = "0"
    return env


def cargo_bin() -> str:
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    return found


def run_cargo(args: list[str], cwd: Path, cargo_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cargo_bin(), *args], cwd=cwd, env=cargo_env(cargo_home), text=True,
        capture_output=True, timeout=300,
    )
