"""An OpenID Connect issuer for the test world: ES256 identity tokens shaped like CI tokens.

One key signs every token, whatever its `iss`: the test world impersonates real issuers
(GitHub Actions, GitLab) so fixture crates look exactly like really published ones. Which
issuers a verifier accepts is the caller's decision (`validate(accepted_issuers=…)`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from jwt.utils import der_to_raw_signature

from cargo_verify.mock.clock import Clock
from cargo_verify.mock.keys import KeyRing, ecdsa_sign

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
DEFAULT_AUDIENCE = "sigstore"
TOKEN_LIFETIME = timedelta(hours=1)


class TokenError(Exception):
    """An identity token was refused; the message says why, for a human."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class _DeterministicES256(ECAlgorithm):
    """ES256 with RFC 6979 nonces: a token minted twice from the same inputs is byte-identical."""

    def __init__(self) -> None:
        super().__init__(ECAlgorithm.SHA256)

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        return der_to_raw_signature(ecdsa_sign(key, msg), key.curve)


def _make_jws() -> jwt.PyJWS:
    jws = jwt.PyJWS(algorithms=[])
    jws.register_algorithm("ES256", _DeterministicES256())
    return jws


_JWS = _make_jws()


class OidcIssuer:
    def __init__(self, url: str, keys: KeyRing, clock: Clock) -> None:
        self.url = url.rstrip("/")
        self._key = keys.ec_key("oidc-issuer")
        self._clock = clock
        self.kid = _jwk_thumbprint(self._key.public_key())

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def discovery(self) -> dict[str, Any]:
        """The `/.well-known/openid-configuration` document."""
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            # sigstore-python's interactive flow needs these two; the mock has no login page.
            "authorization_endpoint": f"{self.url}/auth",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["code", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "email"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "email"],
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "x": _b64url(numbers.x.to_bytes(32, "big")),
                    "y": _b64url(numbers.y.to_bytes(32, "big")),
                    "use": "sig",
                    "alg": "ES256",
                    "kid": self.kid,
                }
            ]
        }

    def mint(self, claims: dict[str, Any]) -> str:
        """An ES256 JWT; `iss`, `aud`, `iat`, `nbf`, `exp` and `jti` are filled in unless given."""
        now = self._clock.now()
        issued_at = int(now.timestamp())
        full: dict[str, Any] = {
            "iss": self.url,
            "aud": DEFAULT_AUDIENCE,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
        }
        full.update(claims)
        if "jti" not in full:
            full["jti"] = _derived_uuid(json.dumps(full, sort_keys=True))
        payload = json.dumps(full, separators=(",", ":")).encode()
        return _JWS.encode(payload, self._key, algorithm="ES256", headers={"kid": self.kid})

    def github_claims(
        self,
        repository: str,
        ref: str,
        workflow_file: str = "release.yml",
        environment: str | None = None,
        issuer: str | None = None,
        audience: str = DEFAULT_AUDIENCE,
        event_name: str = "push",
    ) -> dict[str, Any]:
        """A GitHub Actions claim set: every claim Fulcio's GitHub principal needs, all strings.

        `repository` is `OWNER/REPO`, `ref` a full ref (`refs/tags/v1.0.0`, `refs/heads/main`).
        Ids and commit hashes are derived from the inputs, so they are stable across runs.
        """
        owner, _ = _split_path(repository, "repository", "OWNER/REPO")
        _require_full_ref(ref)
        sha = _derived_sha(f"github:{repository}@{ref}")
        workflow_ref = f"{repository}/.github/workflows/{workflow_file}@{ref}"
        if environment is not None:
            sub = f"repo:{repository}:environment:{environment}"
        elif event_name == "pull_request":
            sub = f"repo:{repository}:pull_request"
        else:
            sub = f"repo:{repository}:ref:{ref}"
        owner_id = _derived_number(f"github-owner:{owner}", 8)
        claims: dict[str, Any] = {
            "iss": issuer if issuer is not None else GITHUB_ISSUER,
            "aud": audience,
            "sub": sub,
            "ref": ref,
            "sha": sha,
            "repository": repository,
            "repository_owner": owner,
            "repository_owner_id": owner_id,
            "repository_id": _derived_number(f"github-repo:{repository}", 9),
            "repository_visibility": "public",
            "run_id": _derived_number(f"github-run:{repository}@{ref}:{workflow_file}", 10),
            "run_number": _derived_number(f"github-run-number:{repository}@{ref}", 3),
            "run_attempt": "1",
            "actor": owner,
            "actor_id": owner_id,
            "workflow": workflow_file.rsplit(".", 1)[0],
            "workflow_ref": workflow_ref,
            "workflow_sha": sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": sha,
            "head_ref": "",
            "base_ref": "",
            "event_name": event_name,
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "ref_protected": "false",
            "runner_environment": "github-hosted",
        }
        if environment is not None:
            claims["environment"] = environment
        return claims

    def gitlab_claims(
        self,
        project_path: str,
        ref: str,
        config_file: str = ".gitlab-ci.yml",
        environment: str | None = None,
        issuer: str | None = None,
        audience: str = DEFAULT_AUDIENCE,
        pipeline_source: str = "push",
    ) -> dict[str, Any]:
        """A GitLab CI claim set. `project_path` is `GROUP/PROJECT`, `ref` a full ref.

        The host in `ci_config_ref_uri` is the issuer's host, as on a self-managed GitLab.
        """
        namespace, _ = _split_path(project_path, "project_path", "GROUP/PROJECT")
        _require_full_ref(ref)
        iss = issuer if issuer is not None else GITLAB_ISSUER
        host = iss.split("://", 1)[-1].rstrip("/")
        if ref.startswith("refs/tags/"):
            ref_type, short_ref = "tag", ref.removeprefix("refs/tags/")
        elif ref.startswith("refs/heads/"):
            ref_type, short_ref = "branch", ref.removeprefix("refs/heads/")
        else:
            raise ValueError(f"GitLab refs are refs/tags/… or refs/heads/…, got {ref!r}")
        sha = _derived_sha(f"gitlab:{project_path}@{ref}")
        claims: dict[str, Any] = {
            "iss": iss,
            "aud": audience,
            "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{short_ref}",
            "namespace_id": _derived_number(f"gitlab-namespace:{namespace}", 8),
            "namespace_path": namespace,
            "project_id": _derived_number(f"gitlab-project:{project_path}", 8),
            "project_path": project_path,
            "user_id": _derived_number(f"gitlab-user:{namespace}", 7),
            "user_login": namespace.split("/")[0],
            "pipeline_id": _derived_number(f"gitlab-pipeline:{project_path}@{ref}", 10),
            "pipeline_source": pipeline_source,
            "job_id": _derived_number(f"gitlab-job:{project_path}@{ref}", 10),
            "ref": short_ref,
            "ref_type": ref_type,
            "ref_path": ref,
            "ref_protected": "true",
            "runner_id": _derived_number(f"gitlab-runner:{host}", 6),
            "runner_environment": "gitlab-hosted",
            "sha": sha,
            "project_visibility": "public",
            "ci_config_ref_uri": f"{host}/{project_path}//{config_file}@{ref}",
            "ci_config_sha": sha,
        }
        if environment is not None:
            claims["environment"] = environment
        return claims

    def validate(
        self, token: str, audience: str | None, accepted_issuers: Collection[str]
    ) -> dict[str, Any]:
        """The claims of `token` once its signature, times, audience and issuer check out.

        `audience=None` skips the audience check. Raises `TokenError`.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.exceptions.DecodeError as exc:
            raise TokenError(f"identity token is not a well-formed JWT: {exc}") from None
        kid = header.get("kid")
        if kid is not None and kid != self.kid:
            raise TokenError(
                f"identity token is signed with an unknown key (kid {kid!r}; this issuer's key "
                f"is {self.kid!r})"
            )
        try:
            decoded = _JWS.decode_complete(token, self._key.public_key(), algorithms=["ES256"])
        except jwt.exceptions.InvalidAlgorithmError:
            raise TokenError(
                f"identity token uses algorithm {header.get('alg')!r}; only ES256 is accepted"
            ) from None
        except jwt.exceptions.InvalidSignatureError:
            raise TokenError("identity token signature does not verify with this issuer") from None
        except jwt.exceptions.InvalidTokenError as exc:
            raise TokenError(f"identity token is not a well-formed JWT: {exc}") from None
        try:
            claims = json.loads(decoded["payload"])
        except ValueError:
            raise TokenError("identity token payload is not JSON") from None
        if not isinstance(claims, dict):
            raise TokenError("identity token payload is not a JSON object")
        self._check_times(claims)
        _check_audience(claims, audience)
        _check_issuer(claims, accepted_issuers)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock.now()
        exp = _numeric_claim(claims, "exp", required=True)
        if exp is not None and now.timestamp() >= exp:
            raise TokenError(f"identity token expired at {_iso(exp)} (now {now.isoformat()})")
        nbf = _numeric_claim(claims, "nbf", required=False)
        if nbf is not None and now.timestamp() < nbf:
            raise TokenError(
                f"identity token is not valid before {_iso(nbf)} (now {now.isoformat()})"
            )


def _check_audience(claims: dict[str, Any], audience: str | None) -> None:
    if audience is None:
        return
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise TokenError(f"identity token audience {aud!r} does not include {audience!r}")


def _check_issuer(claims: dict[str, Any], accepted_issuers: Collection[str]) -> None:
    iss = claims.get("iss")
    if not isinstance(iss, str):
        raise TokenError("identity token has no 'iss' claim")
    if iss not in accepted_issuers:
        accepted = ", ".join(sorted(accepted_issuers)) or "none"
        raise TokenError(f"identity token issuer {iss!r} is not accepted (accepted: {accepted})")


def _numeric_claim(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise TokenError(f"identity token has no '{name}' claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"identity token claim '{name}' is not a number: {value!r}")
    return float(value)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _split_path(path: str, what: str, shape: str) -> tuple[str, str]:
    owner, sep, name = path.rpartition("/")
    if not sep or not owner or not name:
        raise ValueError(f"{what} must look like {shape}, got {path!r}")
    return owner, name


def _require_full_ref(ref: str) -> None:
    if not ref.startswith("refs/"):
        raise ValueError(f"ref must be a full git ref such as refs/tags/v1.0.0, got {ref!r}")


def _derived_number(label: str, digits: int) -> str:
    """A stable decimal id of `digits` digits, as a string: CI tokens carry ids as strings."""
    value = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big")
    low = 10 ** (digits - 1)
    return str(low + value % (9 * low))


def _derived_sha(label: str) -> str:
    """A stable 40-hex-digit value shaped like a git commit id."""
    return hashlib.sha256(label.encode()).hexdigest()[:40]


def _derived_uuid(label: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(label.encode()).digest()[:16], version=4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk_thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required JWK members, sorted, no whitespace."""
    numbers = key.public_numbers()
    size = (key.curve.key_size + 7) // 8
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(size, "big")),
        "y": _b64url(numbers.y.to_bytes(size, "big")),
    }
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return _b64url(hashlib.sha256(canonical).digest())
