"""`select_version` picks what real cargo locks, for requirements run through `cargo` itself.

Every case gets its own crate (`c00`, `c01`, …) holding that case's version set, so one
consumer project can depend on all of them at once: cargo allows one version per
semver-compatible range of a crate, and distinct names keep the cases independent. A case
with no acceptable version makes the whole resolution fail; such a dependency is noted as
"nothing selected", dropped, and cargo runs again.

The version sets are published into a private test world the way a release workflow
publishes: a trusted publisher per crate, `PUT /api/v1/crates/new` with an OIDC token,
signed by the registry, and yanked through the yank API. Cargo then resolves against the
world's sparse index over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargo_verify.mock.cargo_wire import build_publish_body
from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.registry import GITHUB_ISSUER, TrustedPublisher
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread
from cargo_verify.semver import Version, VersionReq, select_version
from tests.conftest import FROZEN, crate_archive

VersionSet = Sequence[tuple[str, bool]]  # (version, yanked)

MIXED: VersionSet = [
    ("0.0.3", False),
    ("0.0.4", False),
    ("0.1.0", False),
    ("0.1.5", False),
    ("0.2.0", False),
    ("0.2.3", False),
    ("0.2.9", True),
    ("1.0.0-alpha.1", False),
    ("1.0.0-beta", False),
    ("1.0.0", False),
    ("1.0.1-alpha", False),
    ("1.2.0", False),
    ("1.2.3", False),
    ("1.2.4-rc.1", False),
    ("1.3.0", False),
    ("1.9.0", True),
    ("2.0.0-rc.1", False),
    ("2.0.0", False),
    ("3.1.0", True),
]
PRE_ONLY: VersionSet = [
    ("0.9.0", True),
    ("1.0.0-alpha.1", False),
    ("1.0.0-beta.2", False),
    ("1.0.0-beta.11", False),
]
ALL_YANKED: VersionSet = [("1.0.0", True), ("1.1.0", True)]
# A partial `=1.2` refuses 1.2.0-beta even though another clause names a 1.2.0 pre-release.
PRE_UNDER_PARTIAL: VersionSet = [("1.1.0", False), ("1.2.0-beta", False)]

# (requirement, version set). No expected answers here: cargo provides them.
CASES: list[tuple[str, VersionSet]] = [
    ("1.2.3", MIXED),
    ("1.2.3+meta", MIXED),
    ("^0.2", MIXED),
    ("0.0.3", MIXED),
    ("0.0", MIXED),
    ("0", MIXED),
    ("~1.2", MIXED),
    ("~1.2.4-rc.0", MIXED),
    ("~1.0.1-alpha", MIXED),
    ("*", MIXED),
    ("1.*", MIXED),
    ("1.2.x", MIXED),
    (">= 1.2.0", MIXED),
    ("> 1", MIXED),
    ("<2", MIXED),
    ("<= 1.2", MIXED),
    ("=1.2", MIXED),
    ("=1.9.0", MIXED),
    (">=3", MIXED),
    (">=1.2, <1.5", MIXED),
    ("<1.2, ^1.2.2", MIXED),
    ("1.0.0-alpha.1", MIXED),
    ("=1.0.0-beta", MIXED),
    (">=1.0.0-alpha.1, <1.0.0", MIXED),
    ("^2.0.0-rc.1", MIXED),
    ("=2.0.0-rc.1", MIXED),
    (">1.2.3, <1.2.4-rc.2", MIXED),
    ("4", MIXED),
    ("*", PRE_ONLY),
    (">=1.0.0-alpha", PRE_ONLY),
    ("1.0.0-beta.3", PRE_ONLY),
    ("=1.0.0-alpha.1", PRE_ONLY),
    ("=1.1.0", ALL_YANKED),
    ("=1.2, >=1.2.0-alpha", PRE_UNDER_PARTIAL),
    (">=1.2.0-alpha, <1.3", PRE_UNDER_PARTIAL),
]

# How cargo reports a dependency it cannot satisfy; the second form is what it says when
# every version of the crate is yanked.
_NO_MATCH = re.compile(
    r"failed to select a version for the requirement `(?P<a>[\w-]+) = "
    r"|no matching package named `(?P<b>[\w-]+)` found"
)


@dataclass(frozen=True)
class PublishableCrate:
    name: str
    version: str
    yanked: bool
    crate_file: bytes  # the .crate: gzip tar, everything under `{name}-{version}/`
    meta: dict[str, Any]  # the publish metadata cargo would send with it




def publishable_crates(crates: Mapping[str, VersionSet]) -> list[PublishableCrate]:
    """Publish metadata and `.crate` bytes for each name's version set, in publish order."""
    published = []
    for name, versions in crates.items():
        for version, yanked in versions:
            meta: dict[str, Any] = {"name": name, "vers": version, "deps": [], "features": {}}
            published.append(
                PublishableCrate(name, version, yanked, crate_archive(name, version), meta)
            )
    return published


def publish_to_world(running: RunningWorld, crates: Sequence[PublishableCrate]) -> None:
    """Publish (and yank) every version through the world's HTTP API, as a release workflow would.

    Each crate name gets a trusted publisher first; every publish carries an OIDC token
    for that publisher's workflow at the version's tag, so the registry signs it.
    """
    registry = running.world.registry
    with httpx.Client(base_url=running.url, timeout=30) as client:
        for crate in crates:
            repository = f"semver-cases/{crate.name}"
            registry.publishers.setdefault(
                crate.name, TrustedPublisher(GITHUB_ISSUER, repository, "release.yml")
            )
            token = running.world.github_token(repository, f"refs/tags/v{crate.version}")
            headers = {"Authorization": f"Sigstore {token}"}
            body = build_publish_body(crate.meta, crate.crate_file)
            done = client.put("/api/v1/crates/new", content=body, headers=headers)
            assert done.status_code == 200, done.text
            assert "sigstore" in done.json(), done.text
            if crate.yanked:
                path = f"/api/v1/crates/{crate.name}/{crate.version}/yank"
                assert client.delete(path, headers=headers).status_code == 200


def lock_with_cargo(
    requirements: Mapping[str, str], index_url: str, work: Path
) -> dict[str, str | None]:
    """Version cargo locks for each dependency name, or None where resolution failed."""
    cargo = shutil.which("cargo")
    assert cargo is not None, "these tests need cargo on PATH"
    home, project = work / "cargo-home", work / "consumer"
    home.mkdir()
    (home / "config.toml").write_text(f"[registries.tw]\nindex = {json.dumps(index_url)}\n")
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text("")
    env = {**os.environ, "CARGO_HOME": str(home), "CARGO_TERM_COLOR": "never"}
    env["CARGO_NET_RETRY"] = "0"
    env.pop("CARGO_REGISTRY_DEFAULT", None)
    chosen: dict[str, str | None] = {}
    pending = dict(requirements)
    while pending:
        deps = "".join(
            f'{name} = {{ version = {json.dumps(req)}, registry = "tw" }}\n'
            for name, req in pending.items()
        )
        (project / "Cargo.toml").write_text(
            '[package]\nname = "consumer"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f"[dependencies]\n{deps}"
        )
        run = subprocess.run(
            [cargo, "generate-lockfile"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if run.returncode == 0:
            lock = tomllib.loads((project / "Cargo.lock").read_text())
            locked = {p["name"]: p["version"] for p in lock["package"] if p["name"] in pending}
            assert locked.keys() == pending.keys(), run.stderr
            return chosen | locked
        failed = _NO_MATCH.search(run.stderr)
        name = None if failed is None else failed["a"] or failed["b"]
        assert name in pending, run.stderr
        chosen[name] = None
        del pending[name]
    return chosen


@pytest.fixture(scope="module")
def cargo_choices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str | None]]:
    crates = {f"c{number:02}": versions for number, (_, versions) in enumerate(CASES)}
    requirements = {f"c{number:02}": req for number, (req, _) in enumerate(CASES)}
    running = serve_in_thread(WorldOptions(clock=FixedClock(FROZEN), publish_fixtures=False))
    try:
        publish_to_world(running, publishable_crates(crates))
        work = tmp_path_factory.mktemp("cargo-semver")
        yield lock_with_cargo(requirements, running.world.index_url, work)
    finally:
        running.stop()


def test_enough_cases_including_yanked_prerelease_and_no_match(
    cargo_choices: dict[str, str | None],
) -> None:
    assert len(CASES) >= 25
    picked = [v for v in cargo_choices.values() if v is not None]
    assert any("-" in v for v in picked), "no case where cargo picked a pre-release"
    assert None in cargo_choices.values(), "no case where cargo found nothing"
    yanked = {v for _, versions in CASES for v, is_yanked in versions if is_yanked}
    assert yanked, "no yanked versions in the version sets"


@pytest.mark.parametrize(
    ("number", "req", "versions"),
    [(number, req, versions) for number, (req, versions) in enumerate(CASES)],
    ids=[f"c{number:02}:{req}" for number, (req, _) in enumerate(CASES)],
)
def test_select_version_agrees_with_cargo(
    cargo_choices: dict[str, str | None], number: int, req: str, versions: VersionSet
) -> None:
    candidates = [(Version.parse(v), yanked) for v, yanked in versions]
    ours = select_version(VersionReq.parse(req), candidates)
    cargos = cargo_choices[f"c{number:02}"]
    assert (None if ours is None else str(ours)) == cargos
