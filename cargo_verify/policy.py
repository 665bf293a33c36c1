"""Trust rules matched against a Fulcio certificate's identity.

The certificate has already been validated by sigstore-python when these checks run (they
are called from inside its verification, as its policy); this module only reads identity
fields and compares them with what the user trusts.

A `subject` is a glob where `*` matches any run of characters. It is tried against every form
of the signer's identity, and the report says which one matched:

* `san`: the certificate's Subject Alternative Name (the workflow URI for GitHub Actions);
* `sub-claim`: `repo:OWNER/REPO:ref:REF` (and `…:environment:ENV`, `…:pull_request`) rebuilt
  from Fulcio's repository / ref / environment / trigger extensions, the form of the token's
  `sub` claim that GitHub users write in trust entries;
* `token-subject`: the raw `sub` Fulcio copies into extension 1.3.6.1.4.1.57264.1.24.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cargo_verify.model import TrustRule

if TYPE_CHECKING:
    from cryptography.x509 import Certificate, ObjectIdentifier

_FULCIO_OID = "1.3.6.1.4.1.57264.1."
_RAW = {"issuer": 1, "trigger": 2, "sha": 3, "workflow_name": 4, "repository": 5, "ref": 6}
_DER = {
    "issuer_v2": 8,
    "build_signer_uri": 9,
    "source_repository_uri": 12,
    "source_repository_ref": 14,
    "build_config_uri": 18,
    "build_trigger": 20,
    "environment": 23,
    "token_subject": 24,
}
_GITHUB = "https://github.com/"


def glob_match(pattern: str, value: str) -> bool:
    """`*` matches any run of characters (slashes included); everything else is literal.

    Linear in the value per literal part, never exponential: a backtracking regex made from a
    pattern like `*a*a*a…b` (from a hostile mochi.toml) would take minutes. Taking each middle
    part at its leftmost place is enough when `*` is the only wildcard.
    """
    first, *middle = pattern.split("*")
    if not middle:
        return pattern == value
    last = middle.pop()
    if len(first) + len(last) > len(value) or not (
        value.startswith(first) and value.endswith(last)
    ):
        return False
    position, end = len(first), len(value) - len(last)
    for part in middle:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _der_utf8(value: bytes) -> str | None:
    """Decode a DER UTF8String (tag 0x0c), as Fulcio writes extensions .8 and up."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            return None
        length = int.from_bytes(value[2 : 2 + count], "big")
        offset = 2 + count
    if offset + length != len(value):
        return None
    try:
        return value[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class SignerIdentity:
    """The identity fields of a Fulcio certificate, decoded."""

    san: str | None
    issuer: str | None
    repository: str | None  # OWNER/REPO (GitHub) or the source repository URI
    ref: str | None
    environment: str | None
    trigger: str | None
    workflow: str | None  # path of the build workflow inside its repo, e.g. .github/workflows/x.yml
    token_subject: str | None
    sub_forms: tuple[str, ...] = field(default=())
    # Fields that contradict each other (a certificate Fulcio never issues): never trusted.
    conflicts: tuple[str, ...] = field(default=())

    def forms(self) -> list[tuple[str, str]]:
        """Every (form name, value) a subject glob is matched against, in preference order."""
        out: list[tuple[str, str]] = []
        if self.san is not None:
            out.append(("san", self.san))
        out.extend(("sub-claim", form) for form in self.sub_forms)
        if self.token_subject is not None:
            out.append(("token-subject", self.token_subject))
        return out

    def describe(self) -> str:
        """Found identity in words, for failure messages."""
        parts = [f"issuer {self.issuer or '(none)'}", f"SAN {self.san or '(none)'}"]
        if self.sub_forms:
            parts.append(f"subject {self.sub_forms[0]}")
        return ", ".join(parts)


@functools.cache
def _fulcio_oids() -> dict[ObjectIdentifier, int]:
    """The Fulcio extensions read here, by OID (hashing an OID is much cheaper than
    rendering its dotted string, and a certificate has ~30 extensions)."""
    from cryptography.x509 import ObjectIdentifier

    return {ObjectIdentifier(f"{_FULCIO_OID}{n}"): n for n in (*_RAW.values(), *_DER.values())}


def _extension_values(cert: Certificate) -> dict[int, bytes]:
    wanted = _fulcio_oids()
    values: dict[int, bytes] = {}
    for ext in cert.extensions:
        number = wanted.get(ext.oid)
        if number is not None:
            values[number] = ext.value.value  # UnrecognizedExtension: raw DER bytes
    return values


def _san(cert: Certificate) -> str | None:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in names:
        if isinstance(name, x509.UniformResourceIdentifier | x509.RFC822Name):
            return str(name.value)
        if isinstance(name, x509.OtherName):
            return _der_utf8(name.value) or name.value.hex()
    return None


def signer_identity(cert: Certificate) -> SignerIdentity:
    from cryptography import x509

    try:
        ext = _extension_values(cert)
        san = _san(cert)
    except (x509.DuplicateExtension, ValueError) as exc:  # no identity can be trusted
        problem = f"certificate extensions cannot be read: {exc}"
        return SignerIdentity(None, None, None, None, None, None, None, None,
                              conflicts=(problem,))

    def raw(key: str) -> str | None:
        value = ext.get(_RAW[key])
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def der(key: str) -> str | None:
        value = ext.get(_DER[key])
        return _der_utf8(value) if value is not None else None

    issuer = der("issuer_v2") or raw("issuer")
    repo_uri = der("source_repository_uri")
    repository = raw("repository")
    if repository is None and repo_uri is not None:
        repository = repo_uri[len(_GITHUB) :] if repo_uri.startswith(_GITHUB) else repo_uri
    ref = der("source_repository_ref") or raw("ref")
    environment = der("environment")
    trigger = der("build_trigger") or raw("trigger")
    workflow: str | None = None
    signer_uri = der("build_signer_uri")
    if signer_uri is not None:
        path = signer_uri.split("@", 1)[0]
        if repository and path.startswith(f"{_GITHUB}{repository}/"):
            workflow = path[len(f"{_GITHUB}{repository}/") :]
        else:
            workflow = path
    sub_forms: list[str] = []
    if repository is not None and "/" in repository and "://" not in repository:
        if environment:
            sub_forms.append(f"repo:{repository}:environment:{environment}")
        if trigger in ("pull_request", "pull_request_target"):
            sub_forms.append(f"repo:{repository}:pull_request")
        if ref:
            sub_forms.append(f"repo:{repository}:ref:{ref}")
    return SignerIdentity(
        san=san,
        issuer=issuer,
        repository=repository,
        ref=ref,
        environment=environment,
        trigger=trigger,
        workflow=workflow,
        token_subject=der("token_subject"),
        sub_forms=tuple(sub_forms),
        conflicts=_conflicts(san, raw, der),
    )


def _conflicts(
    san: str | None, raw: Callable[[str], str | None], der: Callable[[str], str | None]
) -> tuple[str, ...]:
    """Pairs of identity fields Fulcio derives from the same token claim, found to differ.

    Fulcio copies one claim into several places (the SAN and the build signer URI both come
    from `job_workflow_ref`; the raw .1-.6 extensions repeat .8, .12, .14 and .20; the build
    config URI lies inside the source repository; the token subject names that repository).
    A certificate where they disagree was not made by Fulcio from one token, and trusting any
    one of its identity forms would let the others lie.
    """
    found: list[str] = []

    def differ(label: str, first: str | None, second: str | None) -> None:
        if first is not None and second is not None and first != second:
            found.append(f"{label} ({first} vs {second})")

    signer = der("build_signer_uri")
    if san is not None and signer is not None and "://" in san:
        differ("the SAN and the build signer URI extension name different workflows", san, signer)
    differ("the issuer extensions .1 and .8 differ", raw("issuer"), der("issuer_v2"))
    repo_uri = der("source_repository_uri")
    raw_repo = raw("repository")
    if raw_repo is not None and repo_uri is not None and repo_uri.startswith(_GITHUB):
        differ("the repository extensions .5 and .12 differ", _GITHUB + raw_repo, repo_uri)
    differ("the ref extensions .6 and .14 differ", raw("ref"), der("source_repository_ref"))
    differ("the trigger extensions .2 and .20 differ", raw("trigger"), der("build_trigger"))
    config_uri = der("build_config_uri")
    if config_uri is not None and repo_uri is not None and not config_uri.startswith(
        repo_uri.rstrip("/") + "/"
    ):
        found.append(
            f"the build config URI {config_uri} lies outside the source repository {repo_uri}"
        )
    subject = der("token_subject")
    repository = raw_repo or (
        repo_uri[len(_GITHUB) :] if repo_uri and repo_uri.startswith(_GITHUB) else None
    )
    if subject is not None and subject.startswith("repo:") and repository is not None:
        subject_repo = subject[len("repo:") :].split(":", 1)[0]
        differ("the token subject names another repository", subject_repo, repository)
    return tuple(found)


@dataclass(frozen=True)
class Decision:
    ok: bool
    identity: SignerIdentity
    matched_form: str | None = None
    problem: str | None = None  # what did not match, when not ok


def evaluate(rule: TrustRule, identity: SignerIdentity) -> Decision:
    """Does this signer satisfy the rule? Every field set in the rule must match."""
    if identity.conflicts:
        return Decision(
            False, identity,
            problem="certificate identity is inconsistent: " + "; ".join(identity.conflicts),
        )
    if identity.issuer is None:
        return Decision(False, identity, problem="certificate carries no OIDC issuer extension")
    if identity.san is None:
        return Decision(False, identity, problem="certificate carries no subject alternative name")
    if rule.issuer is not None and identity.issuer != rule.issuer:
        return Decision(
            False, identity, problem=f"issuer: expected {rule.issuer}, found {identity.issuer}"
        )
    checks = (
        ("repository", rule.repository, identity.repository),
        ("ref", rule.ref, identity.ref),
        ("environment", rule.environment, identity.environment),
    )
    for label, wanted, found in checks:
        if wanted is not None and (found is None or not glob_match(wanted, found)):
            return Decision(
                False, identity, problem=f"{label}: expected {wanted}, found {found or '(none)'}"
            )
    if rule.workflow is not None:
        found_wf = identity.workflow
        names = [found_wf, found_wf.rsplit("/", 1)[-1]] if found_wf else []
        if not any(glob_match(rule.workflow, name) for name in names):
            return Decision(
                False,
                identity,
                problem=f"workflow: expected {rule.workflow}, found {found_wf or '(none)'}",
            )
    matched: str | None = "san" if rule.subject is None else None
    if rule.subject is not None:
        for form, value in identity.forms():
            if glob_match(rule.subject, value):
                matched = form
                break
        else:
            found = "; ".join(f"{form} {value}" for form, value in identity.forms())
            return Decision(
                False, identity, problem=f"subject: expected {rule.subject}, found {found}"
            )
    return Decision(True, identity, matched_form=matched)
