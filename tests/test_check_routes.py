"""The same crates verify through every evidence route of an index line (design §3.3):
a Rekor log index only, a bundle URL only (message signature or DSSE), and the opt-in Rekor
search by the .crate's SHA-256 when the index carries no evidence at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread
from tests.conftest import FROZEN, CheckRun, CheckRunner, LockedProject, lock_project

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
mochi-log = { version = "0.1", registry = "mochi" }
"""
PACKAGES = ("mochi-example@0.1.1", "mochi-log@0.1.0", "mochi-util@0.1.1", "mochi-util@0.2.0")


@pytest.fixture(scope="module")
def log_indexes(world: RunningWorld) -> dict[str, int]:
    """Rekor log indexes of PACKAGES as the shared world's index lines name them. Worlds with
    the same seed and clock log the same entries, whatever evidence their lines carry."""
    out: dict[str, int] = {}
    for key in PACKAGES:
        name, version = key.split("@")
        body = world.world.registry.index_file(name)
        assert body is not None
        (line,) = [x for x in map(json.loads, body.splitlines()) if x["vers"] == version]
        out[key] = int(line["sigstore"]["rekor_log_index"])
    return out


def _project(tmp_path: Path, options: WorldOptions) -> Iterator[tuple[RunningWorld, LockedProject]]:
    options.clock = FixedClock(FROZEN)
    running = serve_in_thread(options)
    try:
        yield running, lock_project(tmp_path, {"mochi": running}, DEPENDENCIES)
    finally:
        running.stop()


def assert_all_verified(run: CheckRun, evidence: str, log_indexes: dict[str, int]) -> None:
    assert run.exit_code == 0, run.stdout
    registry = {k: p for k, p in run.packages.items() if p["source"] is not None}
    assert set(registry) == set(PACKAGES)
    for key, package in registry.items():
        name, version = key.split("@")
        assert package["status"] == "verified", package
        assert package["evidence"] == evidence, package
        assert package["rekor_log_index"] == log_indexes[key], package
        assert package["issuer"] == GITHUB_ISSUER
        assert package["identity"] == (
            f"https://github.com/example/{name}/.github/workflows/release.yml@refs/tags/v{version}"
        )


@pytest.mark.parametrize(
    ("evidence", "bundle_kind", "route"),
    [
        ("both", "message", "bundle"),
        ("rekor", "message", "rekor"),
        ("bundle", "message", "bundle"),
        ("bundle", "dsse", "bundle"),
    ],
)
def test_route_from_the_index_line(
    tmp_path: Path, check_cli: CheckRunner, log_indexes: dict[str, int],
    evidence: str, bundle_kind: str, route: str,
) -> None:
    for running, project in _project(
        tmp_path, WorldOptions(evidence=evidence, bundle_kind=bundle_kind)
    ):
        line = running.world.registry.index_file("mochi-log")
        assert line is not None
        assert (b'"rekor_log_index"' in line) == (evidence in ("rekor", "both"))
        assert (b'"bundle"' in line) == (evidence in ("bundle", "both"))

        run = check_cli(project, "--format", "json")

        assert_all_verified(run, route, log_indexes)


@pytest.fixture
def no_evidence(tmp_path: Path) -> Iterator[tuple[RunningWorld, LockedProject]]:
    yield from _project(tmp_path, WorldOptions(evidence="none"))


def test_rekor_search_finds_the_evidence(
    no_evidence: tuple[RunningWorld, LockedProject], check_cli: CheckRunner,
    log_indexes: dict[str, int],
) -> None:
    running, project = no_evidence
    assert b"sigstore" not in (running.world.registry.index_file("mochi-log") or b"")

    without = check_cli(project, "--format", "json")
    searched = check_cli(project, "--format", "json", "--rekor-search")

    assert without.exit_code == 0
    for key in PACKAGES:
        assert without.packages[key]["status"] == "unsigned", without.packages[key]
        assert without.packages[key]["code"] == "unsigned"
    assert_all_verified(searched, "rekor-search", log_indexes)


def test_rekor_search_from_cargo_config(
    no_evidence: tuple[RunningWorld, LockedProject], check_cli: CheckRunner,
    log_indexes: dict[str, int],
) -> None:
    _, project = no_evidence
    config = project.cargo_home / "config.toml"
    config.write_text(config.read_text() + "rekor-search = true\n")  # into [sigstore]

    run = check_cli(project, "--format", "json")

    assert_all_verified(run, "rekor-search", log_indexes)


def test_rekor_search_only_counts_trusted_signers(
    no_evidence: tuple[RunningWorld, LockedProject], check_cli: CheckRunner,
    log_indexes: dict[str, int],
) -> None:
    _, project = no_evidence
    (project.directory / "mochi.toml").write_text(
        '[rust-dependencies.mochi-log]\nversion = "^0.1"\n'
        'trust = { repository = "example/somebody-else" }\n'
    )

    run = check_cli(project, "--format", "json", "--rekor-search")

    assert run.exit_code == 1
    log = run.packages["mochi-log@0.1.0"]
    assert log["status"] == "failed"
    assert log["code"] == "unsigned-with-trust-entry"
    assert f"entry {log_indexes['mochi-log@0.1.0']}" in log["reason"]
    assert "example/somebody-else" in log["reason"]
    for key in set(PACKAGES) - {"mochi-log@0.1.0"}:
        assert run.packages[key]["status"] == "verified"
