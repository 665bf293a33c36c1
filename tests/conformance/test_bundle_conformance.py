"""The Sigstore conformance suite's offline bundle cases, through `cargo-verify bundle`.

Reads ../shared/conformance (beside the repository); run by .ci/run, not by the README's
test command. Every case must give its expected verdict, except four cases where
sigstore-python itself (which does all our cryptography) cannot: those are listed with the
reason, and the test asserts that they still fail closed (never a pass that should not be).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cargo_verify._cli import main

pytestmark = pytest.mark.conformance

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
CASES = SHARED / "bundle-verify"
DEFAULT_IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"

# Cases that should pass but sigstore-python 4.5 cannot verify (CASES.md "Baseline"); since
# all cryptography goes through it, cargo-verify refuses them: a false failure, never a false pass.
KNOWN_UNSUPPORTED = {
    "intoto-with-custom-trust-root": "intoto/0.0.2 entries are not supported by sigstore-python",
    "managed-key-happy-path": "public-key bundles are rejected by sigstore-python",
    "managed-key-and-trusted-root": "public-key bundles are rejected by sigstore-python",
    "trust-root-tsa-validity-end-inclusive": "sigstore-python treats TSA validFor.end as exclusive",
}


def _cases() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def test_suite_is_present() -> None:
    assert len(_cases()) == 70


@pytest.mark.parametrize("mode", ["path", "digest"])
@pytest.mark.parametrize("case", _cases() if CASES.is_dir() else [])
def test_case(case: str, mode: str, capfd: pytest.CaptureFixture[str]) -> None:
    folder = CASES / case
    artifact = folder / "artifact" if (folder / "artifact").exists() else CASES / "a.txt"
    root = folder / "trusted_root.json"
    if not root.exists():
        root = SHARED / "production_trusted_root.json"
    identity = (folder / "identity").read_text().strip() if (folder / "identity").exists() \
        else DEFAULT_IDENTITY
    issuer = (folder / "issuer").read_text().strip() if (folder / "issuer").exists() \
        else DEFAULT_ISSUER
    target = str(artifact)
    if mode == "digest":
        target = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    code = main([
        "bundle", target, "--bundle", str(folder / "bundle.sigstore.json"),
        "--issuer", issuer, "--subject", identity, "--trusted-root", str(root),
        "--offline", "--format", "json",
    ])
    out = capfd.readouterr().out
    should_fail = case.endswith("fail")
    if case in KNOWN_UNSUPPORTED:
        assert code == 1, f"{case}: expected the documented refusal"
        return
    if should_fail:
        # 1 = the bundle failed verification; 2 = the case's trusted root itself is invalid.
        assert code in (1, 2), f"{case} passed but must fail: {out}"
        if code == 1:
            assert json.loads(out)["reason"]
    else:
        assert code == 0, f"{case} failed but must pass: {out}"
        assert json.loads(out)["status"] == "verified"
