"""Network faults: a clear infrastructure error (exit 3) or a verdict, never an unearned pass,
never a hang beyond the deadline. Faults come from the world's switches (5xx, 429, latency) or
from a raw TCP front (resets, truncation, slow-loris, huge and endless bodies, redirects)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cargo_verify._cli import main
from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread
from tests.attacks.harness import lockfile_text, mochi_toml_text
from tests.faults.front import FaultyFront

FROZEN = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
UNSIGNED = "legacy-unsigned@0.1.0"


@dataclass
class Setup:
    running: RunningWorld
    front: FaultyFront
    project: Path
    root: Path
    cargo_home: Path

    @property
    def faults(self) -> Any:
        return self.running.world.faults  # type: ignore[attr-defined]


@dataclass
class Outcome:
    code: int
    seconds: float
    packages: dict[str, dict[str, Any]]

    def status(self, key: str) -> str:
        return str(self.packages[key]["status"])

    def signed(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.packages.items() if k != UNSIGNED}


def _setup(directory: Path, evidence: str) -> Setup:
    running = serve_in_thread(WorldOptions(clock=FixedClock(FROZEN), evidence=evidence))
    front = FaultyFront(running.url).start()
    project = directory / "project"
    project.mkdir(parents=True)
    (project / "Cargo.lock").write_text(lockfile_text(running, front.url))
    (project / "mochi.toml").write_text(mochi_toml_text(running))
    root, _ = running.world.write_trust_files(directory)
    cargo_home = directory / "cargo-home"
    cargo_home.mkdir()
    return Setup(running, front, project, root, cargo_home)


@pytest.fixture(scope="module")
def setups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Setup]]:
    made = {evidence: _setup(tmp_path_factory.mktemp(evidence), evidence)
            for evidence in ("bundle", "rekor")}
    yield made
    for setup in made.values():
        setup.front.stop()
        setup.running.stop()


@pytest.fixture
def bundle(setups: dict[str, Setup]) -> Iterator[Setup]:
    yield from _clean(setups["bundle"])


@pytest.fixture
def rekor(setups: dict[str, Setup]) -> Iterator[Setup]:
    yield from _clean(setups["rekor"])


def _clean(setup: Setup) -> Iterator[Setup]:
    setup.faults.clear()
    setup.front.rules.clear()
    yield setup
    setup.faults.clear()
    setup.front.rules.clear()


@pytest.fixture
def check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    def run(setup: Setup, *extra: str) -> Outcome:
        monkeypatch.chdir(setup.project)
        monkeypatch.setenv("CARGO_HOME", str(setup.cargo_home))
        started = time.monotonic()
        code = main(["check", "--format", "json", "--trusted-root", str(setup.root),
                     "--no-cache", "--jobs", "1", *extra])
        seconds = time.monotonic() - started
        out = capsys.readouterr().out
        packages = {f"{p['name']}@{p['version']}": p for p in json.loads(out)["packages"]}
        return Outcome(code, seconds, packages)

    return run


def _assert_all_verified(outcome: Outcome) -> None:
    assert outcome.code == 0, outcome.packages
    assert {p["status"] for p in outcome.signed().values()} == {"verified"}
    assert outcome.status(UNSIGNED) == "unsigned"


def _assert_infra(outcome: Outcome, keys: list[str], reason: str) -> None:
    """Exit 3; these packages have no verdict for the given reason, and none of them passed."""
    assert outcome.code == 3, outcome.packages
    for key in keys:
        package = outcome.packages[key]
        assert (package["status"], package["code"]) == ("failed", "infrastructure-error"), package
        assert reason in package["reason"], package["reason"]


# -- the world's switches: 5xx, 429, latency --------------------------------------------------


def test_transient_5xx_is_retried_to_a_verdict(bundle: Setup, check: Any) -> None:
    bundle.faults.set({"http_errors": [{"path": "/index/", "status": 503, "times": 2},
                                       {"path": "/bundles/", "status": 502, "times": 2}]})
    _assert_all_verified(check(bundle))


def test_persistent_5xx_on_one_crate_fails_only_that_crate(bundle: Setup, check: Any) -> None:
    bundle.faults.set({"http_errors": [{"path": "/index/mo/ch/mochi-util", "status": 500}]})
    outcome = check(bundle)
    util = [k for k in outcome.packages if k.startswith("mochi-util@")]
    _assert_infra(outcome, util, "HTTP 500")
    others = {k: v["status"] for k, v in outcome.signed().items() if k not in util}
    assert set(others.values()) == {"verified"}


def test_rekor_down_is_exit_3_not_a_pass(rekor: Setup, check: Any) -> None:
    rekor.faults.set({"http_errors": [{"path": "/rekor/", "status": 503}]})
    outcome = check(rekor)
    _assert_infra(outcome, list(outcome.signed()), "HTTP 503")
    assert outcome.status(UNSIGNED) == "unsigned"


def test_429_retry_after_is_honoured(bundle: Setup, check: Any) -> None:
    bundle.faults.set({"http_errors": [{"path": "/index/mo/ch/mochi-log", "status": 429,
                                        "times": 1, "retry_after": 1}]})
    outcome = check(bundle)
    _assert_all_verified(outcome)
    assert outcome.seconds >= 1.0  # the retry waited as the server asked


def test_long_retry_after_gives_up_at_the_deadline(bundle: Setup, check: Any) -> None:
    bundle.faults.set({"http_errors": [{"path": "/index/mo/ch/mochi-log", "status": 429,
                                        "retry_after": 3600}]})
    outcome = check(bundle, "--timeout", "3")
    _assert_infra(outcome, ["mochi-log@0.1.0"], "HTTP 429")
    assert outcome.seconds < 3 + 2
    assert outcome.status("mochi-util@0.1.0") == "verified"


def test_slow_server_stops_at_the_deadline(bundle: Setup, check: Any) -> None:
    bundle.faults.set({"latency_ms": 5_000})
    outcome = check(bundle, "--timeout", "2")
    _assert_infra(outcome, list(outcome.signed()), "deadline")
    assert outcome.seconds < 2 + 2


# -- the raw front: resets, truncation, slow-loris, huge bodies, redirects -------------------


def test_connection_resets_are_retried(bundle: Setup, check: Any) -> None:
    bundle.front.add("/index/", "reset", times=3)
    bundle.front.add("/dl/", "reset", times=2)
    _assert_all_verified(check(bundle))


def test_persistent_resets_on_rekor_are_exit_3(rekor: Setup, check: Any) -> None:
    rekor.front.add("/rekor/", "reset")
    outcome = check(rekor)
    _assert_infra(outcome, list(outcome.signed()), "attempts")
    assert outcome.status(UNSIGNED) == "unsigned"


def test_truncated_bundles_are_exit_3(bundle: Setup, check: Any) -> None:
    bundle.front.add("/bundles/", "truncate")
    outcome = check(bundle)
    _assert_infra(outcome, list(outcome.signed()), "attempts")


def test_reset_mid_download_is_exit_3(bundle: Setup, check: Any) -> None:
    bundle.front.add("/dl/mochi-log/", "reset-mid-body")
    outcome = check(bundle)
    _assert_infra(outcome, ["mochi-log@0.1.0"], "attempts")
    assert outcome.status("mochi-example@0.1.0") == "verified"


def test_one_truncated_download_is_retried(bundle: Setup, check: Any) -> None:
    bundle.front.add("/dl/", "truncate", times=1)
    _assert_all_verified(check(bundle))


def test_huge_declared_body_is_refused_at_once(bundle: Setup, check: Any) -> None:
    bundle.front.add("/index/mo/ch/mochi-log", "huge")
    outcome = check(bundle)
    _assert_infra(outcome, ["mochi-log@0.1.0"], "exceeds")
    assert outcome.seconds < 10


def test_endless_bundle_is_cut_at_the_size_cap(bundle: Setup, check: Any) -> None:
    bundle.front.add("/bundles/mochi-log/", "endless")
    outcome = check(bundle)
    _assert_infra(outcome, ["mochi-log@0.1.0"], "exceeds")
    assert outcome.status("mochi-util@0.1.0") == "verified"


def test_slowloris_download_stops_at_the_deadline(bundle: Setup, check: Any) -> None:
    bundle.front.add("/dl/mochi-log/", "slowloris")
    outcome = check(bundle, "--timeout", "3")
    _assert_infra(outcome, ["mochi-log@0.1.0"], "deadline")
    assert outcome.seconds < 3 + 2
    assert outcome.status("mochi-util@0.1.0") == "verified"


def test_bundle_redirect_to_another_host_is_refused(bundle: Setup, check: Any) -> None:
    bundle.front.add("/bundles/", "redirect", location_base=bundle.running.url)
    outcome = check(bundle)
    _assert_infra(outcome, list(outcome.signed()), "refusing redirect to another host")


def test_download_redirect_to_another_host_is_checked_by_hash(
    bundle: Setup, check: Any
) -> None:
    bundle.front.add("/dl/", "redirect", location_base=bundle.running.url)
    _assert_all_verified(check(bundle))
    bundle.front.rules.clear()
    bundle.faults.set({"tarball": {"mochi-log@0.1.0": "swap"}})  # the CDN behind the redirect
    bundle.front.add("/dl/", "redirect", location_base=bundle.running.url)
    outcome = check(bundle)
    assert outcome.code == 1
    assert outcome.packages["mochi-log@0.1.0"]["code"] == "tarball-mismatch"
