"""Trusted root and client trust config JSON, parsed by sigstore-python's public classes."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sigstore._internal.timestamp import TimestampSource, TimestampVerificationResult
from sigstore._internal.trust import KeyringPurpose
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore.models import ClientTrustConfig, TrustedRoot
from sigstore.verify.verifier import Verifier

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.fulcio import CertificateAuthority
from cargo_verify.mock.keys import KeyRing, ecdsa_sign
from cargo_verify.mock.oidc import OidcIssuer
from cargo_verify.mock.trust import client_trust_config, trusted_root

FULCIO_URL = "http://127.0.0.1:8100"
REKOR_URL = "http://127.0.0.1:8100/rekor"
OIDC_URL = "http://127.0.0.1:8100/oidc"
PAST = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing(b"trust-test-seed")


@pytest.fixture
def ca(keys: KeyRing) -> CertificateAuthority:
    return CertificateAuthority(keys, FixedClock(PAST))


@pytest.fixture
def rekor_key(keys: KeyRing) -> ec.EllipticCurvePrivateKey:
    return keys.ec_key("rekor")


@pytest.fixture
def root_doc(ca: CertificateAuthority, rekor_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return trusted_root(ca, rekor_key.public_key(), REKOR_URL, FULCIO_URL)


def load_root(doc: dict[str, Any], tmp_path: Path) -> TrustedRoot:
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(doc))
    return TrustedRoot.from_file(str(path))


def spki(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_trusted_root_document(
    root_doc: dict[str, Any], ca: CertificateAuthority, rekor_key: ec.EllipticCurvePrivateKey
) -> None:
    assert root_doc["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    (tlog,) = root_doc["tlogs"]
    assert tlog["baseUrl"] == REKOR_URL
    assert tlog["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert tlog["publicKey"]["validFor"] == {"start": "2020-01-01T00:00:00Z"}
    rekor_spki = spki(rekor_key.public_key())
    assert base64.b64decode(tlog["publicKey"]["rawBytes"]) == rekor_spki
    assert base64.b64decode(tlog["logId"]["keyId"]) == hashlib.sha256(rekor_spki).digest()
    (ctlog,) = root_doc["ctlogs"]
    assert base64.b64decode(ctlog["publicKey"]["rawBytes"]) == spki(ca.ct_key.public_key())
    assert base64.b64decode(ctlog["logId"]["keyId"]) == ca.ct_log_id
    (authority,) = root_doc["certificateAuthorities"]
    chain = [
        x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
        for c in authority["certChain"]["certificates"]
    ]
    assert chain == [ca.intermediate, ca.root]
    assert authority["uri"] == FULCIO_URL


def test_sigstore_parses_the_trusted_root(
    root_doc: dict[str, Any],
    ca: CertificateAuthority,
    rekor_key: ec.EllipticCurvePrivateKey,
    tmp_path: Path,
) -> None:
    root = load_root(root_doc, tmp_path)
    assert root.get_fulcio_certs() == [ca.intermediate, ca.root]
    assert root.get_timestamp_authorities() == []
    data = b"checkpoint body\n"
    rekor_id = KeyID(hashlib.sha256(spki(rekor_key.public_key())).digest())
    for purpose in (KeyringPurpose.SIGN, KeyringPurpose.VERIFY):
        rekor = root.rekor_keyring(purpose)
        rekor.verify(key_id=rekor_id, signature=ecdsa_sign(rekor_key, data), data=data)
        with pytest.raises(VerificationError):
            rekor.verify(key_id=rekor_id, signature=ecdsa_sign(ca.ct_key, data), data=data)
        ct = root.ct_keyring(purpose)
        ct.verify(key_id=KeyID(ca.ct_log_id), signature=ecdsa_sign(ca.ct_key, data), data=data)


def test_leaf_from_a_frozen_past_clock_chains_to_the_root(
    root_doc: dict[str, Any], ca: CertificateAuthority, keys: KeyRing, tmp_path: Path
) -> None:
    oidc = OidcIssuer(OIDC_URL, keys, FixedClock(PAST))
    claims = oidc.github_claims("octo/crate", "refs/tags/v0.1.0")
    leaf = ca.issue(keys.ec_key("signer").public_key(), claims)[0]
    verifier = Verifier(trusted_root=load_root(root_doc, tmp_path))
    stamp = TimestampVerificationResult(source=TimestampSource.TRANSPARENCY_SERVICE, time=PAST)
    assert verifier._verify_chain_at_time(leaf, stamp) == [ca.intermediate]


def test_root_listing_only_the_root_certificate_is_not_enough(
    root_doc: dict[str, Any], ca: CertificateAuthority, keys: KeyRing, tmp_path: Path
) -> None:
    # Why the intermediate must be listed: sigstore-python passes no intermediates.
    only_root = json.loads(json.dumps(root_doc))
    del only_root["certificateAuthorities"][0]["certChain"]["certificates"][0]
    oidc = OidcIssuer(OIDC_URL, keys, FixedClock(PAST))
    leaf = ca.issue(
        keys.ec_key("signer").public_key(), oidc.github_claims("octo/crate", "refs/tags/v0.1.0")
    )[0]
    verifier = Verifier(trusted_root=load_root(only_root, tmp_path))
    stamp = TimestampVerificationResult(source=TimestampSource.TRANSPARENCY_SERVICE, time=PAST)
    with pytest.raises(VerificationError):
        verifier._verify_chain_at_time(leaf, stamp)


def test_log_key_details_follow_the_key(ca: CertificateAuthority, keys: KeyRing) -> None:
    p384 = keys.ec_key("rekor-384", ec.SECP384R1()).public_key()
    doc = trusted_root(ca, p384, REKOR_URL, FULCIO_URL)
    assert doc["tlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ECDSA_P384_SHA_384"
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    doc = trusted_root(ca, ed, REKOR_URL, FULCIO_URL)
    assert doc["tlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ED25519"
    assert doc["ctlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"


def test_valid_from_is_written_as_rfc3339(ca: CertificateAuthority, keys: KeyRing) -> None:
    start = datetime(2023, 6, 7, 8, 9, 10, tzinfo=UTC)
    doc = trusted_root(ca, keys.ec_key("rekor").public_key(), REKOR_URL, FULCIO_URL, start)
    assert doc["certificateAuthorities"][0]["validFor"] == {"start": "2023-06-07T08:09:10Z"}
    with pytest.raises(ValueError, match="timezone-aware"):
        trusted_root(
            ca, keys.ec_key("rekor").public_key(), REKOR_URL, FULCIO_URL, datetime(2023, 1, 1)
        )


def test_sigstore_parses_the_client_trust_config(
    root_doc: dict[str, Any], ca: CertificateAuthority
) -> None:
    doc = client_trust_config(root_doc, FULCIO_URL, REKOR_URL, OIDC_URL)
    assert doc["mediaType"] == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    signing = doc["signingConfig"]
    assert signing["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    assert signing["tsaUrls"] == []
    config = ClientTrustConfig.from_json(json.dumps(doc))
    assert config.trusted_root.get_fulcio_certs() == [ca.intermediate, ca.root]
    signing_config = config.signing_config
    assert signing_config.get_fulcio().url == FULCIO_URL
    # RekorClient keeps the API root, so the configured URL is used with its path.
    tlog_urls = [tlog.url for tlog in signing_config.get_tlogs()]  # type: ignore[attr-defined]
    assert tlog_urls == [REKOR_URL + "/api/v1"]
    assert signing_config.get_oidc_url() == OIDC_URL
    assert signing_config.get_tsas() == []


def test_trust_documents_are_deterministic(keys: KeyRing) -> None:
    def build() -> str:
        ca = CertificateAuthority(KeyRing(b"trust-test-seed"), FixedClock(PAST))
        root = trusted_root(ca, keys.ec_key("rekor").public_key(), REKOR_URL, FULCIO_URL)
        return json.dumps(client_trust_config(root, FULCIO_URL, REKOR_URL, OIDC_URL))

    assert build() == build()
