"""The mock OIDC issuer: deterministic ES256 tokens that real clients and our Fulcio accept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.oidc import IdentityToken

from cargo_verify.mock.clock import FixedClock, SystemClock
from cargo_verify.mock.keys import KeyRing
from cargo_verify.mock.oidc import GITHUB_ISSUER, GITLAB_ISSUER, OidcIssuer, TokenError

URL = "http://127.0.0.1:8123"
START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ALL_ISSUERS = (URL, GITHUB_ISSUER, GITLAB_ISSUER)

# Claims Fulcio's GitHub principal refuses to do without (sigstore-facts.md §6).
FULCIO_GITHUB_CLAIMS = (
    "job_workflow_ref", "sha", "event_name", "repository", "workflow", "ref", "job_workflow_sha",
    "runner_environment", "repository_id", "repository_owner", "repository_owner_id",
    "repository_visibility", "workflow_ref", "workflow_sha", "run_id", "run_attempt",
)  # fmt: skip


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def issuer(clock: FixedClock) -> OidcIssuer:
    return OidcIssuer(URL, KeyRing(b"oidc-test-seed"), clock)


def unverified(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_discovery_document_points_at_the_jwks(issuer: OidcIssuer) -> None:
    doc = OidcIssuer(URL + "/", KeyRing(b"x"), FixedClock(START)).discovery()
    assert doc["issuer"] == URL
    assert doc["jwks_uri"] == URL + "/jwks"
    assert doc["authorization_endpoint"].startswith(URL)
    assert doc["token_endpoint"].startswith(URL)
    assert "ES256" in doc["id_token_signing_alg_values_supported"]
    assert issuer.discovery() == doc


def test_published_jwk_verifies_minted_tokens(issuer: OidcIssuer) -> None:
    (jwk,) = issuer.jwks()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "P-256", "ES256", issuer.kid)
    token = issuer.mint({"sub": "someone"})
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": issuer.kid, "typ": "JWT"}
    key = jwt.PyJWK(jwk).key
    # The token's times come from the frozen clock, not the wall clock PyJWT would use.
    claims = jwt.decode(
        token, key, algorithms=["ES256"], options={"verify_exp": False, "verify_aud": False}
    )
    assert claims["sub"] == "someone"


def test_mint_fills_in_standard_claims_from_the_clock(issuer: OidcIssuer) -> None:
    claims = unverified(issuer.mint({"sub": "someone"}))
    now = int(START.timestamp())
    assert claims["iss"] == URL
    assert claims["aud"] == "sigstore"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 3600)
    assert isinstance(claims["jti"], str) and len(claims["jti"]) == 36


def test_mint_keeps_claims_it_is_given(issuer: OidcIssuer) -> None:
    given = {"sub": "s", "iss": GITHUB_ISSUER, "aud": ["a", "b"], "exp": 5, "jti": "fixed"}
    claims = unverified(issuer.mint(given))
    assert {k: claims[k] for k in given} == given


def test_same_seed_and_clock_mint_identical_tokens() -> None:
    def mint(seed: bytes, when: datetime) -> str:
        issuer = OidcIssuer(URL, KeyRing(seed), FixedClock(when))
        return issuer.mint(issuer.github_claims("octo/crate", "refs/tags/v1.0.0"))

    assert mint(b"a", START) == mint(b"a", START)
    assert mint(b"a", START) != mint(b"b", START)
    assert mint(b"a", START) != mint(b"a", START + timedelta(seconds=1))
    assert (
        OidcIssuer(URL, KeyRing(b"a"), SystemClock()).kid
        == OidcIssuer(URL, KeyRing(b"a"), FixedClock(START)).kid
    )


def test_sigstore_python_accepts_a_fresh_token() -> None:
    issuer = OidcIssuer(URL, KeyRing(b"seed"), SystemClock())
    claims = issuer.github_claims("octo/crate", "refs/tags/v1.0.0")
    token = IdentityToken(issuer.mint(claims))
    assert token.issuer == GITHUB_ISSUER
    assert token.identity == "repo:octo/crate:ref:refs/tags/v1.0.0"


def test_github_claims_carry_everything_fulcio_needs_as_strings(issuer: OidcIssuer) -> None:
    claims = issuer.github_claims("octo/crate", "refs/tags/v1.2.3")
    assert claims["iss"] == GITHUB_ISSUER
    assert claims["aud"] == "sigstore"
    assert claims["sub"] == "repo:octo/crate:ref:refs/tags/v1.2.3"
    for name in FULCIO_GITHUB_CLAIMS:
        assert isinstance(claims[name], str) and claims[name], name
    assert claims["repository_owner"] == "octo"
    assert claims["workflow_ref"] == "octo/crate/.github/workflows/release.yml@refs/tags/v1.2.3"
    assert claims["job_workflow_ref"] == claims["workflow_ref"]
    assert claims["ref_type"] == "tag"
    assert len(claims["sha"]) == 40 and int(claims["sha"], 16) >= 0
    assert claims["run_id"].isdigit() and claims["repository_id"].isdigit()
    assert "environment" not in claims
    assert claims == issuer.github_claims("octo/crate", "refs/tags/v1.2.3")
    assert claims["sha"] != issuer.github_claims("octo/crate", "refs/tags/v1.2.4")["sha"]


def test_github_subject_forms(issuer: OidcIssuer) -> None:
    with_env = issuer.github_claims("o/r", "refs/tags/v1", environment="release")
    assert with_env["sub"] == "repo:o/r:environment:release"
    assert with_env["environment"] == "release"
    pull = issuer.github_claims("o/r", "refs/pull/7/merge", event_name="pull_request")
    assert pull["sub"] == "repo:o/r:pull_request"
    branch = issuer.github_claims("o/r", "refs/heads/main", workflow_file="ci.yaml")
    assert branch["sub"] == "repo:o/r:ref:refs/heads/main"
    assert branch["ref_type"] == "branch"
    assert branch["job_workflow_ref"] == "o/r/.github/workflows/ci.yaml@refs/heads/main"
    custom = issuer.github_claims("o/r", "refs/tags/v1", issuer=URL, audience="other")
    assert (custom["iss"], custom["aud"]) == (URL, "other")


def test_gitlab_claims_shape(issuer: OidcIssuer) -> None:
    claims = issuer.gitlab_claims("group/project", "refs/tags/v1.0.0")
    assert claims["iss"] == GITLAB_ISSUER
    assert claims["sub"] == "project_path:group/project:ref_type:tag:ref:v1.0.0"
    assert (
        claims["ci_config_ref_uri"] == "gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1.0.0"
    )
    assert (claims["ref"], claims["ref_type"], claims["ref_path"]) == (
        "v1.0.0",
        "tag",
        "refs/tags/v1.0.0",
    )
    assert claims["namespace_path"] == "group"
    assert claims["project_id"].isdigit() and claims["job_id"].isdigit()
    branch = issuer.gitlab_claims("a/b/c", "refs/heads/main", issuer="https://git.example")
    assert branch["sub"] == "project_path:a/b/c:ref_type:branch:ref:main"
    assert branch["ci_config_ref_uri"] == "git.example/a/b/c//.gitlab-ci.yml@refs/heads/main"
    assert branch["namespace_path"] == "a/b"


@pytest.mark.parametrize(
    ("repository", "ref"), [("no-slash", "refs/tags/v1"), ("o/r", "v1.0.0"), ("/r", "refs/tags/v")]
)
def test_claim_helpers_refuse_malformed_input(
    issuer: OidcIssuer, repository: str, ref: str
) -> None:
    with pytest.raises(ValueError):
        issuer.github_claims(repository, ref)
    with pytest.raises(ValueError):
        issuer.gitlab_claims(repository, ref)


def test_validate_returns_the_claims(issuer: OidcIssuer) -> None:
    claims = issuer.github_claims("octo/crate", "refs/tags/v1.0.0")
    token = issuer.mint(claims)
    validated = issuer.validate(token, "sigstore", ALL_ISSUERS)
    assert {k: validated[k] for k in claims} == claims


def test_validate_accepts_an_audience_list_and_no_audience_check(issuer: OidcIssuer) -> None:
    token = issuer.mint({"sub": "s", "aud": ["other", "sigstore"]})
    assert issuer.validate(token, "sigstore", ALL_ISSUERS)["sub"] == "s"
    assert issuer.validate(issuer.mint({"sub": "s", "aud": "x"}), None, ALL_ISSUERS)["aud"] == "x"


def test_validate_refuses_expired_tokens(issuer: OidcIssuer, clock: FixedClock) -> None:
    token = issuer.mint({"sub": "s"})
    clock.advance(3599)
    issuer.validate(token, "sigstore", ALL_ISSUERS)
    clock.advance(1)
    with pytest.raises(TokenError, match="expired at 2024-05-01T13:00:00"):
        issuer.validate(token, "sigstore", ALL_ISSUERS)


def test_validate_refuses_tokens_not_yet_valid(issuer: OidcIssuer, clock: FixedClock) -> None:
    token = issuer.mint({"sub": "s"})
    clock.advance(-1)
    with pytest.raises(TokenError, match="not valid before"):
        issuer.validate(token, "sigstore", ALL_ISSUERS)


def test_validate_refuses_wrong_audience(issuer: OidcIssuer) -> None:
    token = issuer.mint({"sub": "s", "aud": "https://github.com/octo"})
    with pytest.raises(
        TokenError, match=re.escape("audience 'https://github.com/octo' does not include")
    ):
        issuer.validate(token, "sigstore", ALL_ISSUERS)


def test_validate_refuses_issuers_not_accepted(issuer: OidcIssuer) -> None:
    token = issuer.mint(issuer.github_claims("octo/crate", "refs/tags/v1.0.0"))
    with pytest.raises(
        TokenError, match=re.escape("issuer 'https://token.actions.githubusercontent.com'")
    ):
        issuer.validate(token, "sigstore", [URL])


def test_validate_refuses_tokens_of_another_issuer_key(
    issuer: OidcIssuer, clock: FixedClock
) -> None:
    stranger = OidcIssuer(URL, KeyRing(b"someone else"), clock)
    with pytest.raises(TokenError, match="unknown key"):
        issuer.validate(stranger.mint({"sub": "s"}), "sigstore", ALL_ISSUERS)
    # Without a kid the signature itself has to fail.
    claims = unverified(issuer.mint({"sub": "s"}))
    forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    with pytest.raises(TokenError, match="signature does not verify"):
        issuer.validate(forged, "sigstore", ALL_ISSUERS)


def test_validate_refuses_tampered_payload(issuer: OidcIssuer) -> None:
    header, _, signature = issuer.mint({"sub": "alice"}).split(".")
    other_payload = issuer.mint({"sub": "mallory"}).split(".")[1]
    with pytest.raises(TokenError, match="signature does not verify"):
        issuer.validate(f"{header}.{other_payload}.{signature}", "sigstore", ALL_ISSUERS)


def test_validate_refuses_other_algorithms_and_garbage(issuer: OidcIssuer) -> None:
    claims = unverified(issuer.mint({"sub": "s"}))
    hs256 = jwt.encode(claims, "a-shared-secret-of-at-least-32-bytes", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    for token in (hs256, unsigned):
        with pytest.raises(TokenError, match="only ES256"):
            issuer.validate(token, "sigstore", ALL_ISSUERS)
    with pytest.raises(TokenError, match="not a well-formed JWT"):
        issuer.validate("not-a-token", "sigstore", ALL_ISSUERS)


# --- clocks (cargo_verify.mock.clock) ---------------------------------------------------------


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2024, 5, 1, 14, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == START
    assert clock.now().tzinfo is UTC and clock.now().microsecond == 0
    clock.advance(0.5)
    assert clock.now() == START + timedelta(seconds=1)
    clock.advance(59.5)
    assert clock.now() == START + timedelta(seconds=60)  # 0.999999 + 0.5 + 59.5 s, truncated
    clock.set(START)
    assert clock.now() == START
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2024, 5, 1))


def test_system_clock_is_utc_whole_seconds() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC and now.microsecond == 0
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5
