"""Fuzz targets: one function per parser, bytes in, `None` out.

A target raises only for a bug: an exception other than the parser's documented refusal
(ConfigError, IndexError_, EvidenceError, …), or a broken invariant (AssertionError), e.g. a
lockfile package name with a path separator, or an index line whose bundle URL is not http(s).
Used by the coverage-guided driver (`fuzz/fuzz.py`, atheris) and by the test suite, which
replays every seed and every saved finding (`tests/fuzz/test_corpus.py`).
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cargo_verify.errors import CargoVerifyError

Target = Callable[[bytes], None]
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_CHECKSUM_RE = re.compile(r"[0-9a-f]{64}")
_INDEX_URL = "https://index.example/mo/ch/mochi-util"


def lockfile(data: bytes) -> None:
    from cargo_verify._toml_lines import decode_toml_bytes
    from cargo_verify.lockfile import parse_lockfile

    try:
        lock = parse_lockfile(decode_toml_bytes(data, "Cargo.lock"), "Cargo.lock")
    except CargoVerifyError:
        return
    for package in lock.packages:
        if package.is_registry:
            assert _NAME_RE.fullmatch(package.name), package.name
        assert "/" not in package.name and ".." not in package.name, package.name
        assert "/" not in package.version and ".." not in package.version, package.version
        assert package.checksum is None or _CHECKSUM_RE.fullmatch(package.checksum)


def manifest(data: bytes) -> None:
    from cargo_verify._toml_lines import decode_toml_bytes
    from cargo_verify.manifest import parse_manifest

    try:
        parsed = parse_manifest(decode_toml_bytes(data, "mochi.toml"), "mochi.toml")
    except CargoVerifyError:
        return
    for rule in parsed.trust_rules().values():
        assert not rule.is_default, "a trust entry must constrain something"


def _scratch_dir(label: str) -> Path:
    """A temporary directory removed when the process exits normally."""
    path = Path(tempfile.mkdtemp(prefix=f"cargo-verify-fuzz-{label}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


_config_dir: Path | None = None


def config(data: bytes) -> None:
    from cargo_verify.config import load_cargo_config

    global _config_dir
    if _config_dir is None:
        _config_dir = _scratch_dir("config")
        (_config_dir / "project" / ".cargo").mkdir(parents=True)
        (_config_dir / "home").mkdir()
    (_config_dir / "project" / ".cargo" / "config.toml").write_bytes(data)
    env = {"CARGO_HOME": str(_config_dir / "home"), "HOME": str(_config_dir)}
    try:
        loaded = load_cargo_config(_config_dir / "project", env)
        loaded.resolve_source("registry+https://github.com/rust-lang/crates.io-index")
    except CargoVerifyError:
        return
    rekor = loaded.sigstore.rekor_url
    assert rekor is None or rekor.startswith(("http://", "https://")), rekor
    assert loaded.sigstore.unsigned in ("deny", "warn", "allow")


def index(data: bytes) -> None:
    from cargo_verify.registry import IndexError_, index_line_from, parse_index_file

    try:
        for raw in parse_index_file(data, _INDEX_URL).values():
            line = index_line_from(raw, _INDEX_URL)
            ref = line.sigstore
            if ref is not None:
                assert ref.bundle_url is None or ref.bundle_url.startswith(
                    ("http://", "https://")
                ), ref.bundle_url
                assert ref.rekor_url is None or ref.rekor_url.startswith(("http://", "https://"))
                assert ref.rekor_log_index is None or ref.rekor_log_index >= 0
    except IndexError_:
        return


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise _Skip from None


class _Skip(Exception):
    """Input that is not even JSON: nothing to check."""


def bundle(data: bytes) -> None:
    from cargo_verify.transparency import EvidenceError, summarize_bundle

    try:
        summary = summarize_bundle(_json(data))
    except (_Skip, EvidenceError):
        return
    for digest in (summary.message_digest_sha256, summary.body_sha256):
        assert digest is None or re.fullmatch(r"[0-9a-f]*", digest), digest


def rekor(data: bytes) -> None:
    from cargo_verify.transparency import (
        EvidenceError,
        bundle_from_hashedrekord,
        parse_rekor_response,
    )

    try:
        entry = parse_rekor_response(_json(data))
        rebuilt = bundle_from_hashedrekord(entry)
    except (_Skip, EvidenceError):
        return
    assert rebuilt["verificationMaterial"]["tlogEntries"][0]["logIndex"] == str(entry.log_index)


def policy(data: bytes) -> None:
    """The glob matcher agrees with a regular-expression reference on small inputs."""
    from cargo_verify.policy import glob_match

    text = data.decode("utf-8", errors="replace")
    pattern, _, value = text.partition("\x00")
    matched = glob_match(pattern, value)
    if pattern.count("*") <= 6 and len(value) <= 64:  # the reference backtracks: keep it small
        reference = re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)
        assert matched == (reference.fullmatch(value) is not None), (pattern, value)
    if "*" not in pattern:
        assert matched == (pattern == value)


def identity(data: bytes) -> None:
    """Certificate DER → identity fields → policy decision: no crash, conflicts never pass."""
    from cryptography import x509

    from cargo_verify.model import TrustRule
    from cargo_verify.policy import evaluate, signer_identity

    try:
        certificate = x509.load_der_x509_certificate(data)
    except Exception:  # cryptography's loader refusing (ValueError, InvalidVersion, …)
        return
    found = signer_identity(certificate)
    for rule in (TrustRule(), TrustRule(subject="repo:example/*", repository="example/*")):
        decision = evaluate(rule, found)
        if found.conflicts:
            assert not decision.ok


_trust_root: Path | None = None


def verify(data: bytes) -> None:
    """A whole bundle through `verify.run_job` (sigstore-python): an outcome, never a raise."""
    from cargo_verify.model import TrustRule
    from cargo_verify.verify import TrustRootSpec, VerifyJob, run_job

    global _trust_root
    if _trust_root is None:
        from fuzz.seeds import write_trusted_root

        _trust_root = write_trusted_root(_scratch_dir("verify"))
    try:
        text = data.decode("utf-8")
        document = json.loads(text)
    except (ValueError, RecursionError):
        return
    digest = claimed_sha256(document) or "0" * 64
    outcome = run_job(VerifyJob("fuzz", text, digest, TrustRule()), TrustRootSpec(str(_trust_root)))
    assert outcome.ok or outcome.code is not None, outcome


def claimed_sha256(document: object) -> str | None:
    """The artifact digest a bundle claims (message digest or first in-toto subject)."""
    import base64
    import binascii

    try:
        if "messageSignature" in document:  # type: ignore[operator]
            raw = document["messageSignature"]["messageDigest"]["digest"]  # type: ignore[index]
            return base64.b64decode(raw, validate=True).hex()
        payload = base64.b64decode(document["dsseEnvelope"]["payload"])  # type: ignore[index]
        return str(json.loads(payload)["subject"][0]["digest"]["sha256"])
    except (KeyError, TypeError, IndexError, ValueError, binascii.Error, RecursionError):
        return None


def evidence_store(data: bytes) -> None:
    from cargo_verify.evidence_store import KINDS, decode, encode

    entries = decode(data)  # never raises: anything but a whole, valid file is {}
    for key, evidence in entries.items():
        assert len(key) == 4 and all(isinstance(part, str) for part in key), key
        assert evidence.kind in KINDS, evidence.kind
        assert evidence.log_index is None or type(evidence.log_index) is int
    assert decode(encode(entries)) == entries  # what is read back is what was written


TARGETS: dict[str, Target] = {
    "lockfile": lockfile,
    "manifest": manifest,
    "config": config,
    "index": index,
    "bundle": bundle,
    "rekor": rekor,
    "policy": policy,
    "identity": identity,
    "verify": verify,
    "evidence_store": evidence_store,
}


def corpus_dir(name: str) -> Path:
    """Checked-in inputs for a target: seeds and minimized findings (replayed by the tests)."""
    return Path(__file__).resolve().parent / "corpus" / name


def saved_inputs(name: str) -> list[bytes]:
    directory = corpus_dir(name)
    if not directory.is_dir():
        return []
    return [path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()]


__all__ = ["TARGETS", "Target", "corpus_dir", "saved_inputs"]
