"""Managed signing: what the registry does after a publish passed its publisher check.

It asks the CA for a 10-minute certificate bound to the publisher's token claims, signs the
`.crate` (a message signature over its SHA-256, or a DSSE in-toto statement whose subject is
the `.crate`), writes the Rekor entry and keeps the matching bundle. The verifier shares no
code with this module on purpose: a shared encoding bug must not pass both sides.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from cargo_verify.mock.fulcio import CertificateAuthority
from cargo_verify.mock.keys import KeyRing
from cargo_verify.mock.rekor import TransparencyLog

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://cargo-verify.test/publish/v1"


@dataclass(frozen=True)
class SignedPublish:
    log_index: int
    bundle: dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pae(payload_type: str, payload: bytes) -> bytes:
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def tlog_entry_for_bundle(response: dict[str, Any]) -> dict[str, Any]:
    """Rekor's `{uuid: entry}` answer in the bundle's `tlogEntries[]` form."""
    ((_, entry),) = response.items()
    body = json.loads(base64.b64decode(entry["body"]))
    proof = entry["verification"]["inclusionProof"]
    return {
        "logIndex": str(entry["logIndex"]),
        "logId": {"keyId": _b64(bytes.fromhex(entry["logID"]))},
        "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
        "integratedTime": str(entry["integratedTime"]),
        "inclusionPromise": {"signedEntryTimestamp": entry["verification"]["signedEntryTimestamp"]},
        "inclusionProof": {
            "logIndex": str(proof["logIndex"]),
            "rootHash": _b64(bytes.fromhex(proof["rootHash"])),
            "treeSize": str(proof["treeSize"]),
            "hashes": [_b64(bytes.fromhex(h)) for h in proof["hashes"]],
            "checkpoint": {"envelope": proof["checkpoint"]},
        },
        "canonicalizedBody": entry["body"],
    }


class ManagedSigner:
    """The registry's signing service (implements the registry's Signer protocol)."""

    def __init__(
        self,
        keys: KeyRing,
        ca: CertificateAuthority,
        log: TransparencyLog,
        kind: str = "message",
    ) -> None:
        if kind not in ("message", "dsse"):
            raise ValueError(f"unknown bundle kind {kind!r}")
        self._keys = keys
        self._ca = ca
        self._log = log
        self.kind = kind

    def sign(
        self, name: str, version: str, crate_bytes: bytes, claims: dict[str, Any]
    ) -> SignedPublish:
        # One ephemeral key per publish, derived so that a replay of the same world is identical.
        key = self._keys.ec_key(f"publish:{name}:{version}:{self._log.size}")
        leaf = self._ca.issue(key.public_key(), claims)[0]
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
        digest = hashlib.sha256(crate_bytes).digest()
        material: dict[str, Any] = {
            "certificate": {"rawBytes": _b64(leaf.public_bytes(serialization.Encoding.DER))},
            "timestampVerificationData": {"rfc3161Timestamps": []},
        }
        if self.kind == "message":
            signature = key.sign(
                digest, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)
            )
            log_index = self._log.add_hashedrekord(signature, leaf_pem, digest.hex())
            content: dict[str, Any] = {
                "messageSignature": {
                    "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
                    "signature": _b64(signature),
                }
            }
        else:
            statement = {
                "_type": STATEMENT_TYPE,
                "subject": [
                    {"name": f"{name}-{version}.crate", "digest": {"sha256": digest.hex()}}
                ],
                "predicateType": PREDICATE_TYPE,
                "predicate": {"crate": name, "version": version},
            }
            payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
            signature = key.sign(
                _pae(IN_TOTO, payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
            )
            envelope = {
                "payload": _b64(payload),
                "payloadType": IN_TOTO,
                "signatures": [{"sig": _b64(signature)}],
            }
            log_index = self._log.add_dsse(
                json.dumps(envelope, separators=(",", ":")), leaf_pem
            )
            content = {"dsseEnvelope": envelope}
        material["tlogEntries"] = [tlog_entry_for_bundle(self._log.entry(log_index))]
        bundle = {"mediaType": BUNDLE_MEDIA_TYPE, "verificationMaterial": material, **content}
        return SignedPublish(log_index=log_index, bundle=bundle)
