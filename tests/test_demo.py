"""`cargo-verify demo`: the installed command runs the main job end to end and says so."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path


def test_demo_runs_the_main_job(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "cargo-verify"
    # The demo sets its own CARGO_HOME; no cargo-verify setting of this shell may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_SIGSTORE_")}

    done = subprocess.run(
        [str(command), "demo", "--keep", str(tmp_path / "demo")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4] cargo-verify check"):
        assert any(line.startswith(step) for line in lines), step

    def row(status: str, package: str) -> str:
        (found,) = [line for line in lines if line.split()[:3] == [status, *package.split()]]
        return found

    assert "rekor #" in row("ok", "mochi-example 0.1.1")
    assert "https://github.com/example/mochi-example/" in row("ok", "mochi-example 0.1.1")
    assert "rekor #" in row("ok", "mochi-util 0.1.1")
    assert "[identity-mismatch]" in row("FAIL", "left-pad-rs 0.1.0")
    row("unsigned", "legacy-unsigned 0.1.0")
    row("skipped", "app 0.1.0")

    (problem,) = [line for line in lines if line.lstrip().startswith("error[")]
    assert problem.lstrip().startswith("error[identity-mismatch]: left-pad-rs@0.1.0")
    assert "expected repo:example/*" in problem and "someone-else/left-pad-rs" in problem
    assert "FAILED: 2 verified, 1 unsigned, 1 skipped, 1 failed" in lines
    assert any(line.startswith("demo: as expected") for line in lines)

    # The lockfile really came from cargo, against the demo's own registry.
    lock = tomllib.loads((tmp_path / "demo" / "app" / "Cargo.lock").read_text())
    names = sorted(p["name"] for p in lock["package"])
    assert names == ["app", "left-pad-rs", "legacy-unsigned", "mochi-example", "mochi-util"]
