"""A Fulcio-shaped certificate authority with its own CT log: short-lived code-signing leaves.

The certificates follow Fulcio's profile closely enough that sigstore-python's signing and
verification paths accept them: P-384 root and intermediate, 10-minute P-256 leaves with an
empty subject, one critical SAN derived from the identity token the way Fulcio derives it, the
1.3.6.1.4.1.57264.1.* extensions, and an embedded SCT signed by the CT log key.
Everything is deterministic: the same seed, clock, key and claims give the same DER bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from cargo_verify.mock.clock import Clock
from cargo_verify.mock.keys import KeyRing, ecdsa_sign
from cargo_verify.mock.oidc import TokenError

ORGANIZATION = "cargo-verify.test"
ROOT_COMMON_NAME = "cargo-verify-mock-root"
INTERMEDIATE_COMMON_NAME = "cargo-verify-mock-intermediate"
CA_VALID_FROM = datetime(2020, 1, 1, tzinfo=UTC)
CA_VALID_UNTIL = datetime(2045, 1, 1, tzinfo=UTC)
LEAF_LIFETIME = timedelta(minutes=10)

GITHUB_URL = "https://github.com"

_FULCIO_OID_ARC = "1.3.6.1.4.1.57264.1"
_SCT_LIST_OID = ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS
_TAG_OCTET_STRING = 0x04
_TAG_UTF8_STRING = 0x0C

# Claims Fulcio's principals refuse to do without (fulcio pkg/identity/github/principal.go and
# the GitLab templates of config/identity/config.yaml).
_GITHUB_REQUIRED = (
    "job_workflow_ref", "sha", "event_name", "repository", "workflow", "ref", "job_workflow_sha",
    "runner_environment", "repository_id", "repository_owner", "repository_owner_id",
    "repository_visibility", "workflow_ref", "workflow_sha", "run_id", "run_attempt",
)  # fmt: skip
_GITLAB_REQUIRED = (
    "ci_config_ref_uri", "ci_config_sha", "runner_environment", "project_path", "sha",
    "ref_type", "ref", "project_id", "namespace_path", "namespace_id", "pipeline_source",
    "job_id", "project_visibility",
)  # fmt: skip

_ALLOWED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_MIN_RSA_BITS = 2048


def fulcio_oid(n: int) -> x509.ObjectIdentifier:
    """The OID of Fulcio certificate extension number `n` (1.3.6.1.4.1.57264.1.n)."""
    return x509.ObjectIdentifier(f"{_FULCIO_OID_ARC}.{n}")


class FulcioError(Exception):
    """A refused signing-certificate request; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


@dataclass(frozen=True)
class LeafIdentity:
    """What a token puts in a leaf: one SAN, Fulcio extensions, the proof-of-possession name."""

    san: x509.GeneralName
    extensions: tuple[tuple[int, bytes], ...]  # (N of 1.3.6.1.4.1.57264.1.N, extnValue), ascending
    principal: str


def leaf_identity(claims: Mapping[str, Any]) -> LeafIdentity:
    """Derive the SAN and extensions the way Fulcio does. Raises FulcioError(400) if unusable."""
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise FulcioError(400, "identity token has no 'iss' claim")
    if "job_workflow_ref" in claims:
        return _github_identity(claims, issuer)
    if "ci_config_ref_uri" in claims:
        return _gitlab_identity(claims, issuer)
    if "email" in claims:
        return _email_identity(claims, issuer)
    subject = _string_claim(claims, "sub")
    return LeafIdentity(
        san=x509.UniformResourceIdentifier(subject),
        extensions=_common_extensions(issuer, claims),
        principal=subject,
    )


def _github_identity(claims: Mapping[str, Any], issuer: str) -> LeafIdentity:
    c = _required_claims(claims, _GITHUB_REQUIRED, "GitHub Actions")
    run_uri = (
        f"{GITHUB_URL}/{c['repository']}/actions/runs/{c['run_id']}/attempts/{c['run_attempt']}"
    )
    raw = {
        1: issuer,
        2: c["event_name"],
        3: c["sha"],
        4: c["workflow"],
        5: c["repository"],
        6: c["ref"],
    }
    utf8 = {
        8: issuer,
        9: f"{GITHUB_URL}/{c['job_workflow_ref']}",
        10: c["job_workflow_sha"],
        11: c["runner_environment"],
        12: f"{GITHUB_URL}/{c['repository']}",
        13: c["sha"],
        14: c["ref"],
        15: c["repository_id"],
        16: f"{GITHUB_URL}/{c['repository_owner']}",
        17: c["repository_owner_id"],
        18: f"{GITHUB_URL}/{c['workflow_ref']}",
        19: c["workflow_sha"],
        20: c["event_name"],
        21: run_uri,
        22: c["repository_visibility"],
    }
    return LeafIdentity(
        san=x509.UniformResourceIdentifier(f"{GITHUB_URL}/{c['job_workflow_ref']}"),
        extensions=_encode_extensions(raw, utf8, claims),
        principal=_string_claim(claims, "sub"),
    )


def _gitlab_identity(claims: Mapping[str, Any], issuer: str) -> LeafIdentity:
    c = _required_claims(claims, _GITLAB_REQUIRED, "GitLab CI")
    config_uri = f"https://{c['ci_config_ref_uri']}"
    # The instance URL: the host that ci_config_ref_uri starts with (gitlab.com on GitLab.com).
    url = "https://" + c["ci_config_ref_uri"].split("/", 1)[0]
    ref_kind = "heads" if c["ref_type"] == "branch" else "tags"
    utf8 = {
        8: issuer,
        9: config_uri,
        10: c["ci_config_sha"],
        11: c["runner_environment"],
        12: f"{url}/{c['project_path']}",
        13: c["sha"],
        14: f"refs/{ref_kind}/{c['ref']}",
        15: c["project_id"],
        16: f"{url}/{c['namespace_path']}",
        17: c["namespace_id"],
        18: config_uri,
        19: c["ci_config_sha"],
        20: c["pipeline_source"],
        21: f"{url}/{c['project_path']}/-/jobs/{c['job_id']}",
        22: c["project_visibility"],
    }
    return LeafIdentity(
        san=x509.UniformResourceIdentifier(config_uri),
        extensions=_encode_extensions({1: issuer}, utf8, claims),
        principal=_string_claim(claims, "sub"),
    )


def _email_identity(claims: Mapping[str, Any], issuer: str) -> LeafIdentity:
    email = _string_claim(claims, "email")
    if claims.get("email_verified") is False:
        raise FulcioError(400, f"email {email!r} is not verified (email_verified is false)")
    return LeafIdentity(
        san=x509.RFC822Name(email),
        extensions=_common_extensions(issuer, claims),
        principal=email,
    )


def _common_extensions(issuer: str, claims: Mapping[str, Any]) -> tuple[tuple[int, bytes], ...]:
    return _encode_extensions({1: issuer}, {8: issuer}, claims)


def _encode_extensions(
    raw: dict[int, str], utf8: dict[int, str], claims: Mapping[str, Any]
) -> tuple[tuple[int, bytes], ...]:
    """.1–.6 hold raw UTF-8 bytes, .8 onwards a DER UTF8String (Fulcio docs/oid-info.md)."""
    utf8 = dict(utf8)
    environment = claims.get("environment")
    if isinstance(environment, str) and environment:
        utf8[23] = environment
    subject = claims.get("sub")
    if isinstance(subject, str) and subject:
        utf8[24] = subject
    encoded = {n: value.encode() for n, value in raw.items()}
    encoded.update({n: _der(_TAG_UTF8_STRING, value.encode()) for n, value in utf8.items()})
    return tuple(sorted(encoded.items()))


def _required_claims(
    claims: Mapping[str, Any], names: tuple[str, ...], provider: str
) -> dict[str, str]:
    missing = [name for name in names if name not in claims]
    if missing:
        raise FulcioError(
            400, f"{provider} identity token is missing required claim(s): {', '.join(missing)}"
        )
    return {name: _string_claim(claims, name) for name in names}


def _string_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise FulcioError(400, f"identity token has no '{name}' claim")
    raise FulcioError(400, f"identity token claim '{name}' is not a string: {value!r}")


class CertificateAuthority:
    """Root, intermediate and CT log key from a KeyRing; issues leaves at the clock's time."""

    def __init__(self, keys: KeyRing, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock
        self._root_key = keys.ec_key("fulcio-root", ec.SECP384R1())
        self._intermediate_key = keys.ec_key("fulcio-intermediate", ec.SECP384R1())
        self._ct_key = keys.ec_key("ct-log")
        self._root = self._build_root()
        self._intermediate = self._build_intermediate()

    @property
    def root(self) -> x509.Certificate:
        return self._root

    @property
    def intermediate(self) -> x509.Certificate:
        return self._intermediate

    @property
    def ct_key(self) -> ec.EllipticCurvePrivateKey:
        return self._ct_key

    @property
    def ct_log_id(self) -> bytes:
        """SHA-256 of the CT key's DER SubjectPublicKeyInfo (RFC 6962 §3.2 LogID)."""
        return hashlib.sha256(_spki(self._ct_key.public_key())).digest()

    def _build_root(self) -> x509.Certificate:
        name = _ca_name(ROOT_COMMON_NAME)
        public_key = self._root_key.public_key()
        builder = (
            _ca_builder(name, name, public_key, self._keys.serial("fulcio-root"))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        return builder.sign(self._root_key, hashes.SHA384(), ecdsa_deterministic=True)

    def _build_intermediate(self) -> x509.Certificate:
        public_key = self._intermediate_key.public_key()
        builder = (
            _ca_builder(
                _ca_name(INTERMEDIATE_COMMON_NAME),
                self._root.subject,
                public_key,
                self._keys.serial("fulcio-intermediate"),
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_authority_key_id(self._root), critical=False)
        )
        return builder.sign(self._root_key, hashes.SHA384(), ecdsa_deterministic=True)

    def issue(
        self, public_key: CertificatePublicKeyTypes, claims: Mapping[str, Any]
    ) -> list[x509.Certificate]:
        """[leaf, intermediate, root] for `public_key`, identified by the (validated) token claims.

        Raises FulcioError(400) for a key Fulcio would refuse or claims it cannot use.
        """
        _check_public_key(public_key)
        identity = leaf_identity(claims)
        not_before = self._clock.now()
        serial_label = hashlib.sha256(
            _spki(public_key)
            + json.dumps(dict(claims), sort_keys=True, default=str).encode()
            + not_before.isoformat().encode()
        ).hexdigest()
        builder = (
            x509.CertificateBuilder()
            .issuer_name(self._intermediate.subject)
            .subject_name(x509.Name([]))
            .public_key(public_key)
            .serial_number(self._keys.serial(f"leaf:{serial_label}"))
            .not_valid_before(not_before)
            .not_valid_after(not_before + LEAF_LIFETIME)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_authority_key_id(self._intermediate), critical=False)
            .add_extension(x509.SubjectAlternativeName([identity.san]), critical=True)
        )
        for n, value in identity.extensions:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(fulcio_oid(n), value), critical=False
            )
        # RFC 6962 §3.2: the SCT signs the TBS of the leaf as it is without the SCT extension;
        # appending that extension last keeps every other byte of the TBS where it was.
        precertificate = builder.sign(
            self._intermediate_key, hashes.SHA384(), ecdsa_deterministic=True
        )
        sct_list = self._sct_list(precertificate.tbs_certificate_bytes, not_before)
        leaf = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST_OID, _der(_TAG_OCTET_STRING, sct_list)),
            critical=False,
        ).sign(self._intermediate_key, hashes.SHA384(), ecdsa_deterministic=True)
        return [leaf, self._intermediate, self._root]

    def _sct_list(self, tbs_precertificate: bytes, when: datetime) -> bytes:
        """A TLS SignedCertificateTimestampList holding one v1 precertificate SCT."""
        timestamp_ms = int(when.timestamp() * 1000)
        issuer_key_hash = hashlib.sha256(_spki(self._intermediate_key.public_key())).digest()
        extensions = b""
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)  # v1, certificate_timestamp, precert_entry
            + issuer_key_hash
            + len(tbs_precertificate).to_bytes(3, "big")
            + tbs_precertificate
            + struct.pack("!H", len(extensions))
            + extensions
        )
        signature = ecdsa_sign(self._ct_key, signed)
        sct = (
            struct.pack("!B32sQH", 0, self.ct_log_id, timestamp_ms, len(extensions))
            + extensions
            + struct.pack("!BBH", 4, 3, len(signature))  # hash sha256, signature ecdsa
            + signature
        )
        return struct.pack("!HH", len(sct) + 2, len(sct)) + sct

    def trust_bundle(self) -> dict[str, Any]:
        """The `GET /api/v2/trustBundle` answer."""
        return {"chains": [{"certificates": [_pem(self._intermediate), _pem(self._root)]}]}

    def signing_cert_response(
        self,
        body: Any,
        authorization: str | None,
        validate_token: Callable[[str], dict[str, Any]],
    ) -> dict[str, Any]:
        """Answer a `POST /api/v2/signingCert` body (CSR form or cosign's publicKeyRequest form).

        The token comes from `credentials.oidcIdentityToken`, else from `Authorization: Bearer`.
        `validate_token` returns the claims or raises TokenError. Raises FulcioError.
        """
        if not isinstance(body, dict):
            raise FulcioError(400, "request body must be a JSON object")
        token = _token_from(body, authorization)
        try:
            claims = validate_token(token)
        except TokenError as exc:
            raise FulcioError(401, f"invalid identity token: {exc.message}") from None
        if "certificateSigningRequest" in body:
            public_key = _public_key_from_csr(body["certificateSigningRequest"])
        elif "publicKeyRequest" in body:
            principal = leaf_identity(claims).principal
            public_key = _public_key_from_request(body["publicKeyRequest"], principal)
        else:
            raise FulcioError(
                400, "request needs either certificateSigningRequest or publicKeyRequest"
            )
        chain = self.issue(public_key, claims)
        return {
            "signedCertificateEmbeddedSct": {
                "chain": {"certificates": [_pem(certificate) for certificate in chain]}
            }
        }


def _token_from(body: dict[str, Any], authorization: str | None) -> str:
    credentials = body.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, dict):
            raise FulcioError(400, "credentials must be a JSON object")
        token = credentials.get("oidcIdentityToken")
        if isinstance(token, str) and token:
            return token
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    raise FulcioError(
        401,
        "no identity token: send credentials.oidcIdentityToken or an Authorization: Bearer header",
    )


def _public_key_from_csr(encoded: Any) -> CertificatePublicKeyTypes:
    if not isinstance(encoded, str):
        raise FulcioError(400, "certificateSigningRequest must be a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
        if raw.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(raw)
        else:
            csr = x509.load_der_x509_csr(raw)
    except (binascii.Error, ValueError) as exc:
        raise FulcioError(
            400, f"certificateSigningRequest is not a base64-encoded PEM or DER CSR: {exc}"
        ) from None
    # The CSR's self-signature is the proof of possession of the private key.
    if not csr.is_signature_valid:
        raise FulcioError(400, "CSR signature does not verify: no proof of possession")
    return csr.public_key()


def _public_key_from_request(request: Any, principal: str) -> CertificatePublicKeyTypes:
    if not isinstance(request, dict) or not isinstance(request.get("publicKey"), dict):
        raise FulcioError(400, "publicKeyRequest.publicKey must be a JSON object")
    content = request["publicKey"].get("content")
    proof = request.get("proofOfPossession")
    if not isinstance(content, str) or not isinstance(proof, str):
        raise FulcioError(
            400, "publicKeyRequest needs publicKey.content and proofOfPossession strings"
        )
    try:
        if content.lstrip().startswith("-----BEGIN"):
            loaded = serialization.load_pem_public_key(content.encode())
        else:
            loaded = serialization.load_der_public_key(base64.b64decode(content, validate=True))
        signature = base64.b64decode(proof, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FulcioError(400, f"publicKeyRequest cannot be decoded: {exc}") from None
    if not isinstance(
        loaded, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    ):
        raise FulcioError(400, f"unsupported public key type {type(loaded).__name__}")
    try:
        _verify_signature(loaded, signature, principal.encode())
    except InvalidSignature:
        raise FulcioError(
            400,
            f"proofOfPossession is not a signature of {principal!r} (the token's identity) "
            "by the public key",
        ) from None
    return loaded


def _verify_signature(
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey,
    signature: bytes,
    message: bytes,
) -> None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        key.verify(signature, message)


def _check_public_key(public_key: CertificatePublicKeyTypes) -> None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in _ALLOWED_CURVES:
            raise FulcioError(400, f"unsupported elliptic curve {public_key.curve.name}")
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < _MIN_RSA_BITS:
            raise FulcioError(400, f"RSA key of {public_key.key_size} bits is too small")
    elif not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise FulcioError(400, f"unsupported public key type {type(public_key).__name__}")


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, serial: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(CA_VALID_FROM)
        .not_valid_after(CA_VALID_UNTIL)
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV with a universal primitive tag."""
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content
