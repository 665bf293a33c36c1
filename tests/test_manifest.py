"""mochi.toml `[rust-dependencies]` trust entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cargo_verify.errors import ConfigError
from cargo_verify.manifest import parse_manifest, read_manifest, read_trust_rules
from cargo_verify.model import TrustRule

GITHUB = "https://token.actions.githubusercontent.com"

DESIGN_EXAMPLE = """\
[package]
name = "my-mochi-app"

[rust-dependencies.mochi-example]
version = "^0.1"
trust = { issuer = "https://token.actions.githubusercontent.com", subject = "repo:example/mochi-example:ref:refs/tags/v*" }
"""  # noqa: E501 - verbatim from design §3.1


def test_the_design_example(tmp_path: Path) -> None:
    path = tmp_path / "mochi.toml"
    path.write_text(DESIGN_EXAMPLE)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    rules = read_trust_rules(path, "mochi.toml")
    assert rules == {
        "mochi-example": TrustRule(
            issuer=GITHUB,
            subject="repo:example/mochi-example:ref:refs/tags/v*",
            origin="mochi.toml:6",
        )
    }
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # read-only
    dependency = read_manifest(path, "mochi.toml").dependencies["mochi-example"]
    assert (dependency.version, dependency.line) == ("^0.1", 4)


def test_sub_table_form_and_all_keys() -> None:
    text = (
        '[rust-dependencies.foo]\nversion = "1"\n\n[rust-dependencies.foo.trust]\n'
        f'issuer = "{GITHUB}"\nsubject = "https://github.com/o/foo/.github/workflows/r.yml@*"\n'
        'repository = "o/foo"\nworkflow = "r.yml"\nenvironment = "release"\nref = "refs/tags/*"\n'
    )
    rule = parse_manifest(text, "mochi.toml").trust_rules()["foo"]
    assert rule.origin == "mochi.toml:4"
    assert (rule.repository, rule.workflow, rule.environment, rule.ref) == (
        "o/foo",
        "r.yml",
        "release",
        "refs/tags/*",
    )


def test_entries_without_trust_and_bare_requirements() -> None:
    text = '[rust-dependencies]\nserde = "1.0"\nrand = { version = "0.8", features = ["std"] }\n'
    manifest = parse_manifest(text, "mochi.toml")
    assert manifest.trust_rules() == {}
    assert manifest.dependencies["serde"].version == "1.0"
    assert manifest.dependencies["rand"].line == 3
    assert parse_manifest('[package]\nname = "x"\n', "mochi.toml").dependencies == {}


def test_renamed_dependency_trusts_the_real_crate() -> None:
    text = '[rust-dependencies.short]\npackage = "real-crate"\ntrust = { subject = "x" }\n'
    assert set(parse_manifest(text, "mochi.toml").trust_rules()) == {"real-crate"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[rust-dependencies.a]\ntrust = { issuer = "https://i", subjet = "x" }\n', 2, "subject"),
        ('[rust-dependencies.a]\ntrsut = { subject = "x" }\n', 2, "unknown key `trsut`"),
        ('[rust-dependencies.a]\ntrust = "x"\n', 2, "must be a table"),
        ("[rust-dependencies.a]\ntrust = {}\n", 2, "is empty"),
        ('[rust-dependencies.a]\ntrust = { subject = "" }\n', 2, "non-empty"),
        ("[rust-dependencies.a]\ntrust = { subject = 1 }\n", 2, "non-empty"),
        ('[rust-dependencies.a]\ntrust = { issuer = "github" }\n', 2, "http"),
        (
            '[rust-dependencies.a.trust]\nissuer = "https://i"\n\nwho = "x"\n',
            4,
            "unknown key `who`",
        ),
        ("[rust-dependencies.a]\nversion = 1\n", 2, "must be a string"),
        ('[rust-dependencies.a]\nversion = "v1.2"\n', 2, "leading `v`"),
        ('[rust-dependencies]\na = ">=1 <2"\n', 2, "version requirement"),
        ("[rust-dependencies]\na = 5\n", 2, "version string or a table"),
        ('rust-dependencies = "x"\n', 1, "must be a table"),
        ('[rust-dependencies.a]\npackage = 3\ntrust = { subject = "x" }\n', 2, "crate name"),
        (
            '[rust-dependencies.foo-bar]\ntrust = { subject = "a" }\n'
            '[rust-dependencies.Foo_Bar]\ntrust = { subject = "b" }\n',
            3,
            "two trust entries",
        ),
        ('[rust-dependencies.a]\ntrust = { subject = "x" \n', 2, "invalid TOML"),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_manifest(text, "mochi.toml")
    assert message in raised.value.message
    assert (raised.value.file, raised.value.line) == ("mochi.toml", line)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_manifest(tmp_path / "mochi.toml")


_FRAGMENTS = [
    "[rust-dependencies]\n",
    "[rust-dependencies.a]\n",
    "[rust-dependencies.a.trust]\n",
    "[rust-dependencies.B_b]\n",
    'version = "^0.1"\n',
    'version = "bad"\n',
    'trust = { issuer = "https://i", subject = "s*" }\n',
    "trust = {}\n",
    'issuer = "https://token.actions.githubusercontent.com"\n',
    'subject = "repo:x:*"\n',
    "subject = 1\n",
    'package = "real"\n',
    'c = "1"\n',
    "\n",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12))
def test_any_manifest_gives_rules_or_a_config_error(parts: list[str]) -> None:
    try:
        rules = parse_manifest("".join(parts), "mochi.toml").trust_rules()
    except ConfigError as error:
        assert error.file == "mochi.toml"
        return
    for rule in rules.values():
        assert rule.origin.startswith("mochi.toml:")
        assert not rule.is_default
