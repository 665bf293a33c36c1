"""The mock Rekor log, judged by sigstore-python's own parsing and verification code."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore import dsse
from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore._internal.rekor.client import RekorClient
from sigstore._internal.trust import Keyring, RekorKeyring
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import TransparencyLogEntry
from sigstore_models.common.v1 import HashAlgorithm
from sigstore_models.common.v1 import PublicKey as ProtoPublicKey

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.rekor import (
    RekorError,
    TransparencyLog,
    canonical_json,
    canonicalize_proposed_entry,
)

TREE_ID = 2605736670972794746
START = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "bundle-verify"

# Only the request builders are borrowed from the client: they make the exact bodies it sends.
_CLIENT = RekorClient("http://127.0.0.1:1")


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make_signer(curve: ec.EllipticCurve, email: str = "dev@example.test") -> Signer:
    key = ec.generate_private_key(curve)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway signer")])
    san = x509.SubjectAlternativeName(
        [x509.RFC822Name(email), x509.UniformResourceIdentifier("https://example.test/wf")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START - timedelta(days=1))
        .not_valid_after(START + timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Signer(key, cert)


def hashedrekord_request(signer: Signer, artifact: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(artifact).digest()
    signature = signer.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
    request: dict[str, Any] = _CLIENT._build_hashed_rekord_request(hashed, signature, signer.cert)
    return request


def in_toto_envelope(signer: Signer, subject_sha256: str) -> dsse.Envelope:
    statement = (
        dsse.StatementBuilder()
        .subjects(
            [
                dsse.Subject.model_validate(
                    {"name": "crate.crate", "digest": {"sha256": subject_sha256}}
                )
            ]
        )
        .predicate_type("https://example.test/provenance/v1")
        .predicate({"builder": "test"})
        .build()
    )
    return dsse._sign(signer.key, statement)


def dsse_request(signer: Signer, subject_sha256: str) -> dict[str, Any]:
    envelope = in_toto_envelope(signer, subject_sha256)
    request: dict[str, Any] = _CLIENT._build_dsse_request(envelope, signer.cert)
    return request


def keyring_for(log_key: ec.EllipticCurvePrivateKey) -> RekorKeyring:
    der = log_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    proto = ProtoPublicKey.from_json(
        json.dumps(
            {
                "rawBytes": base64.b64encode(der).decode(),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }
        )
    )
    return RekorKeyring(Keyring([proto]))


def the_entry(obj: dict[str, Any]) -> dict[str, Any]:
    ((_, entry),) = obj.items()
    assert isinstance(entry, dict)
    return entry


@pytest.fixture(scope="module")
def log_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def keyring(log_key: ec.EllipticCurvePrivateKey) -> RekorKeyring:
    return keyring_for(log_key)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return make_signer(ec.SECP256R1())


@pytest.fixture()
def log(log_key: ec.EllipticCurvePrivateKey) -> TransparencyLog:
    return TransparencyLog(log_key, FixedClock(START), TREE_ID)


@dataclass
class BigLog:
    log: TransparencyLog
    responses: list[tuple[str, dict[str, Any]]]


BIG_LOG_SIZE = 1_037  # not a power of two, nor are most of the intermediate sizes


@pytest.fixture(scope="module")
def big_log(log_key: ec.EllipticCurvePrivateKey, signer: Signer) -> BigLog:
    clock = FixedClock(START)
    log = TransparencyLog(log_key, clock, TREE_ID)
    responses = []
    for i in range(BIG_LOG_SIZE):
        if i % 10 == 3:
            request = dsse_request(signer, hashlib.sha256(b"crate %d" % i).hexdigest())
        else:
            request = hashedrekord_request(signer, b"artifact %d" % i)
        responses.append(log.propose(request))
        clock.advance(1)
    return BigLog(log, responses)


# --- the 1,000-entry log, checked with sigstore's own code ---------------------------------------


def test_every_entry_verifies_against_the_current_signed_checkpoint(
    big_log: BigLog, keyring: RekorKeyring
) -> None:
    log = big_log.log
    for i in range(BIG_LOG_SIZE):
        obj = log.entry(i)
        proof = the_entry(obj)["verification"]["inclusionProof"]
        assert (proof["logIndex"], proof["treeSize"]) == (i, BIG_LOG_SIZE)
        # sigstore's own checks: Merkle inclusion, checkpoint signature and root, SET.
        TransparencyLogEntry._from_v1_response(obj)._verify(keyring)


def test_every_integration_response_verifies_at_its_own_tree_size(
    big_log: BigLog, keyring: RekorKeyring
) -> None:
    # Every fifth response (and the last) keeps this check quick; sizes 1, 6, 11, ... vary enough.
    for i, (uuid, obj) in enumerate(big_log.responses):
        if i % 5 and i != BIG_LOG_SIZE - 1:
            continue
        assert list(obj) == [uuid]
        entry = the_entry(obj)
        assert entry["logIndex"] == i
        assert entry["verification"]["inclusionProof"]["treeSize"] == i + 1
        TransparencyLogEntry._from_v1_response(obj)._verify(keyring)


def test_entries_keep_their_integration_time_and_kind(big_log: BigLog) -> None:
    entries = [the_entry(big_log.log.entry(i)) for i in (0, 3, 500)]
    assert [e["integratedTime"] for e in entries] == [
        int(START.timestamp()) + i for i in (0, 3, 500)
    ]
    kinds = [json.loads(base64.b64decode(e["body"]))["kind"] for e in entries]
    assert kinds == ["hashedrekord", "dsse", "hashedrekord"]


def test_a_proof_from_another_tree_size_fails_sigstore_verification(
    big_log: BigLog, keyring: RekorKeyring
) -> None:
    obj = big_log.log.entry(10)
    the_entry(obj)["verification"]["inclusionProof"]["hashes"] = the_entry(
        big_log.responses[10][1]
    )["verification"]["inclusionProof"]["hashes"]
    with pytest.raises(VerificationError):
        TransparencyLogEntry._from_v1_response(obj)._verify(keyring)


def test_uuid_is_tree_id_and_leaf_hash(big_log: BigLog) -> None:
    uuid, obj = big_log.responses[7]
    body = base64.b64decode(the_entry(obj)["body"])
    assert uuid == "24296fb24b8ad77a" + hashlib.sha256(b"\x00" + body).hexdigest()
    assert big_log.log.entry_by_uuid(uuid) == big_log.log.entry(7)
    assert big_log.log.entry_by_uuid(uuid[16:].upper()) == big_log.log.entry(7)


# --- SET -----------------------------------------------------------------------------------------


def test_signed_entry_timestamp_covers_the_four_keys(
    log: TransparencyLog, signer: Signer, log_key: ec.EllipticCurvePrivateKey
) -> None:
    _, obj = log.propose(hashedrekord_request(signer, b"set"))
    entry = the_entry(obj)
    payload = {key: entry[key] for key in ("body", "integratedTime", "logID", "logIndex")}
    signature = base64.b64decode(entry["verification"]["signedEntryTimestamp"])
    log_key.public_key().verify(signature, rfc8785.dumps(payload), ec.ECDSA(hashes.SHA256()))
    payload["integratedTime"] += 1
    with pytest.raises(InvalidSignature):
        log_key.public_key().verify(signature, rfc8785.dumps(payload), ec.ECDSA(hashes.SHA256()))


def test_log_id_is_sha256_of_the_public_key(
    log: TransparencyLog, log_key: ec.EllipticCurvePrivateKey
) -> None:
    der = log_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert log.log_id == hashlib.sha256(der).hexdigest()
    assert (
        serialization.load_pem_public_key(log.public_key_pem()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == der
    )


def test_offset_shard_sets_cover_the_global_index_and_proofs_the_tree_index(
    log_key: ec.EllipticCurvePrivateKey, keyring: RekorKeyring, signer: Signer
) -> None:
    log = TransparencyLog(log_key, FixedClock(START), TREE_ID, log_index_offset=1_000)
    for i in range(6):
        log.propose(hashedrekord_request(signer, b"sharded %d" % i))
    obj = log.entry(1_004)
    entry = the_entry(obj)
    assert entry["logIndex"] == 1_004
    assert entry["verification"]["inclusionProof"]["logIndex"] == 4
    TransparencyLogEntry._from_v1_response(obj)._verify(keyring)

    entry["logIndex"] = 4  # the tree-local index is not what the SET covers
    with pytest.raises(VerificationError, match="SET"):
        TransparencyLogEntry._from_v1_response(obj)._verify(keyring)
    with pytest.raises(RekorError) as missing:
        log.entry(999)
    assert missing.value.status == 404


# --- checkpoints ---------------------------------------------------------------------------------


def test_checkpoint_is_a_signed_note_sigstore_parses(big_log: BigLog) -> None:
    log = big_log.log
    note = log.checkpoint(1_000)
    body, signature_line = note.split("\n\n")
    origin, size, root = body.split("\n")
    assert origin == f"rekor.cargo-verify.test - {TREE_ID}"
    assert size == "1000"
    assert base64.b64decode(root) == bytes.fromhex(
        the_entry(big_log.responses[999][1])["verification"]["inclusionProof"]["rootHash"]
    )
    assert signature_line.startswith("\u2014 rekor.cargo-verify.test ") and note.endswith("\n")
    parsed = SignedCheckpoint.from_text(note)
    (signature,) = parsed.signed_note.signatures
    assert signature.sig_hash == bytes.fromhex(log.log_id)[:4]
    assert parsed.checkpoint.log_size == 1_000


def test_checkpoints_are_deterministic(log_key: ec.EllipticCurvePrivateKey, signer: Signer) -> None:
    requests = [hashedrekord_request(signer, b"det %d" % i) for i in range(5)]
    logs = [TransparencyLog(log_key, FixedClock(START), TREE_ID) for _ in range(2)]
    for log in logs:
        for request in requests:
            log.propose(request)
    assert logs[0].checkpoint(3) == logs[1].checkpoint(3)
    assert logs[0].log_info() == logs[1].log_info()
    assert logs[0].entry(2) == logs[1].entry(2)


def test_log_info(big_log: BigLog) -> None:
    info = big_log.log.log_info()
    assert info["treeSize"] == BIG_LOG_SIZE
    assert info["treeID"] == str(TREE_ID)
    assert info["signedTreeHead"] == big_log.log.checkpoint(BIG_LOG_SIZE)
    assert (
        info["rootHash"]
        == the_entry(big_log.log.entry(0))["verification"]["inclusionProof"]["rootHash"]
    )


def test_consistency_proof_shape(big_log: BigLog) -> None:
    proof = big_log.log.consistency(600, 1_000)
    assert proof["rootHash"] == base64.b64decode(big_log.log.checkpoint(1_000).split("\n")[2]).hex()
    assert proof["hashes"] and all(len(h) == 64 for h in proof["hashes"])
    with pytest.raises(RekorError):
        big_log.log.consistency(0, 10)


# --- validation ----------------------------------------------------------------------------------


def test_duplicate_entry_is_a_conflict(log: TransparencyLog, signer: Signer) -> None:
    request = hashedrekord_request(signer, b"twice")
    uuid, _ = log.propose(request)
    with pytest.raises(RekorError) as conflict:
        log.propose(request)
    assert conflict.value.status == 409
    assert conflict.value.uuid == uuid
    assert log.size == 1


def test_hashedrekord_with_a_bad_signature_is_refused(log: TransparencyLog, signer: Signer) -> None:
    request = hashedrekord_request(signer, b"original")
    request["spec"]["data"]["hash"]["value"] = hashlib.sha256(b"substitute").hexdigest()
    with pytest.raises(RekorError) as refused:
        log.propose(request)
    assert refused.value.status == 400
    assert log.size == 0


def test_hashedrekord_signed_by_another_key_is_refused(
    log: TransparencyLog, signer: Signer
) -> None:
    request = hashedrekord_request(make_signer(ec.SECP256R1()), b"artifact")
    request["spec"]["signature"]["publicKey"]["content"] = base64.b64encode(
        signer.cert_pem
    ).decode()
    with pytest.raises(RekorError) as refused:
        log.propose(request)
    assert refused.value.status == 400


def test_dsse_with_a_tampered_payload_is_refused(log: TransparencyLog, signer: Signer) -> None:
    request = dsse_request(signer, "ab" * 32)
    content = request["spec"]["proposedContent"]
    envelope = json.loads(content["envelope"])
    envelope["payload"] = base64.b64encode(b'{"tampered":true}').decode()
    content["envelope"] = json.dumps(envelope, separators=(",", ":"))
    with pytest.raises(RekorError) as refused:
        log.propose(request)
    assert refused.value.status == 400


def test_dsse_with_server_fields_set_is_refused(log: TransparencyLog, signer: Signer) -> None:
    request = dsse_request(signer, "ab" * 32)
    request["spec"]["payloadHash"] = {"algorithm": "sha256", "value": "00" * 32}
    with pytest.raises(RekorError) as refused:
        log.propose(request)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.update(apiVersion="0.0.2"),
        lambda r: r.update(kind="intoto"),
        lambda r: r["spec"]["signature"].update(content="not base64!"),
        lambda r: r["spec"]["signature"]["publicKey"].update(content="aGVsbG8="),
        lambda r: r["spec"]["data"]["hash"].update(algorithm="md5"),
        lambda r: r["spec"]["data"]["hash"].update(value="abc"),
        lambda r: r.pop("spec"),
    ],
    ids=["version", "kind", "signature", "key", "algorithm", "digest", "spec"],
)
def test_malformed_requests_are_bad_requests(
    log: TransparencyLog, signer: Signer, damage: Any
) -> None:
    request = hashedrekord_request(signer, b"malformed")
    damage(request)
    with pytest.raises(RekorError) as refused:
        log.propose(request)
    assert refused.value.status == 400


def test_p384_signers_are_accepted(log: TransparencyLog, keyring: RekorKeyring) -> None:
    p384 = make_signer(ec.SECP384R1())
    _, hashed = log.propose(hashedrekord_request(p384, b"p384"))
    _, attested = log.propose(dsse_request(p384, "cd" * 32))
    for obj in (hashed, attested):
        TransparencyLogEntry._from_v1_response(obj)._verify(keyring)


def test_canonical_bodies_have_the_rekor_shape(signer: Signer) -> None:
    request = hashedrekord_request(signer, b"shape")
    body = json.loads(canonicalize_proposed_entry(request).body)
    assert body == {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": request["spec"]["data"]["hash"]},
            "signature": {
                "content": request["spec"]["signature"]["content"],
                "publicKey": {"content": base64.b64encode(signer.cert_pem).decode()},
            },
        },
    }
    request = dsse_request(signer, "ef" * 32)
    content = request["spec"]["proposedContent"]
    envelope = json.loads(content["envelope"])
    body = json.loads(canonicalize_proposed_entry(request).body)
    assert body == {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(content["envelope"].encode()).hexdigest(),
            },
            "payloadHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(base64.b64decode(envelope["payload"])).hexdigest(),
            },
            "signatures": [
                {"signature": envelope["signatures"][0]["sig"], "verifier": content["verifiers"][0]}
            ],
        },
    }


# --- search and retrieve -------------------------------------------------------------------------


def test_search_by_hash_email_key_and_in_toto_subject(log: TransparencyLog, signer: Signer) -> None:
    other = make_signer(ec.SECP256R1(), email="other@example.test")
    uuid_a, _ = log.propose(hashedrekord_request(signer, b"crate-a"))
    uuid_b, _ = log.propose(hashedrekord_request(other, b"crate-b"))
    subject = hashlib.sha256(b"crate-c").hexdigest()
    uuid_c, _ = log.propose(dsse_request(signer, subject))

    digest_a = hashlib.sha256(b"crate-a").hexdigest()
    assert log.search({"hash": f"sha256:{digest_a}"}) == [uuid_a]
    assert log.search({"hash": digest_a.upper()}) == [uuid_a]
    assert log.search({"hash": f"sha256:{subject}"}) == [uuid_c]
    assert log.search({"email": "DEV@example.test"}) == [uuid_a, uuid_c]
    assert log.search({"subject": "https://example.test/wf"}) == [uuid_a, uuid_b, uuid_c]
    public_key = {"format": "x509", "content": base64.b64encode(other.cert_pem).decode()}
    assert log.search({"publicKey": public_key}) == [uuid_b]
    both = {"email": "dev@example.test", "hash": f"sha256:{subject}"}
    assert log.search({**both, "operator": "and"}) == [uuid_c]
    assert log.search(both) == [uuid_a, uuid_c]
    assert log.search({"hash": "sha256:" + "00" * 32}) == []


def test_retrieve_by_proposed_entry_uuid_and_index(log: TransparencyLog, signer: Signer) -> None:
    requests = [hashedrekord_request(signer, b"retrieve %d" % i) for i in range(3)]
    uuids = [log.propose(request)[0] for request in requests]
    assert log.retrieve({"entries": [requests[1]]}) == [log.entry(1)]
    assert log.retrieve({"entryUUIDs": [uuids[2], uuids[0][16:]]}) == [log.entry(2), log.entry(0)]
    assert log.retrieve({"logIndexes": [0, 99]}) == [log.entry(0)]
    unknown = hashedrekord_request(signer, b"never logged")
    assert log.retrieve({"entries": [unknown]}) == []
    assert log.retrieve({}) == []
    with pytest.raises(RekorError) as too_many:
        log.retrieve({"logIndexes": list(range(11))})
    assert too_many.value.status == 422


def test_lookup_errors(log: TransparencyLog, signer: Signer) -> None:
    uuid, _ = log.propose(hashedrekord_request(signer, b"lookup"))
    cases = {
        "0" * 16 + uuid[16:]: 404,  # another shard
        uuid[:16] + "0" * 64: 404,
        "not-a-uuid": 400,
    }
    for query, status in cases.items():
        with pytest.raises(RekorError) as failure:
            log.entry_by_uuid(query)
        assert failure.value.status == status, query
    with pytest.raises(RekorError) as past_end:
        log.entry(1)
    assert past_end.value.status == 404


def test_responses_are_fresh_objects(log: TransparencyLog, signer: Signer) -> None:
    log.propose(hashedrekord_request(signer, b"fresh"))
    first = log.entry(0)
    the_entry(first)["verification"]["inclusionProof"]["hashes"].append("00" * 32)
    the_entry(first)["body"] = "tampered"
    assert log.entry(0) != first


def test_concurrent_proposals_all_land(
    log_key: ec.EllipticCurvePrivateKey, keyring: RekorKeyring, signer: Signer
) -> None:
    log = TransparencyLog(log_key, FixedClock(START), TREE_ID)
    requests = [hashedrekord_request(signer, b"thread %d" % i) for i in range(60)]
    indexes: list[int] = []

    def worker(batch: list[dict[str, Any]]) -> None:
        for request in batch:
            indexes.append(the_entry(log.propose(request)[1])["logIndex"])

    threads = [threading.Thread(target=worker, args=(requests[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(indexes) == list(range(60))
    for i in range(60):
        TransparencyLogEntry._from_v1_response(log.entry(i))._verify(keyring)


# --- persistence ---------------------------------------------------------------------------------


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "rekor" / "log.jsonl"


def test_restart_keeps_the_log_byte_identical(
    log_key: ec.EllipticCurvePrivateKey, signer: Signer, store: Path
) -> None:
    clock = FixedClock(START)
    log = TransparencyLog(log_key, clock, TREE_ID, log_index_offset=50, store=store)
    subject = hashlib.sha256(b"persisted crate").hexdigest()
    for i in range(7):
        request = (
            dsse_request(signer, subject) if i == 3 else hashedrekord_request(signer, b"p%d" % i)
        )
        log.propose(request)
        clock.advance(3)
    before = [json.dumps(log.entry(50 + i)) for i in range(7)]
    info_before = log.log_info()
    log.close()

    clock.advance(1_000)  # a restart later must not change recorded times
    reloaded = TransparencyLog(log_key, clock, TREE_ID, log_index_offset=50, store=store)
    assert [json.dumps(reloaded.entry(50 + i)) for i in range(7)] == before
    assert reloaded.log_info() == info_before
    assert reloaded.search({"hash": f"sha256:{subject}"}) == [reloaded.uuid_of(53)]
    with pytest.raises(RekorError) as conflict:
        reloaded.add_hashedrekord(
            base64.b64decode(
                json.loads(base64.b64decode(the_entry(reloaded.entry(50))["body"]))["spec"][
                    "signature"
                ]["content"]
            ),
            signer.cert_pem,
            hashlib.sha256(b"p0").hexdigest(),
        )
    assert conflict.value.status == 409
    # New entries continue the same journal.
    assert (
        reloaded.add_hashedrekord(
            signer.key.sign(
                hashlib.sha256(b"after").digest(), ec.ECDSA(Prehashed(hashes.SHA256()))
            ),
            signer.cert_pem,
            hashlib.sha256(b"after").hexdigest(),
        )
        == 57
    )
    reloaded.close()
    assert len(store.read_bytes().splitlines()) == 8


def test_a_torn_last_line_is_dropped_on_reload(
    log_key: ec.EllipticCurvePrivateKey, signer: Signer, store: Path
) -> None:
    log = TransparencyLog(log_key, FixedClock(START), TREE_ID, store=store)
    log.propose(hashedrekord_request(signer, b"kept"))
    log.close()
    complete = store.read_bytes()
    store.write_bytes(complete + b'{"body":"eyJh')
    reloaded = TransparencyLog(log_key, FixedClock(START), TREE_ID, store=store)
    assert reloaded.size == 1
    reloaded.close()
    assert store.read_bytes() == complete


def test_add_helpers_log_the_managed_signing_kinds(
    log: TransparencyLog, keyring: RekorKeyring, signer: Signer
) -> None:
    digest = hashlib.sha256(b"managed").digest()
    signature = signer.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert log.add_hashedrekord(signature, signer.cert_pem, digest.hex()) == 0
    envelope = in_toto_envelope(signer, digest.hex())
    assert log.add_dsse(envelope.to_json(), signer.cert_pem) == 1
    for i in range(2):
        TransparencyLogEntry._from_v1_response(log.entry(i))._verify(keyring)


# --- RFC 8785 ------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(_json_values)
def test_canonical_json_matches_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_escapes_and_orders_like_rfc8785() -> None:
    value: Any = {"\u20ac": 1, "\U0001f600": 2, "\ufb33": 3, "a": '\x00\x1f\x7f\u2028"\\\n/'}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).startswith(b'{"a":"\\u0000\\u001f\x7f')
    with pytest.raises(TypeError):
        canonical_json(1.5)


# --- real Rekor bodies (conformance assets) ------------------------------------------------------


def _bundle(case: str) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((SHARED / case / "bundle.sigstore.json").read_text())
    return bundle


def _cert_pem(bundle: dict[str, Any]) -> bytes:
    der = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def _real_body(bundle: dict[str, Any]) -> bytes:
    return base64.b64decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])


@pytest.mark.conformance
def test_real_hashedrekord_body_is_reproduced_byte_for_byte() -> None:
    bundle = _bundle("happy-path-v0.3")
    message = bundle["messageSignature"]
    request = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": message["signature"],
                "publicKey": {"content": base64.b64encode(_cert_pem(bundle)).decode()},
            },
            "data": {
                "hash": {
                    "algorithm": "sha256",
                    "value": base64.b64decode(message["messageDigest"]["digest"]).hex(),
                }
            },
        },
    }
    assert canonicalize_proposed_entry(request).body == _real_body(bundle)


@pytest.mark.conformance
def test_real_dsse_body_is_reproduced_byte_for_byte() -> None:
    bundle = _bundle("happy-path-intoto-in-dsse-v3")
    envelope = bundle["dsseEnvelope"]
    envelope_text = json.dumps(
        {
            "payload": envelope["payload"],
            "payloadType": envelope["payloadType"],
            "signatures": [{"sig": s["sig"]} for s in envelope["signatures"]],
        },
        separators=(",", ":"),
    )
    request = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope_text,
                "verifiers": [base64.b64encode(_cert_pem(bundle)).decode()],
            },
            "signatures": None,
            "envelopeHash": None,
            "payloadHash": None,
        },
    }
    assert canonicalize_proposed_entry(request).body == _real_body(bundle)
