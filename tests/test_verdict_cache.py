"""The verification cache file and the parse cache of large TOML documents."""

from __future__ import annotations

import json
from pathlib import Path

from cargo_verify._toml_lines import parse_toml, use_parse_cache
from cargo_verify.cache import VerdictCache


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


def _document(packages: int) -> str:
    return "version = 4\n" + "".join(
        f'\n[[package]]\nname = "crate-{i}"\nversion = "1.0.{i}"\n'
        f'dependencies = [\n "a",\n "b",\n]\nmeta = {{ x = {i}, y = 1.5, z = true }}\n'
        for i in range(packages)
    )


def test_parse_cache_returns_exactly_what_parsing_returns(tmp_path: Path) -> None:
    text = _document(600)  # over the size worth caching
    use_parse_cache(None)
    expected = parse_toml(text, "Cargo.lock")
    use_parse_cache(tmp_path)
    try:
        first = parse_toml(text, "Cargo.lock")
        stored = list(tmp_path.glob("*.json"))
        second = parse_toml(text, "Cargo.lock")  # from the file
        assert first == expected and second == expected
        assert len(stored) == 1
        stored[0].write_text("garbage")  # a damaged entry is parsed again
        assert parse_toml(text, "Cargo.lock") == expected
        changed = text.replace("crate-5", "crate-x")
        assert parse_toml(changed, "Cargo.lock")[0]["package"][5]["name"] == "crate-x"
    finally:
        use_parse_cache(None)


def test_small_documents_and_dates_are_not_cached(tmp_path: Path) -> None:
    use_parse_cache(tmp_path)
    try:
        parse_toml(_document(3), "small.toml")
        dated = _document(600) + "\n[when]\nat = 1979-05-27T07:32:00Z\n"
        assert parse_toml(dated, "dated.toml")[0]["when"]["at"].year == 1979
        assert list(tmp_path.glob("*.json")) == []
    finally:
        use_parse_cache(None)
