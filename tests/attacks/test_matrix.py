"""The attack matrix: each attack fails exactly its target, for a reason that names it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cargo_verify._cli import main
from cargo_verify.mock.attacks import ATTACKS
from cargo_verify.model import Code, Status
from tests.attacks.harness import (
    CASES,
    EXPECTED,
    ROUTES,
    TARGET,
    AttackBench,
    judge,
    run_matrix,
)

REPO = Path(__file__).resolve().parents[2]


class _Benches:
    """One bench per route, started when a test first needs it."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._benches: dict[str, AttackBench] = {}

    def __getitem__(self, route: str) -> AttackBench:
        if route not in self._benches:
            self._benches[route] = AttackBench(route, self._factory.mktemp(f"bench-{route}"))
        return self._benches[route]

    def stop(self) -> None:
        for bench in self._benches.values():
            bench.stop()


@pytest.fixture(scope="module")
def benches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Benches]:
    created = _Benches(tmp_path_factory)
    yield created
    created.stop()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_without_attacks_every_signed_release_verifies(benches: _Benches, route: str) -> None:
    baseline = dict(benches[route].baseline)
    assert baseline.pop("legacy-unsigned@0.1.0") is Status.UNSIGNED
    assert set(baseline.values()) == {Status.VERIFIED}
    assert TARGET in baseline


@pytest.mark.parametrize(("attack", "route"), CASES, ids=[f"{a}[{r}]" for a, r in CASES])
def test_attack_fails_only_its_target(benches: _Benches, attack: str, route: str) -> None:
    bench = benches[route]
    report = bench.run({TARGET: attack})
    outcome = judge(bench, attack, report)
    assert outcome.false_pass is None, outcome.false_pass
    assert outcome.lost == ()
    assert report.exit_code == 1


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_whole_matrix_at_once_no_false_pass_no_good_package_lost(
    tmp_path: Path, route: str
) -> None:
    bench = AttackBench(route, tmp_path, extra_targets=len(ATTACKS))
    try:
        outcomes = run_matrix(bench)
    finally:
        bench.stop()
    false_passes = [f"{o.attack}: {o.false_pass}" for o in outcomes if o.false_pass]
    lost = sorted({item for o in outcomes for item in o.lost})
    print(f"\nattack matrix [{route}]: {len(outcomes)} attacks at once, {len(false_passes)} "
          f"packages passed that should have failed, {len(lost)} good packages lost")
    assert len(outcomes) == sum(route in attack.routes for attack in ATTACKS.values())
    assert false_passes == []
    assert lost == []


def test_every_attack_has_an_expectation_and_a_threat_model_row() -> None:
    assert set(EXPECTED) == set(ATTACKS)
    rows = (REPO / "docs" / "threat-model.md").read_text(encoding="utf-8")
    for name in ATTACKS:
        assert re.search(rf"^\|[^\n]*`{re.escape(name)}`[^\n]*test_attack_fails_only_its_target",
                         rows, re.M), f"docs/threat-model.md has no row for {name}"


def test_threat_model_names_only_tests_that_exist() -> None:
    text = (REPO / "docs" / "threat-model.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_[a-z0-9_]+)", text))
    defined = {
        match
        for path in (REPO / "tests").rglob("test_*.py")
        for match in re.findall(r"^def (test_[a-z0-9_]+)\(", path.read_text(), re.M)
    }
    assert len(named) > 20
    assert named - defined == set()


def test_global_switch_attacks_every_signed_release(benches: _Benches) -> None:
    report = benches["bundle"].run({"*": "checkpoint-other-key"})
    for verdict in report.verdicts:
        if verdict.package.name == "legacy-unsigned":
            assert verdict.status is Status.UNSIGNED
        else:
            assert (verdict.status, verdict.code) == (Status.FAILED, Code.SIGNATURE_INVALID)
    assert report.exit_code == 1


def test_inconsistent_certificate_is_refused_under_the_default_policy(
    benches: _Benches, tmp_path: Path
) -> None:
    # No trust entries: "any OIDC subject" still needs a certificate that does not lie.
    empty = tmp_path / "mochi.toml"
    empty.write_text("")
    bench = benches["rekor"]
    report = bench.run({TARGET: "extension-san-mismatch"}, mochi_toml=empty)
    outcome = judge(bench, "extension-san-mismatch", report)
    assert outcome.false_pass is None, outcome.false_pass
    # ...while another identity's valid signature is what the default policy accepts.
    other = bench.run({TARGET: "identity-other-repo"}, mochi_toml=empty)
    assert {v.package.key: v.status for v in other.verdicts}[TARGET] is Status.VERIFIED


def test_cli_reports_the_attack_and_exits_1(
    benches: _Benches, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = benches["bundle"]
    faults = bench.running.world.faults  # type: ignore[attr-defined]
    monkeypatch.chdir(bench.project)
    monkeypatch.setenv("CARGO_HOME", str(bench.cargo_home))
    faults.set({"attack": {TARGET: "untrusted-ca"}})
    try:
        code = main(["check", "--format", "json", "--trusted-root", str(bench.root),
                     "--no-cache", "--jobs", "1"])
    finally:
        faults.clear()
    report = json.loads(capsys.readouterr().out)
    by_key = {f"{p['name']}@{p['version']}": p for p in report["packages"]}
    assert code == 1
    assert by_key[TARGET]["code"] == "signature-invalid"
    assert "not issued by a CA of the trusted root" in by_key[TARGET]["reason"]
    assert report["summary"]["failed"] == 1


def test_attack_switches_over_http(benches: _Benches) -> None:
    url = benches["bundle"].running.url + "/_faults"
    try:
        answer = httpx.post(url, json={"attack": {TARGET: ["set-missing", "tarball-swap"]}})
        assert answer.status_code == 200
        assert answer.json()["attack"] == {TARGET: ["set-missing", "tarball-swap"]}
        unknown = httpx.post(url, json={"attack": {TARGET: "no-such-attack"}})
        assert unknown.status_code == 400 and "known: " in unknown.json()["message"]
        unsigned = httpx.post(url, json={"attack": {"legacy-unsigned@0.1.0": "set-missing"}})
        assert unsigned.status_code == 400 and "not a signed" in unsigned.json()["message"]
    finally:
        httpx.delete(url)
