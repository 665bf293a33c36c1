"""Fixture crates: reproducible with real `cargo package`, truly described by publishers.toml."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cargo_verify.mock.registry import (
    FixtureRelease,
    TrustedPublisher,
    UnsignedPublisher,
    load_fixture_publishers,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crates"
FIXTURE_SET = load_fixture_publishers(FIXTURES)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_regen_reproduces_every_committed_crate_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [str(FIXTURES / "regen.sh"), "--out", str(out), "--no-verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    committed = {p.name: sha256(p) for p in (FIXTURES / "dist").glob("*.crate")}
    rebuilt = {p.name: sha256(p) for p in out.glob("*.crate")}
    assert rebuilt == committed
    # regen.sh prints `sha256  file` for each crate, in publish order.
    printed = [line.split() for line in result.stdout.splitlines()]
    assert [name for _, name in printed] == [
        f"{r.name}-{r.version}.crate" for r in FIXTURE_SET.releases
    ]
    assert all(committed[name] == digest for digest, name in printed)


def test_dist_holds_exactly_the_releases() -> None:
    expected = {f"{r.name}-{r.version}.crate" for r in FIXTURE_SET.releases}
    assert {p.name for p in (FIXTURES / "dist").glob("*.crate")} == expected
    assert {p.name for p in (FIXTURES / "src").iterdir()} == {e[: -len(".crate")] for e in expected}


def test_the_set_has_what_lockfile_tests_need() -> None:
    versions: dict[str, list[str]] = {}
    for release in FIXTURE_SET.releases:
        versions.setdefault(release.name, []).append(release.version)
    assert versions["mochi-util"] == ["0.1.0", "0.1.1", "0.2.0"]
    assert any("-" in v for v in versions["mochi-example"])  # a pre-release
    unsigned = [n for n, p in FIXTURE_SET.publishers.items() if isinstance(p, UnsignedPublisher)]
    assert unsigned == ["legacy-unsigned"]
    left_pad = FIXTURE_SET.publishers["left-pad-rs"]
    assert isinstance(left_pad, TrustedPublisher)
    assert not left_pad.repository.startswith("example/")  # the demo's failing case
    for name, publisher in FIXTURE_SET.publishers.items():
        if isinstance(publisher, TrustedPublisher) and name != "left-pad-rs":
            assert publisher.repository == f"example/{name}"


def packaged_manifest(release: FixtureRelease) -> dict[str, Any]:
    prefix = f"{release.name}-{release.version}/"
    with tarfile.open(fileobj=io.BytesIO(release.crate_bytes()), mode="r:gz") as archive:
        names = archive.getnames()
        assert all(n.startswith(prefix) for n in names), names
        member = archive.extractfile(prefix + "Cargo.toml")
        assert member is not None
        manifest: dict[str, Any] = tomllib.loads(member.read().decode())
    assert ".cargo_vcs_info.json" not in {n.removeprefix(prefix) for n in names}
    return manifest


DEP_KEYS = (
    "name", "explicit_name_in_toml", "version_req", "features", "optional", "default_features",
    "kind", "target", "registry",
)  # fmt: skip


def cargo_req(req: str) -> str:
    """How cargo's publish API spells a manifest requirement (a bare `0.1` is `^0.1`)."""
    return f"^{req}" if req[:1].isdigit() else req


@pytest.mark.parametrize("release", FIXTURE_SET.releases, ids=lambda r: f"{r.name}-{r.version}")
def test_publish_metadata_matches_the_packaged_manifest(release: FixtureRelease) -> None:
    manifest = packaged_manifest(release)
    package = manifest["package"]
    assert (package["name"], package["version"]) == (release.name, release.version)
    assert release.meta["rust_version"] == package.get("rust-version")
    assert release.meta["features"] == manifest.get("features", {})
    assert release.meta["links"] == package.get("links")

    from_manifest = []
    for key, dep in manifest.get("dependencies", {}).items():
        from_manifest.append(
            {
                "name": dep.get("package", key),
                "explicit_name_in_toml": key if "package" in dep else None,
                "version_req": cargo_req(dep["version"]),
                "features": dep.get("features", []),
                "optional": dep.get("optional", False),
                "default_features": dep.get("default-features", True),
                "kind": "normal",
                "target": None,
                "registry": None,
            }
        )
    assert not {"dev-dependencies", "build-dependencies", "target"} & set(manifest)
    published = [{key: dep[key] for key in DEP_KEYS} for dep in release.meta["deps"]]

    def by_name(deps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(deps, key=lambda d: str(d["name"]))

    assert by_name(published) == by_name(from_manifest)
