"""The Python API gives the CLI's Report, and stays light: no sigstore import until needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cargo_verify
from cargo_verify.mock.world import RunningWorld
from tests.conftest import CheckRunner, LockedProject, cargo_env, lock_project

DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
mochi-log = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
"""
SIGNED_DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
mochi-log = { version = "0.1", registry = "mochi" }
"""
# mochi-log is really published by example/mochi-log: one failure, for a non-trivial Report.
MOCHI_TOML = (
    '[rust-dependencies.mochi-log]\nversion = "^0.1"\n'
    'trust = { repository = "example/mochi-util" }\n'
)


@pytest.fixture
def project(world: RunningWorld, tmp_path: Path) -> LockedProject:
    locked = lock_project(tmp_path, {"mochi": world}, DEPENDENCIES)
    (locked.directory / "mochi.toml").write_text(MOCHI_TOML)
    return locked


def api_env(project: LockedProject) -> dict[str, str]:
    env = cargo_env(project.cargo_home)
    return {k: v for k, v in env.items() if not k.startswith("CARGO_SIGSTORE_")}


def test_api_report_equals_cli_report(project: LockedProject, check_cli: CheckRunner) -> None:
    cli = check_cli(project, "--format", "json")

    report = cargo_verify.verify_lockfile(
        project.lockfile, cwd=project.directory, env=api_env(project), use_cache=False
    )

    assert isinstance(report, cargo_verify.Report)
    assert cli.exit_code == report.exit_code == 1
    document = report.to_json()
    assert document["packages"] == cli.document["packages"]
    assert document["summary"] == cli.document["summary"]
    assert Path(str(document["lockfile"])) == project.lockfile
    by_name = {v.package.name: v for v in report.verdicts}
    assert by_name["mochi-log"].status is cargo_verify.Status.FAILED
    assert by_name["mochi-log"].code is cargo_verify.Code.IDENTITY_MISMATCH
    assert by_name["legacy-unsigned"].status is cargo_verify.Status.UNSIGNED


def test_api_settings_beat_files(project: LockedProject) -> None:
    report = cargo_verify.verify_lockfile(
        project.lockfile, cwd=project.directory, env=api_env(project), use_cache=False,
        unsigned="deny", trust={"mochi-log": cargo_verify.TrustRule(repository="example/*")},
    )

    codes = {v.package.name: v.code for v in report.verdicts if v.status.value == "failed"}
    assert codes == {"legacy-unsigned": cargo_verify.Code.UNSIGNED}


def test_api_usage_error_is_raised(tmp_path: Path) -> None:
    with pytest.raises(cargo_verify.UsageError, match="lockfile not found"):
        cargo_verify.verify_lockfile(tmp_path / "Cargo.lock", cwd=tmp_path, env={})


# -- what gets imported ---------------------------------------------------------------------

# Runs BODY (which sets `result`) in a fresh interpreter and reports which sigstore modules
# got imported and how often the process forked (verification workers are forked from it).
_PROBE = """
import json, os, sys
forks = []
_real_fork = os.fork
def _counting_fork():
    forks.append(1)
    return _real_fork()
os.fork = _counting_fork
{body}
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "sigstore")
print(json.dumps({{"result": result, "sigstore": loaded, "forks": len(forks)}}))
"""
_VERIFY = """
from pathlib import Path
from cargo_verify import verify_lockfile
args = json.loads(sys.argv[1])
report = verify_lockfile(Path(args["lockfile"]), cwd=Path(args["cwd"]), env=args["env"],
                         cache_dir=Path(args["cache"]))
result = report.to_json()
"""
_LOAD_ROOT = """
from cargo_verify.verify import TrustRootSpec, load_trusted_root
load_trusted_root(TrustRootSpec(path=sys.argv[1]))
result = None
"""


def probe(body: str, *argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body), *argv],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout.splitlines()[-1])
    assert isinstance(parsed, dict)
    return parsed


def test_import_does_not_load_sigstore() -> None:
    out = probe("import cargo_verify, cargo_verify._cli\nresult = cargo_verify.__version__")
    assert out["result"] == cargo_verify.__version__
    assert out["sigstore"] == []


def _verify_in_subprocess(project: LockedProject, cache: Path) -> dict[str, Any]:
    args = {
        "lockfile": str(project.lockfile), "cwd": str(project.directory),
        "env": api_env(project), "cache": str(cache),
    }
    return probe(_VERIFY, json.dumps(args))


def test_probe_sees_sigstore_when_it_is_loaded(trust_files: dict[str, Path]) -> None:
    out = probe(_LOAD_ROOT, str(trust_files["trusted_root"]))
    assert "sigstore.models" in out["sigstore"]


def test_cache_hit_run_does_not_load_sigstore(
    fresh_world: RunningWorld, tmp_path: Path
) -> None:
    # Only signed crates: an unsigned verdict is never cached, so it would need the network.
    project = lock_project(tmp_path, {"mochi": fresh_world}, SIGNED_DEPENDENCIES)
    cache = tmp_path / "verdict-cache"

    first = _verify_in_subprocess(project, cache)
    # Every endpoint now fails: the second run can only be answered from the cache.
    fresh_world.world.faults.set(  # type: ignore[attr-defined]
        {"http_errors": [{"path": "/", "status": 503, "times": 100000}]}
    )
    second = _verify_in_subprocess(project, cache)

    assert first["forks"] >= 1  # verification workers ran
    assert second["forks"] == 0 and second["sigstore"] == []
    first_report, second_report = first["result"], second["result"]
    pairs = zip(first_report["packages"], second_report["packages"], strict=True)
    for before, after in pairs:
        assert before["name"] == after["name"]
        if before["source"] is not None:
            assert before["status"] == after["status"] == "verified"
            assert after["evidence"] == f"cache ({before['evidence']})"
            for field in ("rekor_log_index", "issuer", "identity"):
                assert after[field] == before[field]
    assert second_report["summary"] == first_report["summary"] == {
        "total": 5, "verified": 4, "failed": 0, "unsigned": 0, "skipped": 1,
        "infrastructure_errors": 0,
    }
