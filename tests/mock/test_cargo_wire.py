"""Cargo's registry wire formats: index paths, the publish body, publish metadata → index line."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargo_verify.mock.cargo_wire import (
    PublishBodyError,
    build_publish_body,
    index_line_from_publish,
    index_path,
    parse_publish_body,
)

CKSUM = "ab" * 32


# -- index paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        # Requests cargo 1.95 made (cargo-facts.md §2), plus the 1-character tier.
        ("a", "1/a"),
        ("ab", "2/ab"),
        ("xyz", "3/x/xyz"),
        ("hello_util", "he/ll/hello_util"),
        ("MixedCase", "mi/xe/mixedcase"),
        ("cargo", "ca/rg/cargo"),
        ("mochi-util", "mo/ch/mochi-util"),
        ("abcd", "ab/cd/abcd"),
    ],
)
def test_index_path_follows_cargo(name: str, path: str) -> None:
    assert index_path(name) == path


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "x.y", "naïve", "a b"])
def test_index_path_refuses_what_is_not_a_crate_name(name: str) -> None:
    with pytest.raises(ValueError, match="not a crate name"):
        index_path(name)


# -- publish body ---------------------------------------------------------------------------


def handmade_body(meta_json: bytes, crate: bytes) -> bytes:
    return struct.pack("<I", len(meta_json)) + meta_json + struct.pack("<I", len(crate)) + crate


def test_parses_a_handmade_body() -> None:
    meta = b'{"name":"foo","vers":"0.1.0","deps":[]}'
    assert parse_publish_body(handmade_body(meta, b"\x1f\x8bcrate")) == (
        {"name": "foo", "vers": "0.1.0", "deps": []},
        b"\x1f\x8bcrate",
    )


def test_build_publish_body_is_the_format_cargo_sends() -> None:
    meta = {"name": "foo", "vers": "0.1.0"}
    body = build_publish_body(meta, b"xyz")
    raw = json.dumps(meta, separators=(",", ":")).encode()
    assert body == handmade_body(raw, b"xyz")


def test_empty_crate_is_allowed_by_the_framing() -> None:
    assert parse_publish_body(handmade_body(b"{}", b"")) == ({}, b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "truncated before the metadata length"),
        (b"\x05\x00\x00", "truncated before the metadata length"),
        (struct.pack("<I", 100) + b"{}", "metadata length is 100 bytes, but only 2"),
        (struct.pack("<I", 2) + b"{}", "truncated before the .crate length"),
        (struct.pack("<I", 2) + b"{}" + b"\x01\x00", "truncated before the .crate length"),
        (handmade_body(b"{}", b"abc")[:-1], ".crate length is 3 bytes, but 2 bytes follow"),
        (handmade_body(b"{}", b"abc") + b"!", ".crate length is 3 bytes, but 4 bytes follow"),
        (handmade_body(b"{nope", b""), "not valid UTF-8 JSON"),
        (handmade_body(b"\xff\xfe", b""), "not valid UTF-8 JSON"),
        (handmade_body(b"[1, 2]", b""), "must be a JSON object"),
        (struct.pack("<I", 0xFFFFFFFF), "metadata length is 4294967295 bytes"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(PublishBodyError, match=message.replace(".", r"\.")):
        parse_publish_body(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4), st.binary(max_size=64))
def test_round_trip(meta: dict[str, Any], crate: bytes) -> None:
    assert parse_publish_body(build_publish_body(meta, crate)) == (meta, crate)


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_fail_cleanly(body: bytes) -> None:
    try:
        meta, crate = parse_publish_body(body)
    except PublishBodyError:
        return
    assert isinstance(meta, dict)
    assert body.endswith(crate)


@given(st.data())
def test_every_truncation_of_a_valid_body_is_refused(data: st.DataObject) -> None:
    body = build_publish_body({"name": "foo", "vers": "1.0.0"}, b"0123456789")
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    with pytest.raises(PublishBodyError):
        parse_publish_body(body[:cut])


# -- index line -----------------------------------------------------------------------------


def cargo_dep(**overrides: Any) -> dict[str, Any]:
    """A NewCrateDependency the way cargo 1.95 serializes it."""
    dep: dict[str, Any] = {
        "optional": False,
        "default_features": True,
        "name": "mochi-util",
        "features": [],
        "version_req": "^0.1",
        "target": None,
        "kind": "normal",
    }
    dep.update(overrides)
    return dep


def new_crate(**overrides: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "mochi-example",
        "vers": "0.1.0",
        "deps": [],
        "features": {},
        "authors": [],
        "description": "x",
        "documentation": None,
        "homepage": None,
        "readme": None,
        "readme_file": None,
        "keywords": [],
        "categories": [],
        "license": "MIT",
        "license_file": None,
        "repository": None,
        "badges": {},
        "links": None,
        "rust_version": None,
    }
    meta.update(overrides)
    return meta


def test_minimal_line() -> None:
    assert index_line_from_publish(new_crate(), CKSUM) == {
        "name": "mochi-example",
        "vers": "0.1.0",
        "deps": [],
        "cksum": CKSUM,
        "features": {},
        "yanked": False,
    }


def test_dependency_fields_are_translated() -> None:
    meta = new_crate(
        deps=[
            cargo_dep(),
            cargo_dep(
                name="mochi-log",
                version_req=">=0.1, <0.3",
                features=["color"],
                optional=True,
                default_features=False,
                target="cfg(unix)",
                kind="build",
                registry="https://github.com/rust-lang/crates.io-index",
            ),
            cargo_dep(kind="dev"),
        ]
    )
    deps = index_line_from_publish(meta, CKSUM)["deps"]
    assert deps[0] == {
        "name": "mochi-util",
        "req": "^0.1",
        "features": [],
        "optional": False,
        "default_features": True,
        "target": None,
        "kind": "normal",
        "registry": None,
        "package": None,
    }
    assert deps[1] == {
        "name": "mochi-log",
        "req": ">=0.1, <0.3",
        "features": ["color"],
        "optional": True,
        "default_features": False,
        "target": "cfg(unix)",
        "kind": "build",
        "registry": "https://github.com/rust-lang/crates.io-index",
        "package": None,
    }
    assert deps[2]["kind"] == "dev"


def test_renamed_dependency_puts_the_alias_in_name_and_the_crate_in_package() -> None:
    meta = new_crate(deps=[cargo_dep(name="mochi-util", explicit_name_in_toml="util")])
    (dep,) = index_line_from_publish(meta, CKSUM)["deps"]
    assert (dep["name"], dep["package"]) == ("util", "mochi-util")


def test_artifact_dependency_fields_are_kept() -> None:
    meta = new_crate(deps=[cargo_dep(artifact=["bin"], bindep_target="wasm32-wasip1", lib=True)])
    (dep,) = index_line_from_publish(meta, CKSUM)["deps"]
    assert (dep["artifact"], dep["bindep_target"], dep["lib"]) == (["bin"], "wasm32-wasip1", True)


def test_missing_optional_dependency_keys_take_cargo_defaults() -> None:
    meta = new_crate(deps=[{"name": "mochi-util", "version_req": "^0.1"}])
    (dep,) = index_line_from_publish(meta, CKSUM)["deps"]
    assert (dep["features"], dep["optional"], dep["default_features"], dep["kind"]) == (
        [],
        False,
        True,
        "normal",
    )


def test_new_feature_syntax_moves_to_features2_like_crates_io() -> None:
    features = {
        "default": ["std"],
        "std": [],
        "log": ["dep:mochi-log"],
        "serde": ["mochi-util?/serde", "std"],
    }
    line = index_line_from_publish(new_crate(features=features), CKSUM)
    assert line["features"] == {"default": ["std"], "std": []}
    assert line["features2"] == {"log": ["dep:mochi-log"], "serde": ["mochi-util?/serde", "std"]}
    assert line["v"] == 2


def test_links_and_rust_version_appear_only_when_set() -> None:
    line = index_line_from_publish(new_crate(links="z", rust_version="1.70"), CKSUM)
    assert (line["links"], line["rust_version"]) == ("z", "1.70")
    assert "v" not in line


@pytest.mark.parametrize(
    ("meta", "cksum", "message"),
    [
        (new_crate(), "AB" * 32, "cksum must be 64 lowercase hex"),
        (new_crate(), "ab", "cksum must be 64 lowercase hex"),
        (new_crate(name="1up"), CKSUM, "invalid crate name"),
        (new_crate(name="a" * 65), CKSUM, "invalid crate name"),
        (new_crate(name="../x"), CKSUM, "invalid crate name"),
        (new_crate(name=None), CKSUM, "`name` must be a non-empty string"),
        (new_crate(vers="1.0"), CKSUM, "not SemVer"),
        (new_crate(vers="01.0.0"), CKSUM, "not SemVer"),
        (new_crate(vers="1.0.0/../x"), CKSUM, "not SemVer"),
        (new_crate(deps={}), CKSUM, "`deps` must be an array"),
        (new_crate(deps=["x"]), CKSUM, r"deps\[0\] must be an object"),
        (new_crate(deps=[cargo_dep(version_req=1)]), CKSUM, "`version_req` must be"),
        (new_crate(deps=[cargo_dep(kind="runtime")]), CKSUM, r"deps\[0\]\.kind must be one of"),
        (new_crate(deps=[cargo_dep(optional="yes")]), CKSUM, "`optional` must be a boolean"),
        (new_crate(deps=[cargo_dep(features="x")]), CKSUM, "features must be an array"),
        (new_crate(deps=[cargo_dep(name="a/b")]), CKSUM, "not a crate name"),
        (new_crate(features=[]), CKSUM, "`features` must be an object"),
        (new_crate(features={"a": [1]}), CKSUM, r"features\.a must be an array of strings"),
        (new_crate(links=3), CKSUM, "`links` must be a string or null"),
    ],
)
def test_bad_metadata_is_refused(meta: dict[str, Any], cksum: str, message: str) -> None:
    with pytest.raises(PublishBodyError, match=message):
        index_line_from_publish(meta, cksum)


@pytest.mark.parametrize(
    "version", ["0.1.0", "1.2.3-beta.1", "1.0.0-alpha+build.5", "1.0.0+20240101", "0.0.0-0"]
)
def test_semver_versions_are_accepted(version: str) -> None:
    assert index_line_from_publish(new_crate(vers=version), CKSUM)["vers"] == version
