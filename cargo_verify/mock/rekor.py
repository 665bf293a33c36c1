"""A Rekor-v1-shaped transparency log: hashedrekord/dsse 0.0.1 entries, SETs, signed checkpoints.

Wire formats follow sigstore-facts.md §3 (request bodies, canonical bodies, the one-key response
object, entry UUIDs, SETs, signed-note checkpoints). Everything the log signs uses deterministic
ECDSA, so a log reloaded from its store answers byte for byte as before the restart.

Responses are plain dicts assembled in `_entry_object`, fresh on every call, so an attack layer
can alter what it gets without touching the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from cargo_verify.mock.clock import Clock
from cargo_verify.mock.merkle import MerkleTree, hash_leaf

DEFAULT_ORIGIN_NAME = "rekor.cargo-verify.test"
API_VERSION = "0.0.1"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
# openapi.yaml: each list of a retrieve request holds at most 10 items.
MAX_RETRIEVE_ITEMS = 10

_HASHEDREKORD_DIGESTS: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_DSSE_HASH_BY_CURVE: dict[str, hashes.HashAlgorithm] = {
    "secp384r1": hashes.SHA384(),
    "secp521r1": hashes.SHA512(),
}
_LOG_SIGNATURE = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_CHECKPOINT_CACHE_SIZE = 1024
_PROOF_CACHE_SIZE = 4096
_EMPTY_TREE_ROOT = hashlib.sha256(b"").digest()


class RekorError(Exception):
    """A request Rekor would refuse; `status` is the HTTP status it would answer with.

    For a 409 (duplicate entry) `uuid` names the entry already in the log (Rekor's Location).
    """

    def __init__(self, status: int, message: str, *, uuid: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.uuid = uuid


# --- RFC 8785 canonical JSON ------------------------------------------------------------------

_JSON_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_JSON_ESCAPES = str.maketrans(
    {chr(c): _JSON_SHORT_ESCAPES.get(chr(c), f"\\u{c:04x}") for c in range(0x20)}
    | {'"': '\\"', "\\": "\\\\"}
)
_MAX_EXACT_JSON_INT = 2**53 - 1  # ECMAScript's Number.MAX_SAFE_INTEGER


def canonical_json(value: object) -> bytes:
    """RFC 8785 (JCS) serialization of JSON-like data.

    Floats are refused: no Rekor body or SET payload holds one, and integers beyond 2**53 - 1 would
    not survive the IEEE-754 round trip that RFC 8785 assumes.
    """
    parts: list[str] = []
    _write_canonical(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("JSON strings must not contain lone surrogates") from error


def _write_canonical(value: object, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        if abs(value) > _MAX_EXACT_JSON_INT:
            raise ValueError(f"integer {value} is not exactly representable in RFC 8785 JSON")
        parts.append(str(value))
    elif isinstance(value, str):
        parts.append('"' + value.translate(_JSON_ESCAPES) + '"')
    elif isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("JSON object keys must be strings")
        parts.append("{")
        # RFC 8785 §3.2.3: keys sorted by their UTF-16 code units.
        for position, key in enumerate(sorted(value, key=_utf16_sort_key)):
            if position:
                parts.append(",")
            parts.append('"' + key.translate(_JSON_ESCAPES) + '":')
            _write_canonical(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for position, item in enumerate(value):
            if position:
                parts.append(",")
            _write_canonical(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as canonical JSON")


def _utf16_sort_key(key: str) -> bytes:
    try:
        return key.encode("utf-16-be")
    except UnicodeEncodeError as error:
        raise ValueError("JSON object keys must not contain lone surrogates") from error


# --- proposed entries → canonical bodies --------------------------------------------------------


@dataclass(frozen=True)
class CanonicalEntry:
    """A validated proposed entry: the bytes the log stores and the search-index keys it adds."""

    body: bytes
    index_keys: tuple[str, ...]


def canonicalize_proposed_entry(proposed: object) -> CanonicalEntry:
    """Validate a `POST /api/v1/log/entries` body the way Rekor does and build its canonical body.

    Raises RekorError(400) for anything Rekor would refuse.
    """
    entry = _require_mapping(proposed, "proposed entry")
    kind = entry.get("kind")
    if entry.get("apiVersion") != API_VERSION:
        raise RekorError(
            400, f"unsupported apiVersion {entry.get('apiVersion')!r} for kind {kind!r}"
        )
    spec = _require_mapping(entry.get("spec"), "spec")
    if kind == "hashedrekord":
        return _canonicalize_hashedrekord(spec)
    if kind == "dsse":
        return _canonicalize_dsse(spec)
    raise RekorError(400, f"unsupported entry kind {kind!r} (this log takes hashedrekord and dsse)")


def _canonicalize_hashedrekord(spec: Mapping[str, Any]) -> CanonicalEntry:
    signature_spec = _require_mapping(spec.get("signature"), "spec.signature")
    signature = _decode_b64(signature_spec.get("content"), "spec.signature.content")
    key_spec = _require_mapping(signature_spec.get("publicKey"), "spec.signature.publicKey")
    verifier = _load_verifier(key_spec.get("content"), "spec.signature.publicKey.content")
    hash_spec = _require_mapping(
        _require_mapping(spec.get("data"), "spec.data").get("hash"), "spec.data.hash"
    )
    algorithm_name = hash_spec.get("algorithm")
    algorithm = (
        _HASHEDREKORD_DIGESTS.get(algorithm_name) if isinstance(algorithm_name, str) else None
    )
    if algorithm is None:
        raise RekorError(400, f"unsupported hash algorithm {algorithm_name!r}")
    digest_hex = hash_spec.get("value")
    if (
        not isinstance(digest_hex, str)
        or len(digest_hex) != 2 * algorithm.digest_size
        or not _HEX_RE.fullmatch(digest_hex)
    ):
        raise RekorError(400, f"spec.data.hash.value is not a hex {algorithm.name} digest")
    try:
        verifier.key.verify(signature, bytes.fromhex(digest_hex), ec.ECDSA(Prehashed(algorithm)))
    except InvalidSignature:
        raise RekorError(
            400, "signature does not verify over the given digest with the given key"
        ) from None

    body = {
        "apiVersion": API_VERSION,
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm_name, "value": digest_hex}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(verifier.pem).decode()},
            },
        },
    }
    keys = [*verifier.index_keys(), f"{algorithm_name}:{digest_hex}".lower()]
    return CanonicalEntry(canonical_json(body), _unique(keys))


def _canonicalize_dsse(spec: Mapping[str, Any]) -> CanonicalEntry:
    for server_field in ("signatures", "envelopeHash", "payloadHash"):
        if spec.get(server_field) is not None:
            raise RekorError(
                400, f"spec.{server_field} is computed by the log and must not be sent"
            )
    content = _require_mapping(spec.get("proposedContent"), "spec.proposedContent")
    envelope_text = content.get("envelope")
    if not isinstance(envelope_text, str):
        raise RekorError(400, "spec.proposedContent.envelope must be a JSON string")
    raw_verifiers = content.get("verifiers")
    if not isinstance(raw_verifiers, list) or not raw_verifiers:
        raise RekorError(400, "spec.proposedContent.verifiers must be a non-empty list")
    verifiers = [
        _load_verifier(item, f"spec.proposedContent.verifiers[{position}]")
        for position, item in enumerate(raw_verifiers)
    ]
    try:
        envelope = json.loads(envelope_text)
    except json.JSONDecodeError as error:
        raise RekorError(400, f"envelope is not JSON: {error}") from None
    envelope = _require_mapping(envelope, "envelope")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise RekorError(400, "envelope.payloadType must be a string")
    payload = _decode_b64(envelope.get("payload"), "envelope.payload", allow_empty=True)
    raw_signatures = envelope.get("signatures")
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise RekorError(400, "envelope.signatures must be a non-empty list")

    pae = _dsse_pae(payload_type, payload)
    signatures: list[dict[str, str]] = []
    used_verifiers: list[_Verifier] = []
    for position, raw_signature in enumerate(raw_signatures):
        field = f"envelope.signatures[{position}]"
        signature_text = _require_mapping(raw_signature, field).get("sig")
        if not isinstance(signature_text, str):
            raise RekorError(400, f"{field}.sig must be a base64 string")
        signature = _decode_b64(signature_text, f"{field}.sig")
        verifier = next((v for v in verifiers if v.verifies_dsse(signature, pae)), None)
        if verifier is None:
            raise RekorError(
                400, f"envelope signature {position} does not verify with any verifier"
            )
        used_verifiers.append(verifier)
        signatures.append(
            {"signature": signature_text, "verifier": base64.b64encode(verifier.pem).decode()}
        )
    signatures.sort(key=lambda item: item["signature"])

    payload_hash = hashlib.sha256(payload).hexdigest()
    envelope_hash = hashlib.sha256(envelope_text.encode()).hexdigest()
    body = {
        "apiVersion": API_VERSION,
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            "signatures": signatures,
        },
    }
    keys = [key for verifier in used_verifiers for key in verifier.index_keys()]
    keys += [f"sha256:{payload_hash}", f"sha256:{envelope_hash}"]
    if payload_type == IN_TOTO_PAYLOAD_TYPE:
        keys += _in_toto_subject_digests(payload)
    return CanonicalEntry(canonical_json(body), _unique(keys))


def _dsse_pae(payload_type: str, payload: bytes) -> bytes:
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def _in_toto_subject_digests(payload: bytes) -> list[str]:
    """`alg:digest` keys of an in-toto statement's subjects (Rekor indexes attestations by them)."""
    try:
        statement = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    keys: list[str] = []
    for subject in subjects if isinstance(subjects, list) else []:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict):
            keys += [
                f"{alg}:{value}".lower() for alg, value in digests.items() if isinstance(value, str)
            ]
    return keys


@dataclass(frozen=True)
class _Verifier:
    """A certificate or bare public key from a proposed entry, with its canonical PEM."""

    key: ec.EllipticCurvePublicKey
    pem: bytes
    subjects: tuple[str, ...]

    def verifies_dsse(self, signature: bytes, pae: bytes) -> bool:
        algorithms: list[hashes.HashAlgorithm] = [hashes.SHA256()]
        if self.key.curve.name in _DSSE_HASH_BY_CURVE:
            algorithms.insert(0, _DSSE_HASH_BY_CURVE[self.key.curve.name])
        for algorithm in algorithms:
            try:
                self.key.verify(signature, pae, ec.ECDSA(algorithm))
                return True
            except InvalidSignature:
                continue
        return False

    def index_keys(self) -> list[str]:
        return [hashlib.sha256(self.pem).hexdigest(), *(s.lower() for s in self.subjects)]


def _load_verifier(value: object, field: str) -> _Verifier:
    pem = _decode_b64(value, field)
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as error:
            raise RekorError(400, f"{field}: not a PEM certificate: {error}") from None
        public_key: object = certificate.public_key()
        # Rekor stores the certificate re-encoded (Go's PEM is byte-identical to Python's).
        canonical_pem = certificate.public_bytes(serialization.Encoding.PEM)
        subjects = _certificate_subjects(certificate)
    else:
        try:
            public_key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise RekorError(
                400, f"{field}: not a PEM certificate or public key: {error}"
            ) from None
        canonical_pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        subjects = ()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise RekorError(400, f"{field}: unsupported key type (this log takes ECDSA keys)")
    return _Verifier(public_key, canonical_pem, subjects)


def _certificate_subjects(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    except ValueError as error:
        raise RekorError(400, f"certificate has a malformed SAN extension: {error}") from None
    return tuple(san.get_values_for_type(x509.RFC822Name)) + tuple(
        san.get_values_for_type(x509.UniformResourceIdentifier)
    )


def _require_mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RekorError(400, f"{field} must be a JSON object")
    return value


def _decode_b64(value: object, field: str, *, allow_empty: bool = False) -> bytes:
    if not isinstance(value, str):
        raise RekorError(400, f"{field} must be a base64 string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise RekorError(400, f"{field} is not valid base64") from None
    if not decoded and not allow_empty:
        raise RekorError(400, f"{field} must not be empty")
    return decoded


def _unique(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


# --- the log ------------------------------------------------------------------------------------


class TransparencyLog:
    """One active Rekor shard (a Merkle tree); global log indexes skip the inactive shards."""

    def __init__(
        self,
        signing_key: ec.EllipticCurvePrivateKey,
        clock: Clock,
        tree_id: int,
        origin_name: str = DEFAULT_ORIGIN_NAME,
        log_index_offset: int = 0,
        store: Path | None = None,
    ) -> None:
        if not 0 <= tree_id < 2**63:
            raise ValueError(f"tree ID {tree_id} is not a non-negative int64")
        if log_index_offset < 0:
            raise ValueError("log index offset must not be negative")
        if not origin_name or any(c.isspace() for c in origin_name):
            raise ValueError("origin name must be one word (it is the signed-note key name)")
        self._key = signing_key
        self._clock = clock
        self.tree_id = tree_id
        self.origin_name = origin_name
        self.log_index_offset = log_index_offset
        self._spki = signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._log_id_bytes = hashlib.sha256(self._spki).digest()
        self.log_id = self._log_id_bytes.hex()
        self._uuid_prefix = f"{tree_id:016x}"

        self._lock = threading.RLock()
        self._tree = MerkleTree()
        self._bodies_b64: list[str] = []
        self._integrated_times: list[int] = []
        self._signed_entry_timestamps: list[str | None] = []
        self._by_leaf_hash: dict[bytes, int] = {}
        self._search_index: dict[str, list[int]] = {}
        self._tree_heads: OrderedDict[int, tuple[bytes, str]] = OrderedDict()
        self._proofs: OrderedDict[tuple[int, int], list[str]] = OrderedDict()

        self._store_file: BinaryIO | None = None
        if store is not None:
            self._load_store(store)
            self._store_file = store.open("ab")

    # -- identity --------------------------------------------------------------------------------

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_key_der(self) -> bytes:
        """DER SubjectPublicKeyInfo: the trusted root's `tlogs[].publicKey.rawBytes`."""
        return self._spki

    @property
    def size(self) -> int:
        """The current tree size (entries in this shard, without the offset)."""
        return self._tree.size

    def uuid_of(self, log_index: int) -> str:
        with self._lock:
            return self._uuid(self._tree_index(log_index))

    # -- writing ---------------------------------------------------------------------------------

    def propose(self, proposed: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Handle `POST /api/v1/log/entries`: validate, integrate, answer (uuid, {uuid: entry})."""
        canonical = canonicalize_proposed_entry(proposed)
        with self._lock:
            tree_index = self._append(canonical)
            return self._uuid(tree_index), self._entry_object(tree_index, self._tree.size)

    def add_hashedrekord(self, signature: bytes, cert_pem: bytes, sha256_hex: str) -> int:
        """Log a hashedrekord (`sha256_hex` signed by `cert_pem`'s key); return the global index."""
        proposed = {
            "apiVersion": API_VERSION,
            "kind": "hashedrekord",
            "spec": {
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(cert_pem).decode()},
                },
                "data": {"hash": {"algorithm": "sha256", "value": sha256_hex}},
            },
        }
        return self._add(proposed)

    def add_dsse(self, envelope_json: str, cert_pem: bytes) -> int:
        """Log a dsse entry for the envelope (as sent, a JSON string); return the global index."""
        proposed = {
            "apiVersion": API_VERSION,
            "kind": "dsse",
            "spec": {
                "proposedContent": {
                    "envelope": envelope_json,
                    "verifiers": [base64.b64encode(cert_pem).decode()],
                }
            },
        }
        return self._add(proposed)

    def _add(self, proposed: dict[str, Any]) -> int:
        canonical = canonicalize_proposed_entry(proposed)
        with self._lock:
            return self.log_index_offset + self._append(canonical)

    def _append(self, canonical: CanonicalEntry) -> int:
        """Integrate a validated entry (lock held); durable before it becomes visible."""
        leaf_hash = hash_leaf(canonical.body)
        existing = self._by_leaf_hash.get(leaf_hash)
        if existing is not None:
            uuid = self._uuid(existing)
            raise RekorError(
                409, f"an equivalent entry already exists in the log: {uuid}", uuid=uuid
            )
        integrated_time = int(self._clock.now().timestamp())
        self._persist(canonical, integrated_time)
        return self._integrate(canonical.body, leaf_hash, integrated_time, canonical.index_keys)

    def _integrate(
        self, body: bytes, leaf_hash: bytes, integrated_time: int, index_keys: tuple[str, ...]
    ) -> int:
        tree_index = self._tree.append_leaf_hash(leaf_hash)
        self._bodies_b64.append(base64.b64encode(body).decode())
        self._integrated_times.append(integrated_time)
        self._signed_entry_timestamps.append(None)
        self._by_leaf_hash[leaf_hash] = tree_index
        for key in index_keys:
            self._search_index.setdefault(key, []).append(tree_index)
        return tree_index

    # -- persistence -----------------------------------------------------------------------------

    def _persist(self, canonical: CanonicalEntry, integrated_time: int) -> None:
        if self._store_file is None:
            return
        record = {
            "body": base64.b64encode(canonical.body).decode(),
            "integratedTime": integrated_time,
            # The envelope is not stored, so in-toto subject keys cannot be re-derived on reload.
            "indexKeys": list(canonical.index_keys),
        }
        self._store_file.write(canonical_json(record) + b"\n")
        self._store_file.flush()
        os.fsync(self._store_file.fileno())

    def _load_store(self, store: Path) -> None:
        if not store.exists():
            store.parent.mkdir(parents=True, exist_ok=True)
            return
        data = store.read_bytes()
        complete, _, torn_tail = data.rpartition(b"\n")
        if torn_tail:
            # A write interrupted before its fsync was never acknowledged: drop it.
            with store.open("r+b") as handle:
                handle.truncate(len(data) - len(torn_tail))
        if not complete:
            return
        for line_number, line in enumerate(complete.split(b"\n"), start=1):
            try:
                record = json.loads(line)
                body = base64.b64decode(record["body"], validate=True)
                integrated_time = record["integratedTime"]
                index_keys = tuple(record["indexKeys"])
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{store}:{line_number}: unreadable log record: {error}") from None
            if not isinstance(integrated_time, int) or not all(
                isinstance(k, str) for k in index_keys
            ):
                raise ValueError(f"{store}:{line_number}: malformed log record")
            leaf_hash = hash_leaf(body)
            if leaf_hash in self._by_leaf_hash:
                raise ValueError(f"{store}:{line_number}: duplicate entry")
            self._integrate(body, leaf_hash, integrated_time, index_keys)

    def close(self) -> None:
        with self._lock:
            if self._store_file is not None:
                self._store_file.close()
                self._store_file = None

    # -- reading ---------------------------------------------------------------------------------

    def entry(self, log_index: int) -> dict[str, Any]:
        """`GET /api/v1/log/entries?logIndex=N` (global N), proven against the current tree head."""
        with self._lock:
            return self._entry_object(self._tree_index(log_index), self._tree.size)

    def entry_by_uuid(self, uuid_or_leaf_hash: str) -> dict[str, Any]:
        """`GET /api/v1/log/entries/{uuid}`: an 80-hex entry UUID or a bare 64-hex leaf hash."""
        with self._lock:
            return self._entry_object(self._tree_index_of_uuid(uuid_or_leaf_hash), self._tree.size)

    def search(self, query: dict[str, Any]) -> list[str]:
        """`POST /api/v1/index/retrieve`: UUIDs matching hash / email / subject / publicKey."""
        if not isinstance(query, Mapping):
            raise RekorError(400, "search query must be a JSON object")
        operator = query.get("operator") or "or"
        if not isinstance(operator, str) or operator.lower() not in ("and", "or"):
            raise RekorError(422, f"operator must be 'and' or 'or', not {operator!r}")
        keys: list[str] = []
        hash_query = query.get("hash")
        if hash_query:
            if not isinstance(hash_query, str):
                raise RekorError(400, "hash must be a string")
            keys.append(hash_query.lower() if ":" in hash_query else f"sha256:{hash_query.lower()}")
        for field in ("email", "subject"):
            value = query.get(field)
            if value:
                if not isinstance(value, str):
                    raise RekorError(400, f"{field} must be a string")
                keys.append(value.lower())
        public_key = query.get("publicKey")
        if public_key is not None:
            public_key = _require_mapping(public_key, "publicKey")
            if public_key.get("format") != "x509":
                raise RekorError(400, f"unsupported public key format {public_key.get('format')!r}")
            keys.append(
                hashlib.sha256(
                    _load_verifier(public_key.get("content"), "publicKey.content").pem
                ).hexdigest()
            )
        with self._lock:
            subsets = [self._search_index.get(key, []) for key in keys]
            if not subsets:
                return []
            matches = set(subsets[0])
            for subset in subsets[1:]:
                matches = (
                    matches & set(subset) if operator.lower() == "and" else matches | set(subset)
                )
            return [self._uuid(tree_index) for tree_index in sorted(matches)]

    def retrieve(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """`POST /api/v1/log/entries/retrieve/`: entries found by proposed body, UUID or log index.

        Unknown ones are left out; nothing found answers `[]`.
        """
        fields = _require_mapping(request, "search request")
        proposed = self._retrieve_list(fields, "entries")
        uuids = self._retrieve_list(fields, "entryUUIDs")
        log_indexes = self._retrieve_list(fields, "logIndexes")
        leaf_hashes = [hash_leaf(canonicalize_proposed_entry(item).body) for item in proposed]
        with self._lock:
            found: list[int] = [
                self._by_leaf_hash[leaf] for leaf in leaf_hashes if leaf in self._by_leaf_hash
            ]
            for uuid in uuids:
                try:
                    found.append(self._tree_index_of_uuid(uuid))
                except RekorError as error:
                    if error.status != 404:
                        raise
            for log_index in log_indexes:
                if not isinstance(log_index, int) or isinstance(log_index, bool) or log_index < 0:
                    raise RekorError(422, f"logIndexes holds {log_index!r}, not a log index")
                tree_index = log_index - self.log_index_offset
                if 0 <= tree_index < self._tree.size:
                    found.append(tree_index)
            size = self._tree.size
            return [self._entry_object(tree_index, size) for tree_index in found]

    @staticmethod
    def _retrieve_list(request: Mapping[str, Any], field: str) -> Sequence[Any]:
        value = request.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            raise RekorError(400, f"{field} must be a list")
        if len(value) > MAX_RETRIEVE_ITEMS:
            raise RekorError(422, f"{field} holds more than {MAX_RETRIEVE_ITEMS} items")
        return value

    def log_info(self) -> dict[str, Any]:
        """`GET /api/v1/log`."""
        with self._lock:
            size = self._tree.size
            root, note = self._tree_head(size)
            return {
                "rootHash": root.hex(),
                "treeSize": size,
                "signedTreeHead": note,
                "treeID": str(self.tree_id),
                "inactiveShards": [],
            }

    def consistency(self, first_size: int, last_size: int | None = None) -> dict[str, Any]:
        """`GET /api/v1/log/proof?firstSize=&lastSize=`: RFC 6962 consistency proof."""
        with self._lock:
            last = self._tree.size if last_size is None else last_size
            if not 1 <= first_size <= last <= self._tree.size:
                raise RekorError(
                    400,
                    f"need 1 <= firstSize ({first_size}) <= lastSize ({last}) <= {self._tree.size}",
                )
            hashes_ = self._tree.consistency_proof(first_size, last)
            return {
                "rootHash": self._tree_head(last)[0].hex(),
                "hashes": [h.hex() for h in hashes_],
            }

    def checkpoint(self, size: int | None = None) -> str:
        """The signed note for the tree head of `size` entries (the current size when None)."""
        with self._lock:
            return self._tree_head(self._tree.size if size is None else size)[1]

    # -- internals (lock held) -------------------------------------------------------------------

    def _uuid(self, tree_index: int) -> str:
        return self._uuid_prefix + self._tree.leaf_hash(tree_index).hex()

    def _tree_index(self, log_index: int) -> int:
        tree_index = log_index - self.log_index_offset
        if not 0 <= tree_index < self._tree.size:
            raise RekorError(404, f"no entry at log index {log_index}")
        return tree_index

    def _tree_index_of_uuid(self, uuid: str) -> int:
        text = uuid.lower() if isinstance(uuid, str) else ""
        if len(text) not in (64, 80) or not _HEX_RE.fullmatch(text):
            raise RekorError(400, f"{uuid!r} is neither an entry UUID nor a leaf hash")
        if len(text) == 80:
            if text[:16] != self._uuid_prefix:
                raise RekorError(404, f"no shard with tree ID {int(text[:16], 16)} in this log")
            text = text[16:]
        tree_index = self._by_leaf_hash.get(bytes.fromhex(text))
        if tree_index is None:
            raise RekorError(404, f"no entry with UUID {uuid}")
        return tree_index

    def _tree_head(self, size: int) -> tuple[bytes, str]:
        """(root hash, signed checkpoint) for `size`, signed once and cached."""
        cached = self._tree_heads.get(size)
        if cached is not None:
            self._tree_heads.move_to_end(size)
            return cached
        if not 0 <= size <= self._tree.size:
            raise RekorError(400, f"tree size {size} outside 0..{self._tree.size}")
        root = self._tree.root(size) if size else _EMPTY_TREE_ROOT
        note = f"{self.origin_name} - {self.tree_id}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = self._key.sign(note.encode(), _LOG_SIGNATURE)
        # Rekor v1 key hint: the first 4 bytes of SHA-256(SPKI), i.e. of the log ID.
        signed = base64.b64encode(self._log_id_bytes[:4] + signature).decode()
        head = (root, f"{note}\n\u2014 {self.origin_name} {signed}\n")
        self._tree_heads[size] = head
        if len(self._tree_heads) > _CHECKPOINT_CACHE_SIZE:
            self._tree_heads.popitem(last=False)
        return head

    def _proof(self, tree_index: int, size: int) -> list[str]:
        key = (tree_index, size)
        proof = self._proofs.get(key)
        if proof is None:
            proof = [h.hex() for h in self._tree.inclusion_proof(tree_index, size)]
            self._proofs[key] = proof
            if len(self._proofs) > _PROOF_CACHE_SIZE:
                self._proofs.popitem(last=False)
        return proof

    def _signed_entry_timestamp(self, tree_index: int) -> str:
        cached = self._signed_entry_timestamps[tree_index]
        if cached is None:
            payload = canonical_json(
                {
                    "body": self._bodies_b64[tree_index],
                    "integratedTime": self._integrated_times[tree_index],
                    "logID": self.log_id,
                    "logIndex": self.log_index_offset + tree_index,
                }
            )
            cached = base64.b64encode(self._key.sign(payload, _LOG_SIGNATURE)).decode()
            self._signed_entry_timestamps[tree_index] = cached
        return cached

    def _entry_object(self, tree_index: int, size: int) -> dict[str, Any]:
        """The one-key `{uuid: entry}` object Rekor answers with; built fresh on every call."""
        root, checkpoint = self._tree_head(size)
        return {
            self._uuid(tree_index): {
                "body": self._bodies_b64[tree_index],
                "integratedTime": self._integrated_times[tree_index],
                "logID": self.log_id,
                "logIndex": self.log_index_offset + tree_index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": checkpoint,
                        "hashes": list(self._proof(tree_index, size)),
                        "logIndex": tree_index,
                        "rootHash": root.hex(),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": self._signed_entry_timestamp(tree_index),
                },
            }
        }
