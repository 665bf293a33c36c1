"""Every case of cargo's semver ground truth (../shared/docs/cargo-semver-matrix.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cargo_verify.errors import UsageError
from cargo_verify.semver import Version, VersionReq

pytestmark = pytest.mark.conformance

MATRIX = Path(__file__).parents[2].parent / "shared/docs/cargo-semver-matrix.json"


def _cases() -> list[tuple[str, list[str], Any]]:
    rounds = json.loads(MATRIX.read_text())["rounds"]
    return [(c["req"], r["versions"], c["matches"]) for r in rounds for c in r["cases"]]


CASES = _cases()


def test_matrix_has_valid_and_invalid_requirements() -> None:
    assert len(CASES) >= 77  # the size of the matrix checked with cargo 1.95
    assert sum(expected == "ERR" for _, _, expected in CASES) >= 10


@pytest.mark.parametrize(
    ("req", "versions", "expected"),
    CASES,
    ids=[f"{number}:{req!r}" for number, (req, _, _) in enumerate(CASES)],
)
def test_agrees_with_cargo(req: str, versions: list[str], expected: list[str] | str) -> None:
    if expected == "ERR":
        with pytest.raises(UsageError):
            VersionReq.parse(req)
        return
    parsed = VersionReq.parse(req)
    assert [v for v in versions if parsed.matches(Version.parse(v))] == expected
