"""Acceptance: real cargo 1.95 against the local test world (sparse index, downloads, publish API).

Every cargo run gets its own CARGO_HOME whose only registry, `tw`, is the world's index.
Publishing uses trusted publishing: the token is `Sigstore <OIDC token>`, passed the way cargo
documents for alternate registries (`CARGO_REGISTRIES_<NAME>_TOKEN`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.registry import TrustedPublisher
from cargo_verify.mock.world import GITHUB_ISSUER, RunningWorld, WorldOptions, serve_in_thread
from tests.conftest import locked_registry_packages

FROZEN = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
CARGO_VERIFY = Path(sys.executable).parent / "cargo-verify"
REGISTRY = "tw"


def cargo_bin() -> str:
    return shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")


@pytest.fixture(scope="module")
def running() -> Iterator[RunningWorld]:
    """A private world: these tests publish into it."""
    world = serve_in_thread(WorldOptions(clock=FixedClock(FROZEN)))
    yield world
    world.stop()


def cargo_home(tmp_path: Path, world: RunningWorld, extra: str = "") -> Path:
    home = tmp_path / "cargo-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[registries.{REGISTRY}]\nindex = "{world.world.index_url}"\n{extra}'
    )
    return home


def cargo_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARGO_")}
    return env | {"CARGO_HOME": str(home), "CARGO_TERM_COLOR": "never", "CARGO_NET_RETRY": "0"}


def cargo(
    args: list[str], cwd: Path, home: Path, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cargo_env(home)
    if token is not None:
        env[f"CARGO_REGISTRIES_{REGISTRY.upper()}_TOKEN"] = f"Sigstore {token}"
    return subprocess.run(
        [cargo_bin(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def write_crate(directory: Path, manifest: str, source: str = "pub fn hello() {}\n") -> Path:
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "lib.rs").write_text(source)
    (directory / "Cargo.toml").write_text(manifest)
    return directory


def index_lines(world: RunningWorld, name: str) -> list[dict[str, Any]]:
    index_url = world.world.index_url.removeprefix("sparse+")
    lower = name.lower()
    path = f"{lower[:2]}/{lower[2:4]}/{lower}" if len(lower) > 3 else f"{len(lower)}/{lower}"
    answer = httpx.get(index_url + path)
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200
    return [json.loads(raw) for raw in answer.text.splitlines()]


CONSUMER = """\
[package]
name = "consumer"
version = "0.0.0"
edition = "2021"

[dependencies]
mochi-example = {{ version = "=0.2.0-beta.1", registry = "{r}", features = ["log"] }}
old-example = {{ package = "mochi-example", version = "0.1", registry = "{r}" }}
left-pad-rs = {{ version = "0.1", registry = "{r}" }}
legacy-unsigned = {{ version = "0.1", registry = "{r}" }}
"""


def test_cargo_locks_and_fetches_fixture_crates_with_sigstore_index_lines(
    running: RunningWorld, tmp_path: Path
) -> None:
    home = cargo_home(tmp_path, running)
    project = write_crate(tmp_path / "consumer", CONSUMER.format(r=REGISTRY))
    for command in (["generate-lockfile"], ["fetch"]):
        result = cargo(command, project, home)
        assert result.returncode == 0, result.stderr

    locked = locked_registry_packages(project)
    assert sorted(locked) == [
        ("left-pad-rs", "0.1.0"),
        ("legacy-unsigned", "0.1.0"),
        ("mochi-example", "0.1.1"),
        ("mochi-example", "0.2.0-beta.1"),
        ("mochi-log", "0.1.0"),
        ("mochi-util", "0.1.1"),
        ("mochi-util", "0.2.0"),
    ]
    (cache_dir,) = (home / "registry" / "cache").iterdir()
    (index_cache,) = (home / "registry" / "index").iterdir()
    for (name, version), package in locked.items():
        assert package["source"] == running.world.index_url
        (line,) = [x for x in index_lines(running, name) if x["vers"] == version]
        assert package["checksum"] == line["cksum"]
        fetched = (cache_dir / f"{name}-{version}.crate").read_bytes()
        assert hashlib.sha256(fetched).hexdigest() == line["cksum"]
        if name == "legacy-unsigned":
            assert "sigstore" not in line
            continue
        log_index = line["sigstore"]["rekor_log_index"]
        assert line["sigstore"]["bundle"] == f"/bundles/{name}/{version}/bundle.sigstore.json"
        # cargo stored the line as served, sigstore field included, in its own index cache.
        cached = b"".join(p.read_bytes() for p in (index_cache / ".cache").rglob(name))
        assert b'"sigstore":{"rekor_log_index":%d,' % log_index in cached


TINY = """\
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
description = "published by real cargo to the test world"
license = "MIT"

[dependencies]
mochi-util = {{ version = "0.2", registry = "{r}" }}
"""


def add_publisher(world: RunningWorld, name: str, repository: str) -> None:
    world.world.registry.publishers[name] = TrustedPublisher(
        issuer=GITHUB_ISSUER, repository=repository, workflow="release.yml", tag_pattern="v*"
    )


def test_cargo_publish_goes_through_managed_signing_and_the_crate_verifies(
    running: RunningWorld, tmp_path: Path
) -> None:
    name = "tiny-signed"
    add_publisher(running, name, f"example/{name}")
    home = cargo_home(tmp_path, running)
    crate_dir = write_crate(tmp_path / name, TINY.format(name=name, r=REGISTRY))
    token = running.world.github_token(f"example/{name}", "refs/tags/v0.1.0")
    result = cargo(["publish", "--registry", REGISTRY, "--no-verify", "--allow-dirty"],
                   crate_dir, home, token)
    assert result.returncode == 0, result.stderr
    assert f"Published {name} v0.1.0 at registry `{REGISTRY}`" in result.stderr

    (line,) = index_lines(running, name)
    # cargo 1.95 keeps what it uploaded under target/package/ (tmp-crate/, tmp-registry/).
    (packaged,) = {p.read_bytes() for p in (crate_dir / "target").rglob(f"{name}-0.1.0.crate")}
    assert line["cksum"] == hashlib.sha256(packaged).hexdigest()
    assert [(d["name"], d["req"]) for d in line["deps"]] == [("mochi-util", "^0.2")]
    log_index = line["sigstore"]["rekor_log_index"]
    entry = httpx.get(f"{running.world.rekor_url}/api/v1/log/entries?logIndex={log_index}")
    ((_, inner),) = entry.json().items()
    body = json.loads(base64.b64decode(inner["body"]))
    assert body["kind"] == "hashedrekord"
    assert body["spec"]["data"]["hash"] == {"algorithm": "sha256", "value": line["cksum"]}

    # A consumer locks the new crate with cargo, then `cargo-verify check` verifies it.
    trusted_root, _config = running.world.write_trust_files(tmp_path)
    consumer = write_crate(
        tmp_path / "consumer",
        f'[package]\nname = "consumer"\nversion = "0.0.0"\nedition = "2021"\n\n'
        f'[dependencies]\n{name} = {{ version = "0.1", registry = "{REGISTRY}" }}\n',
    )
    (consumer / "mochi.toml").write_text(
        f"[rust-dependencies.{name}]\n"
        f'trust = {{ issuer = "{GITHUB_ISSUER}", repository = "example/{name}", '
        f'ref = "refs/tags/v*" }}\n'
    )
    assert cargo(["generate-lockfile"], consumer, home).returncode == 0
    check = subprocess.run(
        [str(CARGO_VERIFY), "check", "--trusted-root", str(trusted_root), "--format", "json",
         "--no-cache", "--jobs", "1", "--unsigned", "deny"],
        cwd=consumer, capture_output=True, text=True, timeout=120,
        env=cargo_env(home),
    )
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    verdicts = {p["name"]: p for p in report["packages"]}
    assert {n: v["status"] for n, v in verdicts.items()} == {
        name: "verified", "mochi-util": "verified", "consumer": "skipped",
    }
    assert f"example/{name}" in verdicts[name]["policy"]  # the mochi.toml entry applied
    assert verdicts[name]["rekor_log_index"] == log_index
    assert verdicts[name]["repository"] == f"example/{name}"


def test_cargo_publish_with_an_untrusted_repository_token_shows_the_registry_error(
    running: RunningWorld, tmp_path: Path
) -> None:
    name = "tiny-refused"
    add_publisher(running, name, f"example/{name}")
    size_before = running.world.log.size
    home = cargo_home(tmp_path, running)
    crate_dir = write_crate(tmp_path / name, TINY.format(name=name, r=REGISTRY))
    token = running.world.github_token(f"mallory/{name}", "refs/tags/v0.1.0")
    result = cargo(["publish", "--registry", REGISTRY, "--no-verify", "--allow-dirty"],
                   crate_dir, home, token)
    assert result.returncode != 0
    assert "the remote server responded with an error (status 403 Forbidden)" in result.stderr
    assert (
        f"crate `{name}` trusts repository `example/{name}` (workflow release.yml); "
        f"the token is for repository `mallory/{name}`" in result.stderr
    )
    assert index_lines(running, name) == []
    assert running.world.log.size == size_before
