"""Synthetic registry for the benchmark: N signed crates in a test-world state directory.

Every crate is published through the registry's managed-signing path (`publish_fixture`:
publisher check, Fulcio-shaped certificate, Rekor entry, bundle), exactly as the fixture
crates are, and persisted so that a separate server process can load it. All crates share
one trusted publisher (a workspace released from one repository and tag), so one identity
covers every input of the `sigstore verify identity` baseline.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cargo_verify.mock.registry import GITHUB_ISSUER, TrustedPublisher
from cargo_verify.mock.world import PUBLISH_AUDIENCE, World, WorldOptions

if TYPE_CHECKING:
    from cargo_verify.verify import VerifyJob

REPOSITORY = "bench/workspace"
WORKFLOW = "release.yml"
VERSION = "0.1.0"
REF = f"refs/tags/v{VERSION}"
ISSUER = GITHUB_ISSUER
IDENTITY = f"https://github.com/{REPOSITORY}/.github/workflows/{WORKFLOW}@{REF}"
SUBJECT_GLOB = f"repo:{REPOSITORY}:ref:refs/tags/v*"  # the trust entry every crate gets
MANIFEST_NAME = "synth.json"
_FORMAT = 2  # bump when the generated data changes shape


def crate_name(number: int) -> str:
    return f"bench-crate-{number:04d}"


def crate_bytes(name: str, version: str, payload_bytes: int = 0) -> bytes:
    """A small valid `.crate` (gzip tar under `name-version/`); optional incompressible data."""
    prefix = f"{name}-{version}/"
    files: list[tuple[str, bytes]] = [
        (
            "Cargo.toml",
            f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'
            f'description = "synthetic benchmark crate"\nlicense = "MIT"\n'.encode(),
        ),
        ("src/lib.rs", f"pub fn id() -> &'static str {{ \"{name}\" }}\n".encode()),
    ]
    if payload_bytes:
        files.append(("data/blob.bin", os.urandom(payload_bytes)))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for relative, data in files:
            info = tarfile.TarInfo(prefix + relative)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def _publish_meta(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name, "vers": version, "deps": [], "features": {}, "authors": [],
        "description": "synthetic benchmark crate", "documentation": None, "homepage": None,
        "readme": None, "readme_file": None, "keywords": [], "categories": [],
        "license": "MIT", "license_file": None, "repository": None, "badges": {},
        "links": None, "rust_version": None,
    }


@dataclass(frozen=True)
class SynthCrate:
    name: str
    version: str
    checksum: str
    size: int


@dataclass(frozen=True)
class SynthRegistry:
    state_dir: Path
    crates: tuple[SynthCrate, ...]
    build_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "build_seconds": self.build_seconds,
            "crates": [[c.name, c.version, c.checksum, c.size] for c in self.crates],
        }


def _spec(count: int, big: dict[int, int]) -> dict[str, Any]:
    return {"format": _FORMAT, "count": count, "big": [[n, b] for n, b in sorted(big.items())]}


def build_registry(state_dir: Path, count: int, big: dict[int, int] | None = None) -> SynthRegistry:
    """Publish `count` crates into `state_dir` (re-used when it already holds the same spec).

    `big` maps crate numbers to a payload size in bytes (for the memory run).
    """
    big = big or {}
    manifest = state_dir / MANIFEST_NAME
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("spec") == _spec(count, big):
            return SynthRegistry(
                state_dir,
                tuple(SynthCrate(*row) for row in saved["registry"]["crates"]),
                float(saved["registry"]["build_seconds"]),
            )
    if state_dir.exists() and any(state_dir.iterdir()):
        raise SystemExit(f"{state_dir} holds other data; remove it or pick another directory")
    started = time.perf_counter()
    world = World(
        "http://127.0.0.1:1",  # index lines and bundles do not depend on the URL
        WorldOptions(state_dir=state_dir, publish_fixtures=False),
    )
    publisher = TrustedPublisher(issuer=ISSUER, repository=REPOSITORY, workflow=WORKFLOW)
    claims = world.oidc.github_claims(
        REPOSITORY, REF, workflow_file=WORKFLOW, issuer=ISSUER, audience=PUBLISH_AUDIENCE
    )
    crates: list[SynthCrate] = []
    import hashlib

    try:
        for number in range(1, count + 1):
            name = crate_name(number)
            data = crate_bytes(name, VERSION, big.get(number, 0))
            world.registry.publishers[name] = publisher
            world.registry.publish_fixture(name, VERSION, data, _publish_meta(name, VERSION),
                                           dict(claims))
            crates.append(SynthCrate(name, VERSION, hashlib.sha256(data).hexdigest(), len(data)))
    finally:
        world.log.close()
    registry = SynthRegistry(state_dir, tuple(crates), time.perf_counter() - started)
    manifest.write_text(json.dumps({"spec": _spec(count, big), "registry": registry.to_json()}))
    return registry


def write_lockfile(path: Path, crates: list[SynthCrate], index_url: str) -> None:
    """A v4 Cargo.lock: a root package depending on every crate, then the crates."""
    root_deps = "".join(f' "{c.name}",\n' for c in crates)
    parts = [
        "# This file is automatically @generated by Cargo.\n"
        "# It is not intended for manual editing.\n"
        "version = 4\n\n"
        f'[[package]]\nname = "bench-root"\nversion = "0.1.0"\ndependencies = [\n{root_deps}]\n'
    ]
    for crate in crates:
        parts.append(
            f'\n[[package]]\nname = "{crate.name}"\nversion = "{crate.version}"\n'
            f'source = "{index_url}"\nchecksum = "{crate.checksum}"\n'
        )
    path.write_text("".join(parts))


def write_mochi_toml(path: Path, crates: list[SynthCrate]) -> None:
    """Trust entries naming the publisher of every crate (the identity the baselines check)."""
    lines = []
    for crate in crates:
        lines.append(
            f"[rust-dependencies.{crate.name}]\nversion = \"={crate.version}\"\n"
            f'trust = {{ issuer = "{ISSUER}", subject = "{SUBJECT_GLOB}" }}\n'
        )
    path.write_text("\n".join(lines))


def verify_jobs(state_dir: Path, count: int) -> list[VerifyJob]:
    """The first `count` crates of a built registry as the verification jobs a worker runs,
    under the trust entry mochi.toml gives them."""
    from cargo_verify.model import TrustRule
    from cargo_verify.verify import VerifyJob

    saved = json.loads((state_dir / MANIFEST_NAME).read_text())
    rule = TrustRule(issuer=ISSUER, subject=SUBJECT_GLOB)
    bundles = state_dir / "registry" / "bundles"
    return [
        VerifyJob(f"{name}@{version}", (bundles / name / f"{version}.sigstore.json").read_text(),
                  checksum, rule)
        for name, version, checksum, _size in saved["registry"]["crates"][:count]
    ]
