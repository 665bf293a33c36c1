"""Seed inputs for the fuzz targets, made fresh from the test world and the test assets, so
they always match the current formats (bundles, Rekor entries, index lines, certificates)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MOCHI_TOML = b"""\
[rust-dependencies.mochi-example]
version = "^0.1"
trust = { issuer = "https://token.actions.githubusercontent.com", \
subject = "repo:example/mochi-example:ref:refs/tags/v*" }

[rust-dependencies.left-pad-rs]
version = "0.1"
trust = { repository = "example/*", workflow = "release.yml", ref = "refs/tags/v*" }

[rust-dependencies.plain]
version = "1"
"""

CONFIG_TOML = b"""\
[install]
verify = "sigstore"

[registries.mochi]
index = "sparse+http://127.0.0.1:9/index/"

[source.crates-io]
replace-with = "mirror"

[source.mirror]
registry = "sparse+https://mirror.example/index/"

[sigstore]
unsigned = "deny"
rekor-url = "https://rekor.sigstore.dev"
rekor-search = false
jobs = 2
offline = false

[sigstore.trust.mochi-example]
issuer = "https://token.actions.githubusercontent.com"
subject = "repo:example/mochi-example:ref:refs/tags/v*"

[sigstore.exceptions.legacy-unsigned]
reason = "upstream does not sign yet"
expires = "2027-06-30"
version = "=0.1.0"
"""


def all_seeds() -> dict[str, list[bytes]]:
    from cargo_verify.mock.clock import FixedClock
    from cargo_verify.mock.world import World, WorldOptions

    lockfiles = sorted((REPO / "tests" / "assets" / "lockfiles").glob("*.lock"))
    seeds: dict[str, list[bytes]] = {
        "lockfile": [path.read_bytes() for path in lockfiles],
        "manifest": [MOCHI_TOML],
        "config": [CONFIG_TOML],
        "index": [],
        "bundle": [],
        "rekor": [],
        "policy": [b"repo:example/*\x00repo:example/mochi-util:ref:refs/tags/v0.1.0",
                   b"*a*b*\x00xaxxbx", b"https://github.com/*/release.yml@*\x00"],
        "identity": [],
        "verify": [],
        "evidence_store": [],
    }
    clock = FixedClock(datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC))
    for kind in ("message", "dsse"):
        world = World("http://127.0.0.1:9", WorldOptions(clock=clock, bundle_kind=kind))
        for crate in world.registry.crates():
            body = world.registry.index_file(crate) or b""
            seeds["index"].append(body)
            for raw in body.splitlines():
                line = json.loads(raw)
                data = world.registry.bundle(line["name"], line["vers"])
                if data is None:
                    continue
                seeds["bundle"].append(data)
                seeds["verify"].append(data)
                document = json.loads(data)
                der = base64.b64decode(document["verificationMaterial"]["certificate"]["rawBytes"])
                seeds["identity"].append(der)
                index = int(document["verificationMaterial"]["tlogEntries"][0]["logIndex"])
                seeds["rekor"].append(json.dumps(world.log.entry(index)).encode())
        world.log.close()
    seeds["evidence_store"] = [_evidence_store_seed(seeds["bundle"])]
    return seeds


def _evidence_store_seed(bundles: list[bytes]) -> bytes:
    from cargo_verify.evidence_store import StoredEvidence, encode

    entries = {
        ("sparse+https://index.example/", f"crate-{i}", "1.0.0", f"{i:064x}"):
            StoredEvidence("bundle" if i % 2 else "rekor", data.decode(), i if i % 3 else None)
        for i, data in enumerate(bundles[:3])
    }
    return encode(entries)


def write_trusted_root(directory: Path) -> Path:
    """The trusted root of the world the seeds come from (same seed, so the same keys)."""
    from cargo_verify.mock.clock import FixedClock
    from cargo_verify.mock.world import World, WorldOptions

    clock = FixedClock(datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC))
    world = World("http://127.0.0.1:9", WorldOptions(clock=clock, publish_fixtures=False))
    root, _ = world.write_trust_files(directory)
    world.log.close()
    return root
