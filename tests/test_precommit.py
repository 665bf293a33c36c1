"""The pre-commit hook end to end: real `pre-commit` installs this repository as a hook
source (at a commit of its current tree) and real `git commit`s run it on staged lockfiles.

pre-commit pip-installs the hook into its own virtualenv, which takes a while the first
time; `.cache/pre-commit` keeps that environment between sessions, and the hook source is
committed with fixed metadata so an unchanged tree gets the same commit (and the cached
environment) again.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cargo_verify.mock.world import RunningWorld
from tests.conftest import REPO, LockedProject, lock_project

CACHE = REPO / ".cache"
HOOK_SOURCE = CACHE / "pre-commit-hook-source"
PRE_COMMIT_HOME = CACHE / "pre-commit"
# What `pip install .` needs: the project metadata (its readme included) and the package.
SOURCE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
SOURCE_PACKAGE = "cargo_verify"
FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "cargo-verify tests",
    "GIT_AUTHOR_EMAIL": "tests@cargo-verify.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "cargo-verify tests",
    "GIT_COMMITTER_EMAIL": "tests@cargo-verify.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}
DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
left-pad-rs = { version = "0.1", registry = "mochi" }
"""
HOOK_NAME = "cargo-verify (Sigstore check of Cargo.lock)"
# The first install builds a virtualenv and downloads sigstore and its dependencies.
INSTALL_TIMEOUT = 900
COMMIT_TIMEOUT = 300


def isolated_env(cargo_home: Path) -> dict[str, str]:
    """This process's environment without git/cargo/pre-commit settings that could leak in."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GIT_", "CARGO_", "PRE_COMMIT"))
    }
    env |= FIXED_IDENTITY
    env |= {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "PRE_COMMIT_HOME": str(PRE_COMMIT_HOME),
        "PRE_COMMIT_COLOR": "never",
        "CARGO_HOME": str(cargo_home),
    }
    return env


def git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def _copy_source(target: Path) -> None:
    for entry in target.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for name in SOURCE_FILES:
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(
        REPO / SOURCE_PACKAGE,
        target / SOURCE_PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


@pytest.fixture(scope="session")
def hook_rev(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Commit the current package source into HOOK_SOURCE; the commit id is pre-commit's `rev`.

    The commit has no parent and fixed author, committer and dates, so its id depends on the
    tree alone. A file lock keeps the xdist workers from writing the repository at once.
    """
    CACHE.mkdir(exist_ok=True)
    env = isolated_env(tmp_path_factory.mktemp("unused-cargo-home"))
    with (CACHE / "pre-commit-hook-source.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        HOOK_SOURCE.mkdir(exist_ok=True)
        if not (HOOK_SOURCE / ".git").is_dir():
            git(HOOK_SOURCE, "init", "-q", env=env)
        _copy_source(HOOK_SOURCE)
        git(HOOK_SOURCE, "add", "-A", env=env)
        tree = git(HOOK_SOURCE, "write-tree", env=env)
        rev = git(HOOK_SOURCE, "commit-tree", "--no-gpg-sign", tree, "-m", "hook source",
                  env=env)
        git(HOOK_SOURCE, "update-ref", "refs/heads/hook-source", rev, env=env)
        git(HOOK_SOURCE, "symbolic-ref", "HEAD", "refs/heads/hook-source", env=env)
        _install_hook_environment(rev, env)
    return rev


def _install_hook_environment(rev: str, env: dict[str, str]) -> None:
    """Drop environments of older source commits, then build (or reuse) this one's.

    `pre-commit gc` keeps what a still existing config uses; the anchor config names only
    the current commit, and the test repositories of earlier sessions are gone.
    """
    anchor = CACHE / "pre-commit-anchor.yaml"
    anchor.write_text(
        f"repos:\n  - repo: {HOOK_SOURCE}\n    rev: {rev}\n    hooks:\n"
        "      - id: cargo-verify\n"
    )
    for command in (["gc"], ["install-hooks", "--config", str(anchor)]):
        done = subprocess.run(
            [sys.executable, "-m", "pre_commit", *command], cwd=HOOK_SOURCE, env=env,
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
        )
        assert done.returncode == 0, f"pre-commit {command[0]}:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def good_lock(world: RunningWorld, tmp_path_factory: pytest.TempPathFactory) -> LockedProject:
    """A Cargo.lock real cargo wrote against the session world."""
    return lock_project(tmp_path_factory.mktemp("precommit-lock"), {"mochi": world}, DEPENDENCIES)


def tamper_checksum(lockfile_text: str, package: str) -> str:
    """The lockfile with one hex digit of `package`'s checksum changed."""
    pattern = re.compile(
        rf'(\[\[package\]\]\nname = "{re.escape(package)}"\n(?:[^\[].*\n)*?checksum = ")([0-9a-f])'
    )
    match = pattern.search(lockfile_text)
    assert match is not None, f"{package} has no checksum in the lockfile"
    flipped = "0" if match.group(2) != "0" else "1"
    return lockfile_text[: match.start(2)] + flipped + lockfile_text[match.end(2) :]


@dataclass
class Commit:
    returncode: int
    output: str


@dataclass
class Project:
    """A git repository whose pre-commit hook is this repository's `cargo-verify` hook."""

    directory: Path
    env: dict[str, str]

    def write(self, relative: str, text: str) -> None:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit(self, message: str, *paths: str, verify: bool = True) -> Commit:
        git(self.directory, "add", *paths, env=self.env)
        args = ["git", "commit", "-q", "-m", message]
        if not verify:
            args.append("--no-verify")
        done = subprocess.run(
            args, cwd=self.directory, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMIT_TIMEOUT,
        )
        return Commit(done.returncode, done.stdout)

    def head(self) -> str:
        return git(self.directory, "rev-parse", "HEAD", env=self.env)

    def staged(self) -> list[str]:
        return git(self.directory, "diff", "--cached", "--name-only", env=self.env).split()


@pytest.fixture
def project(
    tmp_path: Path, hook_rev: str, trust_files: dict[str, Path]
) -> Iterator[Project]:
    """A fresh repository with `.pre-commit-config.yaml` and `pre-commit install` done.

    The trusted root reaches the hook only through `args`, which pre-commit passes on to
    `cargo-verify check`; CARGO_HOME is empty, so nothing else could supply it.
    """
    cargo_home = tmp_path / "cargo-home"
    cargo_home.mkdir()
    directory = tmp_path / "repo"
    directory.mkdir()
    env = isolated_env(cargo_home)
    git(directory, "init", "-q", "-b", "main", env=env)
    config = (
        "repos:\n"
        f"  - repo: {HOOK_SOURCE}\n"
        f"    rev: {hook_rev}\n"
        "    hooks:\n"
        "      - id: cargo-verify\n"
        f"        args: [--trusted-root, '{trust_files['trusted_root']}', --no-cache]\n"
        "        verbose: true\n"
    )
    (directory / ".pre-commit-config.yaml").write_text(config)
    (directory / "README.md").write_text("# app\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=directory, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    yield Project(directory, env)


def hook_status(output: str) -> str:
    """pre-commit's status for our hook: `Passed`, `Failed` or `(no files to check)Skipped`."""
    for line in output.splitlines():
        if line.startswith(HOOK_NAME):
            return line[len(HOOK_NAME) :].lstrip(".")
    raise AssertionError(f"the hook did not report:\n{output}")


def test_commit_of_good_lockfiles_in_a_monorepo_passes(
    project: Project, good_lock: LockedProject
) -> None:
    text = good_lock.lockfile.read_text()
    project.write("services/api/Cargo.lock", text)
    project.write("tools/cli/Cargo.lock", text)

    done = project.commit("add lockfiles", ".")

    assert done.returncode == 0, done.output
    assert hook_status(done.output) == "Passed"
    # `verbose: true` shows the hook's report: both staged lockfiles were verified.
    for lockfile in ("services/api/Cargo.lock", "tools/cli/Cargo.lock"):
        assert f"cargo-verify: {lockfile}" in done.output
    assert done.output.count("OK: 3 verified, 0 unsigned, 1 skipped, 0 failed") == 2
    assert project.staged() == []


def test_commit_of_a_tampered_checksum_is_blocked(
    project: Project, good_lock: LockedProject
) -> None:
    text = good_lock.lockfile.read_text()
    project.commit("start", ".pre-commit-config.yaml", "README.md", verify=False)
    before = project.head()
    project.write("Cargo.lock", text)
    project.write("crates/tool/Cargo.lock", tamper_checksum(text, "left-pad-rs"))

    done = project.commit("update lockfiles", ".")

    assert done.returncode != 0, done.output
    assert hook_status(done.output) == "Failed"
    assert project.head() == before
    assert sorted(project.staged()) == ["Cargo.lock", "crates/tool/Cargo.lock"]
    # The message names the lockfile, the package and what is wrong with it.
    assert "cargo-verify: crates/tool/Cargo.lock" in done.output
    assert "error[checksum-mismatch]: left-pad-rs@0.1.0" in done.output
    assert "FAILED: 2 verified, 0 unsigned, 1 skipped, 1 failed" in done.output
    # The good lockfile in the same commit still verified.
    assert "OK: 3 verified, 0 unsigned, 1 skipped, 0 failed" in done.output


def test_commit_without_a_lockfile_does_not_run_the_hook(
    project: Project, good_lock: LockedProject
) -> None:
    # A tampered lockfile already in the tree (committed with --no-verify) would fail the
    # hook if it ran; a commit that does not touch it must not run it.
    project.write("Cargo.lock", tamper_checksum(good_lock.lockfile.read_text(), "mochi-util"))
    project.commit("bad lockfile", ".", verify=False)
    project.write("README.md", "# app\n\nNow with docs.\n")

    done = project.commit("docs", "README.md")

    assert done.returncode == 0, done.output
    assert hook_status(done.output) == "(no files to check)Skipped"
    assert "cargo-verify:" not in done.output
    assert project.staged() == []


def test_tamper_checksum_changes_only_that_package() -> None:
    text = (
        '[[package]]\nname = "a"\nversion = "1.0.0"\nsource = "x"\nchecksum = "ab"\n\n'
        '[[package]]\nname = "b"\nversion = "1.0.0"\nsource = "x"\nchecksum = "0c"\n'
    )
    assert tamper_checksum(text, "b") == text.replace('"0c"', '"1c"')
    assert tamper_checksum(text, "a") == text.replace('"ab"', '"0b"')


def test_hook_definition_selects_every_cargo_lock_and_nothing_else() -> None:
    import yaml  # type: ignore[import-untyped]  # no stubs in the test extras

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "cargo-verify"
    assert hook["language"] == "python"
    assert hook["entry"].split()[:2] == ["cargo-verify", "check"]
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    # pre-commit matches `files` with re.search against the repository-relative path.
    for selected in ("Cargo.lock", "crates/a/Cargo.lock", "a/b/c/Cargo.lock"):
        assert files.search(selected), selected
    for ignored in ("Cargo.toml", "Cargo.lock.orig", "MyCargo.lock", "cargo.lock", "x/Cargo.lockx"):
        assert not files.search(ignored), ignored
