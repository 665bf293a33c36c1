"""Real Sigstore bundles from the public-good instance verify offline through `cargo-verify bundle`.

The `pypi-attestations` sdist ships real bundles and the artifacts they sign in
`test/assets/`. The sdist is fetched once from PyPI (pinned version and SHA-256) into
`.cache/pypi-attestations/` of the repository and reused afterwards. The trusted roots are the
ones embedded in the installed `sigstore` package, so nothing else is needed:

* `pypi_attestation_models-0.0.4a2.tar.gz.sigstore`: a DSSE bundle (v0.3) made by
  actions/attest in GitHub Actions, on the production instance;
* `rfc8785-0.1.2-py3-none-any.whl.sigstore`: a DSSE bundle signed with an e-mail identity on
  the staging instance.

The other `*.attestation` files there are PEP 740 attestations, not bundles; see the module
end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SDIST_VERSION = "0.0.30"
SDIST_NAME = f"pypi_attestations-{SDIST_VERSION}.tar.gz"
SDIST_SHA256 = "14ff13c76bbef02a483c2b77532da02bfd746b5141b881f355e06b9807434423"
CACHE = REPO / ".cache" / "pypi-attestations"

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
ATTEST_ARTIFACT = "pypi_attestation_models-0.0.4a2.tar.gz"
ATTEST_SAN = (
    "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml"
    "@refs/tags/v0.0.4a2"
)
ATTEST_LOG_INDEX = 101487427
EMAIL_ARTIFACT = "rfc8785-0.1.2-py3-none-any.whl"
EMAIL_ISSUER = "https://github.com/login/oauth"
EMAIL_IDENTITY = "william@yossarian.net"


def _sigstore_root(tuf_host: str) -> Path:
    import sigstore

    store = Path(sigstore.__file__).parent / "_store" / f"https%3A%2F%2F{tuf_host}"
    path = store / "trusted_root.json"
    assert path.is_file(), f"sigstore no longer embeds {path}"
    return path


PRODUCTION_ROOT = _sigstore_root("tuf-repo-cdn.sigstore.dev")
STAGING_ROOT = _sigstore_root("tuf-repo-cdn.sigstage.dev")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download_sdist() -> Path:
    """The pinned sdist from the cache, or from PyPI into the cache (atomically)."""
    cached = CACHE / SDIST_NAME
    if cached.is_file() and _sha256(cached) == SDIST_SHA256:
        return cached
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"pypi-attestations=={SDIST_VERSION}", "-d", scratch],
            check=True, capture_output=True, timeout=300,
        )
        fetched = Path(scratch) / SDIST_NAME
        assert _sha256(fetched) == SDIST_SHA256, "PyPI served another pypi-attestations sdist"
        os.replace(fetched, cached)
    return cached


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`test/assets/` of the sdist, extracted."""
    target = tmp_path_factory.mktemp("pypi-attestations")
    prefix = f"pypi_attestations-{SDIST_VERSION}/test/assets/"
    with tarfile.open(_download_sdist()) as sdist:
        members = [m for m in sdist.getmembers() if m.name.startswith(prefix) and m.isfile()]
        for member in members:
            member.name = member.name[len(prefix):]
        sdist.extractall(target, members=members, filter="data")
    return target


@dataclass(frozen=True)
class BundleRun:
    exit_code: int
    result: dict[str, Any]


def run_bundle(capsys: pytest.CaptureFixture[str], *args: str) -> BundleRun:
    from cargo_verify._cli import main

    capsys.readouterr()
    code = main(["bundle", *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert err == ""
    return BundleRun(code, json.loads(out))


def _attest(assets: Path, capsys: pytest.CaptureFixture[str], *policy: str,
            artifact: str | None = None, root: Path = PRODUCTION_ROOT) -> BundleRun:
    return run_bundle(
        capsys, artifact or str(assets / ATTEST_ARTIFACT),
        "--bundle", str(assets / f"{ATTEST_ARTIFACT}.sigstore"),
        "--trusted-root", str(root), "--offline", *policy,
    )


def test_assets_are_what_this_module_expects(assets: Path) -> None:
    bundles = sorted(p.name for p in assets.glob("*.sigstore"))
    assert bundles == [f"{ATTEST_ARTIFACT}.sigstore", f"{EMAIL_ARTIFACT}.sigstore"]
    for name in bundles:
        document = json.loads((assets / name).read_text())
        assert document["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        assert "dsseEnvelope" in document


@pytest.mark.parametrize(
    ("subject", "matched_form"),
    [
        (ATTEST_SAN, "san"),
        ("https://github.com/trailofbits/pypi-attestation-models/*@refs/tags/v*", "san"),
        ("repo:trailofbits/pypi-attestation-models:ref:refs/tags/v0.0.4a2", "sub-claim"),
    ],
)
def test_github_actions_bundle_verifies(
    assets: Path, capsys: pytest.CaptureFixture[str], subject: str, matched_form: str
) -> None:
    run = _attest(assets, capsys, "--issuer", GITHUB_ISSUER, "--subject", subject)

    assert run.exit_code == 0, run.result
    assert run.result["status"] == "verified"
    assert run.result["identity"] == ATTEST_SAN
    assert run.result["issuer"] == GITHUB_ISSUER
    assert run.result["rekor_log_index"] == ATTEST_LOG_INDEX
    assert run.result["matched_form"] == matched_form


def test_github_actions_bundle_by_digest(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = _sha256(assets / ATTEST_ARTIFACT)
    run = _attest(assets, capsys, "--issuer", GITHUB_ISSUER, "--subject", ATTEST_SAN,
                  artifact=f"sha256:{digest}")
    assert run.exit_code == 0, run.result


@pytest.mark.parametrize(
    "policy",
    [
        ("--subject", "https://github.com/trailofbits/other-repo/*"),
        ("--subject", "repo:trailofbits/pypi-attestation-models:ref:refs/heads/main"),
        ("--issuer", "https://gitlab.com", "--subject", ATTEST_SAN),
    ],
)
def test_github_actions_bundle_wrong_identity(
    assets: Path, capsys: pytest.CaptureFixture[str], policy: tuple[str, ...]
) -> None:
    run = _attest(assets, capsys, *policy)

    assert run.exit_code == 1
    assert run.result["status"] == "failed"
    assert run.result["code"] == "identity-mismatch"
    assert "expected" in run.result["reason"] and "found" in run.result["reason"]


def test_github_actions_bundle_modified_artifact(
    assets: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    modified = tmp_path / ATTEST_ARTIFACT
    data = bytearray((assets / ATTEST_ARTIFACT).read_bytes())
    data[len(data) // 2] ^= 0x01
    modified.write_bytes(bytes(data))

    run = _attest(assets, capsys, "--issuer", GITHUB_ISSUER, "--subject", ATTEST_SAN,
                  artifact=str(modified))

    assert run.exit_code == 1
    assert run.result["code"] == "evidence-mismatch"
    assert _sha256(modified) in run.result["reason"]


def test_production_bundle_against_the_staging_root(
    assets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _attest(assets, capsys, "--subject", ATTEST_SAN, root=STAGING_ROOT)

    assert run.exit_code == 1
    assert run.result["code"] == "signature-invalid"


def _email(assets: Path, capsys: pytest.CaptureFixture[str], *policy: str,
           root: Path = STAGING_ROOT, artifact: Path | None = None) -> BundleRun:
    return run_bundle(
        capsys, str(artifact or assets / EMAIL_ARTIFACT),
        "--bundle", str(assets / f"{EMAIL_ARTIFACT}.sigstore"),
        "--trusted-root", str(root), "--offline", *policy,
    )


def test_email_identity_bundle_verifies_on_staging(
    assets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _email(assets, capsys, "--issuer", EMAIL_ISSUER, "--subject", EMAIL_IDENTITY)

    assert run.exit_code == 0, run.result
    assert run.result["identity"] == EMAIL_IDENTITY
    assert run.result["issuer"] == EMAIL_ISSUER


def test_email_identity_bundle_fails_on_production(
    assets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _email(assets, capsys, "--subject", EMAIL_IDENTITY, root=PRODUCTION_ROOT)

    assert run.exit_code == 1
    assert run.result["code"] == "signature-invalid"


def test_email_identity_bundle_wrong_subject_or_artifact(
    assets: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wrong_subject = _email(
        assets, capsys, "--issuer", EMAIL_ISSUER, "--subject", "fake@example.com"
    )
    other = tmp_path / EMAIL_ARTIFACT
    shutil.copyfile(assets / ATTEST_ARTIFACT, other)  # right name, other bytes
    wrong_artifact = _email(assets, capsys, "--subject", EMAIL_IDENTITY, artifact=other)

    assert wrong_subject.exit_code == 1
    assert wrong_subject.result["code"] == "identity-mismatch"
    assert EMAIL_IDENTITY in wrong_subject.result["reason"]
    assert wrong_artifact.exit_code == 1
    assert wrong_artifact.result["code"] == "evidence-mismatch"


# The sdist's other assets (`*.attestation`, `*.publish.attestation`, `*.provenance`: GitLab,
# CircleCI, Google Cloud Build and PyPI trusted-publishing identities) are PEP 740 attestation
# objects. Turning them into bundles needs `pypi_attestations.Attestation.to_bundle()`; they
# can be added here once `pypi-attestations` is a declared test dependency.
