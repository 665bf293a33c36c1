"""The verification cache under concurrency and change: processes sharing one cache directory
neither corrupt it nor trust a half-written file, and a changed trust policy or trusted root
forces a fresh verification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cargo_verify.api import verify_lockfile
from cargo_verify.evidence_store import decode
from cargo_verify.mock.world import WorldOptions, serve_in_thread
from cargo_verify.model import Code, Report, Status
from tests.attacks.harness import TARGET, AttackBench

PROCESSES = 4


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackBench]:
    made = AttackBench("bundle", tmp_path_factory.mktemp("cache-bench"))
    yield made
    made.stop()


def _verify(bench: AttackBench, cache: Path, **overrides: Any) -> Report:
    options: dict[str, Any] = {
        "cwd": bench.project, "env": {"CARGO_HOME": str(bench.cargo_home)},
        "trusted_root": bench.root, "jobs": 1, "cache_dir": cache,
    }
    options.update(overrides)
    return verify_lockfile(bench.project / "Cargo.lock", **options)


def _by_key(report: Report) -> dict[str, Any]:
    return {v.package.key: v for v in report.verdicts}


def _cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


def test_parallel_processes_share_one_cache_without_corrupting_it(
    bench: AttackBench, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = dict(os.environ, CARGO_HOME=str(bench.cargo_home))
    command = [sys.executable, "-m", "cargo_verify", "check", "--format", "json",
               "--trusted-root", str(bench.root), "--cache-dir", str(cache), "--jobs", "1"]
    # A cold cache: every process verifies everything and writes the same cache file.
    running = [subprocess.Popen(command, cwd=bench.project, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(PROCESSES)]
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        summary = json.loads(out)["summary"]
        assert summary["failed"] == 0 and summary["verified"] == len(bench.baseline) - 1
    files = _cache_files(cache)
    assert [p.name for p in files if p.name.startswith(".")] == []  # no temp file left behind
    assert sorted(p.suffix for p in files) == [".bin", ".json"]  # evidence store, verdicts
    for path in files:
        if path.suffix == ".json":
            assert isinstance(json.loads(path.read_bytes()), dict)  # whole JSON
        else:
            assert len(decode(path.read_bytes())) == len(bench.baseline) - 1  # whole store
    hits = _by_key(_verify(bench, cache))
    assert str(hits[TARGET].evidence).startswith("cache")


@pytest.mark.parametrize("kind", ["verdicts", "evidence"])
def test_half_written_cache_file_is_not_trusted(
    bench: AttackBench, tmp_path: Path, kind: str
) -> None:
    """Either cache file cut short (the other one gone) is ignored: the attack the registry
    serves now is caught."""
    cache = tmp_path / "cache"
    _verify(bench, cache)
    (verdicts,) = cache.glob("lock-*.json")
    (evidence,) = cache.glob("evidence-*.bin")
    cut_file, other = (verdicts, evidence) if kind == "verdicts" else (evidence, verdicts)
    whole = cut_file.read_bytes()
    for cut in (len(whole) // 2, len(whole) - 2, 1):
        other.unlink(missing_ok=True)
        cut_file.write_bytes(whole[:cut])
        faults = bench.running.world.faults  # type: ignore[attr-defined]
        faults.set({"attack": {TARGET: "untrusted-ca"}})
        try:
            report = _verify(bench, cache)
        finally:
            faults.clear()
        target = _by_key(report)[TARGET]
        assert (target.status, target.code) == (Status.FAILED, Code.SIGNATURE_INVALID)
        assert report.exit_code == 1


def test_changed_trust_policy_forces_reverification(bench: AttackBench, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _verify(bench, cache).exit_code == 0
    assert str(_by_key(_verify(bench, cache))[TARGET].evidence).startswith("cache")
    strict = tmp_path / "mochi.toml"
    strict.write_text('[rust-dependencies.mochi-example]\nversion = "*"\n'
                      'trust = { subject = "repo:someone-else/*" }\n')
    target = _by_key(_verify(bench, cache, mochi_toml=strict))[TARGET]
    assert (target.status, target.code) == (Status.FAILED, Code.IDENTITY_MISMATCH)


def test_changed_trusted_root_forces_reverification(bench: AttackBench, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _verify(bench, cache).exit_code == 0
    other = serve_in_thread(WorldOptions(seed="another trust root", publish_fixtures=False))
    try:
        other_root, _ = other.world.write_trust_files(tmp_path)
    finally:
        other.stop()
    report = _verify(bench, cache, trusted_root=other_root)
    signed = [v for v in report.verdicts if v.package.name != "legacy-unsigned"]
    assert {(v.status, v.code) for v in signed} == {(Status.FAILED, Code.SIGNATURE_INVALID)}
