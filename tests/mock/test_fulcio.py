"""The mock Fulcio CA: Fulcio's certificate profile, judged by sigstore-python's own checks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.certificate_transparency import LogEntryType
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID
from sigstore._internal.fulcio.client import _serialize_cert_request
from sigstore._internal.sct import verify_sct
from sigstore._internal.timestamp import TimestampSource, TimestampVerificationResult
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import VerificationError
from sigstore.models import TrustedRoot
from sigstore.verify import policy
from sigstore.verify.verifier import Verifier

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.fulcio import CertificateAuthority, FulcioError, fulcio_oid
from cargo_verify.mock.keys import KeyRing, ecdsa_sign
from cargo_verify.mock.oidc import GITHUB_ISSUER, GITLAB_ISSUER, OidcIssuer, TokenError
from cargo_verify.mock.trust import trusted_root

SEED = b"fulcio-test-seed"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
OIDC_URL = "http://127.0.0.1:8123"
SAN = "https://github.com/octo/crate/.github/workflows/release.yml@refs/tags/v1.0.0"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing(SEED)


@pytest.fixture
def ca(keys: KeyRing, clock: FixedClock) -> CertificateAuthority:
    return CertificateAuthority(keys, clock)


@pytest.fixture
def oidc(keys: KeyRing, clock: FixedClock) -> OidcIssuer:
    return OidcIssuer(OIDC_URL, keys, clock)


@pytest.fixture
def signer(keys: KeyRing) -> ec.EllipticCurvePrivateKey:
    return keys.ec_key("signer")


@pytest.fixture
def github_leaf(
    ca: CertificateAuthority, oidc: OidcIssuer, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    return ca.issue(signer.public_key(), oidc.github_claims("octo/crate", "refs/tags/v1.0.0"))[0]


def sigstore_root(ca: CertificateAuthority, keys: KeyRing, tmp_path: Path) -> TrustedRoot:
    """The CA as sigstore-python sees it: through a trusted root file."""
    doc = trusted_root(ca, keys.ec_key("rekor").public_key(), "http://127.0.0.1:1", OIDC_URL)
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(doc))
    return TrustedRoot.from_file(str(path))


def raw_extension(cert: x509.Certificate, n: int) -> bytes:
    value = cert.extensions.get_extension_for_oid(fulcio_oid(n)).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


def utf8_extension(cert: x509.Certificate, n: int) -> str:
    return asn1.decode_der(str, raw_extension(cert, n))


def fulcio_numbers(cert: x509.Certificate) -> list[int]:
    prefix = "1.3.6.1.4.1.57264.1."
    return [
        int(e.oid.dotted_string.removeprefix(prefix))
        for e in cert.extensions
        if e.oid.dotted_string.startswith(prefix)
    ]


# --- CA certificates --------------------------------------------------------------------------


def test_root_and_intermediate_follow_fulcio_profile(ca: CertificateAuthority) -> None:
    root, intermediate = ca.root, ca.intermediate
    assert root.subject == root.issuer
    assert root.subject.rfc4514_string() == "CN=cargo-verify-mock-root,O=cargo-verify.test"
    assert intermediate.subject.rfc4514_string() == (
        "CN=cargo-verify-mock-intermediate,O=cargo-verify.test"
    )
    assert intermediate.issuer == root.subject
    root.verify_directly_issued_by(root)
    intermediate.verify_directly_issued_by(root)
    for cert in (root, intermediate):
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
        assert cert.not_valid_before_utc == datetime(2020, 1, 1, tzinfo=UTC)
        assert cert.not_valid_after_utc == datetime(2045, 1, 1, tzinfo=UTC)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
        assert not usage.value.digital_signature
    inter_constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert inter_constraints.value.path_length == 0
    eku = intermediate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = intermediate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest


def test_same_seed_and_clock_give_identical_der(signer: ec.EllipticCurvePrivateKey) -> None:
    def chain_der(seed: bytes, when: datetime) -> list[bytes]:
        keys = KeyRing(seed)
        clock = FixedClock(when)
        claims = OidcIssuer(OIDC_URL, keys, clock).github_claims("octo/crate", "refs/tags/v1.0.0")
        chain = CertificateAuthority(keys, clock).issue(signer.public_key(), claims)
        return [c.public_bytes(serialization.Encoding.DER) for c in chain]

    first = chain_der(SEED, NOW)
    assert first == chain_der(SEED, NOW)
    other_seed = chain_der(b"another seed", NOW)
    assert all(a != b for a, b in zip(first, other_seed, strict=True))
    later = chain_der(SEED, NOW + timedelta(seconds=1))
    assert later[0] != first[0] and later[1:] == first[1:]


# --- leaf profile ---------------------------------------------------------------------------


def test_leaf_profile(
    github_leaf: x509.Certificate, ca: CertificateAuthority, signer: ec.EllipticCurvePrivateKey
) -> None:
    leaf = github_leaf
    assert leaf.version is x509.Version.v3
    assert leaf.subject == x509.Name([])
    assert leaf.issuer == ca.intermediate.subject
    assert leaf.not_valid_before_utc == NOW
    assert leaf.not_valid_after_utc == NOW + timedelta(minutes=10)
    assert 0 < leaf.serial_number < 2**159
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    assert leaf.public_key() == signer.public_key()
    leaf.verify_directly_issued_by(ca.intermediate)

    oids = [e.oid for e in leaf.extensions]
    assert oids[:5] == [
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ]
    assert oids[-1] == ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS
    assert ExtensionOID.BASIC_CONSTRAINTS not in oids
    critical = {e.oid for e in leaf.extensions if e.critical}
    assert critical == {ExtensionOID.KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME}

    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CODE_SIGNING]
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(signer.public_key())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    inter_ski = ca.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == inter_ski.value.digest
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(SAN)]


def test_github_leaf_extensions(github_leaf: x509.Certificate, oidc: OidcIssuer) -> None:
    claims = oidc.github_claims("octo/crate", "refs/tags/v1.0.0")
    leaf = github_leaf
    assert fulcio_numbers(leaf) == [1, 2, 3, 4, 5, 6, *range(8, 23), 24]
    raw = {n: raw_extension(leaf, n).decode() for n in range(1, 7)}
    assert raw == {
        1: GITHUB_ISSUER,
        2: "push",
        3: claims["sha"],
        4: "release",
        5: "octo/crate",
        6: "refs/tags/v1.0.0",
    }
    run = f"https://github.com/octo/crate/actions/runs/{claims['run_id']}/attempts/1"
    expected = {
        8: GITHUB_ISSUER,
        9: SAN,
        10: claims["job_workflow_sha"],
        11: "github-hosted",
        12: "https://github.com/octo/crate",
        13: claims["sha"],
        14: "refs/tags/v1.0.0",
        15: claims["repository_id"],
        16: "https://github.com/octo",
        17: claims["repository_owner_id"],
        18: SAN,
        19: claims["workflow_sha"],
        20: "push",
        21: run,
        22: "public",
        24: "repo:octo/crate:ref:refs/tags/v1.0.0",
    }
    assert {n: utf8_extension(leaf, n) for n in expected} == expected
    assert raw_extension(leaf, 8)[:2] == b"\x0c" + bytes([len(GITHUB_ISSUER)])


def test_environment_goes_into_extension_23(
    ca: CertificateAuthority, oidc: OidcIssuer, signer: ec.EllipticCurvePrivateKey
) -> None:
    claims = oidc.github_claims("octo/crate", "refs/tags/v1.0.0", environment="crates-io")
    leaf = ca.issue(signer.public_key(), claims)[0]
    assert utf8_extension(leaf, 23) == "crates-io"
    assert utf8_extension(leaf, 24) == "repo:octo/crate:environment:crates-io"


def test_long_values_use_long_form_der_length(
    ca: CertificateAuthority, oidc: OidcIssuer, signer: ec.EllipticCurvePrivateKey
) -> None:
    repository = "an-organisation-with-a-long-name/a-repository-with-an-even-longer-name-x"
    claims = oidc.github_claims(repository, "refs/tags/v1.0.0-rc.1+build.5")
    leaf = ca.issue(signer.public_key(), claims)[0]
    value = raw_extension(leaf, 9)
    assert value[1] == 0x81 and value[2] > 127
    assert utf8_extension(leaf, 9) == f"https://github.com/{claims['job_workflow_ref']}"


def test_gitlab_leaf(
    ca: CertificateAuthority, oidc: OidcIssuer, signer: ec.EllipticCurvePrivateKey
) -> None:
    claims = oidc.gitlab_claims("group/project", "refs/tags/v1.0.0")
    leaf = ca.issue(signer.public_key(), claims)[0]
    config = "https://gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1.0.0"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(config)]
    assert fulcio_numbers(leaf) == [1, *range(8, 23), 24]
    assert raw_extension(leaf, 1) == GITLAB_ISSUER.encode()
    assert utf8_extension(leaf, 9) == config
    assert utf8_extension(leaf, 12) == "https://gitlab.com/group/project"
    assert utf8_extension(leaf, 14) == "refs/tags/v1.0.0"
    assert utf8_extension(leaf, 16) == "https://gitlab.com/group"
    assert utf8_extension(leaf, 21) == f"https://gitlab.com/group/project/-/jobs/{claims['job_id']}"
    assert utf8_extension(leaf, 24) == "project_path:group/project:ref_type:tag:ref:v1.0.0"


def test_email_and_plain_subject_leaves(
    ca: CertificateAuthority, signer: ec.EllipticCurvePrivateKey
) -> None:
    email_claims = {
        "iss": OIDC_URL,
        "sub": "123",
        "email": "dev@example.org",
        "email_verified": True,
    }
    leaf = ca.issue(signer.public_key(), email_claims)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.RFC822Name("dev@example.org")]
    assert fulcio_numbers(leaf) == [1, 8, 24]
    assert raw_extension(leaf, 1) == OIDC_URL.encode()
    assert utf8_extension(leaf, 8) == OIDC_URL

    uri_claims = {"iss": OIDC_URL, "sub": "https://ci.example/pipelines/7"}
    leaf = ca.issue(signer.public_key(), uri_claims)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("https://ci.example/pipelines/7")]


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": "x"}, "no 'iss' claim"),
        ({"iss": OIDC_URL}, "no 'sub' claim"),
        ({"iss": OIDC_URL, "sub": "x", "email": "a@b", "email_verified": False}, "not verified"),
        ({"iss": GITHUB_ISSUER, "sub": "x", "job_workflow_ref": "o/r/w@r"}, "missing required"),
        ({"iss": OIDC_URL, "sub": {"nested": 1}}, "not a string"),
    ],
)
def test_unusable_claims_are_refused(
    ca: CertificateAuthority,
    signer: ec.EllipticCurvePrivateKey,
    claims: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(FulcioError, match=message) as caught:
        ca.issue(signer.public_key(), claims)
    assert caught.value.status == 400


def test_weak_keys_are_refused(ca: CertificateAuthority, oidc: OidcIssuer) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(FulcioError, match="too small"):
        ca.issue(weak.public_key(), oidc.github_claims("o/r", "refs/tags/v1"))
    secp256k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(FulcioError, match="unsupported elliptic curve"):
        ca.issue(secp256k1.public_key(), oidc.github_claims("o/r", "refs/tags/v1"))


# --- judged by sigstore-python ------------------------------------------------------------------


def test_embedded_sct_verifies_with_sigstore(
    github_leaf: x509.Certificate, ca: CertificateAuthority, keys: KeyRing, tmp_path: Path
) -> None:
    (sct,) = github_leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert sct.entry_type is LogEntryType.PRE_CERTIFICATE
    assert sct.log_id == ca.ct_log_id
    assert sct.timestamp.replace(tzinfo=UTC) == NOW
    root = sigstore_root(ca, keys, tmp_path)
    for purpose in (KeyringPurpose.SIGN, KeyringPurpose.VERIFY):
        verify_sct(github_leaf, [ca.intermediate, ca.root], root.ct_keyring(purpose))


def test_sct_from_another_ct_log_is_refused(github_leaf: x509.Certificate, tmp_path: Path) -> None:
    stranger_keys = KeyRing(b"another world")
    stranger = CertificateAuthority(stranger_keys, FixedClock(NOW))
    root = sigstore_root(stranger, stranger_keys, tmp_path)
    ours = CertificateAuthority(KeyRing(SEED), FixedClock(NOW))
    with pytest.raises(VerificationError, match="SCT verify failed"):
        verify_sct(github_leaf, [ours.intermediate], root.ct_keyring(KeyringPurpose.VERIFY))


def test_chain_passes_sigstore_chain_check_only_inside_validity(
    github_leaf: x509.Certificate, ca: CertificateAuthority, keys: KeyRing, tmp_path: Path
) -> None:
    verifier = Verifier(trusted_root=sigstore_root(ca, keys, tmp_path))

    def chain_at(when: datetime) -> list[x509.Certificate]:
        stamp = TimestampVerificationResult(source=TimestampSource.TRANSPARENCY_SERVICE, time=when)
        return verifier._verify_chain_at_time(github_leaf, stamp)

    assert chain_at(NOW + timedelta(minutes=5)) == [ca.intermediate]
    assert chain_at(NOW + timedelta(minutes=10)) == [ca.intermediate]
    for outside in (NOW - timedelta(seconds=1), NOW + timedelta(minutes=10, seconds=1)):
        with pytest.raises(VerificationError):
            chain_at(outside)


def test_sigstore_identity_policies_accept_the_leaf(github_leaf: x509.Certificate) -> None:
    accepted: list[policy.VerificationPolicy] = [
        policy.Identity(identity=SAN, issuer=GITHUB_ISSUER),
        policy.OIDCIssuer(GITHUB_ISSUER),
        policy.GitHubWorkflowTrigger("push"),
        policy.GitHubWorkflowRepository("octo/crate"),
        policy.GitHubWorkflowRef("refs/tags/v1.0.0"),
        policy.OIDCIssuerV2(GITHUB_ISSUER),
        policy.OIDCBuildSignerURI(SAN),
        policy.OIDCSourceRepositoryURI("https://github.com/octo/crate"),
        policy.OIDCSourceRepositoryRef("refs/tags/v1.0.0"),
        policy.OIDCBuildTrigger("push"),
        policy.OIDCSourceRepositoryVisibility("public"),
    ]
    policy.AllOf(accepted).verify(github_leaf)


@pytest.mark.parametrize(
    "refused",
    [
        policy.Identity(identity=SAN, issuer="https://gitlab.com"),
        policy.Identity(identity=SAN.replace("v1.0.0", "v1.0.1"), issuer=GITHUB_ISSUER),
        policy.OIDCIssuer(OIDC_URL),
        policy.GitHubWorkflowRepository("octo/other"),
        policy.OIDCSourceRepositoryRef("refs/heads/main"),
    ],
)
def test_sigstore_identity_policies_refuse_other_identities(
    github_leaf: x509.Certificate, refused: policy.VerificationPolicy
) -> None:
    with pytest.raises(VerificationError):
        refused.verify(github_leaf)


# --- POST /api/v2/signingCert ---------------------------------------------------------------------


def sigstore_csr(key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    """The CSR sigstore-python sends: empty subject, CA:FALSE requested, self-signed."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def validator(oidc: OidcIssuer) -> Callable[[str], dict[str, Any]]:
    return lambda token: oidc.validate(token, "sigstore", [OIDC_URL, GITHUB_ISSUER])


def pem_chain(response: dict[str, Any]) -> list[x509.Certificate]:
    pems = response["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in pems]


def test_signing_cert_for_sigstore_python_csr(
    ca: CertificateAuthority,
    oidc: OidcIssuer,
    signer: ec.EllipticCurvePrivateKey,
    keys: KeyRing,
    tmp_path: Path,
) -> None:
    token = oidc.mint(oidc.github_claims("octo/crate", "refs/tags/v1.0.0"))
    body = json.loads(_serialize_cert_request(sigstore_csr(signer)))
    response = ca.signing_cert_response(body, f"Bearer {token}", validator(oidc))
    leaf, *rest = pem_chain(response)
    assert rest == [ca.intermediate, ca.root]
    assert leaf.public_key() == signer.public_key()
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(SAN)]
    # What sigstore-python's signer does with the reply before it signs anything.
    verify_sct(leaf, rest, sigstore_root(ca, keys, tmp_path).ct_keyring(KeyringPurpose.SIGN))


def test_signing_cert_for_cosign_public_key_request(
    ca: CertificateAuthority, oidc: OidcIssuer, signer: ec.EllipticCurvePrivateKey
) -> None:
    claims = oidc.github_claims("octo/crate", "refs/tags/v1.0.0")
    public_pem = signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def body(signed: str) -> dict[str, Any]:
        proof = signer.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
        return {
            "credentials": {"oidcIdentityToken": oidc.mint(claims)},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": public_pem.decode()},
                "proofOfPossession": base64.b64encode(proof).decode(),
            },
        }

    leaf = pem_chain(ca.signing_cert_response(body(claims["sub"]), None, validator(oidc)))[0]
    assert leaf.public_key() == signer.public_key()
    with pytest.raises(FulcioError, match="proofOfPossession is not a signature") as caught:
        ca.signing_cert_response(body("someone else"), None, validator(oidc))
    assert caught.value.status == 400


def test_signing_cert_refuses_a_csr_whose_signature_fails(
    ca: CertificateAuthority, oidc: OidcIssuer, signer: ec.EllipticCurvePrivateKey
) -> None:
    der = bytearray(sigstore_csr(signer).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # last byte of the signature's s value
    body = {"certificateSigningRequest": base64.b64encode(bytes(der)).decode()}
    token = oidc.mint({"sub": "s"})
    with pytest.raises(FulcioError, match="no proof of possession") as caught:
        ca.signing_cert_response(body, f"Bearer {token}", validator(oidc))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("body", "authorization", "status", "message"),
    [
        ({"certificateSigningRequest": "x"}, None, 401, "no identity token"),
        ({"certificateSigningRequest": "x"}, "Basic abc", 401, "no identity token"),
        ({}, "Bearer VALID", 400, "either certificateSigningRequest or publicKeyRequest"),
        ({"certificateSigningRequest": "%%%"}, "Bearer VALID", 400, "not a base64-encoded"),
        ({"certificateSigningRequest": "AAAA"}, "Bearer VALID", 400, "not a base64-encoded"),
        ({"publicKeyRequest": {"publicKey": 1}}, "Bearer VALID", 400, "must be a JSON object"),
        (["not", "an", "object"], "Bearer VALID", 400, "JSON object"),
        ({"certificateSigningRequest": "x"}, "Bearer not-a-jwt", 401, "invalid identity token"),
    ],
)
def test_signing_cert_refuses_bad_requests(
    ca: CertificateAuthority,
    oidc: OidcIssuer,
    body: Any,
    authorization: str | None,
    status: int,
    message: str,
) -> None:
    if authorization == "Bearer VALID":
        authorization = f"Bearer {oidc.mint({'sub': 's'})}"
    with pytest.raises(FulcioError, match=message) as caught:
        ca.signing_cert_response(body, authorization, validator(oidc))
    assert caught.value.status == status


def test_signing_cert_refuses_an_expired_token(
    ca: CertificateAuthority,
    oidc: OidcIssuer,
    clock: FixedClock,
    signer: ec.EllipticCurvePrivateKey,
) -> None:
    token = oidc.mint({"sub": "s"})
    clock.advance(3600)
    body = {
        "credentials": {"oidcIdentityToken": token},
        "certificateSigningRequest": base64.b64encode(
            sigstore_csr(signer).public_bytes(serialization.Encoding.PEM)
        ).decode(),
    }
    with pytest.raises(FulcioError, match="invalid identity token: identity token expired"):
        ca.signing_cert_response(body, None, validator(oidc))


def test_credentials_token_is_preferred_and_validator_message_kept(
    ca: CertificateAuthority, signer: ec.EllipticCurvePrivateKey
) -> None:
    def broken(token: str) -> dict[str, Any]:
        raise TokenError(f"refused {token}")

    body = {"certificateSigningRequest": "x", "credentials": {"oidcIdentityToken": "t0k"}}
    with pytest.raises(FulcioError, match="refused t0k") as caught:
        ca.signing_cert_response(body, "Bearer other", broken)
    assert caught.value.status == 401


def test_trust_bundle_lists_the_ca_chain(ca: CertificateAuthority) -> None:
    (chain,) = ca.trust_bundle()["chains"]
    certs = [x509.load_pem_x509_certificate(pem.encode()) for pem in chain["certificates"]]
    assert certs == [ca.intermediate, ca.root]


# --- key material (cargo_verify.mock.keys) ----------------------------------------------------


def test_keyring_is_deterministic_per_seed_and_label() -> None:
    def private_value(seed: bytes, label: str, curve: ec.EllipticCurve | None = None) -> int:
        return KeyRing(seed).ec_key(label, curve).private_numbers().private_value

    assert private_value(b"s", "a") == private_value(b"s", "a")
    assert private_value(b"s", "a") != private_value(b"s", "b")
    assert private_value(b"s", "a") != private_value(b"t", "a")
    assert KeyRing(b"s").ec_key("a", ec.SECP384R1()).curve.name == "secp384r1"
    assert KeyRing(b"s").ec_key("a").curve.name == "secp256r1"
    with pytest.raises(ValueError, match="unsupported curve"):
        KeyRing(b"s").ec_key("a", ec.SECP256K1())


def test_serials_fit_rfc5280() -> None:
    keys = KeyRing(b"s")
    serials = [keys.serial(f"label-{i}") for i in range(200)]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2**159 for s in serials)
    assert max(serials).bit_length() > 150
    assert keys.serial("x") == KeyRing(b"s").serial("x") != KeyRing(b"t").serial("x")


def test_ecdsa_sign_is_deterministic_and_verifies() -> None:
    key = KeyRing(b"s").ec_key("k")
    signature = ecdsa_sign(key, b"data")
    assert signature == ecdsa_sign(key, b"data") != ecdsa_sign(key, b"other")
    key.public_key().verify(signature, b"data", ec.ECDSA(hashes.SHA256()))
    sha384 = ecdsa_sign(key, b"data", hashes.SHA384)
    key.public_key().verify(sha384, b"data", ec.ECDSA(hashes.SHA384()))
