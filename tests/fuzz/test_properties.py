"""Property-based tests (hypothesis) of the parsers and the policy matcher."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import tomlkit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cargo_verify.lockfile import parse_lockfile
from cargo_verify.model import TrustRule
from cargo_verify.policy import SignerIdentity, evaluate, glob_match
from fuzz.seeds import all_seeds
from fuzz.targets import TARGETS

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = all_seeds()

# -- generators -------------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)
numbers = st.integers(min_value=0, max_value=10_000)
prereleases = st.none() | st.from_regex(r"(alpha|rc)\.[1-9]", fullmatch=True)
versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    numbers, numbers, numbers, prereleases,
)
checksums = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
sources = st.sampled_from([
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
    "sparse+http://127.0.0.1:8080/index/",
])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
toml_scalars = (st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
                | st.text(max_size=30) | st.sampled_from(["deny", "warn", "allow", "*", "^0.1"]))


def toml_tables(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    key = st.sampled_from(keys) | st.text(min_size=1, max_size=8)
    return st.recursive(
        st.dictionaries(key, toml_scalars | st.lists(toml_scalars, max_size=3), max_size=4),
        lambda children: st.dictionaries(key, children | toml_scalars, max_size=4),
        max_leaves=10,
    )


# -- lockfile -----------------------------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(names, versions, sources, checksums), max_size=8,
                unique_by=lambda p: (p[0], p[1])))
def test_lockfile_round_trip(packages: list[tuple[str, str, str, str]]) -> None:
    text = "version = 4\n" + "".join(
        f'\n[[package]]\nname = "{n}"\nversion = "{v}"\nsource = "{s}"\nchecksum = "{c}"\n'
        for n, v, s, c in packages
    )
    parsed = parse_lockfile(text, "Cargo.lock")
    assert [(p.name, p.version, p.source, p.checksum) for p in parsed.packages] == packages
    assert all(p.line is not None and p.line > 1 for p in parsed.packages)


@FAST
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_lockfile_bytes_are_parsed_or_refused(data: bytes) -> None:
    TARGETS["lockfile"](data)


@FAST
@given(toml_tables(["version", "package", "name", "source", "checksum", "dependencies",
                    "metadata", "patch", "unused"]))
def test_lockfile_documents_are_parsed_or_refused(document: dict[str, Any]) -> None:
    TARGETS["lockfile"](tomlkit.dumps(document).encode())


# -- cargo config and mochi.toml ----------------------------------------------------------------


@FAST
@given(toml_tables(["sigstore", "trust", "exceptions", "unsigned", "jobs", "offline",
                    "rekor-url", "trusted-root", "cache-dir", "rekor-search", "registries",
                    "source", "replace-with", "registry", "index", "install", "verify",
                    "include", "reason", "expires", "issuer", "subject"]))
def test_config_documents_are_loaded_or_refused(document: dict[str, Any]) -> None:
    TARGETS["config"](tomlkit.dumps(document).encode())


@FAST
@given(st.dictionaries(names, st.one_of(
    toml_scalars,
    st.fixed_dictionaries({}, optional={
        "version": toml_scalars, "package": toml_scalars,
        "trust": st.dictionaries(st.sampled_from(["issuer", "subject", "repository",
                                                  "workflow", "environment", "ref", "x"]),
                                 toml_scalars, max_size=4) | toml_scalars,
    }),
), max_size=5))
def test_mochi_toml_documents_are_read_or_refused(entries: dict[str, Any]) -> None:
    TARGETS["manifest"](tomlkit.dumps({"rust-dependencies": entries}).encode())


# -- index lines, bundles, Rekor entries ------------------------------------------------------


@FAST
@given(st.lists(st.fixed_dictionaries(
    {"name": st.just("mochi-util") | st.text(max_size=12), "vers": versions | json_values},
    optional={"cksum": checksums | json_values, "yanked": json_values,
              "sigstore": json_values | st.fixed_dictionaries({}, optional={
                  "rekor_log_index": json_values, "rekor_url": json_values,
                  "bundle": json_values | st.text(max_size=30)})},
), max_size=4))
def test_index_lines_are_read_or_refused(lines: list[dict[str, Any]]) -> None:
    TARGETS["index"]("\n".join(json.dumps(line) for line in lines).encode())


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for number, value in enumerate(document):
            out += _paths(value, (*prefix, number))
    return out


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(document)
    holder = copied
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return copied


@FAST
@given(st.sampled_from(["bundle", "rekor"]), st.data())
def test_evidence_with_one_field_replaced_is_read_or_refused(target: str, data: Any) -> None:
    document = json.loads(data.draw(st.sampled_from(SEEDS[target])))
    path = data.draw(st.sampled_from(_paths(document)))
    TARGETS[target](json.dumps(_replace(document, path, data.draw(json_values))).encode())


# -- the policy matcher -----------------------------------------------------------------------


@FAST
@given(st.lists(st.text(alphabet="ab*/:.", max_size=4), min_size=1, max_size=5).map("*".join),
       st.text(alphabet="ab/:.", max_size=24))
def test_glob_agrees_with_a_regex_reference(pattern: str, value: str) -> None:
    reference = re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)
    assert glob_match(pattern, value) == (reference.fullmatch(value) is not None)


@FAST
@given(st.text(max_size=40), st.text(max_size=40))
def test_glob_literals_and_star(text: str, other: str) -> None:
    assume("*" not in text)
    assert glob_match(text, text)
    assert glob_match(text, other) == (text == other)
    assert glob_match("*", other)
    assert glob_match(text + "*", text + other)


optional_text = st.none() | st.text(max_size=20)
identities = st.builds(
    SignerIdentity, san=optional_text, issuer=optional_text, repository=optional_text,
    ref=optional_text, environment=optional_text, trigger=optional_text, workflow=optional_text,
    token_subject=optional_text, sub_forms=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    conflicts=st.lists(st.text(max_size=10), max_size=1).map(tuple),
)
rules = st.builds(TrustRule, issuer=optional_text, subject=optional_text,
                  repository=optional_text, workflow=optional_text,
                  environment=optional_text, ref=optional_text)


@FAST
@given(rules, identities)
def test_policy_decisions_are_sound(rule: TrustRule, identity: SignerIdentity) -> None:
    decision = evaluate(rule, identity)
    if not decision.ok:
        assert decision.problem
        return
    assert not identity.conflicts
    assert identity.issuer is not None and identity.san is not None
    if rule.issuer is not None:
        assert identity.issuer == rule.issuer
    for wanted, found in ((rule.repository, identity.repository), (rule.ref, identity.ref),
                          (rule.environment, identity.environment)):
        if wanted is not None:
            assert found is not None and glob_match(wanted, found)
    if rule.subject is not None:
        assert any(glob_match(rule.subject, value) for _, value in identity.forms())
        assert decision.matched_form in {form for form, _ in identity.forms()}
