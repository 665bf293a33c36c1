"""Shortcuts taken for speed give exactly the results of the general code they bypass."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cargo_verify._toml_lines import key_lines
from cargo_verify.commands.check import PIN_RECORD_FILE_NAME
from cargo_verify.pin_record import RECORD_FILE_NAME
from cargo_verify.report.json import dumps_indented


def test_check_names_the_pin_record_file_as_pin_record_does() -> None:
    assert PIN_RECORD_FILE_NAME == RECORD_FILE_NAME


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_indented_json_is_the_standard_one(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2)


class _Colour(enum.StrEnum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


def test_indented_json_edge_cases_are_the_standard_ones() -> None:
    nested: Any = 1
    for _ in range(80):
        nested = [nested]
    circular: list[Any] = [1]
    circular.append(circular)
    cases: list[Any] = [
        {}, [], {"a": []}, {"a": {}}, [[]], {"é\u2028\x00": "\ud800"}, -0.0, math.inf,
        {"n": math.nan}, {"c": _Colour.RED}, {"l": _Level.HIGH}, {1: 2, None: 3},
        {"x": object()}, {"deep": nested}, circular,
    ]
    for case in cases:
        expected: Any
        try:
            expected = json.dumps(case, indent=2)
        except (TypeError, ValueError) as error:
            expected = (type(error), str(error))
        try:
            got: Any = dumps_indented(case)
        except (TypeError, ValueError) as error:
            got = (type(error), str(error))
        assert got == expected, case


def test_key_lines_of_one_line_values_and_string_arrays() -> None:
    text = (
        'a = "x" # c\n'  # 1
        "b = 'y'\n"  # 2
        "when = 1979-05-27 07:32:00\n"  # 3: a date with a space takes the general path
        'arr = [ "p", "q" ]\n'  # 4
        "multi = [\n"  # 5
        ' "r",\n'  # 6
        ' "s", # comment: general path\n'  # 7
        "]\n"  # 8
        't = { k = "v", l = ["w"] }\n'  # 9
        'esc = "\\"quoted\\""\n'  # 10
        "[[package]]\n"  # 11
        'deps = [\n "one",\n "two",\n]\n'  # 12-15
    )
    lines = key_lines(text)
    assert lines[("a",)] == 1
    assert lines[("b",)] == 2
    assert lines[("when",)] == 3
    assert lines[("arr", 0)] == 4 and lines[("arr", 1)] == 4
    assert (lines[("multi",)], lines[("multi", 0)], lines[("multi", 1)]) == (5, 6, 7)
    assert lines[("t", "k")] == 9 and lines[("t", "l", 0)] == 9
    assert lines[("esc",)] == 10
    assert lines[("package", 0)] == 11
    assert (lines[("package", 0, "deps", 0)], lines[("package", 0, "deps", 1)]) == (13, 14)
