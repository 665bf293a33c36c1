"""The TOML line locator agrees with the TOML parser on every valid document."""

from __future__ import annotations

from typing import Any

import pytest
import tomli
import tomlkit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cargo_verify._toml_lines import KeyPath, decode_toml_bytes, key_lines, parse_toml
from cargo_verify.errors import ConfigError

TRICKY = '''\
# comment [[package]]
title = """
[[package]]
name = "not a package"
"""  # still the same statement
literal = \'\'\'
[fake]\'\'\'\'
"quoted.key" = 1
"esc\\"aped" = 'x'
a.b . c = 2   # dotted
dt = 1979-05-27 07:32:00Z
arr = [
  1, # one
  [2, 3],
  { x = "}" },
]

[[package]]
name = "a"

  [[package.sub]]
  n = 1

  [[package.sub]]
  n = 2

[[package]]
name = "b"
[package.extra]
k = "v"
[[package.sub]]
n = 3
'''


def test_lines_of_a_tricky_document() -> None:
    lines = key_lines(TRICKY)
    expected = {
        ("title",): 2,
        ("literal",): 6,
        ("quoted.key",): 8,
        ('esc"aped',): 9,
        ("a",): 10,
        ("a", "b", "c"): 10,
        ("dt",): 11,
        ("arr",): 12,
        ("arr", 0): 13,
        ("arr", 1): 14,
        ("arr", 1, 1): 14,
        ("arr", 2, "x"): 15,
        ("package",): 18,
        ("package", 0): 18,
        ("package", 0, "name"): 19,
        ("package", 0, "sub", 0): 21,
        ("package", 0, "sub", 1, "n"): 25,
        ("package", 1): 27,
        ("package", 1, "extra", "k"): 30,
        ("package", 1, "sub", 0): 31,
        ("package", 1, "sub", 0, "n"): 32,
    }
    assert {path: lines.get(path) for path in expected} == expected


def test_explicit_header_wins_over_an_implicit_definition() -> None:
    lines = key_lines("[a.b]\nx = 1\n\n[a]\ny = 2\n")
    assert lines[("a",)] == 4
    assert lines[("a", "b")] == 1


def _paths(value: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    found: list[KeyPath] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found.extend(_paths(child, (*prefix, index)))
    return found


_keys = st.text(alphabet=st.sampled_from("abz_-09 .\"\\'#[]=é\n\t"), min_size=1, max_size=6)
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.dates(),
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=20,
).filter(lambda v: isinstance(v, dict))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_every_key_of_any_document_gets_a_line(document: dict[str, Any]) -> None:
    try:
        text = tomlkit.dumps(document)
        parsed = tomli.loads(text)
    except Exception:  # tomlkit cannot write every generated value: not what is tested here
        assume(False)
        raise
    lines = key_lines(text)
    total = text.count("\n") + 1
    for path in _paths(parsed):
        assert path in lines, (path, text)
        assert 1 <= lines[path] <= total


def test_parse_errors_carry_the_parser_line() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_toml("a = 1\nb = [\n", "x.toml")
    assert raised.value.file == "x.toml"
    assert raised.value.line == 2
    assert "end of the file" in raised.value.message
    with pytest.raises(ConfigError):
        parse_toml("a = " + "[" * 5000 + "]" * 5000, "deep.toml")


def test_decoding() -> None:
    assert decode_toml_bytes(b"\xef\xbb\xbfa = 1\n", "f") == "a = 1\n"
    with pytest.raises(ConfigError) as raised:
        decode_toml_bytes(b"a = 1\nb = '\xc3'\n", "f")
    assert raised.value.line == 2
