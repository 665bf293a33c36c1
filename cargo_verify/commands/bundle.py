"""`cargo-verify bundle ARTIFACT --bundle FILE`: one artifact, one bundle, same policy engine."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from cargo_verify.cargo_home import sha256_file
from cargo_verify.errors import ConfigError, UsageError
from cargo_verify.model import TrustRule
from cargo_verify.verify import TrustRootSpec, VerifyJob, VerifyOutcome, run_job

_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")


def artifact_sha256(artifact: str) -> str:
    match = _DIGEST.fullmatch(artifact)
    if match:
        return match.group(1).lower()
    try:
        return sha256_file(Path(artifact))
    except OSError as exc:
        raise UsageError(f"cannot read artifact {artifact}: {exc.strerror}") from exc


def verify_bundle(
    artifact: str,
    bundle_path: str,
    rule: TrustRule,
    trust_root: TrustRootSpec,
) -> VerifyOutcome:
    """Public API behind the command: verify one artifact (path or sha256:HEX)."""
    sha256 = artifact_sha256(artifact)
    try:
        raw = Path(bundle_path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read bundle {bundle_path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("bundle is not UTF-8", bundle_path) from exc
    return run_job(VerifyJob(Path(artifact).name, text, sha256, rule), trust_root)


def run_bundle(args: argparse.Namespace) -> int:
    rule = TrustRule(issuer=args.issuer, subject=args.subject, origin="command line")
    spec = TrustRootSpec(path=args.trusted_root, offline=bool(args.offline))
    outcome = verify_bundle(args.artifact, args.bundle, rule, spec)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "artifact": args.artifact,
                    "status": "verified" if outcome.ok else "failed",
                    "code": str(outcome.code) if outcome.code else None,
                    "reason": outcome.reason,
                    "rekor_log_index": outcome.log_index,
                    "issuer": outcome.issuer,
                    "identity": outcome.identity,
                    "matched_form": outcome.matched_form,
                    "policy": rule.describe(),
                },
                indent=2,
            )
        )
    elif outcome.ok:
        print(f"OK: {args.artifact}")
        print(f"  Rekor index: {outcome.log_index}")
        print(f"  Identity: {outcome.identity} (issuer {outcome.issuer})")
        print(f"  Trust policy: {rule.describe()} [matched {outcome.matched_form}]")
    else:
        print(f"FAIL: {args.artifact}: [{outcome.code}] {outcome.reason}")
    return 0 if outcome.ok else 1
