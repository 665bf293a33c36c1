"""`cargo-verify demo`: the main job, end to end, on the embedded local test world.

Starts the test world on 127.0.0.1 (OIDC issuer, Fulcio-shaped CA, Rekor-shaped log and a
registry that signs every publish), locks a small project against it with real cargo, writes a
mochi.toml with trust entries, and runs `cargo-verify check` on the lockfile. One dependency,
left-pad-rs, is really published by `someone-else/left-pad-rs` while the trust entry allows only
the `example` organisation, so it fails with the expected and found identities. The command
exits 0 when the outcome is exactly that, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cargo_verify.errors import InfraError
from cargo_verify.model import Report, Status

DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
left-pad-rs = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
"""

MOCHI_TOML = """\
# Trust entries (design §3.1): who may publish each crate.
[rust-dependencies.mochi-example]
version = "^0.1"
trust = { issuer = "https://token.actions.githubusercontent.com", \
subject = "repo:example/mochi-example:ref:refs/tags/v*" }

[rust-dependencies.left-pad-rs]
version = "^0.1"
trust = { issuer = "https://token.actions.githubusercontent.com", subject = "repo:example/*" }
"""


def _say(text: str) -> None:
    print(text, flush=True)


def _cargo() -> str:
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(found).exists():
        raise InfraError("the demo needs cargo on PATH (https://rustup.rs)")
    return found


def run_demo(args: argparse.Namespace) -> int:
    from cargo_verify.commands.check import plan_check, run_plan
    from cargo_verify.mock.world import WorldOptions, serve_in_thread
    from cargo_verify.report.human import HumanReporter

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cargo-verify-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    _say("[1/4] Starting the local test world (OIDC issuer, Fulcio CA, Rekor log, registry)")
    running = serve_in_thread(WorldOptions(state_dir=base / "world"))
    try:
        world = running.world
        root, _config = world.write_trust_files(base / "world")
        _say(f"      registry {world.index_url}  rekor {world.rekor_url}")
        _say(f"      {len(world.fixtures)} fixture releases published through managed signing")

        cargo_home = base / "cargo-home"
        cargo_home.mkdir(exist_ok=True)
        (cargo_home / "config.toml").write_text(
            f'[registries.mochi]\nindex = "{world.index_url}"\n\n'
            f'[sigstore]\ntrusted-root = "{root}"\n'
        )
        env = dict(os.environ, CARGO_HOME=str(cargo_home), CARGO_TERM_COLOR="never")
        project = base / "app"
        if project.exists():
            shutil.rmtree(project)
        _say("[2/4] Locking a small project with real cargo (cargo generate-lockfile)")
        cargo = _cargo()
        for command in (
            [cargo, "new", "-q", "--vcs", "none", str(project)],
            [cargo, "generate-lockfile", "--manifest-path", str(project / "Cargo.toml")],
        ):
            if command[1] == "generate-lockfile":
                with (project / "Cargo.toml").open("a") as manifest:
                    manifest.write(DEPENDENCIES)
            done = subprocess.run(command, env=env, cwd=base, capture_output=True, text=True)
            if done.returncode != 0:
                raise InfraError(f"{' '.join(command[:2])} failed:\n{done.stderr}")
        (project / "mochi.toml").write_text(MOCHI_TOML)
        _say(f"      {project / 'Cargo.lock'}")
        _say("[3/4] Trust entries in mochi.toml: mochi-example from example/mochi-example tags,")
        _say("      left-pad-rs only from the `example` org (it is published by someone-else)")
        _say("[4/4] cargo-verify check")
        _say("")
        plan = plan_check(project / "Cargo.lock", cwd=project, env=env, use_cache=False)
        report = run_plan(plan, show_progress=False)
        sys.stdout.write(HumanReporter().render(report))
    finally:
        running.stop()
    expected = _as_expected(report)
    _say("")
    if expected:
        _say("demo: as expected, the crates from trusted publishers verified and left-pad-rs was")
        _say("refused because its publisher is not the one mochi.toml trusts.")
        _say(f"demo files: {base}")
        return 0
    _say("demo: UNEXPECTED outcome (see above)")
    return 1


def _as_expected(report: Report) -> bool:
    by_name = {v.package.name: v for v in report.verdicts}
    left_pad = by_name.get("left-pad-rs")
    return (
        left_pad is not None
        and left_pad.status is Status.FAILED
        and str(left_pad.code) == "identity-mismatch"
        and all(
            by_name.get(name) is not None and by_name[name].status is Status.VERIFIED
            for name in ("mochi-example", "mochi-util")
        )
        and by_name.get("legacy-unsigned") is not None
        and by_name["legacy-unsigned"].status is Status.UNSIGNED
    )
