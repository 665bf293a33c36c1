"""The crates.io-shaped registry: trusted publishing, managed signing, index, persistence.

The signer is the registry's injection point, so these tests use a small recording signer;
tokens come from the real mock OIDC issuer. The last tests drive the registry with real
`cargo publish` through a stdlib HTTP adapter.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from cargo_verify.errors import ConfigError
from cargo_verify.mock.cargo_wire import build_publish_body, index_path
from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.keys import KeyRing
from cargo_verify.mock.oidc import GITHUB_ISSUER, GITLAB_ISSUER, OidcIssuer
from cargo_verify.mock.registry import (
    FixtureRelease,
    Publisher,
    PublishRefused,
    Registry,
    TrustedPublisher,
    UnknownVersion,
    UnsignedPublisher,
    load_fixture_publishers,
)
from tests.conftest import locked_registry_packages

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "crates"
FIXTURE_SET = load_fixture_publishers(FIXTURES)
RELEASES = {(r.name, r.version): r for r in FIXTURE_SET.releases}
BASE = "http://127.0.0.1:8765"
START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
AUDIENCE = "crates.io"
LEGACY_TOKEN = "cio-legacy-unsigned-test-token"


@dataclass(frozen=True)
class Signed:
    log_index: int
    bundle: dict[str, Any]


class RecordingSigner:
    """Hands out log indices from 100 and a stand-in bundle; can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []
        self.failure: str | None = None

    def sign(self, name: str, version: str, crate_bytes: bytes, claims: dict[str, Any]) -> Signed:
        if self.failure is not None:
            raise RuntimeError(self.failure)
        digest = hashlib.sha256(crate_bytes).hexdigest()
        self.calls.append((name, version, digest, claims))
        bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "sha256": digest}
        return Signed(log_index=99 + len(self.calls), bundle=bundle)


@dataclass
class World:
    clock: FixedClock
    issuer: OidcIssuer
    signer: RecordingSigner

    def validate(self, token: str) -> dict[str, Any]:
        return self.issuer.validate(token, AUDIENCE, (GITHUB_ISSUER, GITLAB_ISSUER))

    def claims(self, repository: str, ref: str, **kwargs: Any) -> dict[str, Any]:
        return self.issuer.github_claims(repository, ref, audience=AUDIENCE, **kwargs)

    def token(self, repository: str, ref: str, **kwargs: Any) -> str:
        return self.issuer.mint(self.claims(repository, ref, **kwargs))

    def registry(
        self,
        *,
        store: Path | None = None,
        evidence: str = "both",
        base: str = BASE,
        publishers: dict[str, Publisher] | None = None,
        max_crate_bytes: int = 10 * 1024 * 1024,
    ) -> Registry:
        return Registry(
            base,
            publishers if publishers is not None else FIXTURE_SET.publishers,
            self.signer,
            self.validate,
            self.clock,
            store=store,
            evidence=evidence,
            rekor_url=base + "/rekor",
            max_crate_bytes=max_crate_bytes,
        )

    def publish_all_fixtures(self, registry: Registry) -> None:
        for release in FIXTURE_SET.releases:
            registry.publish_fixture(
                release.name,
                release.version,
                release.crate_bytes(),
                release.meta,
                self.fixture_claims(release),
            )

    def fixture_claims(self, release: FixtureRelease) -> dict[str, Any] | None:
        publisher = FIXTURE_SET.publishers[release.name]
        if isinstance(publisher, UnsignedPublisher):
            return None
        return self.claims(
            publisher.repository,
            release.ref,
            workflow_file=publisher.workflow,
            environment=publisher.environment,
        )


@pytest.fixture
def world() -> World:
    clock = FixedClock(START)
    return World(
        clock, OidcIssuer(BASE + "/oidc", KeyRing(b"registry-tests"), clock), RecordingSigner()
    )


def body(name: str, version: str) -> bytes:
    release = RELEASES[(name, version)]
    return build_publish_body(release.meta, release.crate_bytes())


def index_lines(registry: Registry, name: str) -> list[dict[str, Any]]:
    data = registry.index_file(name)
    assert data is not None
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def make_crate(name: str, version: str, files: dict[str, str] | None = None) -> bytes:
    """A small .crate built here (for cases the committed fixtures cannot express)."""
    if files is None:
        files = {
            f"{name}-{version}/Cargo.toml": f'[package]\nname = "{name}"\nversion = "{version}"\n',
            f"{name}-{version}/src/lib.rs": "",
        }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def demo_meta(name: str, version: str) -> dict[str, Any]:
    return {"name": name, "vers": version, "deps": [], "features": {}}


DEMO = TrustedPublisher(GITHUB_ISSUER, "example/demo", "release.yml", tag_pattern="v*")


# -- reading --------------------------------------------------------------------------------


def test_config_json_points_cargo_at_downloads_api_and_rekor(world: World) -> None:
    config = json.loads(world.registry().config_json())
    assert config == {
        "dl": BASE + "/dl/{crate}/{version}/download",
        "api": BASE,
        "sigstore": {"rekor_url": BASE + "/rekor"},
    }
    assert world.registry().index_url == f"sparse+{BASE}/index/"


def test_unknown_crates_and_versions_are_absent(world: World) -> None:
    registry = world.registry()
    assert registry.index_file("mochi-util") is None
    assert registry.tarball("mochi-util", "0.1.0") is None
    assert registry.bundle("mochi-util", "0.1.0") is None
    assert not registry.has_version("mochi-util", "0.1.0")


# -- managed signing ------------------------------------------------------------------------


def test_publish_signs_and_indexes_the_version(world: World) -> None:
    registry = world.registry()
    token = world.token("example/mochi-util", "refs/tags/v0.1.0")
    crate = RELEASES[("mochi-util", "0.1.0")].crate_bytes()
    cksum = hashlib.sha256(crate).hexdigest()

    status, response = registry.publish(body("mochi-util", "0.1.0"), f"Sigstore {token}")

    bundle_url = BASE + "/bundles/mochi-util/0.1.0/bundle.sigstore.json"
    assert (status, response) == (
        200,
        {
            "warnings": {"invalid_categories": [], "invalid_badges": [], "other": []},
            "sigstore": {"rekor_log_index": 100, "bundle": bundle_url},
        },
    )
    ((name, version, digest, claims),) = world.signer.calls
    assert (name, version, digest) == ("mochi-util", "0.1.0", cksum)
    assert claims["repository"] == "example/mochi-util"
    assert claims["ref"] == "refs/tags/v0.1.0"
    assert index_lines(registry, "mochi-util") == [
        {
            "name": "mochi-util",
            "vers": "0.1.0",
            "deps": [],
            "cksum": cksum,
            "features": {},
            "yanked": False,
            "pubtime": "2025-03-01T12:00:00Z",
            "sigstore": {
                "rekor_log_index": 100,
                "bundle": "/bundles/mochi-util/0.1.0/bundle.sigstore.json",
            },
        }
    ]
    assert registry.index_file("MOCHI-UTIL") == registry.index_file("mochi-util")
    assert registry.tarball("mochi-util", "0.1.0") == crate
    bundle = registry.bundle("mochi-util", "0.1.0")
    assert bundle is not None
    assert json.loads(bundle) == {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "sha256": cksum,
    }


def test_versions_accumulate_one_line_each_in_publish_order(world: World) -> None:
    registry = world.registry()
    for version in ("0.1.0", "0.1.1", "0.2.0"):
        world.clock.advance(60)
        token = world.token("example/mochi-util", f"refs/tags/v{version}")
        status, _ = registry.publish(body("mochi-util", version), f"Sigstore {token}")
        assert status == 200
    lines = index_lines(registry, "mochi-util")
    assert [(x["vers"], x["sigstore"]["rekor_log_index"]) for x in lines] == [
        ("0.1.0", 100),
        ("0.1.1", 101),
        ("0.2.0", 102),
    ]
    assert [x["pubtime"] for x in lines] == [
        "2025-03-01T12:01:00Z",
        "2025-03-01T12:02:00Z",
        "2025-03-01T12:03:00Z",
    ]
    assert lines[2]["features"] == {"default": [], "emoji": []}


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ("both", {"rekor_log_index": 100, "bundle": "BUNDLE"}),
        ("rekor", {"rekor_log_index": 100}),
        ("bundle", {"bundle": "BUNDLE"}),
        ("none", None),
    ],
)
def test_evidence_mode_decides_the_sigstore_keys(
    world: World, evidence: str, expected: dict[str, Any] | None
) -> None:
    registry = world.registry(evidence=evidence)
    world.publish_all_fixtures(registry)
    (line, *_) = index_lines(registry, "mochi-util")
    if expected is None:
        assert "sigstore" not in line
    else:
        bundle_url = "/bundles/mochi-util/0.1.0/bundle.sigstore.json"  # relative to the index
        assert line["sigstore"] == {
            k: (bundle_url if v == "BUNDLE" else v) for k, v in expected.items()
        }
    assert registry.bundle("mochi-util", "0.1.0") is not None  # signed all the same


def test_evidence_mode_can_change_while_serving(world: World) -> None:
    registry = world.registry()
    world.publish_all_fixtures(registry)
    assert "bundle" in index_lines(registry, "mochi-util")[0]["sigstore"]
    registry.evidence = "rekor"
    assert index_lines(registry, "mochi-util")[0]["sigstore"] == {"rekor_log_index": 100}
    with pytest.raises(ValueError, match="evidence must be one of"):
        registry.evidence = "everything"
    with pytest.raises(ValueError, match="evidence must be one of"):
        world.registry(evidence="all")


# -- refusals, as cargo shows them ----------------------------------------------------------


def assert_refused(result: tuple[int, dict[str, Any]], status: int, detail: str) -> None:
    code, payload = result
    assert code == status, payload
    ((error,),) = [payload["errors"]]
    assert set(payload) == {"errors"}
    assert detail in error["detail"], error["detail"]


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "the request had no Authorization header"),
        ("Bearer abc.def.ghi", "the request sent the `Bearer` scheme"),
        ("cio-some-api-token", "the request sent a bare token (a registry API token?)"),
        ("Sigstore", "`Sigstore` without a single token after it"),
        ("Sigstore a b", "`Sigstore` without a single token after it"),
    ],
)
def test_publish_needs_a_sigstore_authorization(
    world: World, authorization: str | None, detail: str
) -> None:
    registry = world.registry()
    assert_refused(registry.publish(body("mochi-util", "0.1.0"), authorization), 401, detail)
    assert registry.index_file("mochi-util") is None
    assert world.signer.calls == []


def test_scheme_name_is_case_insensitive(world: World) -> None:
    token = world.token("example/mochi-util", "refs/tags/v0.1.0")
    status, _ = world.registry().publish(body("mochi-util", "0.1.0"), f"sigstore {token}")
    assert status == 200


def test_an_invalid_token_is_refused_with_the_validator_reason(world: World) -> None:
    registry = world.registry()
    token = world.token("example/mochi-util", "refs/tags/v0.1.0")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_refused(
        registry.publish(body("mochi-util", "0.1.0"), f"Sigstore {tampered}"),
        403,
        "the OIDC token was rejected: identity token signature does not verify",
    )
    world.clock.advance(2 * 3600)
    assert_refused(
        registry.publish(body("mochi-util", "0.1.0"), f"Sigstore {token}"),
        403,
        "the OIDC token was rejected: identity token expired",
    )
    wrong_audience = world.issuer.mint(
        world.issuer.github_claims("example/mochi-util", "refs/tags/v0.1.0", audience="sigstore")
    )
    assert_refused(
        registry.publish(body("mochi-util", "0.1.0"), f"Sigstore {wrong_audience}"),
        403,
        "audience",
    )
    assert world.signer.calls == []


def test_a_token_for_another_repository_is_refused_saying_both(world: World) -> None:
    registry = world.registry()
    token = world.token("someone-else/mochi-util", "refs/tags/v0.1.0")
    assert_refused(
        registry.publish(body("mochi-util", "0.1.0"), f"Sigstore {token}"),
        403,
        "crate `mochi-util` trusts repository `example/mochi-util` (workflow release.yml); "
        "the token is for repository `someone-else/mochi-util`",
    )
    assert registry.index_file("mochi-util") is None
    assert world.signer.calls == []


def test_a_crate_without_publisher_config_is_refused(world: World) -> None:
    meta = demo_meta("brand-new", "0.1.0")
    token = world.token("example/brand-new", "refs/tags/v0.1.0")
    assert_refused(
        world.registry().publish(
            build_publish_body(meta, make_crate("brand-new", "0.1.0")), f"Sigstore {token}"
        ),
        403,
        "crate `brand-new` has no trusted publisher configured on this registry",
    )


def test_a_version_is_published_once_even_with_other_build_metadata(world: World) -> None:
    registry = world.registry(publishers={"demo": DEMO})
    token = f"Sigstore {world.token('example/demo', 'refs/tags/v1.0.0')}"
    first = build_publish_body(demo_meta("demo", "1.0.0"), make_crate("demo", "1.0.0"))
    assert registry.publish(first, token)[0] == 200
    assert_refused(registry.publish(first, token), 409, "demo` version 1.0.0 is already published")
    again = build_publish_body(
        demo_meta("demo", "1.0.0+rebuild"), make_crate("demo", "1.0.0+rebuild")
    )
    assert_refused(registry.publish(again, token), 409, "version 1.0.0 is already published")
    assert len(world.signer.calls) == 1


@pytest.mark.parametrize(
    ("meta", "crate", "status", "detail"),
    [
        (
            demo_meta("demo", "1.0.0"),
            make_crate("demo", "1.0.1"),
            400,
            "invalid .crate: it contains `demo-1.0.1/Cargo.toml`, outside `demo-1.0.0/`",
        ),
        (
            demo_meta("demo", "1.0.0"),
            make_crate("demo", "1.0.0", {"demo-1.0.0/Cargo.toml": '[package]\nname = "other"\n'}),
            400,
            "the metadata says demo 1.0.0, but the .crate's Cargo.toml says other None",
        ),
        (
            demo_meta("demo", "1.0.0"),
            make_crate("demo", "1.0.0", {"demo-1.0.0/src/lib.rs": ""}),
            400,
            "invalid .crate: no `demo-1.0.0/Cargo.toml`",
        ),
        (
            demo_meta("demo", "1.0.0"),
            make_crate("demo", "1.0.0", {"demo-1.0.0/../../etc/passwd": ""}),
            400,
            "outside `demo-1.0.0/`",
        ),
        (demo_meta("demo", "1.0.0"), b"not a gzip", 400, "not a gzip-compressed tar"),
        (demo_meta("demo", "1.0"), make_crate("demo", "1.0"), 400, "not SemVer"),
        ({"name": "demo"}, make_crate("demo", "1.0.0"), 400, "needs string `name` and `vers`"),
    ],
)
def test_bad_uploads_are_refused(
    world: World, meta: dict[str, Any], crate: bytes, status: int, detail: str
) -> None:
    registry = world.registry(publishers={"demo": DEMO})
    token = f"Sigstore {world.token('example/demo', 'refs/tags/v1.0.0')}"
    assert_refused(registry.publish(build_publish_body(meta, crate), token), status, detail)
    assert registry.index_file("demo") is None
    assert world.signer.calls == []


def test_malformed_body_is_a_400(world: World) -> None:
    token = f"Sigstore {world.token('example/demo', 'refs/tags/v1.0.0')}"
    assert_refused(world.registry().publish(b"\x01\x00", token), 400, "publish body: truncated")


def test_oversized_crate_is_a_413(world: World) -> None:
    registry = world.registry(publishers={"demo": DEMO}, max_crate_bytes=64)
    token = f"Sigstore {world.token('example/demo', 'refs/tags/v1.0.0')}"
    crate = make_crate("demo", "1.0.0", {"demo-1.0.0/Cargo.toml": "x" * 4096})
    assert len(crate) > 64
    assert_refused(
        registry.publish(build_publish_body(demo_meta("demo", "1.0.0"), crate), token),
        413,
        "this registry accepts at most 64 bytes",
    )


def test_a_signing_failure_adds_nothing_and_a_retry_works(world: World) -> None:
    registry = world.registry()
    token = f"Sigstore {world.token('example/mochi-util', 'refs/tags/v0.1.0')}"
    world.signer.failure = "Rekor is unreachable"
    assert_refused(
        registry.publish(body("mochi-util", "0.1.0"), token),
        500,
        "signing failed: Rekor is unreachable",
    )
    assert registry.index_file("mochi-util") is None
    assert registry.tarball("mochi-util", "0.1.0") is None
    world.signer.failure = None
    assert registry.publish(body("mochi-util", "0.1.0"), token)[0] == 200


# -- the trusted-publisher check ------------------------------------------------------------


def trusted(name: str) -> TrustedPublisher:
    publisher = FIXTURE_SET.publishers[name]
    assert isinstance(publisher, TrustedPublisher)
    return publisher


MOCHI_LOG = trusted("mochi-log")


def test_fixture_publishers_accept_their_own_release_tokens(world: World) -> None:
    for release in FIXTURE_SET.releases:
        publisher = FIXTURE_SET.publishers[release.name]
        if isinstance(publisher, TrustedPublisher):
            claims = world.fixture_claims(release)
            assert claims is not None
            publisher.check(claims, crate=release.name)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            {"iss": GITLAB_ISSUER},
            "crate `mochi-log` trusts tokens from issuer "
            "`https://token.actions.githubusercontent.com`; the token was issued by "
            "`https://gitlab.com`",
        ),
        (
            {"job_workflow_ref": "example/mochi-log/.github/workflows/ci.yml@refs/tags/v0.1.0"},
            "crate `mochi-log` trusts workflow `release.yml` of `example/mochi-log`; the token "
            "was issued to workflow `ci.yml` (job_workflow_ref "
            "`example/mochi-log/.github/workflows/ci.yml@refs/tags/v0.1.0`)",
        ),
        (
            {"job_workflow_ref": "evil/tools/.github/workflows/release.yml@refs/heads/main"},
            "the token's workflow lives in repository `evil/tools`",
        ),
        ({"job_workflow_ref": "release.yml"}, "is not OWNER/REPO/.github/workflows/FILE@REF"),
        ({"job_workflow_ref": None}, "the token has no job_workflow_ref"),
        (
            {"environment": None},
            "crate `mochi-log` requires the GitHub environment `crates-io`; "
            "the token has no environment",
        ),
        ({"environment": "staging"}, "the token has environment `staging`"),
        (
            {"ref": "refs/heads/main"},
            "crate `mochi-log` is published only from tags matching `v*`; "
            "the token's ref is `refs/heads/main`, not a tag",
        ),
        ({"ref": "refs/tags/release-0.1.0"}, "the token is for tag `release-0.1.0`"),
        (
            {"repository": None, "sub": "repo:other/mochi-log:ref:refs/tags/v0.1.0"},
            "`other/mochi-log`",
        ),
    ],
)
def test_each_publisher_field_is_enforced(
    world: World, change: dict[str, Any], detail: str
) -> None:
    claims = world.claims(
        "example/mochi-log",
        "refs/tags/v0.1.0",
        workflow_file="release.yml",
        environment="crates-io",
    )
    MOCHI_LOG.check(claims, crate="mochi-log")
    for key, value in change.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    with pytest.raises(PublishRefused) as refused:
        MOCHI_LOG.check(claims, crate="mochi-log")
    assert detail in refused.value.message
    assert refused.value.status == 403


def test_repository_and_environment_compare_case_insensitively(world: World) -> None:
    claims = world.claims("Example/Mochi-Log", "refs/tags/v0.1.0", environment="Crates-IO")
    MOCHI_LOG.check(claims, crate="mochi-log")


def test_repository_falls_back_to_the_sub_claim(world: World) -> None:
    claims = world.claims("example/mochi-log", "refs/tags/v0.1.0", environment="crates-io")
    del claims["repository"]
    MOCHI_LOG.check(claims)


def test_tag_pattern_is_a_glob_on_the_tag_name(world: World) -> None:
    publisher = TrustedPublisher(GITHUB_ISSUER, "o/r", "release.yml", tag_pattern="release/v*.*")
    ok = world.claims("o/r", "refs/tags/release/v1.2")
    publisher.check(ok)
    for ref in ("refs/tags/release/v1", "refs/tags/xrelease/v1.2", "refs/tags/release/v1?2"):
        with pytest.raises(PublishRefused, match="published only from tags matching"):
            publisher.check(world.claims("o/r", ref))
    TrustedPublisher(GITHUB_ISSUER, "o/r", "release.yml").check(world.claims("o/r", "refs/heads/x"))


# -- unsigned crates ------------------------------------------------------------------------


def test_an_unsigned_crate_is_published_with_its_api_token(world: World) -> None:
    registry = world.registry()
    status, response = registry.publish(body("legacy-unsigned", "0.1.0"), LEGACY_TOKEN)
    assert status == 200
    assert "sigstore" not in response
    assert response["warnings"]["other"] == [
        "legacy-unsigned 0.1.0 was published without a Sigstore signature"
    ]
    (line,) = index_lines(registry, "legacy-unsigned")
    assert "sigstore" not in line
    assert registry.bundle("legacy-unsigned", "0.1.0") is None
    assert world.signer.calls == []


def test_unsigned_crate_refuses_oidc_tokens_and_wrong_api_tokens(world: World) -> None:
    registry = world.registry()
    token = world.token("example/legacy-unsigned", "refs/tags/v0.1.0")
    legacy = body("legacy-unsigned", "0.1.0")
    assert_refused(
        registry.publish(legacy, f"Sigstore {token}"),
        403,
        "publish it with its registry API token, not an OIDC token",
    )
    assert_refused(registry.publish(legacy, "cio-guess"), 403, "the token sent is not that token")
    assert_refused(registry.publish_unsigned(legacy, None), 403, "the token sent is not that token")
    assert registry.publish_unsigned(legacy, LEGACY_TOKEN)[0] == 200


def test_publish_unsigned_refuses_a_signed_crate(world: World) -> None:
    assert_refused(
        world.registry().publish_unsigned(body("mochi-util", "0.1.0"), LEGACY_TOKEN),
        403,
        "crate `mochi-util` is published with trusted publishing and managed signing",
    )


# -- fixtures, yank -------------------------------------------------------------------------


def test_all_fixtures_publish_with_their_metadata(world: World) -> None:
    registry = world.registry()
    world.publish_all_fixtures(registry)
    signed = [r for r in FIXTURE_SET.releases if r.name != "legacy-unsigned"]
    assert [(c[0], c[1]) for c in world.signer.calls] == [(r.name, r.version) for r in signed]
    assert registry.crates() == sorted({r.name for r in FIXTURE_SET.releases})
    beta = index_lines(registry, "mochi-example")[2]
    assert beta["vers"] == "0.2.0-beta.1"
    assert beta["features"] == {}
    assert beta["features2"] == {"log": ["dep:mochi-log"]}
    assert beta["v"] == 2
    assert beta["deps"] == [
        {
            "name": "mochi-log",
            "req": "^0.1",
            "features": [],
            "optional": True,
            "default_features": False,
            "target": None,
            "kind": "normal",
            "registry": None,
            "package": None,
        },
        {
            "name": "util",
            "req": "^0.2",
            "features": [],
            "optional": False,
            "default_features": True,
            "target": None,
            "kind": "normal",
            "registry": None,
            "package": "mochi-util",
        },
    ]
    (log_line,) = index_lines(registry, "mochi-log")
    assert log_line["rust_version"] == "1.70"
    assert log_line["deps"][0]["features"] == ["emoji"]
    for release in FIXTURE_SET.releases:
        crate = registry.tarball(release.name, release.version)
        assert crate == release.crate_bytes()


def test_publish_fixture_runs_the_publisher_check(world: World) -> None:
    registry = world.registry()
    release = RELEASES[("left-pad-rs", "0.1.0")]
    claims = world.claims("example/left-pad-rs", release.ref)
    with pytest.raises(PublishRefused, match="trusts repository `someone-else/left-pad-rs`"):
        registry.publish_fixture(
            release.name, release.version, release.crate_bytes(), release.meta, claims
        )
    with pytest.raises(PublishRefused, match="needs token claims"):
        registry.publish_fixture(
            release.name, release.version, release.crate_bytes(), release.meta, None
        )
    legacy = RELEASES[("legacy-unsigned", "0.1.0")]
    with pytest.raises(PublishRefused, match="publish it without claims"):
        registry.publish_fixture(
            legacy.name, legacy.version, legacy.crate_bytes(), legacy.meta, claims
        )
    with pytest.raises(PublishRefused, match=r"metadata is for left-pad-rs 0\.1\.0"):
        registry.publish_fixture("left-pad-rs", "9.9.9", b"", release.meta, claims)
    assert registry.crates() == []


def test_yank_and_unyank(world: World) -> None:
    registry = world.registry()
    world.publish_all_fixtures(registry)
    registry.yank("mochi-util", "0.1.1", True)
    assert [x["yanked"] for x in index_lines(registry, "mochi-util")] == [False, True, False]
    registry.yank("mochi-util", "0.1.1", False)
    assert [x["yanked"] for x in index_lines(registry, "mochi-util")] == [False, False, False]
    with pytest.raises(UnknownVersion, match=r"crate `mochi-util` has no version 9\.0\.0"):
        registry.yank("mochi-util", "9.0.0", True)


def test_yank_api_authorizes_like_publish(world: World) -> None:
    registry = world.registry()
    world.publish_all_fixtures(registry)
    good = f"Sigstore {world.token('example/mochi-util', 'refs/tags/v0.1.1')}"
    other = f"Sigstore {world.token('someone-else/mochi-util', 'refs/tags/v0.1.1')}"
    assert registry.api_yank("mochi-util", "0.1.1", True, good) == (200, {"ok": True})
    assert index_lines(registry, "mochi-util")[1]["yanked"] is True
    assert_refused(registry.api_yank("mochi-util", "0.1.1", False, other), 403, "someone-else")
    assert_refused(registry.api_yank("mochi-util", "0.1.1", False, None), 401, "Authorization")
    assert_refused(registry.api_yank("mochi-util", "7.0.0", False, good), 404, "no version 7.0.0")
    assert index_lines(registry, "mochi-util")[1]["yanked"] is True
    assert registry.api_yank("mochi-util", "0.1.1", False, good) == (200, {"ok": True})
    assert registry.api_yank("legacy-unsigned", "0.1.0", True, LEGACY_TOKEN)[0] == 200
    assert index_lines(registry, "legacy-unsigned")[0]["yanked"] is True


# -- persistence ----------------------------------------------------------------------------


def test_store_survives_a_restart_on_another_port(world: World, tmp_path: Path) -> None:
    store = tmp_path / "registry"
    first = world.registry(store=store)
    world.publish_all_fixtures(first)
    first.yank("mochi-example", "0.1.0", True)

    other_base = "http://127.0.0.1:9999"
    second = world.registry(store=store, base=other_base, evidence="rekor")
    for name in first.crates():
        before, after = index_lines(first, name), index_lines(second, name)
        for old, new in zip(before, after, strict=True):
            if "sigstore" in old:
                assert new.pop("sigstore") == {
                    "rekor_log_index": old.pop("sigstore")["rekor_log_index"]
                }
            assert new == old
    for release in FIXTURE_SET.releases:
        assert second.tarball(release.name, release.version) == release.crate_bytes()
        assert second.bundle(release.name, release.version) == first.bundle(
            release.name, release.version
        )
    assert index_lines(second, "mochi-example")[0]["yanked"] is True
    second.evidence = "bundle"
    assert index_lines(second, "mochi-util")[0]["sigstore"] == {
        "bundle": "/bundles/mochi-util/0.1.0/bundle.sigstore.json"
    }
    assert second.bundle_url("mochi-util", "0.1.0").startswith(other_base)
    assert not [p for p in store.rglob(".tmp-*")]
    assert (store / "versions" / index_path("mochi-util")).is_file()


def test_store_keeps_publishing_after_a_restart(world: World, tmp_path: Path) -> None:
    store = tmp_path / "registry"
    registry = world.registry(store=store, publishers={"demo": DEMO})
    token = f"Sigstore {world.token('example/demo', 'refs/tags/v1.0.0')}"
    crate = make_crate("demo", "1.0.0")
    assert registry.publish(build_publish_body(demo_meta("demo", "1.0.0"), crate), token)[0] == 200
    restarted = world.registry(store=store, publishers={"demo": DEMO})
    assert_refused(
        restarted.publish(build_publish_body(demo_meta("demo", "1.0.0"), crate), token),
        409,
        "already published",
    )
    crate2 = make_crate("demo", "1.1.0")
    assert (
        restarted.publish(build_publish_body(demo_meta("demo", "1.1.0"), crate2), token)[0] == 200
    )
    again = world.registry(store=store, publishers={"demo": DEMO})
    assert [x["vers"] for x in index_lines(again, "demo")] == ["1.0.0", "1.1.0"]


def test_a_tampered_store_is_refused_on_load(world: World, tmp_path: Path) -> None:
    store = tmp_path / "registry"
    world.publish_all_fixtures(world.registry(store=store))
    (store / "crates" / "mochi-util" / "0.1.1.crate").write_bytes(b"swapped")
    with pytest.raises(ConfigError, match=r"mochi-util 0\.1\.1: \.crate does not match its cksum"):
        world.registry(store=store)
    record = store / "versions" / index_path("mochi-log")
    record.write_text('{"line": {"name": "../x", "vers": "1.0.0"}, "rekor_log_index": 1}\n')
    with pytest.raises(ConfigError, match="bad version record") as refused:
        world.registry(store=store)
    assert refused.value.line == 1


# -- publishers.toml ------------------------------------------------------------------------


def test_fixture_file_loads() -> None:
    assert FIXTURE_SET.publishers["legacy-unsigned"] == UnsignedPublisher(LEGACY_TOKEN)
    assert FIXTURE_SET.publishers["mochi-example"] == TrustedPublisher(
        GITHUB_ISSUER, "example/mochi-example", "release.yml", tag_pattern="v*"
    )
    assert MOCHI_LOG.environment == "crates-io"
    _, releases = load_fixture_publishers(FIXTURES / "publishers.toml")
    assert releases == FIXTURE_SET.releases
    assert all(r.crate_file == FIXTURES / "dist" / f"{r.name}-{r.version}.crate" for r in releases)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[publishers.a]\nissuer = 'i'\nrepository = 'o/r'\nworkflow = 'w'\nbranch = 'x'\n",
         r"\[publishers.a\]: unknown keys \['branch'\]"),
        ("[publishers.a]\nissuer = 'i'\n", r"is missing \['repository', 'workflow'\]"),
        ("[publishers.a]\nsigning = 'none'\n", "takes exactly one more key, token"),
        ("[[release]]\nname = 'a'\nversion = '1.0.0'\n", r"has no \[publishers.a\]"),
        ("[publishers.a]\nsigning = 'none'\ntoken = 't'\n[[release]]\nname = 'a'\nversion = '1'\n",
         "needs a string name and a SemVer version"),
        ("[publishers.a]\nsigning = 'none'\ntoken = 't'\n[[release]]\nname = 'a'\n"
         "version = '1.0.0'\ndeps = [{ name = 'b', version_req = '1', kind = 'x' }]\n",
         "kind must be one of"),
        ("[publishers.a]\nsigning = 'none'\ntoken = 't'\n[[release]]\nname = 'a'\n"
         "version = '1.0.0'\ndeps = [{ name = 'b', req = '1' }]\n", r"unknown keys \['req'\]"),
        ("[crates]\n", r"unknown top-level keys \['crates'\]"),
        ("not toml [", "cannot read fixture publishers"),
    ],
)  # fmt: skip
def test_fixture_file_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "publishers.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as refused:
        load_fixture_publishers(tmp_path)
    assert refused.value.file == str(path)


# -- real cargo -----------------------------------------------------------------------------


class CargoFacingHandler(BaseHTTPRequestHandler):
    """The four registry routes cargo uses, over the stdlib server (the app does this in prod)."""

    protocol_version = "HTTP/1.1"
    registry: Registry

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/index/config.json":
            self._send(200, self.registry.config_json())
        elif path.startswith("/index/"):
            name = path.rsplit("/", 1)[-1]
            data = self.registry.index_file(name)
            if data is None or path != "/index/" + index_path(name):
                self._send(404, b"")
            else:
                self._send(200, data)
        elif path.startswith("/dl/"):
            _, _, name, version, _ = path.split("/")
            crate = self.registry.tarball(name, version)
            self._send(200, crate) if crate is not None else self._send(404, b"")
        else:
            self._send(404, b"")

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if path == "/api/v1/crates/new":
            status, payload = self.registry.publish(data, self.headers.get("Authorization"))
            self._send(status, json.dumps(payload).encode())
        elif path.endswith("/unyank"):
            self._yank(path, yanked=False)
        else:
            self._send(404, b"")

    def do_DELETE(self) -> None:
        path = urlsplit(self.path).path
        self._yank(path, yanked=True) if path.endswith("/yank") else self._send(404, b"")

    def _yank(self, path: str, yanked: bool) -> None:
        _, _, _, _, name, version, _ = path.split("/")  # /api/v1/crates/{name}/{version}/yank
        status, payload = self.registry.api_yank(
            name, version, yanked, self.headers.get("Authorization")
        )
        self._send(status, json.dumps(payload).encode())

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(world: World) -> Iterator[tuple[Registry, str]]:
    publishers: dict[str, Publisher] = {**FIXTURE_SET.publishers, "mochi-demo": DEMO}
    server = ThreadingHTTPServer(("127.0.0.1", 0), CargoFacingHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    registry = world.registry(base=base, publishers=publishers)
    world.publish_all_fixtures(registry)
    server.RequestHandlerClass = type("Handler", (CargoFacingHandler,), {"registry": registry})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield registry, base
    server.shutdown()
    server.server_close()
    thread.join()


DEMO_MANIFEST = """\
[package]
name = "mochi-demo"
version = "{version}"
edition = "2021"
description = "publishes to the test registry"
license = "MIT"

[dependencies]
util = {{ package = "mochi-util", version = "0.2", registry = "test", features = ["emoji"] }}
mochi-log = {{ version = "0.1", registry = "test", optional = true }}

[features]
logging = ["dep:mochi-log"]
"""


def cargo(tmp_path: Path, base: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run cargo in the demo project with an isolated home whose registry `test` is `base`."""
    home = tmp_path / "cargo-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f'[registries.test]\nindex = "sparse+{base}/index/"\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARGO_")}
    env |= {
        "CARGO_HOME": str(home),
        "CARGO_REGISTRIES_TEST_TOKEN": f"Sigstore {token}",
        "CARGO_TERM_COLOR": "never",
    }
    return subprocess.run(
        ["cargo", *args],
        cwd=tmp_path / "mochi-demo",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cargo_publish(
    tmp_path: Path, base: str, version: str, token: str
) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "mochi-demo"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "src" / "lib.rs").write_text("pub fn demo() {}\n")
    (project / "Cargo.toml").write_text(DEMO_MANIFEST.format(version=version))
    return cargo(tmp_path, base, token, "publish", "--registry", "test", "--no-verify")


def test_real_cargo_publishes_and_sees_the_signed_version(
    world: World, served: tuple[Registry, str], tmp_path: Path
) -> None:
    registry, base = served
    token = world.token("example/demo", "refs/tags/v1.0.0")
    result = cargo_publish(tmp_path, base, "1.0.0", token)
    assert result.returncode == 0, result.stderr
    assert "Published mochi-demo v1.0.0" in result.stderr

    # cargo 1.95 keeps what it uploaded under target/package/ (tmp-crate/, tmp-registry/).
    uploaded = {p.read_bytes() for p in (tmp_path / "mochi-demo" / "target").rglob("*.crate")}
    assert len(uploaded) == 1
    (packaged,) = uploaded
    assert registry.tarball("mochi-demo", "1.0.0") == packaged
    (line,) = index_lines(registry, "mochi-demo")
    assert line["cksum"] == hashlib.sha256(packaged).hexdigest()
    assert line["features"] == {}
    assert (line["features2"], line["v"]) == ({"logging": ["dep:mochi-log"]}, 2)
    assert {d["name"]: (d["package"], d["req"], d["optional"], d["registry"], d["features"])
            for d in line["deps"]} == {
        "util": ("mochi-util", "^0.2", False, None, ["emoji"]),
        "mochi-log": (None, "^0.1", True, None, []),
    }  # fmt: skip
    name, version, digest, claims = world.signer.calls[-1]
    assert (name, version, digest) == ("mochi-demo", "1.0.0", line["cksum"])
    assert line["sigstore"]["rekor_log_index"] == 99 + len(world.signer.calls)
    assert claims["repository"] == "example/demo"

    yank = cargo(tmp_path, base, token, "yank", "--registry", "test", "mochi-demo@1.0.0")
    assert yank.returncode == 0, yank.stderr
    assert index_lines(registry, "mochi-demo")[0]["yanked"] is True


def test_real_cargo_shows_the_refusal(
    world: World, served: tuple[Registry, str], tmp_path: Path
) -> None:
    registry, base = served
    token = world.token("someone-else/demo", "refs/tags/v1.0.0")
    result = cargo_publish(tmp_path, base, "1.0.0", token)
    assert result.returncode != 0
    assert (
        "the remote server responded with an error (status 403 Forbidden): crate " in result.stderr
    )
    assert (
        "crate `mochi-demo` trusts repository `example/demo` (workflow release.yml); "
        "the token is for repository `someone-else/demo`" in result.stderr
    )
    assert registry.index_file("mochi-demo") is None


CONSUMER_MANIFEST = """\
[package]
name = "consumer"
version = "0.0.0"
edition = "2021"

[dependencies]
mochi-example = { version = "=0.2.0-beta.1", registry = "test", features = ["log"] }
old-example = { package = "mochi-example", version = "0.1", registry = "test" }
left-pad-rs = { version = "0.1", registry = "test" }
legacy-unsigned = { version = "0.1", registry = "test" }
"""


def test_real_cargo_resolves_fetches_and_builds_the_fixtures(
    served: tuple[Registry, str], tmp_path: Path
) -> None:
    registry, base = served
    home = tmp_path / "cargo-home"
    home.mkdir()
    (home / "config.toml").write_text(f'[registries.test]\nindex = "sparse+{base}/index/"\n')
    project = tmp_path / "consumer"
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text(
        "pub fn all() -> String {\n"
        '    format!("{} {} {} {}", mochi_example::welcome_line(), old_example::welcome(),\n'
        "            left_pad_rs::left_pad(\"7\", 3, '0'), legacy_unsigned::answer())\n"
        "}\n"
    )
    (project / "Cargo.toml").write_text(CONSUMER_MANIFEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
    env |= {"CARGO_HOME": str(home), "CARGO_TERM_COLOR": "never"}
    for command in (["generate-lockfile"], ["check", "--quiet"]):
        result = subprocess.run(
            ["cargo", *command], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr

    locked = locked_registry_packages(project)
    assert sorted(locked) == [
        ("left-pad-rs", "0.1.0"),
        ("legacy-unsigned", "0.1.0"),
        ("mochi-example", "0.1.1"),
        ("mochi-example", "0.2.0-beta.1"),
        ("mochi-log", "0.1.0"),
        ("mochi-util", "0.1.1"),
        ("mochi-util", "0.2.0"),
    ]
    for (name, version), package in locked.items():
        assert package["source"] == f"sparse+{base}/index/"
        line = next(x for x in index_lines(registry, name) if x["vers"] == version)
        assert package["checksum"] == line["cksum"]
