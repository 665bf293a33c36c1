"""Attacks on one crate's evidence: what a hostile CDN, registry, log or signer could serve.

Each attack has a name (the value of the `attack` fault switch, see `faults.py`) and changes
what the test world answers for its target crate only:

* response attacks rewrite a response on its way out (the index line, the `.crate` bytes, the
  Rekor entry, the bundle), e.g. a flipped inclusion-proof hash or a checkpoint re-signed by
  another key;
* forged attacks create new evidence once, when the switch is set: a certificate from a CA the
  verifier does not trust, an expired one, one for another identity, a DSSE statement about
  other bytes. Forged signatures are logged in the world's real log (Rekor accepts anything
  well-formed), and the target's index line and bundle then point at them.

Keys an attacker holds are derived from the world's key ring under labels starting with
`attacker`, so every attack is deterministic. Nothing here is used by the verifier.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtensionOID

from cargo_verify.mock.fulcio import GITHUB_URL, CertificateAuthority
from cargo_verify.mock.keys import KeyRing
from cargo_verify.mock.rekor import canonical_json
from cargo_verify.mock.signing import BUNDLE_MEDIA_TYPE, ManagedSigner, tlog_entry_for_bundle

if TYPE_CHECKING:
    from cargo_verify.mock.world import World

Json = dict[str, Any]
ATTACKER_SEED = b"cargo-verify attacker"
ATTACKER_REPOSITORY_OWNER = "attacker"
LEAF_LIFETIME = timedelta(minutes=10)


class AttackError(ValueError):
    """An attack that cannot be applied to the target asked for."""


@dataclass(frozen=True)
class Target:
    """One published version and the genuine evidence the registry holds for it."""

    name: str
    version: str
    log_index: int  # of the genuine publish entry
    bundle: Json  # the genuine bundle

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class Forged:
    """Evidence made for one target: index-line changes and the bundle served instead."""

    line_changes: Json = field(default_factory=dict)  # keys of the `sigstore` field
    bundle: Json | None = None


@dataclass(frozen=True)
class Attack:
    name: str
    summary: str
    routes: tuple[str, ...]  # evidence it is meaningful for: "rekor", "bundle", "dsse"
    forge: Callable[[World, Target], Forged] | None = None
    line: Callable[[World, Target, Json], Json] | None = None  # index line object
    tarball: Callable[[bytes], bytes] | None = None
    rekor_entry: Callable[[World, Target, Json], Json] | None = None  # inner entry object
    bundle: Callable[[World, Target, Json], Json] | None = None


# -- discovery --------------------------------------------------------------------------------


def signed_targets(world: World) -> list[Target]:
    """Every published version that has a bundle, in index order."""
    out: list[Target] = []
    for crate in world.registry.crates():
        body = world.registry.index_file(crate) or b""
        for raw in body.splitlines():
            line = json.loads(raw)
            target = find_target(world, str(line["name"]), str(line["vers"]))
            if target is not None:
                out.append(target)
    return out


def find_target(world: World, name: str, version: str) -> Target | None:
    data = world.registry.bundle(name, version)
    if data is None:
        return None
    bundle = json.loads(data)
    log_index = int(bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"])
    return Target(name, version, log_index, bundle)


def _other_crate(world: World, target: Target) -> Target:
    """The first signed version of another crate (for evidence "about something else")."""
    for other in signed_targets(world):
        if other.name != target.name:
            return other
    raise AttackError(f"{target.key}: the world has no other signed crate to borrow from")


def _older_version(world: World, target: Target) -> Target:
    previous: Target | None = None
    for other in signed_targets(world):
        if other.name == target.name:
            if other.version == target.version:
                break
            previous = other
    if previous is None:
        raise AttackError(f"{target.key}: no older signed version of {target.name} to replay")
    return previous


# -- byte-level helpers -----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flip_hex(value: str) -> str:
    return f"{int(value[0], 16) ^ 0x8:x}" + value[1:]


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 0x80
    return _b64(bytes(raw))


def log_key(world: World) -> ec.EllipticCurvePrivateKey:
    """The world's Rekor signing key (a misbehaving log signs with its real key)."""
    key = world.keys.ec_key("rekor")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if der != world.log.public_key_der():
        raise AttackError("cannot derive the world's log key (KeyRing label changed?)")
    return key


def attacker_key(world: World, label: str) -> ec.EllipticCurvePrivateKey:
    return world.keys.ec_key(f"attacker:{label}")


def resign_checkpoint(
    note: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    key_hint: bytes,
    size: int | None = None,
) -> str:
    """The signed note `note` with its body signed again by `key` (optionally another size)."""
    body, separator, signatures = note.partition("\n\n")
    if not separator:
        raise AttackError("checkpoint is not a signed note")
    lines = body.split("\n")
    if size is not None:
        lines[1] = str(size)
    text = "\n".join(lines) + "\n"
    name = signatures.split(" ")[1] if signatures.count(" ") >= 2 else "log"
    signature = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{text}\n\u2014 {name} {_b64(key_hint[:4] + signature)}\n"


def _log_key_hint(world: World) -> bytes:
    return hashlib.sha256(world.log.public_key_der()).digest()[:4]


def _wrong_set(world: World, body_b64: str, integrated_time: int, log_index: int) -> str:
    """A signed entry timestamp by the real log key, but for another log index."""
    payload = canonical_json(
        {
            "body": body_b64,
            "integratedTime": integrated_time,
            "logID": world.log.log_id,
            "logIndex": log_index + 1,
        }
    )
    return _b64(log_key(world).sign(payload, ec.ECDSA(hashes.SHA256())))


# -- response attacks: Rekor entries --------------------------------------------------------


def _proof(entry: Json) -> Json:
    return dict(entry["verification"]["inclusionProof"])


def _with_proof(entry: Json, proof: Json) -> Json:
    verification = dict(entry["verification"], inclusionProof=proof)
    return dict(entry, verification=verification)


def _entry_flip_proof(world: World, target: Target, entry: Json) -> Json:
    proof = _proof(entry)
    if proof["hashes"]:
        proof["hashes"] = [_flip_hex(proof["hashes"][0]), *proof["hashes"][1:]]
    else:
        proof["rootHash"] = _flip_hex(proof["rootHash"])
    return _with_proof(entry, proof)


def _entry_checkpoint_other_key(world: World, target: Target, entry: Json) -> Json:
    proof = _proof(entry)
    proof["checkpoint"] = resign_checkpoint(
        proof["checkpoint"], attacker_key(world, "rekor"), key_hint=_log_key_hint(world)
    )
    return _with_proof(entry, proof)


def _entry_checkpoint_size(world: World, target: Target, entry: Json) -> Json:
    proof = _proof(entry)
    proof["checkpoint"] = resign_checkpoint(
        proof["checkpoint"], log_key(world), key_hint=_log_key_hint(world),
        size=int(proof["treeSize"]) + 1,
    )
    return _with_proof(entry, proof)


def _entry_set_invalid(world: World, target: Target, entry: Json) -> Json:
    verification = dict(entry["verification"])
    verification["signedEntryTimestamp"] = _wrong_set(
        world, entry["body"], entry["integratedTime"], entry["logIndex"]
    )
    return dict(entry, verification=verification)


def _entry_set_missing(world: World, target: Target, entry: Json) -> Json:
    verification = dict(entry["verification"])
    verification.pop("signedEntryTimestamp", None)
    return dict(entry, verification=verification)


def _entry_body_other(world: World, target: Target, entry: Json) -> Json:
    other = _other_crate(world, target)
    ((_, other_entry),) = world.log.entry(other.log_index).items()
    return dict(entry, body=other_entry["body"])


# -- response attacks: bundles ----------------------------------------------------------------


def _tlog(bundle: Json) -> Json:
    return dict(bundle["verificationMaterial"]["tlogEntries"][0])


def _with_tlog(bundle: Json, tlog: Json) -> Json:
    material = dict(bundle["verificationMaterial"], tlogEntries=[tlog])
    return dict(bundle, verificationMaterial=material)


def _bundle_flip_proof(world: World, target: Target, bundle: Json) -> Json:
    tlog = _tlog(bundle)
    proof = dict(tlog["inclusionProof"])
    if proof["hashes"]:
        proof["hashes"] = [_flip_b64(proof["hashes"][0]), *proof["hashes"][1:]]
    else:
        proof["rootHash"] = _flip_b64(proof["rootHash"])
    return _with_tlog(bundle, dict(tlog, inclusionProof=proof))


def _bundle_checkpoint(world: World, bundle: Json, key: ec.EllipticCurvePrivateKey,
                       size_delta: int | None) -> Json:
    tlog = _tlog(bundle)
    proof = dict(tlog["inclusionProof"])
    size = int(proof["treeSize"]) + size_delta if size_delta is not None else None
    proof["checkpoint"] = {
        "envelope": resign_checkpoint(
            proof["checkpoint"]["envelope"], key, key_hint=_log_key_hint(world), size=size
        )
    }
    return _with_tlog(bundle, dict(tlog, inclusionProof=proof))


def _bundle_checkpoint_other_key(world: World, target: Target, bundle: Json) -> Json:
    return _bundle_checkpoint(world, bundle, attacker_key(world, "rekor"), None)


def _bundle_checkpoint_size(world: World, target: Target, bundle: Json) -> Json:
    return _bundle_checkpoint(world, bundle, log_key(world), 1)


def _bundle_set_invalid(world: World, target: Target, bundle: Json) -> Json:
    tlog = _tlog(bundle)
    wrong = _wrong_set(
        world, tlog["canonicalizedBody"], int(tlog["integratedTime"]), int(tlog["logIndex"])
    )
    return _with_tlog(bundle, dict(tlog, inclusionPromise={"signedEntryTimestamp": wrong}))


def _bundle_set_missing(world: World, target: Target, bundle: Json) -> Json:
    tlog = _tlog(bundle)
    tlog.pop("inclusionPromise", None)
    return _with_tlog(bundle, tlog)


def _bundle_body_other(world: World, target: Target, bundle: Json) -> Json:
    other = _other_crate(world, target)
    return _with_tlog(bundle, dict(_tlog(bundle), canonicalizedBody=_tlog(other.bundle)[
        "canonicalizedBody"]))


def _bundle_signature_other_key(world: World, target: Target, bundle: Json) -> Json:
    key = attacker_key(world, "signer")
    if "messageSignature" in bundle:
        signature = dict(bundle["messageSignature"])
        digest = base64.b64decode(signature["messageDigest"]["digest"])
        signature["signature"] = _b64(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
        return dict(bundle, messageSignature=signature)
    envelope = dict(bundle["dsseEnvelope"])
    payload = base64.b64decode(envelope["payload"])
    pae = _pae(envelope["payloadType"], payload)
    envelope["signatures"] = [{"sig": _b64(key.sign(pae, ec.ECDSA(hashes.SHA256())))}]
    return dict(bundle, dsseEnvelope=envelope)


def _bundle_media_type_old(world: World, target: Target, bundle: Json) -> Json:
    # A v0.3 bundle (leaf `certificate`) that claims to be v0.1 (which carries a chain).
    return dict(bundle, mediaType="application/vnd.dev.sigstore.bundle+json;version=0.1")


def _bundle_media_type_unknown(world: World, target: Target, bundle: Json) -> Json:
    return dict(bundle, mediaType="application/vnd.dev.sigstore.bundle+json;version=0.9")


def _pae(payload_type: str, payload: bytes) -> bytes:
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


# -- response attacks: index lines and tarballs -----------------------------------------------


def _sigstore_field(line: Json) -> Json:
    value = line.get("sigstore")
    return dict(value) if isinstance(value, dict) else {}


def _line_cksum(world: World, target: Target, line: Json) -> Json:
    return dict(line, cksum=_flip_hex(str(line["cksum"])))


def _line_other_entry(world: World, target: Target, line: Json) -> Json:
    sigstore = _sigstore_field(line)
    sigstore["rekor_log_index"] = _other_crate(world, target).log_index
    return dict(line, sigstore=sigstore)


def _line_replay(world: World, target: Target, line: Json) -> Json:
    older = _older_version(world, target)
    sigstore = _sigstore_field(line)
    if "rekor_log_index" in sigstore:
        sigstore["rekor_log_index"] = older.log_index
    if "bundle" in sigstore:
        sigstore["bundle"] = f"/bundles/{older.name}/{older.version}/bundle.sigstore.json"
    return dict(line, sigstore=sigstore)


def _tarball_swap(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


# -- forged evidence --------------------------------------------------------------------------


def publisher_claims(
    world: World, name: str, version: str, *, repository: str | None = None,
    issuer: str | None = None,
) -> Json:
    """Token claims of the crate's trusted publisher for this release (optionally altered)."""
    from cargo_verify.mock.registry import TrustedPublisher

    publisher = world.registry.publishers.get(name)
    if not isinstance(publisher, TrustedPublisher):
        raise AttackError(f"{name} has no trusted publisher to impersonate")
    return world.oidc.github_claims(
        repository or publisher.repository, f"refs/tags/v{version}",
        workflow_file=publisher.workflow, environment=publisher.environment,
        issuer=issuer or publisher.issuer, audience="crates.io",
    )


def _crate_bytes(world: World, target: Target) -> bytes:
    data = world.registry.tarball(target.name, target.version)
    if data is None:
        raise AttackError(f"{target.key}: no .crate in the registry")
    return data


def _signed_with(world: World, signer: ManagedSigner, target: Target, crate: bytes,
                 claims: Json) -> Forged:
    signed = signer.sign(target.name, target.version, crate, claims)
    return Forged({"rekor_log_index": signed.log_index}, signed.bundle)


def _forge_untrusted_ca(world: World, target: Target) -> Forged:
    keys = KeyRing(ATTACKER_SEED)
    ca = CertificateAuthority(keys, world.clock)
    signer = ManagedSigner(keys, ca, world.log, kind="message")
    claims = publisher_claims(world, target.name, target.version)
    return _signed_with(world, signer, target, _crate_bytes(world, target), claims)


def _forge_other_repository(world: World, target: Target) -> Forged:
    signer = ManagedSigner(world.keys, world.ca, world.log, kind="message")
    claims = publisher_claims(
        world, target.name, target.version,
        repository=f"{ATTACKER_REPOSITORY_OWNER}/{target.name}",
    )
    return _signed_with(world, signer, target, _crate_bytes(world, target), claims)


def _forge_other_issuer(world: World, target: Target) -> Forged:
    signer = ManagedSigner(world.keys, world.ca, world.log, kind="message")
    claims = publisher_claims(world, target.name, target.version, issuer=world.oidc.url)
    return _signed_with(world, signer, target, _crate_bytes(world, target), claims)


def _forge_dsse_subject(world: World, target: Target) -> Forged:
    signer = ManagedSigner(world.keys, world.ca, world.log, kind="dsse")
    claims = publisher_claims(world, target.name, target.version)
    other_bytes = _tarball_swap(_crate_bytes(world, target))
    return _signed_with(world, signer, target, other_bytes, claims)


def _forge_expired(world: World, target: Target) -> Forged:
    """A genuine certificate whose 10 minutes ended before the log integrated the entry."""
    return _forge_reissued(world, target, "expired", expired=True)


def _forge_extension_mismatch(world: World, target: Target) -> Forged:
    """A leaf from the trusted CA whose SAN names the attacker's workflow while the Fulcio
    extensions all claim the real publisher's repository (a certificate Fulcio never issues)."""
    real = publisher_claims(world, target.name, target.version)
    evil = str(real["job_workflow_ref"]).replace(
        str(real["repository"]), f"{ATTACKER_REPOSITORY_OWNER}/{target.name}", 1
    )
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"{GITHUB_URL}/{evil}")])
    return _forge_reissued(world, target, "extension-mismatch", san=san)


def _forge_reissued(
    world: World,
    target: Target,
    label: str,
    *,
    expired: bool = False,
    san: x509.SubjectAlternativeName | None = None,
) -> Forged:
    """Issue the real publisher's leaf, then re-issue it from the trusted CA with changes."""
    key = attacker_key(world, f"{label}:{target.key}:{world.log.size}")
    claims = publisher_claims(world, target.name, target.version)
    genuine = world.ca.issue(key.public_key(), claims)[0]
    not_before = genuine.not_valid_before_utc
    if expired:  # the whole lifetime lies before the log's integrated time (the clock's now)
        not_before -= LEAF_LIFETIME + timedelta(minutes=5)
    leaf = reissue_leaf(world, genuine, not_before=not_before, san=san)
    return _forged_message_bundle(world, key, leaf, _crate_bytes(world, target))


def _intermediate_key(world: World) -> ec.EllipticCurvePrivateKey:
    key = world.keys.ec_key("fulcio-intermediate", ec.SECP384R1())
    if key.public_key() != world.ca.intermediate.public_key():
        raise AttackError("cannot derive the world's CA key (KeyRing label changed?)")
    return key


def reissue_leaf(
    world: World,
    genuine: x509.Certificate,
    *,
    not_before: Any,
    san: x509.SubjectAlternativeName | None = None,
) -> x509.Certificate:
    """`genuine` signed again by the world's trusted intermediate, with a new validity window
    and optionally another SAN; every Fulcio extension is kept, the SCT is made anew."""
    builder = (
        x509.CertificateBuilder()
        .issuer_name(genuine.issuer)
        .subject_name(genuine.subject)
        .public_key(genuine.public_key())
        .serial_number(genuine.serial_number ^ 1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + LEAF_LIFETIME)
    )
    for extension in genuine.extensions:
        if extension.oid == ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS:
            continue
        value: Any = extension.value
        if san is not None and extension.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            value = san
        builder = builder.add_extension(value, critical=extension.critical)
    ca_key = _intermediate_key(world)
    precertificate = builder.sign(ca_key, hashes.SHA384())
    sct_list = _sct_list(world, precertificate.tbs_certificate_bytes, not_before)
    return builder.add_extension(
        x509.UnrecognizedExtension(
            ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, _der_octets(sct_list)
        ),
        critical=False,
    ).sign(ca_key, hashes.SHA384())


def _sct_list(world: World, tbs: bytes, when: Any) -> bytes:
    """One RFC 6962 v1 precertificate SCT by the world's CT log, as a TLS list."""
    ct_key = world.ca.ct_key
    spki = ct_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issuer_spki = world.ca.intermediate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    timestamp_ms = int(when.timestamp() * 1000)
    signed = (
        struct.pack("!BBQH", 0, 0, timestamp_ms, 1)
        + hashlib.sha256(issuer_spki).digest()
        + len(tbs).to_bytes(3, "big")
        + tbs
        + struct.pack("!H", 0)
    )
    signature = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    sct = (
        struct.pack("!B32sQH", 0, hashlib.sha256(spki).digest(), timestamp_ms, 0)
        + struct.pack("!BBH", 4, 3, len(signature))
        + signature
    )
    return struct.pack("!HH", len(sct) + 2, len(sct)) + sct


def _der_octets(content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([0x04, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(octets)]) + octets + content


def _forged_message_bundle(
    world: World, key: ec.EllipticCurvePrivateKey, leaf: x509.Certificate, crate: bytes
) -> Forged:
    digest = hashlib.sha256(crate).digest()
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
    log_index = world.log.add_hashedrekord(signature, leaf_pem, digest.hex())
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": _b64(leaf.public_bytes(serialization.Encoding.DER))},
            "timestampVerificationData": {"rfc3161Timestamps": []},
            "tlogEntries": [tlog_entry_for_bundle(world.log.entry(log_index))],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
            "signature": _b64(signature),
        },
    }
    return Forged({"rekor_log_index": log_index}, bundle)


# -- extra targets ----------------------------------------------------------------------------


def synthetic_crate(name: str, version: str) -> bytes:
    """A minimal, deterministic `.crate`: a gzip tar with Cargo.toml and src/lib.rs."""
    files = {
        "Cargo.toml": f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n',
        "src/lib.rs": f"//! {name} {version}: a target of the attack matrix.\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def publish_targets(world: World, count: int, versions: tuple[str, ...] = ("0.1.0", "0.1.1"),
                    prefix: str = "attack-target") -> list[str]:
    """Publish `count` signed crates (each in `versions`) by trusted publishers `example/<name>`,
    so that many attacks can run at once, each on its own crate. Returns the crate names."""
    from cargo_verify.mock.registry import TrustedPublisher

    names = [f"{prefix}-{number:02d}" for number in range(count)]
    for name in names:
        publisher = TrustedPublisher(
            issuer="https://token.actions.githubusercontent.com",
            repository=f"example/{name}", workflow="release.yml",
        )
        world.registry.publishers[name] = publisher
        for version in versions:
            if world.registry.has_version(name, version):
                continue
            meta = {"name": name, "vers": version, "deps": [], "features": {}}
            claims = publisher_claims(world, name, version)
            world.registry.publish_fixture(
                name, version, synthetic_crate(name, version), meta, claims
            )
    return names


# -- the catalogue ----------------------------------------------------------------------------

_BOTH = ("rekor", "bundle", "dsse")  # dsse: bundles holding a DSSE in-toto statement
_BUNDLE = ("bundle", "dsse")

ATTACKS: dict[str, Attack] = {
    attack.name: attack
    for attack in (
        Attack("tarball-swap", "the CDN serves other .crate bytes", _BOTH,
               tarball=_tarball_swap),
        Attack("index-cksum", "the index line's cksum differs from the lockfile", _BOTH,
               line=_line_cksum),
        Attack("rekor-index-other", "the index names another crate's Rekor entry", _BOTH,
               line=_line_other_entry),
        Attack("rekor-body-other", "the log entry carries the body of another artifact's entry",
               _BOTH, rekor_entry=_entry_body_other, bundle=_bundle_body_other),
        Attack("inclusion-proof-flip", "one hash of the inclusion proof is flipped", _BOTH,
               rekor_entry=_entry_flip_proof, bundle=_bundle_flip_proof),
        Attack("checkpoint-other-key", "the checkpoint is signed by a key that is not the log's",
               _BOTH, rekor_entry=_entry_checkpoint_other_key,
               bundle=_bundle_checkpoint_other_key),
        Attack("checkpoint-tree-size", "the log signs a checkpoint for another tree size",
               _BOTH, rekor_entry=_entry_checkpoint_size, bundle=_bundle_checkpoint_size),
        Attack("set-invalid", "the signed entry timestamp is for another entry", _BOTH,
               rekor_entry=_entry_set_invalid, bundle=_bundle_set_invalid),
        Attack("set-missing", "the signed entry timestamp is removed", _BOTH,
               rekor_entry=_entry_set_missing, bundle=_bundle_set_missing),
        Attack("untrusted-ca", "a certificate from a CA outside the trusted root", _BOTH,
               forge=_forge_untrusted_ca),
        Attack("cert-expired", "the certificate expired before the log's integrated time",
               _BOTH, forge=_forge_expired),
        Attack("identity-other-repo", "a valid signature by another repository's workflow",
               _BOTH, forge=_forge_other_repository),
        Attack("identity-other-issuer", "a valid signature from another OIDC issuer", _BOTH,
               forge=_forge_other_issuer),
        Attack("signature-other-key", "the signature is made by a key that is not the "
               "certificate's", _BUNDLE, bundle=_bundle_signature_other_key),
        Attack("bundle-media-type", "a v0.3 bundle that claims media type v0.1", _BUNDLE,
               bundle=_bundle_media_type_old),
        Attack("bundle-media-type-unknown", "a bundle that claims an unknown version", _BUNDLE,
               bundle=_bundle_media_type_unknown),
        Attack("dsse-subject-other", "a DSSE statement whose subject is other bytes", _BUNDLE,
               forge=_forge_dsse_subject),
        Attack("replay-older-version", "the evidence of an older version of the same crate",
               _BOTH, line=_line_replay),
        Attack("extension-san-mismatch", "the SAN names another repository than the Fulcio "
               "extensions", _BOTH, forge=_forge_extension_mismatch),
    )
}


def apply_forged(line: Json, forged: Forged) -> Json:
    """The index line pointing at forged evidence (only keys the line already carries)."""
    sigstore = _sigstore_field(line)
    for key, value in forged.line_changes.items():
        if key in sigstore:
            sigstore[key] = value
    return dict(line, sigstore=sigstore)


__all__ = ["ATTACKS", "Attack", "AttackError", "Forged", "Target", "apply_forged"]
