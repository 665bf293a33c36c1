"""Shared fixtures: the local test world served on 127.0.0.1 by uvicorn in a thread."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread

REPO = Path(__file__).resolve().parents[1]
FROZEN = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def hermetic_cargo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private CARGO_HOME and no CARGO_SIGSTORE_* settings from the machine running the tests
    (for modules that mark themselves with `usefixtures`)."""
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "cargo-home"))
    for variable in list(os.environ):
        if variable.startswith("CARGO_SIGSTORE_"):
            monkeypatch.delenv(variable)


def locked_registry_packages(project: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The registry packages of `project`'s Cargo.lock, by (name, version)."""
    lock = tomllib.loads((project / "Cargo.lock").read_text())
    return {(p["name"], p["version"]): p for p in lock["package"] if "source" in p}


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
        [cargo_bin(), *args],
        cwd=cwd,
        env=cargo_env(cargo_home),
        text=True,
        capture_output=True,
        timeout=300,
    )


# -- projects locked with real cargo, and `cargo-verify check` run in-process ----------------


@dataclass(frozen=True)
class LockedProject:
    """A cargo project whose Cargo.lock real cargo wrote against test-world registries.

    `$CARGO_HOME/config.toml` names each world's sparse index as a registry and sets
    `[sigstore] trusted-root` to the first world's trusted root.
    """

    directory: Path
    cargo_home: Path
    trusted_root: Path

    @property
    def lockfile(self) -> Path:
        return self.directory / "Cargo.lock"

    def cargo(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = run_cargo(list(args), self.directory, self.cargo_home)
        assert done.returncode == 0, f"cargo {' '.join(args)} failed:\n{done.stderr}"
        return done


def lock_project(
    base: Path,
    registries: dict[str, RunningWorld],
    dependencies: str,
    *,
    extra_files: dict[str, str] | None = None,
) -> LockedProject:
    """`cargo new` + `[dependencies]` lines + `cargo generate-lockfile`, in `base/app`.

    Dependency lines say `registry = "<name>"` for a world in `registries`; the first world's
    trusted root is the configured one. `extra_files` are written relative to the project.
    """
    base.mkdir(parents=True, exist_ok=True)
    first = next(iter(registries.values()))
    trusted_root, _ = first.world.write_trust_files(base)
    cargo_home = base / "cargo-home"
    cargo_home.mkdir(exist_ok=True)
    config = "".join(
        f'[registries.{name}]\nindex = "{running.world.index_url}"\n\n'
        for name, running in registries.items()
    )
    config += f'[sigstore]\ntrusted-root = "{trusted_root}"\n'
    (cargo_home / "config.toml").write_text(config)
    project = LockedProject(base / "app", cargo_home, trusted_root)
    created = run_cargo(["new", "-q", "--vcs", "none", str(project.directory)], base, cargo_home)
    assert created.returncode == 0, created.stderr
    with (project.directory / "Cargo.toml").open("a") as manifest:
        manifest.write(dependencies)
    for relative, text in (extra_files or {}).items():
        path = project.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project.cargo("generate-lockfile")
    return project


@dataclass(frozen=True)
class CheckRun:
    """The outcome of one `cargo-verify check` run."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def document(self) -> dict[str, Any]:
        parsed = json.loads(self.stdout)
        assert isinstance(parsed, dict)
        return parsed

    @property
    def packages(self) -> dict[str, dict[str, Any]]:
        """`--format json` packages by `name@version` (the first one when a key repeats)."""
        out: dict[str, dict[str, Any]] = {}
        for package in self.document["packages"]:
            out.setdefault(f"{package['name']}@{package['version']}", package)
        return out


CheckRunner = Callable[..., CheckRun]


@pytest.fixture
def check_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CheckRunner:
    """Run `cargo-verify check ARGS` in-process in a project (cwd and CARGO_HOME set).

    Without `--cache-dir` the run gets `--no-cache`, so earlier runs never answer for it.
    """
    from cargo_verify._cli import main

    for name in list(os.environ):
        if name.startswith(("CARGO_SIGSTORE_", "CARGO_REGISTRIES_", "CARGO_REGISTRY_")):
            monkeypatch.delenv(name)

    def run(project: LockedProject, *args: str) -> CheckRun:
        monkeypatch.chdir(project.directory)
        monkeypatch.setenv("CARGO_HOME", str(project.cargo_home))
        argv = ["check", *args]
        if "--cache-dir" not in args:
            argv.append("--no-cache")
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        return CheckRun(code, out, err)

    return run


def index_log_index(running: RunningWorld, name: str, version: str) -> int:
    """The Rekor log index the world's registry publishes for a release."""
    body = running.world.registry.index_file(name)
    assert body is not None
    for line in body.splitlines():
        entry = json.loads(line)
        if entry["vers"] == version:
            return int(entry["sigstore"]["rekor_log_index"])
    raise AssertionError(f"{name} {version} is not in the index")


def crate_archive(name: str, version: str, lib_rs: str = "") -> bytes:
    """A minimal valid `.crate`: a gzip tar with `NAME-VERSION/Cargo.toml` and `src/lib.rs`."""
    import gzip
    import io
    import tarfile

    files = {
        "Cargo.toml": f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n',
        "src/lib.rs": lib_rs,
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)
