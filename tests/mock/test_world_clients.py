"""Acceptance: real Sigstore and OIDC clients against the local test world over HTTP.

PyJWT verifies minted tokens against the issuer's discovery document and JWKS; the
`sigstore` CLI signs through the world's Fulcio and Rekor and verifies the result; and
sigstore-python's `Verifier` accepts the registry's managed-signing evidence for every
fixture crate, rebuilt from what the Rekor API returns, and refuses it under a wrong policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.dsse import Envelope
from sigstore.errors import VerificationError
from sigstore.models import Bundle, TransparencyLogEntry, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm, HashOutput, MessageSignature

from cargo_verify.mock.cargo_wire import index_path
from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.registry import TrustedPublisher
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread

GITHUB = "https://token.actions.githubusercontent.com"
SIGSTORE_CLI = Path(sys.executable).parent / "sigstore"
FROZEN = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
DEMO_REPOSITORY = "example/demo"
DEMO_SAN = "https://github.com/example/demo/.github/workflows/release.yml@refs/tags/v1.0.0"


@pytest.fixture(scope="module")
def live() -> Iterator[RunningWorld]:
    """Real clock: the sigstore CLI checks a token's `iat`/`exp` against the current time."""
    running = serve_in_thread(WorldOptions())
    yield running
    running.stop()


def mint(http: httpx.Client, issuer_url: str, claims: dict[str, Any]) -> str:
    answer = http.post(f"{issuer_url}/mint", json=claims)
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert isinstance(token, str)
    return token


# -- OIDC: discovery, JWKS, mint --------------------------------------------------------------


def test_minted_tokens_verify_with_pyjwt_against_the_discovered_jwks(live: RunningWorld) -> None:
    issuer_url = live.world.oidc.url
    with httpx.Client() as http:
        discovery = http.get(f"{issuer_url}/.well-known/openid-configuration").json()
        plain = mint(http, issuer_url, {"sub": "alice", "email": "alice@example.test"})
        github = mint(
            http,
            issuer_url,
            {"github": {"repository": DEMO_REPOSITORY, "ref": "refs/tags/v1.0.0"}, "aud": "x"},
        )
    assert discovery["issuer"] == issuer_url
    assert "ES256" in discovery["id_token_signing_alg_values_supported"]
    keys = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=False)

    key = keys.get_signing_key_from_jwt(plain)
    claims = jwt.decode(plain, key, algorithms=["ES256"], audience="sigstore", issuer=issuer_url)
    assert (claims["sub"], claims["email"]) == ("alice", "alice@example.test")
    assert claims["iat"] <= claims["exp"]

    # The GitHub shortcut fills in a full Actions claim set; explicit claims override it.
    claims = jwt.decode(
        github, keys.get_signing_key_from_jwt(github), algorithms=["ES256"], audience="x",
        issuer=GITHUB,
    )
    assert claims["repository"] == DEMO_REPOSITORY
    assert claims["sub"] == f"repo:{DEMO_REPOSITORY}:ref:refs/tags/v1.0.0"
    assert claims["job_workflow_ref"] == DEMO_SAN.removeprefix("https://github.com/")


def test_pyjwt_refuses_altered_and_foreign_tokens(live: RunningWorld) -> None:
    issuer_url = live.world.oidc.url
    with httpx.Client() as http:
        token = mint(http, issuer_url, {"sub": "alice"})
        jwks_uri = http.get(f"{issuer_url}/.well-known/openid-configuration").json()["jwks_uri"]
    key = jwt.PyJWKClient(jwks_uri, cache_keys=False).get_signing_key_from_jwt(token)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    altered = base64.urlsafe_b64encode(
        json.dumps({**claims, "sub": "mallory"}).encode()
    ).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            f"{header}.{altered}.{signature}", key, algorithms=["ES256"], audience="sigstore"
        )

    foreign = jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
        headers={"kid": jwt.get_unverified_header(token)["kid"]},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(foreign, key, algorithms=["ES256"], audience="sigstore")


# -- the sigstore CLI -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedArtifact:
    trust_config: Path
    artifact: Path
    bundle: Path
    sign_output: str


def sigstore_cli(trust_config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal keeps the CLI's log lines (which we match) on one line each.
    env = dict(os.environ, COLUMNS="400", NO_COLOR="1")
    return subprocess.run(
        [str(SIGSTORE_CLI), "--trust-config", str(trust_config), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )


@pytest.fixture(scope="module")
def signed(live: RunningWorld, tmp_path_factory: pytest.TempPathFactory) -> SignedArtifact:
    directory = tmp_path_factory.mktemp("sigstore-cli")
    _root, trust_config = live.world.write_trust_files(directory)
    with httpx.Client() as http:
        token = mint(
            http,
            live.world.oidc.url,
            {"github": {"repository": DEMO_REPOSITORY, "ref": "refs/tags/v1.0.0",
                        "audience": "sigstore"}},
        )
    artifact = directory / "artifact.txt"
    artifact.write_bytes(b"signed by the sigstore CLI through the local test world\n")
    result = sigstore_cli(trust_config, "sign", "--identity-token", token, str(artifact))
    assert result.returncode == 0, result.stderr
    bundle = directory / "artifact.txt.sigstore.json"
    return SignedArtifact(trust_config, artifact, bundle, result.stdout + result.stderr)


def test_sigstore_cli_signs_through_the_worlds_fulcio_and_rekor(
    live: RunningWorld, signed: SignedArtifact
) -> None:
    document = json.loads(signed.bundle.read_text())
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    log_index = int(entry["logIndex"])
    assert f"Transparency log entry created at index: {log_index}" in signed.sign_output

    with httpx.Client() as http:
        served = http.get(f"{live.world.rekor_url}/api/v1/log/entries?logIndex={log_index}")
    assert served.status_code == 200
    ((_, inner),) = served.json().items()
    assert inner["body"] == entry["canonicalizedBody"]

    certificate = x509.load_der_x509_certificate(
        base64.b64decode(document["verificationMaterial"]["certificate"]["rawBytes"])
    )
    assert certificate.issuer == live.world.ca.intermediate.subject
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [DEMO_SAN]


def test_sigstore_cli_verifies_the_signed_file(signed: SignedArtifact) -> None:
    result = sigstore_cli(
        signed.trust_config, "verify", "identity", "--cert-identity", DEMO_SAN,
        "--cert-oidc-issuer", GITHUB, str(signed.artifact),
    )
    assert result.returncode == 0, result.stderr
    assert f"OK: {signed.artifact}" in result.stdout + result.stderr


def test_sigstore_cli_rejects_a_modified_file(signed: SignedArtifact, tmp_path: Path) -> None:
    modified = tmp_path / "artifact.txt"
    modified.write_bytes(signed.artifact.read_bytes() + b"one more line\n")
    result = sigstore_cli(
        signed.trust_config, "verify", "identity", "--bundle", str(signed.bundle),
        "--cert-identity", DEMO_SAN, "--cert-oidc-issuer", GITHUB, str(modified),
    )
    assert result.returncode != 0
    assert f"FAIL: {modified}" in result.stderr
    assert "digest mismatch" in result.stderr


@pytest.mark.parametrize(
    ("identity", "issuer", "complaint"),
    [
        (DEMO_SAN.replace("example/", "evil/"), GITHUB, "SANs do not match"),
        (DEMO_SAN, "https://gitlab.com", "OIDCIssuer does not match"),
    ],
)
def test_sigstore_cli_rejects_a_wrong_identity(
    signed: SignedArtifact, identity: str, issuer: str, complaint: str
) -> None:
    result = sigstore_cli(
        signed.trust_config, "verify", "identity", "--cert-identity", identity,
        "--cert-oidc-issuer", issuer, str(signed.artifact),
    )
    assert result.returncode != 0
    assert f"FAIL: {signed.artifact}" in result.stderr
    assert complaint in result.stderr


def test_sigstore_cli_cannot_sign_with_a_token_the_issuer_did_not_sign(
    live: RunningWorld, signed: SignedArtifact, tmp_path: Path
) -> None:
    claims = live.world.oidc.github_claims(DEMO_REPOSITORY, "refs/tags/v1.0.0")
    now = int(datetime.now(UTC).timestamp())
    claims |= {"iat": now, "nbf": now, "exp": now + 600}
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                        headers={"kid": live.world.oidc.kid})
    artifact = tmp_path / "forged.txt"
    artifact.write_bytes(b"nobody should be able to sign this\n")
    size_before = live.world.log.size
    result = sigstore_cli(signed.trust_config, "sign", "--identity-token", forged, str(artifact))
    assert result.returncode != 0
    assert "FulcioClientError" in result.stderr  # the world's Fulcio refused the token
    assert not (tmp_path / "forged.txt.sigstore.json").exists()
    assert live.world.log.size == size_before


# -- sigstore-python's Verifier on managed-signing output ---------------------------------------


@dataclass(frozen=True)
class Evidence:
    """One fixture release as a client sees it over HTTP."""

    name: str
    version: str
    crate: bytes
    line: dict[str, Any]
    rekor_response: dict[str, Any]
    served_bundle: bytes
    publisher: TrustedPublisher

    @property
    def identity(self) -> Identity:
        return Identity(identity=self.san, issuer=self.publisher.issuer)

    @property
    def san(self) -> str:
        return (
            f"https://github.com/{self.publisher.repository}/.github/workflows/"
            f"{self.publisher.workflow}@refs/tags/v{self.version}"
        )

    def certificate(self) -> x509.Certificate:
        ((_, inner),) = self.rekor_response.items()
        body = json.loads(base64.b64decode(inner["body"]))
        if body["kind"] == "hashedrekord":
            pem = body["spec"]["signature"]["publicKey"]["content"]
        else:  # dsse
            (signature,) = body["spec"]["signatures"]
            pem = signature["verifier"]
        return x509.load_pem_x509_certificate(base64.b64decode(pem))


def download_evidence(world: RunningWorld) -> list[Evidence]:
    """Index line, `.crate`, Rekor entry and bundle of every signed fixture, over HTTP."""
    found = []
    base = world.url
    with httpx.Client() as http:
        for release in world.world.fixtures:
            publisher = world.world.registry.publishers[release.name]
            index = http.get(f"{base}/index/{index_path(release.name)}")
            assert index.status_code == 200
            lines = [json.loads(raw) for raw in index.text.splitlines()]
            (line,) = [x for x in lines if x["vers"] == release.version]
            if not isinstance(publisher, TrustedPublisher):
                assert "sigstore" not in line  # legacy-unsigned: published without a signature
                continue
            crate = http.get(f"{base}/dl/{release.name}/{release.version}/download").content
            assert hashlib.sha256(crate).hexdigest() == line["cksum"]
            log_index = line["sigstore"]["rekor_log_index"]
            rekor = http.get(f"{world.world.rekor_url}/api/v1/log/entries?logIndex={log_index}")
            bundle = http.get(base + line["sigstore"]["bundle"])
            assert (rekor.status_code, bundle.status_code) == (200, 200)
            found.append(
                Evidence(release.name, release.version, crate, line, rekor.json(),
                         bundle.content, publisher)
            )
    return found




def verifier_for(world: RunningWorld, directory: Path) -> Verifier:
    path = directory / "trusted_root.json"
    path.write_bytes(httpx.get(f"{world.url}/trusted_root.json").content)
    return Verifier(trusted_root=TrustedRoot.from_file(str(path)))


def bundle_from_rekor(evidence: Evidence) -> Bundle:
    """Build the bundle from the Rekor response alone, with sigstore-python's own parser."""
    entry = TransparencyLogEntry._from_v1_response(evidence.rekor_response)
    ((_, inner),) = evidence.rekor_response.items()
    spec = json.loads(base64.b64decode(inner["body"]))["spec"]
    content = MessageSignature(
        message_digest=HashOutput(
            algorithm=HashAlgorithm.SHA2_256,
            digest=base64.b64encode(bytes.fromhex(spec["data"]["hash"]["value"])),
        ),
        signature=spec["signature"]["content"],
    )
    return Bundle._from_parts(evidence.certificate(), content, entry)


@pytest.fixture(scope="module", params=["message", "dsse"])
def frozen_world(request: pytest.FixtureRequest) -> Iterator[RunningWorld]:
    running = serve_in_thread(
        WorldOptions(clock=FixedClock(FROZEN), bundle_kind=request.param)
    )
    yield running
    running.stop()


def test_every_signed_fixture_has_evidence(frozen_world: RunningWorld) -> None:
    evidence = download_evidence(frozen_world)
    signed = [r for r in frozen_world.world.fixtures if r.name != "legacy-unsigned"]
    assert [(e.name, e.version) for e in evidence] == [(r.name, r.version) for r in signed]
    assert len(evidence) >= 8


def test_verifier_accepts_managed_signing_for_every_fixture(
    frozen_world: RunningWorld, tmp_path: Path
) -> None:
    verifier = verifier_for(frozen_world, tmp_path)
    for evidence in download_evidence(frozen_world):
        served = Bundle.from_json(evidence.served_bundle)
        if frozen_world.world.options.bundle_kind == "message":
            verifier.verify_artifact(evidence.crate, bundle_from_rekor(evidence), evidence.identity)
            verifier.verify_artifact(evidence.crate, served, evidence.identity)
        else:
            payload_type, payload = verifier.verify_dsse(served, evidence.identity)
            assert payload_type == "application/vnd.in-toto+json"
            (subject,) = json.loads(payload)["subject"]
            assert subject == {
                "name": f"{evidence.name}-{evidence.version}.crate",
                "digest": {"sha256": hashlib.sha256(evidence.crate).hexdigest()},
            }
            # The same envelope with the log entry as Rekor serves it verifies too.
            rebuilt = Bundle._from_parts(
                evidence.certificate(),
                Envelope._from_json(json.dumps(json.loads(evidence.served_bundle)["dsseEnvelope"])),
                TransparencyLogEntry._from_v1_response(evidence.rekor_response),
            )
            verifier.verify_dsse(rebuilt, evidence.identity)


def test_verifier_rejects_every_fixture_under_a_wrong_policy(
    frozen_world: RunningWorld, tmp_path: Path
) -> None:
    verifier = verifier_for(frozen_world, tmp_path)
    for evidence in download_evidence(frozen_world):
        other_repository = Identity(
            identity=evidence.san.replace(evidence.publisher.repository, "example/impostor"),
            issuer=evidence.publisher.issuer,
        )
        other_issuer = Identity(identity=evidence.san, issuer="https://gitlab.com")
        bundle = Bundle.from_json(evidence.served_bundle)
        for policy in (other_repository, other_issuer):
            with pytest.raises(VerificationError):
                if frozen_world.world.options.bundle_kind == "message":
                    verifier.verify_artifact(evidence.crate, bundle_from_rekor(evidence), policy)
                else:
                    verifier.verify_dsse(bundle, policy)


def test_verifier_rejects_other_bytes_for_a_message_signature(tmp_path: Path) -> None:
    with serve_in_thread(WorldOptions(clock=FixedClock(FROZEN))) as running:
        verifier = verifier_for(running, tmp_path)
        evidence = download_evidence(running)
    for item in evidence:
        with pytest.raises(VerificationError):
            verifier.verify_artifact(item.crate + b"\0", bundle_from_rekor(item), item.identity)
