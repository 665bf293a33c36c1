"""A crates.io-shaped registry that does managed signing (design §2), without a web framework.

The app (`mock/app.py`) maps routes onto these methods:

    GET  /index/config.json                          config_json()
    GET  /index/<index_path(name)>                   index_file(name)
    GET  /dl/{crate}/{version}/download              tarball(name, version)
    GET  /bundles/{crate}/{version}/bundle.sigstore.json   bundle(name, version)
    PUT  /api/v1/crates/new                          publish(body, Authorization header)
    DELETE /api/v1/crates/{crate}/{version}/yank     api_yank(name, version, True, Authorization)
    PUT  /api/v1/crates/{crate}/{version}/unyank     api_yank(name, version, False, Authorization)

Publishing is trusted publishing plus signing: the request carries
`Authorization: Sigstore <OIDC token>`, the token must satisfy the crate's
`TrustedPublisher`, and the injected `Signer` (CA + transparency log) signs the `.crate`
before the version is added to the index with its `sigstore` evidence. Crates configured
with `signing = "none"` are published the old way, with an API token and no signature.
Errors reach cargo as `{"errors": [{"detail": …}]}`: cargo 1.95 prints `detail` whatever
the status code (`crates/crates-io/lib.rs`, `Registry::handle`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, cast

from cargo_verify.errors import CargoVerifyError, ConfigError
from cargo_verify.mock.cargo_wire import (
    PublishBodyError,
    index_line_from_publish,
    index_path,
    is_semver,
    parse_publish_body,
)
from cargo_verify.mock.clock import Clock

__all__ = [
    "EVIDENCE_MODES",
    "GITHUB_ISSUER",
    "FixtureRelease",
    "FixtureSet",
    "PublishRefused",
    "Publisher",
    "Registry",
    "Signer",
    "SigningResult",
    "TrustedPublisher",
    "UnknownVersion",
    "UnsignedPublisher",
    "load_fixture_publishers",
]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
Evidence = Literal["both", "rekor", "bundle", "none"]
EVIDENCE_MODES: tuple[Evidence, ...] = ("both", "rekor", "bundle", "none")
DEFAULT_MAX_CRATE_BYTES = 10 * 1024 * 1024  # crates.io's default upload limit


class PublishRefused(CargoVerifyError):
    """The registry refuses a publish; `message` is what cargo shows, `status` the HTTP code."""

    def __init__(self, message: str, status: int = 403) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


class UnknownVersion(CargoVerifyError, LookupError):
    """No such crate version in the registry."""


# -- publishers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedPublisher:
    """Who may publish a crate: one CI workflow of one repository (crates.io trusted publishing)."""

    issuer: str
    repository: str  # OWNER/REPO
    workflow: str  # file name under .github/workflows/, e.g. release.yml
    environment: str | None = None
    tag_pattern: str | None = None  # glob (`*` only) against the tag of `refs/tags/<tag>`

    def check(self, claims: Mapping[str, Any], *, crate: str | None = None) -> None:
        """Raise `PublishRefused` naming what was expected and what the token had."""
        who = f"crate `{crate}`" if crate else "this trusted publisher"
        iss = _claim(claims, "iss")
        if iss != self.issuer:
            raise PublishRefused(
                f"{who} trusts tokens from issuer `{self.issuer}`; "
                f"the token was issued by `{iss or '(no iss claim)'}`"
            )
        repository = _claim(claims, "repository") or _repository_from_sub(_claim(claims, "sub"))
        if repository is None or repository.lower() != self.repository.lower():
            raise PublishRefused(
                f"{who} trusts repository `{self.repository}` (workflow {self.workflow}); "
                f"the token is for repository `{repository or '(none)'}`"
            )
        self._check_workflow(who, _claim(claims, "job_workflow_ref"))
        if self.environment is not None:
            environment = _claim(claims, "environment")
            if environment is None or environment.lower() != self.environment.lower():
                found = f"environment `{environment}`" if environment else "no environment"
                raise PublishRefused(
                    f"{who} requires the GitHub environment `{self.environment}`; "
                    f"the token has {found}"
                )
        if self.tag_pattern is not None:
            ref = _claim(claims, "ref")
            if ref is None or not ref.startswith("refs/tags/"):
                raise PublishRefused(
                    f"{who} is published only from tags matching `{self.tag_pattern}`; "
                    f"the token's ref is `{ref or '(none)'}`, not a tag"
                )
            tag = ref.removeprefix("refs/tags/")
            if not _glob_match(self.tag_pattern, tag):
                raise PublishRefused(
                    f"{who} is published only from tags matching `{self.tag_pattern}`; "
                    f"the token is for tag `{tag}`"
                )

    def _check_workflow(self, who: str, job_workflow_ref: str | None) -> None:
        expected = f"workflow `{self.workflow}` of `{self.repository}`"
        if job_workflow_ref is None:
            raise PublishRefused(f"{who} trusts {expected}; the token has no job_workflow_ref")
        path = job_workflow_ref.partition("@")[0]
        repository, marker, workflow = path.partition("/.github/workflows/")
        if not marker or not workflow:
            raise PublishRefused(
                f"{who} trusts {expected}; the token's job_workflow_ref "
                f"`{job_workflow_ref}` is not OWNER/REPO/.github/workflows/FILE@REF"
            )
        if repository.lower() != self.repository.lower():
            raise PublishRefused(
                f"{who} trusts {expected}; the token's workflow lives in repository "
                f"`{repository}` (job_workflow_ref `{job_workflow_ref}`)"
            )
        if workflow != self.workflow:
            raise PublishRefused(
                f"{who} trusts {expected}; the token was issued to workflow `{workflow}` "
                f"(job_workflow_ref `{job_workflow_ref}`)"
            )


@dataclass(frozen=True)
class UnsignedPublisher:
    """A crate published the old way: a registry API token, and no signature."""

    token: str


Publisher = TrustedPublisher | UnsignedPublisher


def _claim(claims: Mapping[str, Any], key: str) -> str | None:
    value = claims.get(key)
    return value if isinstance(value, str) and value else None


def _repository_from_sub(sub: str | None) -> str | None:
    # GitHub: `repo:OWNER/REPO:ref:…` / `repo:OWNER/REPO:environment:…`
    if sub is None or not sub.startswith("repo:"):
        return None
    return sub.removeprefix("repo:").split(":", 1)[0] or None


def _glob_match(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


# -- signing --------------------------------------------------------------------------------


class SigningResult(Protocol):
    @property
    def log_index(self) -> int: ...

    @property
    def bundle(self) -> dict[str, Any]: ...


class Signer(Protocol):
    def sign(
        self, name: str, version: str, crate_bytes: bytes, claims: dict[str, Any]
    ) -> SigningResult: ...


# -- fixtures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixtureRelease:
    """One fixture version: the publish metadata cargo would send, and its `.crate` file."""

    name: str
    version: str
    meta: dict[str, Any]
    crate_file: Path

    @property
    def ref(self) -> str:
        """The git ref its release workflow runs for (`refs/tags/v<version>`)."""
        return f"refs/tags/v{self.version}"

    def crate_bytes(self) -> bytes:
        return self.crate_file.read_bytes()


class FixtureSet(NamedTuple):
    publishers: dict[str, Publisher]
    releases: tuple[FixtureRelease, ...]  # in publish order


_PUBLISHER_KEYS = {"issuer", "repository", "workflow", "environment", "tag_pattern"}
_RELEASE_KEYS = {"name", "version", "deps", "features", "links", "rust_version"}
_DEP_KEYS = {
    "name",
    "version_req",
    "features",
    "optional",
    "default_features",
    "target",
    "kind",
    "registry",
    "explicit_name_in_toml",
}


def load_fixture_publishers(path: Path) -> FixtureSet:
    """Parse `fixtures/crates/publishers.toml` (or the directory holding it).

    `.crate` files are expected in `dist/` next to it. Raises `ConfigError`.
    """
    toml_path = path / "publishers.toml" if path.is_dir() else path
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read fixture publishers: {exc}", toml_path) from exc
    unknown = set(data) - {"publishers", "release"}
    if unknown:
        raise ConfigError(f"unknown top-level keys {sorted(unknown)}", toml_path)
    publishers = {
        name: _parse_publisher(name, table, toml_path)
        for name, table in _table(data.get("publishers", {}), "publishers", toml_path).items()
    }
    releases = []
    raw_releases = data.get("release", [])
    if not isinstance(raw_releases, list):
        raise ConfigError("`release` must be an array of tables ([[release]])", toml_path)
    for i, raw in enumerate(raw_releases):
        release = _parse_release(_table(raw, f"release[{i}]", toml_path), i, toml_path)
        if release.name not in publishers:
            raise ConfigError(
                f"release {release.name} {release.version} has no [publishers.{release.name}]",
                toml_path,
            )
        releases.append(release)
    return FixtureSet(publishers, tuple(releases))


def _parse_publisher(name: str, table: Any, file: Path) -> Publisher:
    table = _table(table, f"publishers.{name}", file)
    if table.get("signing") == "none":
        if set(table) != {"signing", "token"} or not isinstance(table["token"], str):
            raise ConfigError(
                f'[publishers.{name}] with signing = "none" takes exactly one more key, '
                "token (a string)",
                file,
            )
        return UnsignedPublisher(token=table["token"])
    unknown = set(table) - _PUBLISHER_KEYS
    if unknown:
        raise ConfigError(f"[publishers.{name}]: unknown keys {sorted(unknown)}", file)
    fields: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"[publishers.{name}] {key} must be a non-empty string", file)
        fields[key] = value
    missing = {"issuer", "repository", "workflow"} - set(fields)
    if missing:
        raise ConfigError(f"[publishers.{name}] is missing {sorted(missing)}", file)
    return TrustedPublisher(**fields)


def _parse_release(table: dict[str, Any], i: int, file: Path) -> FixtureRelease:
    where = f"release[{i}]"
    unknown = set(table) - _RELEASE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}", file)
    name, version = table.get("name"), table.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not is_semver(version):
        raise ConfigError(f"{where}: needs a string name and a SemVer version", file)
    deps = []
    for j, dep in enumerate(table.get("deps", [])):
        dep = _table(dep, f"{where}.deps[{j}]", file)
        unknown = set(dep) - _DEP_KEYS
        if unknown:
            raise ConfigError(f"{where}.deps[{j}]: unknown keys {sorted(unknown)}", file)
        # NewCrateDependency as cargo sends it; TOML has no null, so absent means null.
        deps.append(
            {
                "optional": dep.get("optional", False),
                "default_features": dep.get("default_features", True),
                "name": dep.get("name"),
                "features": dep.get("features", []),
                "version_req": dep.get("version_req"),
                "target": dep.get("target"),
                "kind": dep.get("kind", "normal"),
                "registry": dep.get("registry"),
                "explicit_name_in_toml": dep.get("explicit_name_in_toml"),
            }
        )
    meta: dict[str, Any] = {
        "name": name,
        "vers": version,
        "deps": deps,
        "features": table.get("features", {}),
        "authors": [],
        "description": None,
        "documentation": None,
        "homepage": None,
        "readme": None,
        "readme_file": None,
        "keywords": [],
        "categories": [],
        "license": None,
        "license_file": None,
        "repository": None,
        "badges": {},
        "links": table.get("links"),
        "rust_version": table.get("rust_version"),
    }
    try:
        index_line_from_publish(meta, "0" * 64)
    except PublishBodyError as exc:
        raise ConfigError(f"{where} ({name} {version}): {exc}", file) from exc
    crate_file = file.parent / "dist" / f"{name}-{version}.crate"
    return FixtureRelease(name=name, version=version, meta=meta, crate_file=crate_file)


def _table(value: Any, where: str, file: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"`{where}` must be a table", file)
    return cast(dict[str, Any], value)


# -- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    line: dict[str, Any]  # the index line without `sigstore`
    rekor_log_index: int | None  # None: published unsigned

    def record(self) -> dict[str, Any]:
        return {"line": self.line, "rekor_log_index": self.rekor_log_index}


class Registry:
    """Sparse index, downloads and the publish API of one registry.

    With `store`, every change is written to that directory (temp file + rename) and the
    registry reloads it on construction:
        versions/<index path>       one JSON record per version (index line + log index)
        crates/<name>/<version>.crate
        bundles/<name>/<version>.sigstore.json
    Index lines are rendered on request, so `base_url` and `evidence` may change between runs.
    """

    def __init__(
        self,
        base_url: str,
        publishers: Mapping[str, Publisher],
        signer: Signer,
        validate_token: Callable[[str], dict[str, Any]],
        clock: Clock,
        store: Path | None = None,
        evidence: str = "both",
        *,
        rekor_url: str | None = None,
        max_crate_bytes: int = DEFAULT_MAX_CRATE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.rekor_url = (rekor_url or self.base_url + "/rekor").rstrip("/")
        self.publishers = dict(publishers)
        self._signer = signer
        self._validate_token = validate_token
        self._clock = clock
        self._store = store
        self.max_crate_bytes = max_crate_bytes
        self._evidence: Evidence = _evidence_mode(evidence)
        self._lock = threading.RLock()
        self._versions: dict[str, list[_Version]] = {}  # lowercase name -> in publish order
        self._tarballs: dict[tuple[str, str], bytes] = {}  # (lowercase name, version)
        self._bundles: dict[tuple[str, str], bytes] = {}
        self._index_cache: dict[str, bytes] = {}
        if store is not None:
            self._load(store)

    # -- reading ----------------------------------------------------------------------------

    @property
    def index_url(self) -> str:
        """The index URL for cargo configuration (`sparse+…/index/`)."""
        return f"sparse+{self.base_url}/index/"

    @property
    def evidence(self) -> Evidence:
        return self._evidence

    @evidence.setter
    def evidence(self, mode: str) -> None:
        with self._lock:
            self._evidence = _evidence_mode(mode)
            self._index_cache.clear()

    def config_json(self) -> bytes:
        config = {
            "dl": f"{self.base_url}/dl/{{crate}}/{{version}}/download",
            "api": self.base_url,
            "sigstore": {"rekor_url": self.rekor_url},
        }
        return json.dumps(config, indent=2).encode() + b"\n"

    def index_file(self, name: str) -> bytes | None:
        """The crate's sparse-index file: one JSON line per version, or None if unknown."""
        key = name.lower()
        with self._lock:
            cached = self._index_cache.get(key)
            if cached is not None:
                return cached
            versions = self._versions.get(key)
            if not versions:
                return None
            text = "".join(
                json.dumps(self._render(v), separators=(",", ":")) + "\n" for v in versions
            )
            self._index_cache[key] = data = text.encode()
            return data

    def tarball(self, name: str, version: str) -> bytes | None:
        with self._lock:
            return self._tarballs.get((name.lower(), version))

    def bundle(self, name: str, version: str) -> bytes | None:
        with self._lock:
            return self._bundles.get((name.lower(), version))

    def bundle_url(self, name: str, version: str) -> str:
        return f"{self.base_url}/bundles/{name}/{version}/bundle.sigstore.json"

    def has_version(self, name: str, version: str) -> bool:
        with self._lock:
            return self._find(name, version) is not None

    def crates(self) -> list[str]:
        """Names of all crates with at least one version, as published."""
        with self._lock:
            return sorted(versions[0].line["name"] for versions in self._versions.values())

    def _render(self, version: _Version) -> dict[str, Any]:
        line = dict(version.line)
        if version.rekor_log_index is None or self._evidence == "none":
            return line
        sigstore: dict[str, Any] = {}
        if self._evidence in ("rekor", "both"):
            sigstore["rekor_log_index"] = version.rekor_log_index
        if self._evidence in ("bundle", "both"):
            # Relative to the index file (design §3.3), so lines don't depend on the port.
            sigstore["bundle"] = f"/bundles/{line['name']}/{line['vers']}/bundle.sigstore.json"
        line["sigstore"] = sigstore
        return line

    def _find(self, name: str, version: str) -> _Version | None:
        for candidate in self._versions.get(name.lower(), []):
            if candidate.line["vers"] == version:
                return candidate
        return None

    # -- publishing -------------------------------------------------------------------------

    def publish(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """`PUT /api/v1/crates/new`: (HTTP status, JSON response for cargo)."""
        try:
            if authorization is None:
                raise PublishRefused(
                    "this registry publishes with trusted publishing: send "
                    "`Authorization: Sigstore <OIDC token>` (the request had no "
                    "Authorization header)",
                    status=401,
                )
            meta, crate = self._parse(body)
            claims = self._authorize(meta["name"], authorization)
            return 200, self._response(meta, self._add(meta, crate, claims))
        except PublishRefused as refused:
            return refused.status, _cargo_error(refused.message)

    def publish_unsigned(
        self, body: bytes, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Publish a crate configured with `signing = "none"` using its API token."""
        try:
            meta, crate = self._parse(body)
            publisher = self._publisher(meta["name"])
            if not isinstance(publisher, UnsignedPublisher):
                raise PublishRefused(
                    f"crate `{meta['name']}` is published with trusted publishing and "
                    "managed signing; send `Authorization: Sigstore <OIDC token>`"
                )
            self._check_api_token(meta["name"], publisher, authorization)
            return 200, self._response(meta, self._add(meta, crate, None))
        except PublishRefused as refused:
            return refused.status, _cargo_error(refused.message)

    def publish_fixture(
        self,
        name: str,
        version: str,
        crate_bytes: bytes,
        meta: dict[str, Any],
        claims: dict[str, Any] | None,
    ) -> int | None:
        """Publish a fixture at start-up; returns its Rekor log index (None when unsigned).

        Runs the same checks as `publish` except the token's signature (the claims are
        given). Raises `PublishRefused`.
        """
        if meta.get("name") != name or meta.get("vers") != version:
            raise PublishRefused(
                f"fixture {name} {version}: metadata is for {meta.get('name')} {meta.get('vers')}",
                status=400,
            )
        publisher = self._publisher(name)
        if isinstance(publisher, UnsignedPublisher):
            if claims is not None:
                raise PublishRefused(
                    f'crate `{name}` is configured with signing = "none"; publish it without claims'
                )
            self._add(meta, crate_bytes, None)
            return None
        if claims is None:
            raise PublishRefused(f"crate `{name}` is signed: publishing it needs token claims")
        publisher.check(claims, crate=name)
        signed = self._add(meta, crate_bytes, claims)
        return signed.log_index if signed is not None else None

    def api_yank(
        self, name: str, version: str, yanked: bool, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """`DELETE /api/v1/crates/{name}/{version}/yank` and `PUT …/unyank`.

        Authorized like a publish of that crate (same token, same publisher check).
        """
        try:
            if authorization is None:
                raise PublishRefused("yanking needs an Authorization header", status=401)
            self._authorize(name, authorization)
            self.yank(name, version, yanked)
        except PublishRefused as refused:
            return refused.status, _cargo_error(refused.message)
        except UnknownVersion as unknown:
            return 404, _cargo_error(str(unknown))
        return 200, {"ok": True}

    def yank(self, name: str, version: str, yanked: bool) -> None:
        with self._lock:
            found = self._find(name, version)
            if found is None:
                raise UnknownVersion(f"crate `{name}` has no version {version}")
            key = name.lower()
            changed = _Version({**found.line, "yanked": yanked}, found.rekor_log_index)
            versions = [changed if v is found else v for v in self._versions[key]]
            if self._store is not None:
                self._persist_versions(key, versions)
            self._versions[key] = versions
            self._index_cache.pop(key, None)

    def _parse(self, body: bytes) -> tuple[dict[str, Any], bytes]:
        if len(body) > self.max_crate_bytes + 1024 * 1024:
            raise PublishRefused(
                f"the upload is {len(body)} bytes; this registry accepts .crate files of at "
                f"most {self.max_crate_bytes} bytes",
                status=413,
            )
        try:
            meta, crate = parse_publish_body(body)
        except PublishBodyError as exc:
            raise PublishRefused(str(exc), status=400) from exc
        if len(crate) > self.max_crate_bytes:
            raise PublishRefused(
                f"the .crate is {len(crate)} bytes; this registry accepts at most "
                f"{self.max_crate_bytes} bytes",
                status=413,
            )
        if not isinstance(meta.get("name"), str) or not isinstance(meta.get("vers"), str):
            raise PublishRefused("publish metadata needs string `name` and `vers`", status=400)
        return meta, crate

    def _publisher(self, name: str) -> Publisher:
        publisher = self.publishers.get(name)
        if publisher is None:
            raise PublishRefused(
                f"crate `{name}` has no trusted publisher configured on this registry; "
                "a crate's publisher must be set up before its first publish"
            )
        return publisher

    def _authorize(self, name: str, authorization: str) -> dict[str, Any] | None:
        """The token's claims for a signed crate, None for an unsigned one; or refuse."""
        publisher = self._publisher(name)
        if isinstance(publisher, UnsignedPublisher):
            self._check_api_token(name, publisher, authorization)
            return None
        claims = self._authenticate(authorization)
        publisher.check(claims, crate=name)
        return claims

    def _authenticate(self, authorization: str) -> dict[str, Any]:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "sigstore" or not token or " " in token:
            if scheme.lower() == "sigstore":
                found = "`Sigstore` without a single token after it"
            elif not token:
                found = "a bare token (a registry API token?)"
            else:
                found = f"the `{scheme}` scheme"
            raise PublishRefused(
                "this registry publishes with trusted publishing: expected "
                f"`Authorization: Sigstore <OIDC token>`, the request sent {found}",
                status=401,
            )
        try:
            return self._validate_token(token)
        except Exception as exc:  # the validator is injected; any refusal is the token's fault
            raise PublishRefused(f"the OIDC token was rejected: {exc}") from exc

    @staticmethod
    def _check_api_token(
        name: str, publisher: UnsignedPublisher, authorization: str | None
    ) -> None:
        if authorization is not None and authorization.lower().startswith("sigstore "):
            raise PublishRefused(
                f'crate `{name}` is configured without signing (signing = "none"); '
                "publish it with its registry API token, not an OIDC token"
            )
        if authorization is None or authorization.strip() != publisher.token:
            raise PublishRefused(
                f"crate `{name}` is published with its registry API token "
                '(signing = "none"); the token sent is not that token'
            )

    def _add(
        self, meta: dict[str, Any], crate: bytes, claims: dict[str, Any] | None
    ) -> SigningResult | None:
        """Check, sign (when claims are given) and add one version; all or nothing."""
        cksum = hashlib.sha256(crate).hexdigest()
        try:
            line = index_line_from_publish(meta, cksum)
        except PublishBodyError as exc:
            raise PublishRefused(str(exc), status=400) from exc
        name, version = line["name"], line["vers"]
        _check_crate_archive(crate, name, version)
        key = name.lower()
        with self._lock:
            existing = self._versions.get(key, [])
            if existing and existing[0].line["name"] != name:
                raise PublishRefused(
                    f"crate `{name}` is already published as `{existing[0].line['name']}`",
                    status=409,
                )
            release = version.partition("+")[0]
            for other in existing:
                if other.line["vers"].partition("+")[0] == release:
                    raise PublishRefused(
                        f"crate `{name}` version {other.line['vers']} is already published; "
                        "versions cannot be replaced",
                        status=409,
                    )
            signed = None
            if claims is not None:
                try:
                    signed = self._signer.sign(name, version, crate, claims)
                except Exception as exc:  # the signer is injected: CA or log failure
                    raise PublishRefused(f"signing failed: {exc}", status=500) from exc
            line["pubtime"] = self._clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            entry = _Version(line, signed.log_index if signed is not None else None)
            self._commit(entry, crate, signed.bundle if signed is not None else None)
        return signed

    def _response(self, meta: dict[str, Any], signed: SigningResult | None) -> dict[str, Any]:
        name, version = meta["name"], meta["vers"]
        response: dict[str, Any] = {
            "warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}
        }
        if signed is None:
            response["warnings"]["other"].append(
                f"{name} {version} was published without a Sigstore signature"
            )
        else:
            response["sigstore"] = {
                "rekor_log_index": signed.log_index,
                "bundle": self.bundle_url(name, version),
            }
        return response

    def _commit(self, entry: _Version, crate: bytes, bundle: dict[str, Any] | None) -> None:
        name, version = entry.line["name"], entry.line["vers"]
        key = name.lower()
        bundle_bytes = None
        if bundle is not None:
            bundle_bytes = json.dumps(bundle, indent=2).encode() + b"\n"
        versions = [*self._versions.get(key, []), entry]
        if self._store is not None:
            # Files first, version record last: a crash never leaves a line without its tarball.
            atomic_write(self._store / "crates" / key / f"{version}.crate", crate)
            if bundle_bytes is not None:
                atomic_write(
                    self._store / "bundles" / key / f"{version}.sigstore.json", bundle_bytes
                )
            self._persist_versions(key, versions)
        self._versions[key] = versions
        self._tarballs[(key, version)] = crate
        if bundle_bytes is not None:
            self._bundles[(key, version)] = bundle_bytes
        self._index_cache.pop(key, None)

    # -- persistence ------------------------------------------------------------------------

    def _persist_versions(self, key: str, versions: list[_Version]) -> None:
        assert self._store is not None
        # Keys in the order the line has them (not sorted): index lines served after a restart
        # must be byte-identical to the ones served before it.
        text = "".join(json.dumps(v.record()) + "\n" for v in versions)
        atomic_write(self._store / "versions" / index_path(key), text.encode())

    def _load(self, store: Path) -> None:
        for path in _record_files(store / "versions"):
            for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                entry = _parse_record(raw, path, number)
                name, version = entry.line["name"], entry.line["vers"]
                key = name.lower()
                crate_path = store / "crates" / key / f"{version}.crate"
                try:
                    crate = crate_path.read_bytes()
                except OSError as exc:
                    raise ConfigError(f"registry store: {exc}", crate_path) from exc
                if hashlib.sha256(crate).hexdigest() != entry.line["cksum"]:
                    raise ConfigError(
                        f"registry store: {name} {version}: .crate does not match its cksum",
                        crate_path,
                    )
                self._versions.setdefault(key, []).append(entry)
                self._tarballs[(key, version)] = crate
                bundle_path = store / "bundles" / key / f"{version}.sigstore.json"
                if entry.rekor_log_index is not None and bundle_path.exists():
                    self._bundles[(key, version)] = bundle_path.read_bytes()


def _evidence_mode(mode: str) -> Evidence:
    for known in EVIDENCE_MODES:
        if mode == known:
            return known
    raise ValueError(f"evidence must be one of {', '.join(EVIDENCE_MODES)}; got {mode!r}")


def _cargo_error(message: str) -> dict[str, Any]:
    return {"errors": [{"detail": message}]}


def _check_crate_archive(crate: bytes, name: str, version: str) -> None:
    """As crates.io does: a gzip tar, all files under `name-version/`, a Cargo.toml that agrees."""
    prefix = f"{name}-{version}/"
    try:
        with tarfile.open(fileobj=io.BytesIO(crate), mode="r:gz") as archive:
            manifest = None
            for member in archive:
                if not member.name.startswith(prefix) or ".." in member.name.split("/"):
                    raise PublishRefused(
                        f"invalid .crate: it contains `{member.name}`, outside `{prefix}`",
                        status=400,
                    )
                if member.name == prefix + "Cargo.toml" and member.isfile():
                    extracted = archive.extractfile(member)
                    manifest = extracted.read() if extracted is not None else None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PublishRefused(f"invalid .crate: not a gzip-compressed tar ({exc})", 400) from exc
    if manifest is None:
        raise PublishRefused(f"invalid .crate: no `{prefix}Cargo.toml`", status=400)
    try:
        package = tomllib.loads(manifest.decode("utf-8")).get("package", {})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PublishRefused(f"invalid .crate: unreadable Cargo.toml ({exc})", 400) from exc
    found = (package.get("name"), package.get("version"))
    if found != (name, version):
        raise PublishRefused(
            f"the metadata says {name} {version}, but the .crate's Cargo.toml says "
            f"{found[0]} {found[1]}",
            status=400,
        )


def _record_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(".tmp-"):
            yield path


def _parse_record(raw: str, path: Path, number: int) -> _Version:
    try:
        record = json.loads(raw)
        line = record["line"]
        log_index = record["rekor_log_index"]
        if not isinstance(line, dict) or not isinstance(line.get("name"), str):
            raise ValueError("`line` must be an index line object")
        if not isinstance(line.get("vers"), str) or not is_semver(line["vers"]):
            raise ValueError("`line.vers` must be a SemVer version")
        if not isinstance(line.get("cksum"), str):
            raise ValueError("`line.cksum` must be a string")
        if log_index is not None and (not isinstance(log_index, int) or log_index < 0):
            raise ValueError("`rekor_log_index` must be a non-negative integer or null")
        index_path(line["name"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"registry store: bad version record ({exc})", path, number) from exc
    return _Version(line, log_index)


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a synced temp file and rename, so readers see old or new bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
