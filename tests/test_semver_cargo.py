"""`select_version` picks what real cargo locks, for requirements run through `cargo` itself.

Every case gets its own crate (`c00`, `c01`, …) holding that case's version set, so one
consumer project can depend on all of them at once: cargo allows one version per
semver-compatible range of a crate, and distinct names keep the cases independent. A case
with no acceptable version makes the whole resolution fail; such a dependency is noted as
"nothing selected", dropped, and cargo runs again.

The registry is a cargo `local-registry` (cargo-facts.md §4). `publishable_crates` only
produces index lines and `.crate` bytes, so the same version sets can be published to the
test world's sparse registry instead.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cargo_verify.semver import Version, VersionReq, select_version

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
    index_line: str  # one line of the registry index, without the newline


def _crate_file(name: str, version: str) -> bytes:
    manifest = f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'
    members = {"Cargo.toml": manifest.encode(), "src/lib.rs": b""}
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mtime, info.mode = len(data), 1153704088, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(tar_bytes.getvalue(), mtime=0)


def publishable_crates(crates: Mapping[str, VersionSet]) -> list[PublishableCrate]:
    """Index lines and `.crate` bytes for each name's version set, ready for any registry."""
    published = []
    for name, versions in crates.items():
        for version, yanked in versions:
            crate_file = _crate_file(name, version)
            line = {
                "name": name,
                "vers": version,
                "deps": [],
                "cksum": hashlib.sha256(crate_file).hexdigest(),
                "features": {},
                "yanked": yanked,
            }
            published.append(PublishableCrate(name, version, yanked, crate_file, json.dumps(line)))
    return published


def index_path(name: str) -> str:
    """Where a crate's index file lives, relative to the index root (cargo's `make_dep_path`)."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[0:2]}/{lower[2:4]}/{lower}"


def write_local_registry(root: Path, crates: Sequence[PublishableCrate]) -> None:
    for crate in crates:
        index_file = root / "index" / index_path(crate.name)
        index_file.parent.mkdir(parents=True, exist_ok=True)
        with index_file.open("a") as lines:
            lines.write(crate.index_line + "\n")
        (root / f"{crate.name}-{crate.version}.crate").write_bytes(crate.crate_file)


def lock_with_cargo(
    requirements: Mapping[str, str], registry: Path, work: Path
) -> dict[str, str | None]:
    """Version cargo locks for each dependency name, or None where resolution failed."""
    cargo = shutil.which("cargo")
    assert cargo is not None, "these tests need cargo on PATH"
    home, project = work / "cargo-home", work / "consumer"
    home.mkdir()
    (home / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "local"\n\n'
        f"[source.local]\nlocal-registry = {json.dumps(str(registry))}\n"
    )
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text("")
    env = {**os.environ, "CARGO_HOME": str(home), "CARGO_TERM_COLOR": "never"}
    chosen: dict[str, str | None] = {}
    pending = dict(requirements)
    while pending:
        deps = "".join(f"{name} = {json.dumps(req)}\n" for name, req in pending.items())
        (project / "Cargo.toml").write_text(
            '[package]\nname = "consumer"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f"[dependencies]\n{deps}"
        )
        run = subprocess.run(
            [cargo, "generate-lockfile", "--offline"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
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
def cargo_choices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    work = tmp_path_factory.mktemp("cargo-semver")
    crates = {f"c{number:02}": versions for number, (_, versions) in enumerate(CASES)}
    write_local_registry(work / "registry", publishable_crates(crates))
    requirements = {f"c{number:02}": req for number, (req, _) in enumerate(CASES)}
    return lock_with_cargo(requirements, work / "registry", work)


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
