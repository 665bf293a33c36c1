"""Versions, requirements and selection, following cargo's documented rules.

Acceptance and rejection of the odd spellings below were checked against cargo 1.95
(`cargo metadata` on a manifest using each string); `test_semver_cargo.py` compares
selections with a real cargo run.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargo_verify.errors import UsageError
from cargo_verify.semver import Comparator, Op, Version, VersionReq, select_version

V = Version.parse

# --- Version ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0.0.0", (0, 0, 0, (), "")),
        ("1.2.3", (1, 2, 3, (), "")),
        ("1.2.3-alpha.1", (1, 2, 3, ("alpha", "1"), "")),
        ("1.0.0-x-y.0a.0+build.007", (1, 0, 0, ("x-y", "0a", "0"), "build.007")),
        ("18446744073709551615.0.0", (2**64 - 1, 0, 0, (), "")),
    ],
)
def test_version_parse(text: str, parts: tuple[object, ...]) -> None:
    v = V(text)
    assert (v.major, v.minor, v.patch, v.pre, v.build) == parts
    assert str(v) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "v1.2.3",
        " 1.2.3",
        "1.2.3 ",
        "1.2.3\n",
        "01.2.3",
        "1.02.3",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3-a..b",
        "1.2.3+",
        "1.2.3+a_b",
        "1.2.3-é",
        "１.2.3",
        "18446744073709551616.0.0",
    ],
)
def test_version_parse_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        V(text)


SEMVER_SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
]


def test_version_order_follows_semver_spec() -> None:
    versions = [V(t) for t in SEMVER_SPEC_ORDER]
    assert sorted(reversed(versions)) == versions
    assert all(a < b for a, b in itertools.pairwise(versions))


def test_build_metadata_is_ignored_for_equality_and_order() -> None:
    plain, built = V("1.2.3"), V("1.2.3+build.5")
    assert plain == built and hash(plain) == hash(built)
    assert not plain < built and not built < plain
    assert str(built) == "1.2.3+build.5"
    assert V("1.2.3-rc.1+x") < V("1.2.3")


# --- VersionReq: widening, per cargo's "Specifying dependencies" table -------------------

# (requirement, highest versions inside, lowest versions outside)
RANGES = [
    ("1.2.3", ["1.2.3", "1.99.99"], ["1.2.2", "2.0.0"]),
    ("^1.2.3", ["1.2.3", "1.99.99"], ["1.2.2", "2.0.0"]),
    ("^1.2", ["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
    ("^1", ["1.0.0", "1.99.0"], ["0.99.0", "2.0.0"]),
    ("^0.2.3", ["0.2.3", "0.2.99"], ["0.2.2", "0.3.0"]),
    ("^0.2", ["0.2.0", "0.2.99"], ["0.1.99", "0.3.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.2", "0.0.4"]),
    ("^0.0", ["0.0.0", "0.0.99"], ["0.1.0"]),
    ("^0", ["0.0.0", "0.99.99"], ["1.0.0"]),
    ("~1.2.3", ["1.2.3", "1.2.99"], ["1.2.2", "1.3.0"]),
    ("~1.2", ["1.2.0", "1.2.99"], ["1.1.99", "1.3.0"]),
    ("~1", ["1.0.0", "1.99.0"], ["0.99.0", "2.0.0"]),
    ("*", ["0.0.0", "99.0.0"], []),
    ("x", ["0.0.0", "99.0.0"], []),
    ("1.*", ["1.0.0", "1.99.0"], ["0.99.0", "2.0.0"]),
    ("1.2.*", ["1.2.0", "1.2.99"], ["1.1.99", "1.3.0"]),
    ("1.X.x", ["1.0.0", "1.99.0"], ["2.0.0"]),
    ("=1.2", ["1.2.0", "1.2.99"], ["1.1.99", "1.3.0"]),
    ("= 1.2.3", ["1.2.3"], ["1.2.2", "1.2.4"]),
    ("> 1", ["2.0.0"], ["1.99.99"]),
    (">1.2", ["1.3.0"], ["1.2.99"]),
    (">1.2.3", ["1.2.4"], ["1.2.3"]),
    (">=1.2", ["1.2.0"], ["1.1.99"]),
    (">=1.*", ["1.0.0"], ["0.99.0"]),
    ("< 2", ["1.99.99"], ["2.0.0"]),
    ("<1.2", ["1.1.99"], ["1.2.0"]),
    ("<= 1.2", ["1.2.99"], ["1.3.0"]),
    ("<=1.2.3", ["1.2.3"], ["1.2.4"]),
    (">=1.2, <1.5", ["1.2.0", "1.4.99"], ["1.1.99", "1.5.0"]),
    (" >= 1.2 , < 2 ", ["1.2.0", "1.99.0"], ["1.1.0", "2.0.0"]),
    ("1.2.3+meta", ["1.2.3"], ["1.2.2"]),
]


@pytest.mark.parametrize(("req", "inside", "outside"), RANGES)
def test_requirement_range(req: str, inside: list[str], outside: list[str]) -> None:
    parsed = VersionReq.parse(req)
    assert [v for v in inside if not parsed.matches(V(v))] == []
    assert [v for v in outside if parsed.matches(V(v))] == []


@pytest.mark.parametrize(
    ("req", "comparators"),
    [
        ("*", ()),
        ("1.2.*", (Comparator(Op.EXACT, 1, 2, None, ()),)),
        (">= 1.2", (Comparator(Op.GREATER_EQ, 1, 2, None, ()),)),
        ("~1.*", (Comparator(Op.TILDE, 1, None, None, ()),)),
        ("1.2.3-rc.1+b", (Comparator(Op.CARET, 1, 2, 3, ("rc", "1")),)),
        (
            "<1.2, ^1.2.2",
            (Comparator(Op.LESS, 1, 2, None, ()), Comparator(Op.CARET, 1, 2, 2, ())),
        ),
    ],
)
def test_requirement_structure(req: str, comparators: tuple[Comparator, ...]) -> None:
    assert VersionReq.parse(req).comparators == comparators
    assert str(VersionReq.parse(req)) == req


# --- the pre-release rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "version", "expected"),
    [
        ("*", "2.0.0-rc.1", False),
        ("<2.0.0", "2.0.0-rc.1", False),
        (">=1.2.0", "2.0.0-rc.1", False),
        ("1.0.0-alpha.1", "1.0.0-beta", True),
        ("1.0.0-alpha.1", "1.9.0", True),
        ("1.0.0-alpha.1", "1.0.1-alpha", False),
        ("1.0.0-beta", "1.0.0-alpha", False),
        ("~1.2.3-beta", "1.2.3-alpha", False),
        ("~1.2.3-beta, >=1.2.3-alpha", "1.2.3-beta", True),
        (">1.2.3, <1.2.4-rc.2", "1.2.4-rc.1", True),
        ("^0.0.3-alpha", "0.0.3-beta", True),
        ("^0.0.3-alpha", "0.0.4-alpha", False),
        # a partial comparator only ever accepts releases, whatever the other clauses say
        ("=1.2, >=1.2.0-alpha", "1.2.0-beta", False),
        (">=1.2.0-alpha, <1.3", "1.2.0-beta", True),
    ],
)
def test_prerelease_rule(req: str, version: str, expected: bool) -> None:
    assert VersionReq.parse(req).matches(V(version)) is expected


# --- syntax cargo accepts and refuses ----------------------------------------------------


@pytest.mark.parametrize(
    "req",
    ["1.2.3 ", " 1.2.3", "X", "1.X", "^ 1", "1 ,2", "1.2.3+01", "1.*.*", ",".join(["1"] * 32)],
)
def test_cargo_accepts(req: str) -> None:
    VersionReq.parse(req)


@pytest.mark.parametrize(
    ("req", "hint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (">=1.2,", "empty comparator"),
        ("1,,2", "empty comparator"),
        (",1", "empty comparator"),
        ("v1.2.3", "leading `v`"),
        (">=1 <2", "`,`"),
        ("1.2.3 - 2.0.0", "hyphen"),
        ("^1 || ^2", "||"),
        ("~>1.2", "~>"),
        ("==1.2.3", "single `=`"),
        ("1.2.3.4", "three parts"),
        ("*, <2.0.0-alpha", "only comparator"),
        ("1, *", "only comparator"),
        ("\t1.2.3", ""),
        ("1.2.3\t", ""),
        ("\u00a01.2", ""),
        ("^*", ""),
        ("=*", ""),
        ("*.1", ""),
        ("1.*.3", ""),
        ("1.2.*-pre", ""),
        ("1.2-alpha", ""),
        ("1.2.3-", ""),
        ("1.2.3-01", ""),
        ("1.2.3-a..b", ""),
        ("01.2", ""),
        ("> = 1", ""),
        ("18446744073709551616", "exceeds"),
        (",".join(["1"] * 33), "more than 32"),
    ],
)
def test_cargo_refuses(req: str, hint: str) -> None:
    with pytest.raises(UsageError) as refused:
        VersionReq.parse(req)
    assert hint in str(refused.value)
    assert refused.value.exit_code == 2


# --- select_version ----------------------------------------------------------------------


def _candidates(*spec: str) -> list[tuple[Version, bool]]:
    """`"1.2.0"` is available, `"1.2.0!"` is yanked."""
    return [(V(s.rstrip("!")), s.endswith("!")) for s in spec]


@pytest.mark.parametrize(
    ("req", "candidates", "expected"),
    [
        ("1.2", ["1.2.0", "1.9.0", "1.3.0", "2.0.0"], "1.9.0"),
        ("1.2", ["1.2.0", "1.9.0!", "1.3.0"], "1.3.0"),
        ("=1.9.0", ["1.2.0", "1.9.0!"], None),
        ("*", ["1.0.0", "2.0.0-rc.1"], "1.0.0"),
        ("*", ["2.0.0-rc.1"], None),
        ("2.0.0-rc.1", ["1.0.0", "2.0.0-rc.1", "2.0.0-rc.2"], "2.0.0-rc.2"),
        ("2.0.0-rc.1", ["2.0.0-rc.2", "2.0.0!"], "2.0.0-rc.2"),
        (">=1.0.0-beta.2", ["1.0.0-beta.11", "1.0.0-beta.3"], "1.0.0-beta.11"),
        ("1", [], None),
    ],
)
def test_select_version(req: str, candidates: list[str], expected: str | None) -> None:
    chosen = select_version(VersionReq.parse(req), _candidates(*candidates))
    assert (None if chosen is None else str(chosen)) == expected


def test_select_version_accepts_any_iterable() -> None:
    chosen = select_version(VersionReq.parse("0.1"), iter(_candidates("0.1.0", "0.1.7")))
    assert chosen == V("0.1.7")


# --- properties --------------------------------------------------------------------------

_numbers = st.integers(min_value=0, max_value=2**64 - 1) | st.integers(0, 3)
_identifier = st.from_regex(
    r"(0|[1-9][0-9]{0,3}|[0-9]{0,2}[A-Za-z-][0-9A-Za-z-]{0,4})", fullmatch=True
)
_build = st.from_regex(r"[0-9A-Za-z-]{1,4}(\.[0-9A-Za-z-]{1,4}){0,2}", fullmatch=True)
versions = st.builds(
    Version,
    _numbers,
    _numbers,
    _numbers,
    st.lists(_identifier, max_size=3).map(tuple) | st.just(()),
    _build | st.just(""),
)


def _reference_precedence(a: Version, b: Version) -> int:
    """SemVer 2.0 §11, written out step by step, as an independent oracle."""
    if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch):
        return -1 if (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) else 1
    if not a.pre or not b.pre:
        return (not a.pre) - (not b.pre)
    for x, y in zip(a.pre, b.pre, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(a.pre) > len(b.pre)) - (len(a.pre) < len(b.pre))


@given(versions, versions)
def test_order_is_total_and_matches_the_spec(a: Version, b: Version) -> None:
    outcomes = [a < b, a == b, b < a]
    assert outcomes.count(True) == 1
    assert outcomes.index(True) - 1 == _reference_precedence(a, b)
    assert (a <= b) == (a < b or a == b) and (a >= b) == (b <= a)
    if a == b:
        assert hash(a) == hash(b)


@given(versions, versions, versions)
def test_order_is_transitive(a: Version, b: Version, c: Version) -> None:
    low, mid, high = sorted([a, b, c])
    assert low <= mid <= high and low <= high


@given(versions)
def test_version_text_round_trips(v: Version) -> None:
    again = V(str(v))
    assert again == v and str(again) == str(v)


@given(versions)
def test_exact_requirement_matches_only_that_version(v: Version) -> None:
    req = VersionReq.parse(f"={v}")
    assert req.matches(v)
    assert not req.matches(Version(v.major, v.minor, v.patch + 1))


@given(versions, versions)
def test_caret_is_the_documented_range_for_releases(v: Version, w: Version) -> None:
    w = Version(w.major, w.minor, w.patch)  # a release, so the pre-release rule is out of play
    if v.major > 0:
        upper = (v.major + 1, 0, 0)
    elif v.minor > 0:
        upper = (0, v.minor + 1, 0)
    else:
        upper = (0, 0, v.patch + 1)
    expected = v <= w and (w.major, w.minor, w.patch) < upper
    assert VersionReq.parse(f"^{v}").matches(w) is expected
    assert VersionReq.parse(str(v)).matches(w) is expected


_req_alphabet = st.sampled_from(list("0123456789.*xX^~=<>, -+abvV|\t\n\u00a0１"))


@given(st.text() | st.text(_req_alphabet, max_size=24))
def test_parse_raises_only_usage_error(text: str) -> None:
    for parse in (VersionReq.parse, Version.parse):
        with contextlib.suppress(UsageError):
            parse(text)
