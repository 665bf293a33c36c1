"""Every fuzz target survives its seeds and every saved finding (fuzz/corpus/TARGET/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzz.seeds import all_seeds
from fuzz.targets import TARGETS, corpus_dir, saved_inputs


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[bytes]]:
    return all_seeds()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_seeds_and_saved_findings(name: str, seeds: dict[str, list[bytes]]) -> None:
    inputs = seeds[name] + saved_inputs(name)
    assert inputs, f"no seed for {name}"
    for data in inputs:
        TARGETS[name](data)


def test_saved_findings_are_replayed() -> None:
    saved = {name: saved_inputs(name) for name in TARGETS}
    assert saved["bundle"] and saved["identity"]  # findings of the first fuzz runs, now fixed
    for name in saved:
        assert corpus_dir(name).parent.name == "corpus"


def test_verify_seeds_really_verify(seeds: dict[str, list[bytes]], tmp_path: Path) -> None:
    # The `verify` target is only worth fuzzing if its seeds pass: then mutations explore
    # every step of sigstore-python's verification, not just the first refusal.
    from cargo_verify.model import TrustRule
    from cargo_verify.verify import TrustRootSpec, VerifyJob, run_job
    from fuzz.seeds import write_trusted_root
    from fuzz.targets import claimed_sha256

    root = TrustRootSpec(str(write_trusted_root(tmp_path)))
    for data in seeds["verify"]:
        digest = claimed_sha256(json.loads(data))
        assert digest is not None
        assert run_job(VerifyJob("seed", data.decode(), digest, TrustRule()), root).ok
