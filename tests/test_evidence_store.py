"""The evidence store: evidence of verified packages, re-verified (never trusted) on the next
check that the verification cache cannot answer, e.g. after a trust-policy change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargo_verify.cargo_home import cached_crate_path, registry_cache_dir_name
from cargo_verify.evidence_store import (
    EvidenceKey,
    EvidenceStore,
    StoredEvidence,
    decode,
    encode,
)
from cargo_verify.model import Code, Report, Status, Verdict
from tests.attacks.harness import TARGET, AttackBench

KEY = ("sparse+https://index.example/", "demo", "1.0.0", "ab" * 32)
OTHER = ("sparse+https://index.example/", "other", "2.0.0", "cd" * 32)


def test_entries_round_trip_and_only_kept_keys_are_written(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, "/p/Cargo.lock")
    store.add(KEY, StoredEvidence("rekor", '{"a": "é"}', 7))
    store.add(OTHER, StoredEvidence("bundle", "{}", None))
    store.flush({KEY})
    again = EvidenceStore(tmp_path, "/p/Cargo.lock")
    assert again.get(KEY) == StoredEvidence("rekor", '{"a": "é"}', 7)
    assert again.get(OTHER) is None
    assert EvidenceStore(tmp_path, "/elsewhere/Cargo.lock").get(KEY) is None


def test_a_run_that_adds_nothing_does_not_write(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, "lock")
    assert store.get(KEY) is None
    store.flush({KEY})
    assert not store.path.exists()


def test_later_additions_keep_earlier_entries_of_the_lockfile(tmp_path: Path) -> None:
    first = EvidenceStore(tmp_path, "lock")
    first.add(KEY, StoredEvidence("bundle", "{1}", 3))
    first.flush({KEY})
    second = EvidenceStore(tmp_path, "lock")
    second.add(OTHER, StoredEvidence("bundle", "{2}", None))
    second.flush({KEY, OTHER})
    assert decode(second.path.read_bytes()) == {
        KEY: StoredEvidence("bundle", "{1}", 3), OTHER: StoredEvidence("bundle", "{2}", None)
    }


def _header_and_body(data: bytes) -> tuple[dict[str, object], bytes]:
    head, _, body = data.partition(b"\n")
    return json.loads(head), body


@pytest.mark.parametrize("damage", [
    "cut-in-body", "cut-in-header", "no-newline", "other-format", "offset-past-end",
    "negative-length", "unknown-kind", "bool-log-index", "short-row", "not-utf8",
])
def test_a_damaged_file_is_ignored_as_a_whole(damage: str) -> None:
    whole = encode({KEY: StoredEvidence("rekor", '{"x": 1}', 5),
                    OTHER: StoredEvidence("bundle", '{"y": 2}', None)})
    header, body = _header_and_body(whole)
    rows = header["entries"]
    assert isinstance(rows, list) and decode(whole)
    if damage == "cut-in-body":
        data = whole[:-3]
    elif damage == "cut-in-header":
        data = whole[:20]
    elif damage == "no-newline":
        data = whole.replace(b"\n", b" ")
    else:
        if damage == "other-format":
            header["format"] = 99
        elif damage == "offset-past-end":
            rows[1][6] = len(body)
        elif damage == "negative-length":
            rows[0][7] = -1
        elif damage == "unknown-kind":
            rows[0][4] = "search"
        elif damage == "bool-log-index":
            rows[0][5] = True
        elif damage == "short-row":
            rows[0] = rows[0][:7]
        elif damage == "not-utf8":
            body = b"\xff" + body[1:]
        data = json.dumps(header).encode() + b"\n" + body
    assert decode(data) == {}


# -- against the test world ---------------------------------------------------------------


@pytest.fixture()
def bench(tmp_path: Path) -> Iterator[AttackBench]:
    made = AttackBench("rekor", tmp_path)
    yield made
    if made.running._thread.is_alive():  # some tests stop it themselves
        made.stop()


def _fill_cargo_cache(bench: AttackBench) -> None:
    """Every `.crate` of the lockfile in cargo's cache, as after `cargo fetch`."""
    registry = bench.running.world.registry
    for verdict in bench.verify().verdicts:
        package = verdict.package
        if package.source is None:
            continue
        data = registry.tarball(package.name, package.version)
        assert data is not None
        cache = bench.cargo_home / "registry" / "cache"
        directory = cache / registry_cache_dir_name(package.source)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{package.name}-{package.version}.crate").write_bytes(data)
        assert cached_crate_path(bench.cargo_home, package.source, package.name, package.version)


def _by_key(report: Report) -> dict[str, Verdict]:
    return {v.package.key: v for v in report.verdicts}


def _stored_after_a_first_check(
    bench: AttackBench, cache: Path
) -> tuple[Path, dict[EvidenceKey, StoredEvidence], EvidenceKey]:
    """Check once into `cache`; the evidence store file, its entries and TARGET's key."""
    assert bench.verify(cache_dir=cache).exit_code == 0
    (path,) = cache.glob("evidence-*.bin")
    entries = decode(path.read_bytes())
    name, version = TARGET.split("@")
    (key,) = [k for k in entries if k[1:3] == (name, version)]
    return path, entries, key


def _drop_verdicts(cache: Path) -> None:
    for path in cache.glob("lock-*.json"):
        path.unlink()


def _signed(report: Report) -> list[Verdict]:
    return [v for v in report.verdicts if v.package.name != "legacy-unsigned"]


def test_after_a_policy_change_stored_evidence_verifies_without_the_network(
    bench: AttackBench, tmp_path: Path
) -> None:
    _fill_cargo_cache(bench)
    cache = tmp_path / "cache"
    first = bench.verify(cache_dir=cache)
    assert {v.evidence for v in _signed(first)} == {"rekor"}
    assert first.exit_code == 0
    # Another policy that still admits every publisher: the verdicts' cache keys change.
    changed = tmp_path / "changed.toml"
    changed.write_text((bench.project / "mochi.toml").read_text().replace(':*"', ':ref:*"'))
    bench.stop()  # no registry, no Rekor: only cargo's cache and the evidence store are left
    again = bench.verify(cache_dir=cache, mochi_toml=changed)
    signed = _signed(again)
    assert {(v.status, v.evidence) for v in signed} == {(Status.VERIFIED, "stored rekor")}
    assert [v.rekor_log_index for v in signed] == [v.rekor_log_index for v in _signed(first)]
    assert all(v.policy and ":ref:*" in v.policy for v in signed)
    # Its verdicts went to the verification cache as plain rekor evidence.
    warm = bench.verify(cache_dir=cache, mochi_toml=changed)
    assert {v.evidence for v in _signed(warm)} == {"cache (rekor)"}


def test_stored_evidence_failing_the_new_policy_is_checked_again_and_fails(
    bench: AttackBench, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert bench.verify(cache_dir=cache).exit_code == 0
    strict = tmp_path / "strict.toml"
    strict.write_text(f'[rust-dependencies.{TARGET.split("@")[0]}]\nversion = "*"\n'
                      'trust = { subject = "repo:someone-else/*" }\n')
    target = _by_key(bench.verify(cache_dir=cache, mochi_toml=strict))[TARGET]
    assert (target.status, target.code, target.evidence) == (
        Status.FAILED, Code.IDENTITY_MISMATCH, "rekor")


def test_a_stored_bundle_is_verified_not_trusted(bench: AttackBench, tmp_path: Path) -> None:
    """Evidence edited in the store does not pass; the registry is asked again, and with the
    registry now serving an attack, the package fails."""
    cache = tmp_path / "cache"
    path, entries, key = _stored_after_a_first_check(bench, cache)
    bundle = json.loads(entries[key].bundle_json)
    signature = bundle["messageSignature"]["signature"]
    bundle["messageSignature"]["signature"] = signature[:10] + (
        "A" if signature[10] != "A" else "B") + signature[11:]
    entries[key] = StoredEvidence(entries[key].kind, json.dumps(bundle), entries[key].log_index)
    path.write_bytes(encode(entries))
    _drop_verdicts(cache)
    faults = bench.running.world.faults  # type: ignore[attr-defined]
    faults.set({"attack": {TARGET: "untrusted-ca"}})
    try:
        report = bench.verify(cache_dir=cache)
    finally:
        faults.clear()
    target = _by_key(report)[TARGET]
    assert (target.status, target.code, target.evidence) == (
        Status.FAILED, Code.SIGNATURE_INVALID, "rekor")  # the registry's verdict, not the store's
    others = [v for v in _signed(report) if v.package.key != TARGET]
    assert {v.evidence for v in others} == {"stored rekor"}


def test_evidence_of_another_crate_stored_under_this_one_does_not_pass(
    bench: AttackBench, tmp_path: Path
) -> None:
    _fill_cargo_cache(bench)
    cache = tmp_path / "cache"
    path, entries, key = _stored_after_a_first_check(bench, cache)
    donor = next(v for k, v in entries.items() if k[1] != key[1])
    entries[key] = donor
    path.write_bytes(encode(entries))
    _drop_verdicts(cache)
    bench.stop()  # the registry cannot rescue it: it must fail, not pass on the donor's bundle
    target = _by_key(bench.verify(cache_dir=cache))[TARGET]
    assert target.status is Status.FAILED
    assert target.code is Code.INFRA
