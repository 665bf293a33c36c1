"""The test world's trust material as Sigstore JSON: trusted root and client trust config."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cargo_verify.mock.fulcio import ORGANIZATION, CertificateAuthority

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
# Early enough that frozen clocks in the past still see every key and service as valid.
DEFAULT_VALID_FROM = datetime(2020, 1, 1, tzinfo=UTC)
OPERATOR = "cargo-verify-mock"

# sigstore-python picks the hash for a log key from keyDetails (a P-384 key declared with the
# P-256 details would be checked with the wrong hash), so derive it from the key itself.
_EC_KEY_DETAILS = {
    "secp256r1": "PKIX_ECDSA_P256_SHA_256",
    "secp384r1": "PKIX_ECDSA_P384_SHA_384",
    "secp521r1": "PKIX_ECDSA_P521_SHA_512",
}

LogPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def trusted_root(
    ca: CertificateAuthority,
    rekor_public_key: LogPublicKey,
    rekor_url: str,
    fulcio_url: str,
    valid_from: datetime = DEFAULT_VALID_FROM,
) -> dict[str, Any]:
    """A trusted root naming the mock's Rekor log, CA chain and CT log."""
    start = {"start": _rfc3339(valid_from)}
    chain = [ca.intermediate, ca.root]  # the leaf's direct issuer first: it must be listed
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [_log_instance(rekor_public_key, rekor_url, start)],
        "certificateAuthorities": [
            {
                "subject": {"organization": ORGANIZATION, "commonName": OPERATOR},
                "uri": fulcio_url,
                "certChain": {
                    "certificates": [
                        {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))}
                        for c in chain
                    ]
                },
                "validFor": start,
            }
        ],
        # The CT log is never contacted (Fulcio embeds the SCT); its URL is only a label.
        "ctlogs": [_log_instance(ca.ct_key.public_key(), fulcio_url, start)],
        "timestampAuthorities": [],
    }


def client_trust_config(
    trusted_root: dict[str, Any],
    fulcio_url: str,
    rekor_url: str,
    oidc_url: str,
    valid_from: datetime = DEFAULT_VALID_FROM,
) -> dict[str, Any]:
    """What `sigstore --trust-config FILE` reads: the trusted root plus where to sign."""
    start = {"start": _rfc3339(valid_from)}

    def service(url: str) -> dict[str, Any]:
        return {"url": url, "majorApiVersion": 1, "validFor": start, "operator": OPERATOR}

    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root,
        "signingConfig": {
            "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
            "caUrls": [service(fulcio_url)],
            "oidcUrls": [service(oidc_url)],
            "rekorTlogUrls": [service(rekor_url)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    }


def _log_instance(public_key: LogPublicKey, base_url: str, start: dict[str, str]) -> dict[str, Any]:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "baseUrl": base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": _b64(spki),
            "keyDetails": _key_details(public_key),
            "validFor": start,
        },
        "logId": {"keyId": _b64(hashlib.sha256(spki).digest())},
    }


def _key_details(public_key: LogPublicKey) -> str:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    try:
        return _EC_KEY_DETAILS[public_key.curve.name]
    except KeyError:
        raise ValueError(f"unsupported log key curve {public_key.curve.name}") from None


def _rfc3339(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError(f"valid_from must be timezone-aware, got {when.isoformat()}")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
