"""The verification cache file, and the cache of validated lockfile and mochi.toml contents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cargo_verify.cache import VerdictCache
from cargo_verify.errors import ConfigError
from cargo_verify.lockfile import read_lockfile
from cargo_verify.manifest import read_trust_rules
from cargo_verify.plan_cache import lockfile_packages, trust_rules


def test_entries_survive_a_flush_and_only_used_ones_are_kept(tmp_path: Path) -> None:
    first = VerdictCache(tmp_path, "/project/Cargo.lock")
    first.put("a" * 64, {"identity": "x"})
    first.put("b" * 64, {"identity": "y"})
    first.flush()
    again = VerdictCache(tmp_path, "/project/Cargo.lock")
    assert again.get("a" * 64) == {"identity": "x"}
    again.flush()  # only `a` was used: `b` (no longer in the lockfile) is dropped
    third = VerdictCache(tmp_path, "/project/Cargo.lock")
    assert third.get("b" * 64) is None and third.get("a" * 64) == {"identity": "x"}
    assert VerdictCache(tmp_path, "/other/Cargo.lock").get("a" * 64) is None


def test_a_corrupt_or_foreign_cache_file_is_ignored(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path, "lock")
    cache.path.write_text("{not json")
    assert cache.get("a" * 64) is None
    cache.path.write_text(json.dumps({"format": 1, "entries": {"a" * 64: {"x": 1}}}))
    assert VerdictCache(tmp_path, "lock").get("a" * 64) is None


def test_a_warm_run_that_changes_nothing_does_not_rewrite_the_file(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path, "lock")
    cache.put("a" * 64, {"x": 1})
    cache.flush()
    before = cache.path.stat().st_mtime_ns
    warm = VerdictCache(tmp_path, "lock")
    assert warm.get("a" * 64) == {"x": 1}
    warm.flush()
    assert cache.path.stat().st_mtime_ns == before


CHECKSUM = "ab" * 32


def _lockfile(packages: int) -> str:
    return "version = 4\n" + "".join(
        f'\n[[package]]\nname = "crate-{i}"\nversion = "1.0.{i}"\n'
        f'source = "sparse+https://index.example/"\nchecksum = "{CHECKSUM}"\n'
        for i in range(packages)
    )


def test_plan_cache_returns_exactly_what_the_readers_return(tmp_path: Path) -> None:
    lock = tmp_path / "Cargo.lock"
    lock.write_text(_lockfile(50))
    mochi = tmp_path / "mochi.toml"
    mochi.write_text('[rust-dependencies.crate-1]\nversion = "^1"\n'
                     'trust = { issuer = "https://token.actions.githubusercontent.com", '
                     'repository = "o/r" }\n')
    expected_packages = read_lockfile(lock).packages
    expected_rules = read_trust_rules(mochi, "mochi.toml")
    first = VerdictCache(tmp_path / "cache", str(lock))
    assert lockfile_packages(lock, first) == expected_packages
    assert trust_rules(mochi, "mochi.toml", first) == expected_rules
    first.flush_plan()
    again = VerdictCache(tmp_path / "cache", str(lock))  # read back from the file
    assert again.plan_get("lockfile", "0" * 64) is None
    assert lockfile_packages(lock, again) == expected_packages
    assert trust_rules(mochi, "mochi.toml", again) == expected_rules
    assert list((tmp_path / "cache").iterdir()) == [again.path]  # one file per lockfile
    # another display name means other origins: not the same entry
    assert trust_rules(mochi, "sub/mochi.toml", again)["crate-1"].origin.startswith("sub/")
    lock.write_text(_lockfile(50).replace("crate-7", "crate-x"))
    assert lockfile_packages(lock, again)[7].name == "crate-x"


def test_an_invalid_lockfile_is_reported_and_nothing_kept(tmp_path: Path) -> None:
    lock = tmp_path / "Cargo.lock"
    lock.write_text(_lockfile(3).replace(CHECKSUM, "not-a-checksum", 1))
    cache = VerdictCache(tmp_path / "cache", str(lock))
    with pytest.raises(ConfigError) as caught:
        lockfile_packages(lock, cache)
    assert "Cargo.lock:" in str(caught.value)
    cache.flush_plan()
    assert not (tmp_path / "cache").exists()
