"""Cargo's version requirements: SemVer 2.0 versions, `VersionReq` syntax and matching.

The rules are those of the `semver` crate that cargo uses (cargo-facts.md §7): a bare
version means caret, partial versions are widened, and a pre-release version matches only
when some comparator names a pre-release of the same major.minor.patch.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cargo_verify.errors import UsageError

_NUM = r"0|[1-9][0-9]*"
_PRE_PART = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"  # numeric parts: no leading zero
_PRE = rf"{_PRE_PART}(?:\.{_PRE_PART})*"
_BUILD = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_WILD = r"[*xX]"
_VERSION_RE = re.compile(
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE}))?(?:\+(?P<build>{_BUILD}))?"
)
_COMPARATOR_RE = re.compile(
    rf"(?P<op>=|>=|>|<=|<|~|\^)? *(?P<major>{_NUM})"
    rf"(?:\.(?:(?P<minor_wild>{_WILD})(?:\.{_WILD})?|(?P<minor>{_NUM})"
    rf"(?:\.(?:(?P<patch_wild>{_WILD})|(?P<patch>{_NUM})(?:-(?P<pre>{_PRE}))?(?:\+{_BUILD})?))?))?"
)
_U64_MAX = 2**64 - 1
_MAX_COMPARATORS = 32  # the semver crate refuses more
# Syntax from other ecosystems that cargo refuses, with advice; consulted only after a
# clause failed to parse.
_HINTS = (
    (re.compile(r"\|\|"), "cargo has no `||`: a dependency takes one requirement"),
    (re.compile(r" - "), "cargo has no hyphen ranges: write `>=A, <=B`"),
    (re.compile(r"~>"), "cargo has no `~>`: use `~1.2` or `>=1.2, <2`"),
    (re.compile(r"=="), "use a single `=` for an exact version"),
    (re.compile(r"^[vV]"), "remove the leading `v`"),
    (re.compile(r"^[^.]*[0-9]+\.[0-9]+\.[0-9]+\.[0-9]"), "a version has at most three parts"),
    (re.compile(r"^[*xX]$"), "a wildcard `*` must be the only comparator in the requirement"),
    (re.compile(r"[0-9*xX] +[<>=~^0-9]"), "separate comparators with `,`"),
)


def _number(text: str, what: str) -> int:
    value = int(text)
    if value > _U64_MAX:
        raise UsageError(f"{what} {text} exceeds the maximum of {_U64_MAX}")
    return value


_PreKey = tuple[int, tuple[tuple[int, int, str], ...]]


def _pre_key(pre: tuple[str, ...]) -> _PreKey:
    # A release sorts after all of its pre-releases; numeric identifiers sort before
    # alphanumeric ones, numerically; a shorter identifier list sorts first when it is a prefix.
    if not pre:
        return (1, ())
    return (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre))


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A SemVer 2.0 version; build metadata is kept but ignored by `==`, `<` and `hash`."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = field(default="")

    @classmethod
    def parse(cls, text: str) -> Version:
        found = _VERSION_RE.fullmatch(text)
        if found is None:
            raise UsageError(f"invalid version {text!r}: expected SemVer like 1.2.3 or 1.2.3-rc.1")
        pre = found["pre"]
        return cls(
            _number(found["major"], "major version"),
            _number(found["minor"], "minor version"),
            _number(found["patch"], "patch version"),
            tuple(pre.split(".")) if pre else (),
            found["build"] or "",
        )

    def _key(self) -> tuple[int, int, int, _PreKey]:
        return (self.major, self.minor, self.patch, _pre_key(self.pre))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        pre = "-" + ".".join(self.pre) if self.pre else ""
        build = "+" + self.build if self.build else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}{build}"


class Op(enum.Enum):
    EXACT = "="
    GREATER = ">"
    GREATER_EQ = ">="
    LESS = "<"
    LESS_EQ = "<="
    TILDE = "~"
    CARET = "^"


@dataclass(frozen=True)
class Comparator:
    """One clause of a requirement; `minor`/`patch` are None where the clause left them out."""

    op: Op
    major: int
    minor: int | None
    patch: int | None
    pre: tuple[str, ...]

    def _order(self, v: Version) -> int | None:
        """Sign of v against this clause; None when v agrees on every part the clause names
        and the clause is partial (so v lies inside the widened range)."""
        ours = (self.major, self.minor, self.patch)
        for mine, theirs in zip(ours, (v.major, v.minor, v.patch), strict=True):
            if mine is None:
                return None
            if mine != theirs:
                return 1 if theirs > mine else -1
        mine_pre, theirs_pre = _pre_key(self.pre), _pre_key(v.pre)
        return (theirs_pre > mine_pre) - (theirs_pre < mine_pre)

    def matches(self, v: Version) -> bool:
        if self.op is Op.TILDE:
            return self._matches_tilde(v)
        if self.op is Op.CARET:
            return self._matches_caret(v)
        order = self._order(v)
        exact = order == 0 or (order is None and not v.pre)
        if self.op is Op.EXACT:
            return exact
        if self.op in (Op.GREATER, Op.GREATER_EQ):
            return order == 1 or (self.op is Op.GREATER_EQ and exact)
        return order == -1 or (self.op is Op.LESS_EQ and exact)

    def _matches_tilde(self, v: Version) -> bool:
        if v.major != self.major or self.minor not in (None, v.minor):
            return False
        if self.patch is not None and v.patch != self.patch:
            return v.patch > self.patch
        return _pre_key(v.pre) >= _pre_key(self.pre)

    def _matches_caret(self, v: Version) -> bool:
        if v.major != self.major:
            return False
        if self.minor is None:
            return True
        if self.patch is None:
            return v.minor >= self.minor if self.major > 0 else v.minor == self.minor
        # The leftmost non-zero part of major.minor.patch may not change.
        if self.major == 0 and (
            v.minor != self.minor or (self.minor == 0 and v.patch != self.patch)
        ):
            return False
        if (v.minor, v.patch) != (self.minor, self.patch):
            return (v.minor, v.patch) > (self.minor, self.patch)
        return _pre_key(v.pre) >= _pre_key(self.pre)

    def allows_pre_of(self, v: Version) -> bool:
        same_release = (self.major, self.minor, self.patch) == (v.major, v.minor, v.patch)
        return bool(self.pre) and same_release


def _parse_comparator(clause: str, whole: str) -> Comparator:
    found = _COMPARATOR_RE.fullmatch(clause)
    if found is None:
        hint = next((h for pattern, h in _HINTS if pattern.search(clause)), None)
        raise UsageError(
            f"invalid version requirement {whole!r}: cannot parse {clause!r}"
            + (f" ({hint})" if hint else " (expected e.g. `1.2`, `^1.2.3`, `>=1.2, <2`, `1.*`)")
        )
    wildcard = found["minor_wild"] is not None or found["patch_wild"] is not None
    op = Op(found["op"]) if found["op"] else (Op.EXACT if wildcard else Op.CARET)
    minor, patch, pre = found["minor"], found["patch"], found["pre"]
    return Comparator(
        op,
        _number(found["major"], "major version"),
        None if minor is None else _number(minor, "minor version"),
        None if patch is None else _number(patch, "patch version"),
        tuple(pre.split(".")) if pre else (),
    )


@dataclass(frozen=True)
class VersionReq:
    """A cargo version requirement: comparators joined by AND; none at all means `*`."""

    comparators: tuple[Comparator, ...]
    text: str = field(default="*", compare=False)

    @classmethod
    def parse(cls, text: str) -> VersionReq:
        body = text.lstrip(" ")  # cargo skips spaces, but no other whitespace
        if body[:1] in ("*", "x", "X") and not body[1:].lstrip(" "):
            return cls((), text)
        if not body.strip(" "):
            raise UsageError("empty version requirement (write `*` to accept any version)")
        clauses = [clause.strip(" ") for clause in body.split(",")]
        if len(clauses) > _MAX_COMPARATORS:
            raise UsageError(f"invalid version requirement {text!r}: more than 32 comparators")
        if any(not clause for clause in clauses):
            raise UsageError(
                f"invalid version requirement {text!r}: empty comparator"
                " (clauses are joined by single commas, e.g. `>=1.2, <2`)"
            )
        return cls(tuple(_parse_comparator(clause, text) for clause in clauses), text)

    def matches(self, v: Version) -> bool:
        if not all(c.matches(v) for c in self.comparators):
            return False
        return not v.pre or any(c.allows_pre_of(v) for c in self.comparators)

    def __str__(self) -> str:
        return self.text


def select_version(req: VersionReq, candidates: Iterable[tuple[Version, bool]]) -> Version | None:
    """The version cargo locks for a fresh dependency: the highest match that is not yanked."""
    best: Version | None = None
    for version, yanked in candidates:
        if not yanked and req.matches(version) and (best is None or version > best):
            best = version
    return best
