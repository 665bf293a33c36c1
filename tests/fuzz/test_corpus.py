"""Every fuzz target survives its seeds and every saved finding (fuzz/corpus/TARGET/)."""

from __future__ import annotations

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
