"""Baseline (a): the check a user would script, done one crate after another.

    python bench/baseline_sequential.py --lockfile Cargo.lock --trusted-root FILE \
        --identity SAN --issuer URL

Same libraries as cargo-verify (httpx, sigstore-python's `Verifier`), one process, one
keep-alive connection: for each registry package of the lockfile, fetch its sparse index file,
compare the version line's `cksum` with the lockfile, download the `.crate` and hash it,
fetch the bundle the line names, and verify it with `Verifier.verify_artifact` against the
digest and an `Identity` policy. Prints one JSON line: verified, failed, failures (first 5).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm


def index_path(name: str) -> str:
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def check_one(
    client: httpx.Client, index: str, dl: str, package: dict[str, Any], verifier: Verifier,
    policy: Identity,
) -> str | None:
    """None when the package verified, else the problem."""
    name, version, checksum = package["name"], package["version"], package["checksum"]
    index_file = index + index_path(name)
    answer = client.get(index_file)
    answer.raise_for_status()
    lines = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
    line = next((entry for entry in lines if entry.get("vers") == version), None)
    if line is None:
        return f"{name} {version}: not in the index"
    if line["cksum"] != checksum:
        return f"{name} {version}: index cksum differs from the lockfile"
    digest = hashlib.sha256()
    if "{crate}" in dl:
        url = dl.replace("{crate}", name).replace("{version}", version)
    else:
        url = f"{dl.rstrip('/')}/{name}/{version}/download"
    with client.stream("GET", url) as download:
        download.raise_for_status()
        for chunk in download.iter_bytes():
            digest.update(chunk)
    if digest.hexdigest() != checksum:
        return f"{name} {version}: tarball does not match the lockfile"
    bundle_ref = (line.get("sigstore") or {}).get("bundle")
    if not bundle_ref:
        return f"{name} {version}: no bundle"
    bundle_answer = client.get(urljoin(index_file, bundle_ref))
    bundle_answer.raise_for_status()
    bundle = Bundle.from_json(bundle_answer.content)
    try:
        verifier.verify_artifact(
            Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest.digest()), bundle, policy
        )
    except Exception as exc:
        return f"{name} {version}: {exc}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--lockfile", required=True, type=Path)
    parser.add_argument("--trusted-root", required=True, type=Path)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--issuer", required=True)
    args = parser.parse_args()
    lock = tomllib.loads(args.lockfile.read_text())
    packages = [
        p for p in lock.get("package", []) if str(p.get("source", "")).startswith("sparse+")
    ]
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(args.trusted_root)))
    policy = Identity(identity=args.identity, issuer=args.issuer)
    failures: list[str] = []
    verified = 0
    with httpx.Client(timeout=30.0) as client:
        configs: dict[str, str] = {}
        for package in packages:
            index = package["source"].removeprefix("sparse+")
            if index not in configs:
                config = client.get(index + "config.json")
                config.raise_for_status()
                configs[index] = str(config.json()["dl"])
            problem = check_one(client, index, configs[index], package, verifier, policy)
            if problem is None:
                verified += 1
            else:
                failures.append(problem)
    print(json.dumps({"verified": verified, "failed": len(failures), "failures": failures[:5]}))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
