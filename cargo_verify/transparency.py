"""Rekor v1 responses and bundle documents → Sigstore bundle JSON.

Pure data plumbing: no cryptography happens here (sigstore-python does all of it in
`verify.py`); this module only reshapes what the log returned into the bundle v0.3 form
that `sigstore.models.Bundle.from_json` accepts, and refuses shapes it does not understand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

BUNDLE_V03_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_DIGEST_ALGORITHMS = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}


class EvidenceError(Exception):
    """The log entry or bundle is malformed or not what it claims to be."""


@dataclass(frozen=True)
class RekorEntry:
    """One Rekor v1 entry as returned by `GET /api/v1/log/entries?logIndex=N`."""

    uuid: str
    log_index: int
    integrated_time: int
    log_id_hex: str
    body: dict[str, Any]  # the decoded canonical body
    raw: dict[str, Any]  # the inner response object

    @property
    def kind(self) -> str:
        return f"{self.body.get('kind')}/{self.body.get('apiVersion')}"

    @property
    def artifact_sha256(self) -> str | None:
        """The digest a hashedrekord entry signs (lowercase hex), if it is one."""
        if self.body.get("kind") != "hashedrekord":
            return None
        try:
            hash_ = self.body["spec"]["data"]["hash"]
        except (KeyError, TypeError):
            return None
        if not isinstance(hash_, dict) or hash_.get("algorithm") != "sha256":
            return None
        value = hash_.get("value")
        return value.lower() if isinstance(value, str) else None


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise EvidenceError(message)


def _hex_to_b64(value: Any, what: str) -> str:
    _require(isinstance(value, str), f"{what} is not a hex string")
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError as exc:
        raise EvidenceError(f"{what} is not valid hex") from exc


def _b64decode(value: Any, what: str) -> bytes:
    _require(isinstance(value, str), f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EvidenceError(f"{what} is not valid base64") from exc


def parse_rekor_response(document: Any, expected_log_index: int | None = None) -> RekorEntry:
    """Validate the shape of a v1 entry response (a one-key object keyed by UUID)."""
    _require(isinstance(document, dict), "Rekor response is not a JSON object")
    _require(len(document) == 1, f"Rekor response has {len(document)} entries, expected 1")
    ((uuid, inner),) = document.items()
    _require(isinstance(inner, dict), "Rekor entry is not a JSON object")
    for key, typ in (("body", str), ("integratedTime", int), ("logID", str), ("logIndex", int)):
        _require(
            isinstance(inner.get(key), typ) and not isinstance(inner.get(key), bool),
            f"Rekor entry field {key!r} missing or of the wrong type",
        )
    if expected_log_index is not None:
        _require(
            inner["logIndex"] == expected_log_index,
            f"Rekor returned log index {inner['logIndex']} for a request of {expected_log_index}",
        )
    try:
        body = json.loads(_b64decode(inner["body"], "Rekor entry body"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError("Rekor entry body is not JSON") from exc
    _require(isinstance(body, dict), "Rekor entry body is not a JSON object")
    return RekorEntry(
        uuid=str(uuid),
        log_index=inner["logIndex"],
        integrated_time=inner["integratedTime"],
        log_id_hex=inner["logID"],
        body=body,
        raw=inner,
    )


def _tlog_entry(entry: RekorEntry) -> dict[str, Any]:
    verification: Any = entry.raw.get("verification")
    _require(isinstance(verification, dict), "Rekor entry has no verification object")
    set_ = verification.get("signedEntryTimestamp")
    _require(isinstance(set_, str) and bool(set_), "Rekor entry has no signed entry timestamp")
    proof: Any = verification.get("inclusionProof")
    _require(isinstance(proof, dict), "Rekor entry has no inclusion proof")
    for key in ("logIndex", "treeSize"):
        _require(
            isinstance(proof.get(key), int) and not isinstance(proof.get(key), bool),
            f"inclusion proof field {key!r} missing or not an integer",
        )
    hashes = proof.get("hashes")
    _require(isinstance(hashes, list), "inclusion proof has no hash list")
    checkpoint = proof.get("checkpoint")
    _require(isinstance(checkpoint, str) and bool(checkpoint), "inclusion proof has no checkpoint")
    return {
        "logIndex": str(entry.log_index),
        "logId": {"keyId": _hex_to_b64(entry.log_id_hex, "logID")},
        "kindVersion": {
            "kind": str(entry.body.get("kind")),
            "version": str(entry.body.get("apiVersion")),
        },
        "integratedTime": str(entry.integrated_time),
        "inclusionPromise": {"signedEntryTimestamp": set_},
        "inclusionProof": {
            "logIndex": str(proof["logIndex"]),
            "rootHash": _hex_to_b64(proof.get("rootHash"), "inclusion proof root hash"),
            "treeSize": str(proof["treeSize"]),
            "hashes": [_hex_to_b64(h, "inclusion proof hash") for h in hashes],
            "checkpoint": {"envelope": checkpoint},
        },
        "canonicalizedBody": entry.raw["body"],
    }


def bundle_from_hashedrekord(entry: RekorEntry) -> dict[str, Any]:
    """Rebuild a v0.3 message-signature bundle from a hashedrekord v0.0.1 entry."""
    _require(
        entry.body.get("kind") == "hashedrekord" and entry.body.get("apiVersion") == "0.0.1",
        f"Rekor entry {entry.log_index} is {entry.kind}, not hashedrekord/0.0.1 "
        "(a DSSE entry can only be verified from a bundle)",
    )
    spec: Any = entry.body.get("spec")
    _require(isinstance(spec, dict), "hashedrekord body has no spec")
    try:
        sig_content = spec["signature"]["content"]
        pem_b64 = spec["signature"]["publicKey"]["content"]
        algorithm = spec["data"]["hash"]["algorithm"]
        digest_hex = spec["data"]["hash"]["value"]
    except (KeyError, TypeError) as exc:
        raise EvidenceError("hashedrekord body is missing signature, key or hash") from exc
    _require(algorithm in _DIGEST_ALGORITHMS, f"unsupported digest algorithm {algorithm!r}")
    pem = _b64decode(pem_b64, "hashedrekord public key")
    der = _pem_certificate_to_der(pem)
    _b64decode(sig_content, "hashedrekord signature")
    return {
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": base64.b64encode(der).decode()},
            "tlogEntries": [_tlog_entry(entry)],
            "timestampVerificationData": {"rfc3161Timestamps": []},
        },
        "messageSignature": {
            "messageDigest": {
                "algorithm": _DIGEST_ALGORITHMS[algorithm],
                "digest": _hex_to_b64(digest_hex, "hashedrekord digest"),
            },
            "signature": sig_content,
        },
    }


def _pem_certificate_to_der(pem: bytes) -> bytes:
    text = pem.decode("ascii", errors="replace").strip()
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    _require(
        text.startswith(begin) and text.endswith(end) and text.count(begin) == 1,
        "hashedrekord public key is not exactly one PEM certificate",
    )
    return _b64decode("".join(text[len(begin) : -len(end)].split()), "PEM certificate")


BUNDLE_MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    BUNDLE_V03_MEDIA_TYPE: "0.3",
}


@dataclass(frozen=True)
class BundleSummary:
    """What the pipeline needs to know about a bundle before handing it to sigstore."""

    media_type: str
    is_dsse: bool
    log_index: int | None
    message_digest_sha256: str | None  # hex, for message-signature bundles with a SHA-256 digest
    body_sha256: str | None = None  # hex digest a hashedrekord log entry body records
    proof_tree_size: int | None = None  # the inclusion proof's treeSize
    checkpoint_tree_size: int | None = None  # the size line of the proof's signed checkpoint
    has_entry_timestamp: bool = True  # inclusionPromise (signed entry timestamp) present
    rfc3161_timestamps: int = 0
    integrated_time: int | None = None  # seconds since the epoch, as the log entry states
    body_kind: str | None = None  # "hashedrekord", "dsse", … of the log entry body
    body_payload_sha256: str | None = None  # hex payloadHash a dsse log entry body records
    envelope_payload_sha256: str | None = None  # hex sha256 of a DSSE envelope's payload


def summarize_bundle(document: Any) -> BundleSummary:
    """Check the outer shape of a bundle document; sigstore checks the rest.

    Refused here, with a reason that names the problem: media types other than the bundle
    versions 0.1-0.3, and a bundle whose certificate form contradicts its claimed version
    (v0.3 holds one leaf `certificate`, v0.1/v0.2 an `x509CertificateChain`).
    """
    _require(isinstance(document, dict), "bundle is not a JSON object")
    media_type = document.get("mediaType")
    _require(
        isinstance(media_type, str)
        and media_type.startswith("application/vnd.dev.sigstore.bundle"),
        f"not a Sigstore bundle (media type {media_type!r})",
    )
    assert isinstance(media_type, str)
    version = BUNDLE_MEDIA_TYPES.get(media_type)
    _require(
        version is not None,
        f"unsupported bundle media type {media_type!r} (known: versions 0.1, 0.2, 0.3)",
    )
    is_dsse = "dsseEnvelope" in document
    has_message = "messageSignature" in document
    _require(
        is_dsse != has_message, "bundle must hold exactly one of messageSignature, dsseEnvelope"
    )
    material = document.get("verificationMaterial")
    _require(isinstance(material, dict), "bundle has no verificationMaterial object")
    form = "certificate" if version == "0.3" else "x509CertificateChain"
    for other in ("certificate", "x509CertificateChain"):
        _require(
            other == form or other not in material,
            f"bundle media type {media_type} (v{version}) contradicts its content: it carries "
            f"`{other}`, where a v{version} bundle carries `{form}`",
        )
    digest_hex: str | None = None
    if has_message:
        signature = document["messageSignature"]
        digest = signature.get("messageDigest") if isinstance(signature, dict) else None
        if isinstance(digest, dict) and digest.get("algorithm") == "SHA2_256":
            digest_hex = _b64decode(digest.get("digest"), "bundle message digest").hex()
    entries = material.get("tlogEntries")
    entry = entries[0] if isinstance(entries, list) and len(entries) == 1 else None
    timestamps = material.get("timestampVerificationData")
    rfc3161 = timestamps.get("rfc3161Timestamps") if isinstance(timestamps, dict) else None
    summary = BundleSummary(
        media_type, is_dsse, None, digest_hex,
        rfc3161_timestamps=len(rfc3161) if isinstance(rfc3161, list) else 0,
        envelope_payload_sha256=_envelope_payload_sha256(document.get("dsseEnvelope")),
    )
    if not isinstance(entry, dict):
        return summary
    proof = entry.get("inclusionProof")
    proof = proof if isinstance(proof, dict) else {}
    checkpoint = proof.get("checkpoint")
    envelope = checkpoint.get("envelope") if isinstance(checkpoint, dict) else None
    body = _decoded_body(entry.get("canonicalizedBody"))
    return replace(
        summary,
        log_index=_int_or_none(entry.get("logIndex")),
        body_sha256=_hashedrekord_sha256(body),
        body_kind=str(body.get("kind")) if body is not None else None,
        body_payload_sha256=_dsse_payload_sha256(body),
        proof_tree_size=_int_or_none(proof.get("treeSize")),
        checkpoint_tree_size=_checkpoint_size(envelope),
        has_entry_timestamp=isinstance(entry.get("inclusionPromise"), dict),
        integrated_time=_int_or_none(entry.get("integratedTime")),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _decoded_body(body_b64: Any) -> dict[str, Any] | None:
    try:
        body = json.loads(base64.b64decode(str(body_b64), validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _sha256_field(value: Any) -> str | None:
    """The hex value of a `{"algorithm": "sha256", "value": hex}` object."""
    if not isinstance(value, dict) or value.get("algorithm") != "sha256":
        return None
    hex_value = value.get("value")
    if not isinstance(hex_value, str) or len(hex_value) != 64:
        return None
    try:
        bytes.fromhex(hex_value)
    except ValueError:
        return None  # not a digest at all: sigstore's body check refuses it
    return hex_value.lower()


def _hashedrekord_sha256(body: dict[str, Any] | None) -> str | None:
    """The sha256 a hashedrekord body records (None for other kinds or unreadable bodies)."""
    if body is None or body.get("kind") != "hashedrekord":
        return None
    try:
        return _sha256_field(body["spec"]["data"]["hash"])
    except (KeyError, TypeError):
        return None


def _dsse_payload_sha256(body: dict[str, Any] | None) -> str | None:
    if body is None or body.get("kind") != "dsse":
        return None
    try:
        return _sha256_field(body["spec"]["payloadHash"])
    except (KeyError, TypeError):
        return None


def _envelope_payload_sha256(envelope: Any) -> str | None:
    if not isinstance(envelope, dict):
        return None
    try:
        payload = base64.b64decode(str(envelope.get("payload")), validate=True)
    except (ValueError, binascii.Error):
        return None
    return hashlib.sha256(payload).hexdigest()


def _checkpoint_size(envelope: Any) -> int | None:
    """The tree size (second line) of a signed-note checkpoint, when it has a readable one."""
    if not isinstance(envelope, str):
        return None
    lines = envelope.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        return None
    return int(lines[1])
