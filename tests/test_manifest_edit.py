"""mochi.toml edits keep every byte of the user's file outside the entry being written."""

from __future__ import annotations

import tomllib

import pytest

from cargo_verify.errors import ConfigError
from cargo_verify.manifest_edit import add_dependency, add_dependency_text

TRUST = {
    "issuer": "https://token.actions.githubusercontent.com",
    "subject": "repo:example/mochi-example:ref:refs/tags/v*",
}


def inserted(original: str, result: str) -> str:
    """The one contiguous chunk `result` adds to `original`; fails if anything else changed."""
    prefix = 0
    while prefix < min(len(original), len(result)) and original[prefix] == result[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < len(original) - prefix
        and original[len(original) - 1 - suffix] == result[len(result) - 1 - suffix]
    ):
        suffix += 1
    assert original[:prefix] + original[len(original) - suffix:] == original, "bytes changed"
    chunk = result[prefix:len(result) - suffix]
    assert len(result) == len(original) + len(chunk), "the edit did more than insert"
    return chunk


UNUSUAL = """\
# Mochi project file -- hand formatted, please keep my layout
[package]
name    =    'demo'          # literal string, odd spacing
version = "1.0.0"
authors = [
    "someone",   # trailing comment inside an array
]

[rust-dependencies.mochi-util]   # comment on a header
version='0.1'

	# indented comment in front of the next table
[mochi]
edition = 2026
"""


def test_new_table_is_one_inserted_block_after_the_rust_dependencies() -> None:
    result = add_dependency_text(UNUSUAL, "mochi-example", "^0.1", TRUST)
    inserted(UNUSUAL, result)
    block = (
        "\n[rust-dependencies.mochi-example]\n"
        'version = "^0.1"\n'
        'trust = { issuer = "https://token.actions.githubusercontent.com", '
        'subject = "repo:example/mochi-example:ref:refs/tags/v*" }\n'
    )
    # Exactly this block was added after the existing table, before its trailing comment run.
    assert result == UNUSUAL.replace("version='0.1'\n", "version='0.1'\n" + block)
    assert result.index("[rust-dependencies.mochi-example]") < result.index("[mochi]")
    data = tomllib.loads(result)
    assert data["rust-dependencies"]["mochi-example"] == {"version": "^0.1", "trust": TRUST}
    assert data["mochi"] == {"edition": 2026}


def test_file_without_rust_dependencies_gets_the_table_appended() -> None:
    original = "[package]\nname = \"demo\"  # no newline at the end"
    result = add_dependency_text(original, "mochi-example", "^0.1")
    chunk = inserted(original, result)
    assert chunk == '\n\n[rust-dependencies.mochi-example]\nversion = "^0.1"\n'


def test_table_goes_before_a_header_that_directly_follows() -> None:
    original = '[rust-dependencies.a]\nversion = "1"\n[zzz]\nx = 1\n'
    result = add_dependency_text(original, "mochi-example", "^0.1")
    inserted(original, result)
    assert result == (
        '[rust-dependencies.a]\nversion = "1"\n\n'
        '[rust-dependencies.mochi-example]\nversion = "^0.1"\n\n'
        "[zzz]\nx = 1\n"
    )


def test_crlf_file_stays_crlf() -> None:
    original = '[package]\r\nname = "demo"\r\n\r\n[rust-dependencies]\r\nfoo = "1"\r\n'
    result = add_dependency_text(original, "mochi-example", "^0.1", TRUST)
    chunk = inserted(original, result)
    assert "\n" not in chunk.replace("\r\n", "")
    assert tomllib.loads(result)["rust-dependencies"]["foo"] == "1"


def test_existing_table_is_edited_in_place() -> None:
    original = (
        "[rust-dependencies.mochi-example]\n"
        "# pinned on purpose\n"
        "version    =   '0.0.9'    # old\n"
        'features = ["a"]\n'
        "\n"
        "[other]\n"
    )
    result = add_dependency_text(original, "mochi-example", "^0.1")
    assert result == original.replace("'0.0.9'", '"^0.1"')


def test_existing_trust_is_kept_without_flags_and_replaced_with_them() -> None:
    original = (
        "[rust-dependencies]\n"
        'mochi-example = { version = "0.0.9", trust = { issuer = "https://old.example" } }  # c\n'
    )
    kept = add_dependency_text(original, "mochi-example", "^0.1")
    assert kept == original.replace('"0.0.9"', '"^0.1"')
    replaced = tomllib.loads(add_dependency_text(original, "mochi-example", "^0.1", TRUST))
    assert replaced["rust-dependencies"]["mochi-example"]["trust"] == TRUST


def test_bare_version_string_entry() -> None:
    original = '[rust-dependencies]\nmochi-example = "0.0.9"   # c\nother = "1"\n'
    assert add_dependency_text(original, "mochi-example", "^0.1") == original.replace(
        '"0.0.9"', '"^0.1"'
    )
    with_trust = tomllib.loads(add_dependency_text(original, "mochi-example", "^0.1", TRUST))
    assert with_trust["rust-dependencies"]["mochi-example"] == {"version": "^0.1", "trust": TRUST}


def test_header_lookalike_inside_a_multiline_string_is_not_a_header() -> None:
    original = (
        'notes = """\n[rust-dependencies.fake]\n"""\n'
        '[rust-dependencies.a]\nversion = "1"\ntext = """\n# not a comment\n"""\n'
    )
    result = add_dependency_text(original, "mochi-example", "^0.1")
    inserted(original, result)
    data = tomllib.loads(result)
    assert data["notes"] == "[rust-dependencies.fake]\n"
    assert data["rust-dependencies"]["a"]["text"] == "# not a comment\n"


def test_inline_rust_dependencies_table_is_extended() -> None:
    original = 'rust-dependencies = { foo = "1" }\n[x]\n'
    data = tomllib.loads(add_dependency_text(original, "mochi-example", "^0.1"))
    assert data["rust-dependencies"] == {"foo": "1", "mochi-example": {"version": "^0.1"}}


def test_bom_is_kept() -> None:
    original = "\ufeff[package]\nname = 'x'\n".encode()
    result = add_dependency(original, "mochi-example", "^0.1")
    assert result.startswith(original)


def test_invalid_toml_names_the_line() -> None:
    with pytest.raises(ConfigError) as error:
        add_dependency_text('[package]\nname = "x"\nbroken = \n', "mochi-example", "^0.1")
    assert error.value.line == 3


def test_rust_dependencies_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be a table"):
        add_dependency_text('rust-dependencies = "oops"\n', "mochi-example", "^0.1")


def test_trust_with_unknown_keys_is_refused() -> None:
    with pytest.raises(ConfigError, match="trust entry"):
        add_dependency_text("", "mochi-example", "^0.1", {"isuer": "x"})


def test_entry_in_an_out_of_order_table_is_edited_in_place() -> None:
    original = (
        '[rust-dependencies.a]\nversion = "1"\n\n[mochi]\nedition = 2026\n\n'
        '[rust-dependencies.mochi-example]\nversion = "=0.1.0"  # exact\n'
    )
    assert add_dependency_text(original, "mochi-example", "^0.1") == original.replace(
        '"=0.1.0"', '"^0.1"'
    )
    with_trust = add_dependency_text(original, "mochi-example", "^0.1", TRUST)
    assert tomllib.loads(with_trust)["rust-dependencies"]["mochi-example"]["trust"] == TRUST
    assert with_trust.startswith(original.replace('"=0.1.0"', '"^0.1"'))


def test_new_entry_after_out_of_order_tables_goes_after_the_last_one() -> None:
    original = (
        '[rust-dependencies.a]\nversion = "1"\n\n[mochi]\nx = 1\n\n'
        '[rust-dependencies.b]\nversion = "2"\n\n[tail]\ny = 2\n'
    )
    result = add_dependency_text(original, "mochi-example", "^0.1")
    inserted(original, result)
    assert result.index("[rust-dependencies.b]") < result.index(
        "[rust-dependencies.mochi-example]") < result.index("[tail]")
