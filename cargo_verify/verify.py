"""The one caller of sigstore-python's `Verifier`.

Everything cryptographic (certificate chain, SCT, inclusion proof, checkpoint, signed entry
timestamp, artifact signature, DSSE envelope) is done by sigstore-python here. This module
turns its answers into verdict material and is safe to run in worker processes: `VerifyJob`
and `VerifyOutcome` are plain picklable data, and the `Verifier` is built once per process.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cargo_verify.errors import ConfigError, InfraError
from cargo_verify.model import Code, TrustRule
from cargo_verify.transparency import BundleSummary, EvidenceError, summarize_bundle

if TYPE_CHECKING:  # policy.py is imported where used: a warm run never needs it
    from cryptography.x509 import Certificate
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    from cargo_verify.policy import Decision

PUBLIC_GOOD = "public-good"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class TrustRootSpec:
    """Where trust material comes from: a file (trusted root or ClientTrustConfig) or TUF."""

    path: str | None = None  # None = Sigstore public-good instance over TUF
    offline: bool = False

    def describe(self) -> str:
        return self.path or f"{PUBLIC_GOOD} (TUF{', offline' if self.offline else ''})"


def _load_root_json(spec: TrustRootSpec) -> dict[str, Any]:
    assert spec.path is not None
    path = Path(spec.path)
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read trusted root: {exc.strerror}", path) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trusted root is not JSON: {exc}", path) from exc
    if not isinstance(document, dict):
        raise ConfigError("trusted root is not a JSON object", path)
    return document


def load_trusted_root(spec: TrustRootSpec) -> TrustedRoot:
    """Build sigstore's TrustedRoot from the spec, through sigstore's public API only."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig, TrustedRoot

    if spec.path is None:
        try:
            return ClientTrustConfig.production(offline=spec.offline).trusted_root
        except SigstoreError as exc:
            raise InfraError(f"cannot load the Sigstore public-good trust root: {exc}") from exc
    document = _load_root_json(spec)
    media_type = str(document.get("mediaType", ""))
    try:
        if "clienttrustconfig" in media_type:
            return ClientTrustConfig.from_json(json.dumps(document)).trusted_root
        if "trustedroot" in media_type:
            return TrustedRoot.from_file(spec.path)
    except (ValueError, SigstoreError) as exc:
        raise ConfigError(f"invalid trust material: {exc}", spec.path) from exc
    raise ConfigError(
        f"not a Sigstore trusted root or ClientTrustConfig (mediaType {media_type!r})", spec.path
    )


def trust_root_digest(spec: TrustRootSpec) -> str:
    """A digest that changes whenever the trust material changes (verification cache key)."""
    if spec.path is not None:
        try:
            return hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"cannot read trusted root: {exc.strerror}", spec.path) from exc
    root = load_trusted_root(spec)
    return hashlib.sha256(root._inner.to_json().encode()).hexdigest()


@dataclass(frozen=True)
class VerifyJob:
    package: str  # name@version, for messages
    bundle_json: str
    sha256_hex: str  # of the .crate, already checked against the lockfile
    rule: TrustRule


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    code: Code | None = None
    reason: str | None = None
    issuer: str | None = None
    identity: str | None = None
    matched_form: str | None = None
    log_index: int | None = None
    repository: str | None = None  # from Fulcio's extensions, for identity pinning
    workflow: str | None = None


class _RulePolicy:
    """A sigstore VerificationPolicy that applies a TrustRule and remembers its decision."""

    def __init__(self, rule: TrustRule) -> None:
        self.rule = rule
        self.decision: Decision | None = None

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError

        from cargo_verify.policy import evaluate, signer_identity

        self.decision = evaluate(self.rule, signer_identity(cert))
        if not self.decision.ok:
            raise VerificationError(self.decision.problem or "identity does not match the policy")


_verifiers: dict[TrustRootSpec, Verifier] = {}


def verifier_for(spec: TrustRootSpec) -> Verifier:
    verifier = _verifiers.get(spec)
    if verifier is None:
        from sigstore.verify import Verifier

        verifier = _verifiers[spec] = Verifier(trusted_root=load_trusted_root(spec))
    return verifier


def _statement_subject_matches(payload: bytes, sha256_hex: str) -> str | None:
    """None when some in-toto subject has the tarball's sha256; else the problem."""
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "DSSE payload is not JSON"
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or not subjects:
        return "in-toto statement has no subject"
    found: list[str] = []
    for subject in subjects:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        value = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(value, str):
            if value.lower() == sha256_hex:
                return None
            found.append(value)
    shown = ", ".join(found) or "none"
    return f"in-toto subject digest: expected sha256 {sha256_hex}, found {shown}"


def run_job(job: VerifyJob, spec: TrustRootSpec) -> VerifyOutcome:
    """Verify one bundle against one artifact digest and trust rule. Never raises for bad input."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore_models.common.v1 import HashAlgorithm

    try:
        summary = summarize_bundle(json.loads(job.bundle_json))
    except (ValueError, EvidenceError) as exc:
        return VerifyOutcome(False, Code.EVIDENCE_INVALID, f"malformed Sigstore bundle: {exc}")
    early = _precheck(summary, job.sha256_hex)
    if early is not None:
        return early
    try:
        bundle = Bundle.from_json(job.bundle_json)
    except (SigstoreError, ValueError) as exc:
        return VerifyOutcome(False, Code.EVIDENCE_INVALID, f"invalid Sigstore bundle: {exc}")
    except Exception as exc:  # e.g. cryptography's InvalidVersion for a mangled certificate
        return VerifyOutcome(
            False, Code.EVIDENCE_INVALID, f"invalid Sigstore bundle: {type(exc).__name__}: {exc}"
        )
    policy = _RulePolicy(job.rule)
    try:
        verifier = verifier_for(spec)
        if summary.is_dsse:
            payload_type, payload = verifier.verify_dsse(bundle, policy)
            if payload_type != IN_TOTO_PAYLOAD_TYPE:
                problem: str | None = (
                    f"DSSE payload type: expected {IN_TOTO_PAYLOAD_TYPE}, found {payload_type}"
                )
            else:
                problem = _statement_subject_matches(payload, job.sha256_hex)
            if problem is not None:
                return _outcome(policy, False, Code.EVIDENCE_MISMATCH, problem, summary.log_index)
        else:
            digest = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(job.sha256_hex))
            verifier.verify_artifact(digest, bundle, policy)
    except (ConfigError, InfraError):
        raise
    except Exception as exc:  # fail closed on anything sigstore raises
        if policy.decision is not None and not policy.decision.ok:
            return _outcome(
                policy,
                False,
                Code.IDENTITY_MISMATCH,
                f"signer identity not allowed by {job.rule.describe()}: {policy.decision.problem}",
                summary.log_index,
            )
        message = str(exc) or type(exc).__name__
        if "inconsistent with other materials" in message or "digest mismatch" in message:
            return _outcome(policy, False, Code.EVIDENCE_MISMATCH, message, summary.log_index)
        return _outcome(
            policy, False, Code.SIGNATURE_INVALID,
            f"Sigstore verification failed: {_explain(message, bundle, summary)}",
            summary.log_index,
        )
    if policy.decision is None or not policy.decision.ok:
        # sigstore must have consulted the policy; if it did not, refuse rather than assume.
        return VerifyOutcome(False, Code.SIGNATURE_INVALID, "identity policy was never evaluated")
    return _outcome(policy, True, None, None, summary.log_index)


def _precheck(summary: BundleSummary, sha256_hex: str) -> VerifyOutcome | None:
    """Refusals that need no cryptography, or that sigstore-python does not make itself."""
    index = summary.log_index
    if summary.message_digest_sha256 not in (None, sha256_hex):
        return VerifyOutcome(
            False, Code.EVIDENCE_MISMATCH,
            f"bundle signs sha256 {summary.message_digest_sha256}, "
            f"but the .crate is sha256 {sha256_hex}",
            log_index=index,
        )
    if not summary.is_dsse and summary.body_sha256 not in (None, sha256_hex):
        return VerifyOutcome(
            False, Code.EVIDENCE_MISMATCH,
            f"the log entry in the bundle (Rekor entry {index}) signs sha256 "
            f"{summary.body_sha256}, but the .crate is sha256 {sha256_hex}",
            log_index=index,
        )
    # (Rekor v2 logs DSSE envelopes as hashedrekord 0.0.2 entries; sigstore checks those.)
    if (
        summary.is_dsse
        and summary.body_kind == "dsse"
        and summary.body_payload_sha256 != summary.envelope_payload_sha256
    ):
        return VerifyOutcome(
            False, Code.EVIDENCE_MISMATCH,
            f"the log entry in the bundle (Rekor entry {index}) records payload sha256 "
            f"{summary.body_payload_sha256}, but the DSSE envelope's payload is sha256 "
            f"{summary.envelope_payload_sha256}",
            log_index=index,
        )
    if not summary.has_entry_timestamp and summary.rfc3161_timestamps == 0:
        return VerifyOutcome(
            False, Code.EVIDENCE_INVALID,
            "bundle has no signed entry timestamp (inclusion promise) and no RFC 3161 "
            "timestamp: nothing proves when the entry was logged",
            log_index=index,
        )
    # sigstore-python compares the checkpoint's root hash with the proof's, not its size.
    checkpoint, proof = summary.checkpoint_tree_size, summary.proof_tree_size
    if checkpoint is not None and proof is not None and checkpoint != proof:
        return VerifyOutcome(
            False, Code.SIGNATURE_INVALID,
            f"checkpoint is signed for tree size {checkpoint}, but the inclusion proof is for "
            f"tree size {proof}: the log's signed tree head does not match the proof",
            log_index=index,
        )
    return None


_EXPLANATIONS = (
    ("inclusion proof contains invalid root hash",
     "inclusion proof: its hashes do not lead from the entry to the signed root hash"),
    ("checkpoint: invalid signature",
     "checkpoint: its signature does not verify with the log key of the trusted root"),
    ("Signature not found for log ID",
     "checkpoint: it carries no signature by the log of the trusted root"),
    ("SET: invalid inclusion promise",
     "signed entry timestamp: it does not verify for this entry with the log key of the "
     "trusted root"),
    ("candidates exhausted",
     "certificate chain: the signing certificate was not issued by a CA of the trusted root"),
    ("failed to verify SCT",
     "certificate transparency: the certificate's SCT does not verify with a CT log key of "
     "the trusted root"),
    ("Signature is invalid for input",
     "signature: it does not verify with the certificate's key over the .crate digest"),
    ("DSSE: invalid signature",
     "signature: the DSSE envelope's signature does not verify with the certificate's key"),
    ("not enough sources of verified time",
     "no signed entry timestamp or trusted timestamp proves when the entry was logged"),
)
_SIGSTORE_DETAIL_CHARS = 160


def _explain(message: str, bundle: Any, summary: BundleSummary) -> str:
    """Name the check that failed, then sigstore-python's own words (shortened)."""
    detail = message if len(message) <= _SIGSTORE_DETAIL_CHARS else (
        message[:_SIGSTORE_DETAIL_CHARS] + "…"
    )
    if "not valid at validation time" in message or "expired at time of signing" in message:
        return f"{_validity_problem(bundle, summary)} ({detail})"
    for needle, explanation in _EXPLANATIONS:
        if needle in message:
            return f"{explanation} ({detail})"
    return detail


def _validity_problem(bundle: Any, summary: BundleSummary) -> str:
    import datetime as dt

    cert = bundle.signing_certificate
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if summary.integrated_time is None:
        return f"certificate not valid at the signing time (valid {start} to {end})"
    logged = dt.datetime.fromtimestamp(summary.integrated_time, tz=dt.UTC)
    state = "expired" if logged > end else "not yet valid"
    return (
        f"certificate {state} at the log's integrated time {logged.isoformat()} "
        f"(valid {start.isoformat()} to {end.isoformat()})"
    )


def _outcome(
    policy: _RulePolicy, ok: bool, code: Code | None, reason: str | None, log_index: int | None
) -> VerifyOutcome:
    identity = policy.decision.identity if policy.decision is not None else None
    return VerifyOutcome(
        ok=ok,
        code=code,
        reason=reason,
        issuer=identity.issuer if identity else None,
        identity=identity.san if identity else None,
        matched_form=policy.decision.matched_form if policy.decision and ok else None,
        log_index=log_index,
        repository=identity.repository if identity else None,
        workflow=identity.workflow if identity else None,
    )


def certificate_identity_from_bundle(bundle_json: str) -> str | None:
    """The SAN of a bundle's leaf certificate, for messages about bundles that failed early."""
    from cryptography import x509

    from cargo_verify.policy import signer_identity

    try:
        document = json.loads(bundle_json)
        material = document["verificationMaterial"]
        raw = material.get("certificate", {}).get("rawBytes") or material[
            "x509CertificateChain"
        ]["certificates"][0]["rawBytes"]
        cert = x509.load_der_x509_certificate(base64.b64decode(raw))
    except Exception:
        return None
    return signer_identity(cert).san
