"""The record merges: two branches that each pin another crate, joined by a real `git merge`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cargo_verify.mock.world import RunningWorld
from cargo_verify.pin_record import RECORD_FILE_NAME, parse_record
from tests.test_pin_world import Project, make_project


@pytest.fixture
def repo(tmp_path: Path, world: RunningWorld, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project (on the shared, read-only test world) that will become a git work tree."""
    return make_project(tmp_path, world, capsys, monkeypatch)


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=check, timeout=60)


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def branch_adds(p: Project, branch: str, base: list[tuple[str, str]],
                added: tuple[str, str], *pin_flags: str) -> None:
    git(p.root, "checkout", "-q", "-b", branch, "main")
    p.lock(*base, added)
    code, _, err = p.cli("pin", *pin_flags)
    assert code == 0, err
    commit_all(p.root, f"add {added[0]}")


def merge_branches(p: Project, base: list[tuple[str, str]],
                   one: tuple[str, str], two: tuple[str, str], *pin_flags: str) -> list[str]:
    """Pin `base` on main, add `one` and `two` on two branches, merge both; conflicted files."""
    git(p.root, "init", "-q", "-b", "main")
    p.lock(*base)
    assert p.cli("pin", *pin_flags)[0] == 0
    commit_all(p.root, "pin")
    branch_adds(p, "one", base, one, *pin_flags)
    branch_adds(p, "two", base, two, *pin_flags)
    git(p.root, "checkout", "-q", "main")
    git(p.root, "merge", "-q", "--no-edit", "one")
    git(p.root, "merge", "-q", "--no-edit", "two", check=False)
    conflicted = git(p.root, "diff", "--name-only", "--diff-filter=U").stdout.split()
    return sorted(conflicted)


def merged_crates(p: Project) -> list[str]:
    text = (p.root / RECORD_FILE_NAME).read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    return sorted(pin.name for pin in parse_record(text, "merged").crates.values())


def test_crates_in_different_places_merge_with_git_defaults(repo: Project) -> None:
    p = repo
    # mochi-example sits between the two additions: each branch changes its own region.
    conflicted = merge_branches(p, [("mochi-example", "0.1.1")], ("left-pad-rs", "0.1.0"),
                                ("mochi-util", "0.1.1"), "--no-gitattributes")
    assert conflicted == []
    assert not (p.root / ".gitattributes").exists()
    assert merged_crates(p) == ["left-pad-rs", "mochi-example", "mochi-util"]
    # The merged record is what pinning the merged lockfile would write.
    before = (p.root / RECORD_FILE_NAME).read_bytes()
    assert p.cli("pin", "--no-gitattributes")[0] == 0
    assert (p.root / RECORD_FILE_NAME).read_bytes() == before


def test_crates_in_the_same_place_merge_with_the_union_attribute_pin_writes(
    repo: Project,
) -> None:
    p = repo
    # Both additions sort before mochi-util: the same spot of the file. Cargo.lock conflicts
    # there (cargo regenerates it); the record does not, thanks to `merge=union`.
    conflicted = merge_branches(p, [("mochi-util", "0.1.1")], ("left-pad-rs", "0.1.0"),
                                ("mochi-example", "0.1.1"))
    assert RECORD_FILE_NAME not in conflicted
    assert merged_crates(p) == ["left-pad-rs", "mochi-example", "mochi-util"]
    # The same merge without the attribute conflicts: why `pin` adds it.
    git(p.root, "merge", "--abort")
    (p.root / ".gitattributes").unlink()
    commit_all(p.root, "drop the attribute")
    git(p.root, "merge", "-q", "--no-edit", "two", check=False)
    assert RECORD_FILE_NAME in git(p.root, "diff", "--name-only", "--diff-filter=U").stdout
