"""Acceptance: the test world's log at scale, its state directory across restarts, determinism.

Everything is read over HTTP, the way a client sees it, and checked with sigstore-python.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import VerificationError
from sigstore.models import TransparencyLogEntry, TrustedRoot

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.registry import load_fixture_publishers
from cargo_verify.mock.world import FIXTURES_DIR, RunningWorld, WorldOptions, serve_in_thread
from tests.conftest import crate_archive

FROZEN = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
CARGO_VERIFY = Path(sys.executable).parent / "cargo-verify"


def keyring_of(base_url: str, directory: Path) -> Any:
    """The Rekor keyring of the trusted root the world at `base_url` serves."""
    path = directory / "trusted_root.json"
    path.write_bytes(httpx.get(f"{base_url}/trusted_root.json").content)
    return TrustedRoot.from_file(str(path)).rekor_keyring(KeyringPurpose.VERIFY)


def fetch_entries(http: httpx.Client, rekor_url: str, size: int) -> list[dict[str, Any]]:
    entries = []
    for index in range(size):
        answer = http.get(f"{rekor_url}/api/v1/log/entries", params={"logIndex": index})
        assert answer.status_code == 200, (index, answer.text)
        entries.append(answer.json())
    return entries


def the_entry(response: dict[str, Any]) -> dict[str, Any]:
    ((_, inner),) = response.items()
    assert isinstance(inner, dict)
    return inner


# -- inclusion proofs at scale ------------------------------------------------------------------


def fill_log(running: RunningWorld, count: int) -> None:
    """Log `count` hashedrekord entries with real signatures under one Fulcio certificate."""
    world = running.world
    key = ec.derive_private_key(7919, ec.SECP256R1())
    claims = world.oidc.github_claims("example/bulk", "refs/heads/main")
    (leaf, *_chain) = world.ca.issue(key.public_key(), claims)
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)
    for number in range(count):
        digest = hashlib.sha256(b"bulk artifact %d" % number).digest()
        world.log.add_hashedrekord(key.sign(digest, algorithm), leaf_pem, digest.hex())


def test_every_inclusion_proof_served_over_http_verifies_against_the_signed_checkpoint(
    tmp_path: Path,
) -> None:
    with serve_in_thread(WorldOptions(clock=FixedClock(FROZEN))) as running:
        fill_log(running, 1003)  # after the fixtures' entries: 1011, an odd-shaped tree
        size = running.world.log.size
        assert size >= 1000 and size & (size - 1) != 0  # not a power of two
        keyring = keyring_of(running.url, tmp_path)
        with httpx.Client() as http:
            log_info = http.get(f"{running.world.rekor_url}/api/v1/log").json()
            entries = fetch_entries(http, running.world.rekor_url, size)

    assert log_info["treeSize"] == size
    checkpoint = SignedCheckpoint.from_text(log_info["signedTreeHead"]).checkpoint
    assert (checkpoint.log_size, checkpoint.log_hash) == (size, log_info["rootHash"])
    for index, response in enumerate(entries):
        proof = the_entry(response)["verification"]["inclusionProof"]
        assert (proof["logIndex"], proof["treeSize"]) == (index, size)
        assert proof["rootHash"] == log_info["rootHash"]
        # Merkle inclusion proof, the signed checkpoint and the SET, by sigstore-python.
        TransparencyLogEntry._from_v1_response(response)._verify(keyring)

    # The check is live: one wrong sibling hash breaks it.
    tampered = json.loads(json.dumps(entries[size // 3]))
    hashes_ = the_entry(tampered)["verification"]["inclusionProof"]["hashes"]
    hashes_[-1] = ("0" if hashes_[-1][0] != "0" else "1") + hashes_[-1][1:]
    with pytest.raises(VerificationError):
        TransparencyLogEntry._from_v1_response(tampered)._verify(keyring)


# -- `cargo-verify mock serve --state DIR` across a restart -------------------------------------


@dataclass
class Served:
    process: subprocess.Popen[str]
    urls: dict[str, str]

    @property
    def base(self) -> str:
        return self.urls["base"]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


def read_line(stream: IO[str], timeout: float) -> str:
    """One line from a subprocess pipe, or an AssertionError after `timeout` seconds."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box, f"no line on stdout within {timeout} s"
    return box[0]


def start_serve(cwd: Path, state: str, port: int | None = None) -> Served:
    args = [str(CARGO_VERIFY), "mock", "serve", "--state", state]
    if port is not None:
        args += ["--port", str(port)]
    process = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CARGO_")},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        line = read_line(process.stdout, timeout=30)
        assert line, process.stderr.read()  # it exited before printing its URLs
        return Served(process, json.loads(line))
    except BaseException:
        process.kill()
        process.wait()
        raise


def stop_serve(served: Served) -> str:
    served.process.send_signal(signal.SIGTERM)
    _out, err = served.process.communicate(timeout=30)
    assert served.process.returncode == 0, err
    return err


@pytest.fixture
def serving() -> Iterator[list[Served]]:
    """Collects the servers a test starts and kills any still running at the end."""
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def crate_file(name: str, version: str) -> bytes:
    return crate_archive(name, version, "pub fn restarted() {}\n")


def publish(http: httpx.Client, served: Served, name: str, repository: str, version: str) -> None:
    """`PUT /api/v1/crates/new` the way cargo sends it, with a token from the mint endpoint."""
    token = http.post(
        f"{served.urls['oidc_issuer']}/mint",
        json={"github": {"repository": repository, "ref": f"refs/tags/v{version}",
                         "audience": "crates.io"}},
    ).json()["token"]
    meta = json.dumps({
        "name": name, "vers": version, "deps": [], "features": {}, "authors": [],
        "description": None, "documentation": None, "homepage": None, "readme": None,
        "readme_file": None, "keywords": [], "categories": [], "license": None,
        "license_file": None, "repository": None, "badges": {}, "links": None,
        "rust_version": None,
    }).encode()
    crate = crate_file(name, version)
    body = struct.pack("<I", len(meta)) + meta + struct.pack("<I", len(crate)) + crate
    answer = http.put(
        f"{served.base}/api/v1/crates/new", content=body,
        headers={"Authorization": f"Sigstore {token}"},
    )
    assert answer.status_code == 200, answer.text


CRATES = sorted(load_fixture_publishers(FIXTURES_DIR).publishers)


def snapshot(http: httpx.Client, base: str, rekor: str) -> dict[str, bytes]:
    """Everything a client can read: trust material, index files, bundles, every log entry."""
    got: dict[str, bytes] = {}
    for path in ("/trusted_root.json", "/trust_config.json", "/index/config.json"):
        got[path] = http.get(base + path).content
    for name in CRATES:
        index_path = f"/index/{name[:2]}/{name[2:4]}/{name}"
        text = http.get(base + index_path).text
        got[index_path] = text.encode()
        for line in map(json.loads, text.splitlines()):
            paths = [f"/dl/{name}/{line['vers']}/download"]
            if "sigstore" in line:
                paths.append(line["sigstore"]["bundle"])
            for path in paths:
                got[path] = http.get(base + path).content
    log_info = http.get(f"{rekor}/api/v1/log").json()
    got["log"] = json.dumps(log_info).encode()
    for index in range(log_info["treeSize"]):
        got[f"entry {index}"] = http.get(f"{rekor}/api/v1/log/entries?logIndex={index}").content
    return got


def served_snapshot(http: httpx.Client, served: Served) -> dict[str, bytes]:
    got = snapshot(http, served.base, served.urls["rekor"])
    for key in ("trusted_root", "trust_config"):  # the files written for CLI tools
        got[key + " file"] = Path(served.urls[key]).read_bytes()
    return got


def test_mock_serve_keeps_log_index_and_keys_across_a_restart(
    tmp_path: Path, serving: list[Served]
) -> None:
    # A relative --state: the printed file paths must still work from another directory.
    serving.append(first := start_serve(tmp_path, "state"))
    assert Path(first.urls["trust_config"]) == tmp_path / "state" / "trust_config.json"
    with httpx.Client() as http:
        publish(http, first, "mochi-util", "example/mochi-util", "0.3.0")
        before = served_snapshot(http, first)
    assert b'"vers":"0.3.0"' in before["/index/mo/ch/mochi-util"]
    assert "test world stopped" in stop_serve(first)

    serving.append(second := start_serve(tmp_path, "state", port=first.port))
    assert second.urls == first.urls
    with httpx.Client() as http:
        after = served_snapshot(http, second)
        assert after.keys() == before.keys()
        assert [key for key in before if before[key] != after[key]] == []

        # New publishes continue the log where it stopped, and old entries still verify.
        size = json.loads(before["log"])["treeSize"]
        publish(http, second, "mochi-util", "example/mochi-util", "0.3.1")
        index = http.get(f"{second.base}/index/mo/ch/mochi-util").text
        last = json.loads(index.splitlines()[-1])
        assert (last["vers"], last["sigstore"]["rekor_log_index"]) == ("0.3.1", size)
        assert http.get(f"{second.urls['rekor']}/api/v1/log").json()["treeSize"] == size + 1
        keyring = keyring_of(second.base, tmp_path)
        for response in fetch_entries(http, second.urls["rekor"], size + 1):
            TransparencyLogEntry._from_v1_response(response)._verify(keyring)
    stop_serve(second)


# -- determinism ------------------------------------------------------------------------------


def world_snapshot(options: WorldOptions) -> dict[str, bytes]:
    with serve_in_thread(options) as running, httpx.Client() as http:
        got = snapshot(http, running.url, running.world.rekor_url)
        # The trust documents name the port; the keys and certificates in them must not differ.
        for path in ("/trusted_root.json", "/trust_config.json", "/index/config.json"):
            got[path] = got[path].replace(running.url.encode(), b"http://WORLD")
        # `iss` defaults to the issuer URL, which names the port: give one.
        claims = {"sub": "same", "iss": "https://issuer.test"}
        token = http.post(f"{running.world.oidc.url}/mint", json=claims).json()["token"]
        got["token"] = token.encode()
        got["jwks"] = http.get(f"{running.world.oidc.url}/jwks").content
    return got


@pytest.mark.parametrize("bundle_kind", ["message", "dsse"])
def test_same_seed_and_clock_give_byte_identical_worlds(bundle_kind: str) -> None:
    def options(seed: str) -> WorldOptions:
        return WorldOptions(seed=seed, clock=FixedClock(FROZEN), bundle_kind=bundle_kind)

    first = world_snapshot(options("determinism"))
    second = world_snapshot(options("determinism"))
    entries = [key for key in first if key.startswith("entry ")]
    assert len(entries) == len([key for key in first if key.startswith("/bundles/")]) >= 8
    assert first.keys() == second.keys()
    assert [key for key in first if first[key] != second[key]] == []

    # Another seed changes every key, so every certificate and log entry.
    other = world_snapshot(options("another seed"))
    assert [key for key in first if key.startswith("entry ") and first[key] == other[key]] == []
    assert first["jwks"] != other["jwks"]
    for key in entries:
        body = json.loads(base64.b64decode(the_entry(json.loads(first[key]))["body"]))
        assert body["kind"] == ("hashedrekord" if bundle_kind == "message" else "dsse")

