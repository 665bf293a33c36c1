"""Cargo.lock reading: real files written by cargo 1.95, hand-written edge cases, parity with
cargo on malformed files, and property tests (any text → Lockfile or ConfigError)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cargo_verify.errors import ConfigError
from cargo_verify.lockfile import (
    MAX_LOCKFILE_BYTES,
    Lockfile,
    SourceType,
    is_crates_io,
    is_sparse,
    parse_lockfile,
    read_lockfile,
    registry_index_url,
    source_type,
)

ASSETS = Path(__file__).parent / "assets" / "lockfiles"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
SPARSE = "sparse+http://127.0.0.1:8765/index/"
GIT_PREFIX = "git+file:///tmp/cv-fixtures/gitdep?branch=main#"
SUM_A = "a" * 64
SUM_B = "b" * 64


def header_lines(path: Path) -> list[int]:
    return [
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line == "[[package]]"
    ]


# -- real lockfiles (tests/assets/lockfiles/generate.sh) -----------------------------------


@pytest.mark.parametrize(
    ("rust_version", "expected"), [("1.40", 1), ("1.41", 2), ("1.53", 3), ("1.83", 4)]
)
def test_real_workspace_lockfiles(rust_version: str, expected: int) -> None:
    path = ASSETS / f"workspace-rust-{rust_version}.lock"
    lockfile = read_lockfile(path)
    assert lockfile.version == expected
    assert lockfile.warnings == []
    assert lockfile.path == str(path)
    got = [(p.name, p.version, p.source) for p in lockfile.packages]
    assert [(name, version) for name, version, _ in got] == [
        ("MixedCase", "0.1.0"),
        ("ab", "0.1.0"),
        ("app", "0.1.0"),
        ("gitdep", "0.1.0"),
        ("hello_util", "0.1.0"),
        ("hello_util", "0.2.0"),
        ("localpath", "0.1.0"),
    ]
    by_key = {(p.name, p.version): p for p in lockfile.packages}
    assert by_key["ab", "0.1.0"].checksum == (
        "146780c81050db66280eedbc80b51d31ac4e92addbd4b402db6cf5ccf337eb17"
    )
    assert by_key["hello_util", "0.2.0"].source == SPARSE
    assert by_key["hello_util", "0.2.0"].checksum == (
        "b0700d78c3e282ddfed99d178e2468a5ca24c29d7347900cbd90cfa98833057a"
    )
    assert by_key["hello_util", "0.1.0"].source == CRATES_IO
    assert (by_key["gitdep", "0.1.0"].source or "").startswith(GIT_PREFIX)
    assert by_key["gitdep", "0.1.0"].checksum is None
    assert by_key["app", "0.1.0"].source is None
    assert by_key["localpath", "0.1.0"].checksum is None
    assert [p.line for p in lockfile.packages] == header_lines(path)
    registry = lockfile.registry_packages()
    assert {(p.name, p.version) for p in registry} == {
        ("MixedCase", "0.1.0"),
        ("ab", "0.1.0"),
        ("hello_util", "0.1.0"),
        ("hello_util", "0.2.0"),
    }
    assert all(p.checksum is not None for p in registry)
    assert [p.version for p in lockfile.find("hello_util")] == ["0.1.0", "0.2.0"]
    assert lockfile.find("hello_util", "0.2.0")[0].source == SPARSE


@pytest.mark.parametrize(
    ("rust_version", "expected"), [("1.40", 1), ("1.41", 2), ("1.53", 3), ("1.83", 4)]
)
def test_real_single_package_lockfiles(rust_version: str, expected: int) -> None:
    # V1 and V2 differ only in the trailing blank line here (cargo's special case).
    lockfile = read_lockfile(ASSETS / f"single-rust-{rust_version}.lock")
    assert lockfile.version == expected
    assert [(p.name, p.version, p.source, p.checksum) for p in lockfile.packages] == [
        ("single", "0.1.0", None, None)
    ]


def _cargo() -> str:
    cargo = shutil.which("cargo")
    assert cargo is not None, "cargo must be installed (design §4)"
    return cargo


def _cargo_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO")}
    env["CARGO_HOME"] = str(home)
    return env


def _write_workspace(root: Path, rust_version: str) -> None:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "member" / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "main.rs").write_text("fn main() {}\n")
    (root / "member" / "src" / "lib.rs").write_text("")
    (root / "member" / "Cargo.toml").write_text(
        '[package]\nname = "member"\nversion = "0.3.0-rc.1"\nedition = "2015"\n'
    )
    (root / "Cargo.toml").write_text(
        f'[package]\nname = "root-pkg"\nversion = "1.2.3"\nedition = "2015"\n'
        f'rust-version = "{rust_version}"\n\n[dependencies]\n'
        'member = { path = "member" }\n\n[workspace]\n'
    )


def test_lockfiles_generated_now_by_real_cargo(tmp_path: Path) -> None:
    for rust_version, expected in (("1.40", 1), ("1.41", 2), ("1.53", 3), ("1.83", 4)):
        root = tmp_path / rust_version
        _write_workspace(root, rust_version)
        subprocess.run(
            [_cargo(), "generate-lockfile", "--offline", "-q"],
            cwd=root,
            env=_cargo_env(tmp_path / "home"),
            check=True,
            capture_output=True,
            timeout=120,
        )
        lockfile = read_lockfile(root / "Cargo.lock")
        assert lockfile.version == expected, rust_version
        assert [(p.name, p.version) for p in lockfile.packages] == [
            ("member", "0.3.0-rc.1"),
            ("root-pkg", "1.2.3"),
        ]


# -- cargo refuses these, and so do we -------------------------------------------------------

BROKEN = {
    "version-5": 'version = 5\n[[package]]\nname = "single"\nversion = "0.1.0"\n',
    "version-2": 'version = 2\n[[package]]\nname = "single"\nversion = "0.1.0"\n',
    "version-string": 'version = "4"\n[[package]]\nname = "single"\nversion = "0.1.0"\n',
    "duplicate": (
        'version = 4\n[[package]]\nname = "single"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "single"\nversion = "0.1.0"\n'
    ),
    "unknown-source-kind": (
        'version = 4\n[[package]]\nname = "single"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "x"\nversion = "0.1.0"\nsource = "ftp+http://example.com/"\n'
    ),
    "source-without-plus": (
        'version = 4\n[[package]]\nname = "single"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "x"\nversion = "0.1.0"\nsource = "nonsense"\n'
    ),
    "bad-dependency-string": (
        'version = 4\n[[package]]\nname = "single"\nversion = "0.1.0"\n'
        'dependencies = ["x 0.1.0 registry+https://example.com/"]\n'
    ),
    "bad-version": 'version = 4\n[[package]]\nname = "single"\nversion = "0.1"\n',
    "missing-name": 'version = 4\n[[package]]\nversion = "0.1.0"\n',
    "bad-metadata-key": (
        '[[package]]\nname = "single"\nversion = "0.1.0"\n\n'
        '[metadata]\n"checksum single 0.1.0 junk" = "<none>"\n'
    ),
    "toml-syntax": 'version = 4\n[[package]]\nname = "single\nversion = "0.1.0"\n',
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_cargo_and_we_refuse_the_same_lockfiles(tmp_path: Path, case: str) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.rs").write_text("fn main() {}\n")
    (root / "Cargo.toml").write_text(
        '[package]\nname = "single"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (root / "Cargo.lock").write_text(BROKEN[case])
    result = subprocess.run(
        [_cargo(), "metadata", "--offline", "--locked", "--format-version", "1"],
        cwd=root,
        env=_cargo_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "failed to parse lock file" in result.stderr, result.stderr
    with pytest.raises(ConfigError) as raised:
        read_lockfile(root / "Cargo.lock")
    assert raised.value.file == str(root / "Cargo.lock")
    assert raised.value.line is not None
    cargo_line = re.search(r"TOML parse error at line (\d+)", result.stderr)
    if cargo_line is not None:  # cargo names a line for some of them: it must be ours too
        assert raised.value.line == int(cargo_line.group(1))


def test_cargo_accepts_a_byte_order_mark_and_so_do_we(tmp_path: Path) -> None:
    text = (ASSETS / "single-rust-1.83.lock").read_text()
    path = tmp_path / "Cargo.lock"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_lockfile(path).version == 4


# -- hand-written edge cases -----------------------------------------------------------------


def lock(text: str) -> Lockfile:
    return parse_lockfile(text, "Cargo.lock")


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        lock(text)
    assert raised.value.file == "Cargo.lock"
    return raised.value


def registry_package(name: str, version: str, checksum: str | None = SUM_A) -> str:
    out = f'[[package]]\nname = "{name}"\nversion = "{version}"\nsource = "{CRATES_IO}"\n'
    return out + (f'checksum = "{checksum}"\n' if checksum else "") + "\n"


def test_version_errors_point_at_the_version_line() -> None:
    error = refused('# generated\n\nversion = 5\n[[package]]\nname = "a"\nversion = "0.1.0"\n')
    assert error.line == 3
    assert "lock file version `5`" in error.message
    assert refused("version = true\n").line == 1
    assert refused("version = -1\n").line == 1


def test_v1_and_v2_detection_without_a_version_marker() -> None:
    two = registry_package("x", "1.0.0", None) + registry_package("y", "1.0.0", None)
    assert lock(two).version == 1
    assert lock(registry_package("x", "1.0.0") + registry_package("y", "1.0.0", None)).version == 2
    root = '[[package]]\nname = "r"\nversion = "0.1.0"\n'
    # A dependency without a version (V2's short form) makes it V2 ...
    assert lock(two + root + 'dependencies = ["x"]\n\n').version == 2
    # ... and so does one that leaves out the source of a registry package,
    assert lock(two + root + 'dependencies = ["x 1.0.0"]\n\n').version == 2
    # ... but not the V1 form, nor a path package without source, nor an unknown name.
    v1_dep = f'dependencies = ["x 1.0.0 ({CRATES_IO})", "p 0.1.0", "zzz"]\n\n'
    path_pkg = '[[package]]\nname = "p"\nversion = "0.1.0"\n\n'
    assert lock(two + path_pkg + root + v1_dep).version == 1


def test_single_package_trailing_newline_rule() -> None:
    one = '[[package]]\nname = "a"\nversion = "0.1.0"\n'
    assert lock(one).version == 2
    assert lock(one + "\n").version == 1
    assert lock(one.rstrip("\n")).version == 1
    assert lock("version = 3\n" + one + "\n").version == 3


def test_v1_checksums_come_from_metadata() -> None:
    text = (
        registry_package("x", "1.0.0", None) + '[[package]]\nname = "g"\nversion = "0.1.0"\n'
        'source = "git+https://example.com/g?branch=main#0123456789abcdef"\n\n'
        "[metadata]\n"
        f'"checksum x 1.0.0 ({CRATES_IO})" = "{SUM_A}"\n'
        '"checksum g 0.1.0 (git+https://example.com/g?branch=main)" = "<none>"\n'
        f'"checksum gone 9.9.9 ({CRATES_IO})" = "{SUM_B}"\n'
        '"unrelated" = "kept"\n'
    )
    lockfile = lock(text)
    assert lockfile.version == 1
    assert [(p.name, p.checksum) for p in lockfile.packages] == [("x", SUM_A), ("g", None)]


def test_metadata_checksums_in_a_v2_file_are_all_dropped_like_cargo() -> None:
    text = (
        registry_package("x", "1.0.0")
        + registry_package("y", "1.0.0", None)
        + f'[metadata]\n"checksum y 1.0.0 ({CRATES_IO})" = "{SUM_B}"\n'
    )
    lockfile = lock(text)
    assert lockfile.version == 2
    assert [p.checksum for p in lockfile.packages] == [None, None]
    assert len(lockfile.warnings) == 1 and "ignored" in lockfile.warnings[0]


@pytest.mark.parametrize(
    "checksum", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, "", " " + "a" * 63, "a" * 64 + "\n"]
)
def test_malformed_checksums_are_refused_at_their_line(checksum: str) -> None:
    escaped = checksum.replace("\n", "\\n")
    text = f'version = 4\n\n[[package]]\nname = "x"\nversion = "1.0.0"\nsource = "{CRATES_IO}"\n'
    error = refused(text + f'checksum = "{escaped}"\n')
    assert error.line == 7
    assert "checksum" in error.message


def test_malformed_v1_metadata_checksum_is_refused_at_its_line() -> None:
    text = registry_package("x", "1.0.0", None) + (
        f'\n[metadata]\n"checksum x 1.0.0 ({CRATES_IO})" = "{"Z" * 64}"\n'
    )
    assert refused(text).line == 8


def test_duplicate_packages_are_refused_at_the_second_one() -> None:
    text = "version = 4\n\n" + registry_package("x", "1.0.0") + registry_package("x", "1.0.0")
    error = refused(text)
    assert error.line == 9
    assert "specified twice" in error.message
    # Same name and version from two sources is fine.
    other = f'[[package]]\nname = "x"\nversion = "1.0.0"\nsource = "{SPARSE}"\n'
    assert len(lock("version = 4\n\n" + registry_package("x", "1.0.0") + other).packages) == 2


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "a\\b", "..", "föö", "a b", "a\u0000b", "", "a.b", "é"]
)
def test_unsafe_registry_crate_names_are_refused(name: str) -> None:
    text = "version = 4\n\n" + registry_package(name.replace("\\", "\\\\"), "1.0.0")
    escaped = text.replace("\u0000", "\\u0000")
    assert refused(escaped).line == 4


def test_path_packages_may_have_unicode_names_but_no_separators() -> None:
    # cargo generate-lockfile accepts `name = "héllo"` for a local package.
    assert lock('version = 4\n[[package]]\nname = "héllo"\nversion = "0.1.0"\n').packages
    for bad in ("a/b", "../x", "a b", "x\\ty"):
        refused(f'version = 4\n[[package]]\nname = "{bad}"\nversion = "0.1.0"\n')


@pytest.mark.parametrize(
    "version",
    ["1.0", "01.0.0", "1.0.0 ", "v1.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0.0", "../1"],
)
def test_versions_must_be_semver(version: str) -> None:
    error = refused(f'version = 4\n[[package]]\nname = "x"\nversion = "{version}"\n')
    assert error.line == 4


@pytest.mark.parametrize("version", ["0.0.0", "1.2.3-rc.1", "1.2.3+build.5", "1.0.0-0A.is.legal"])
def test_valid_semver_is_accepted(version: str) -> None:
    assert lock(f'version = 4\n[[package]]\nname = "x"\nversion = "{version}"\n').packages


@pytest.mark.parametrize(
    "source",
    [
        "registry+not-a-url",
        "registry+mailto:x",
        "registry+https://exa mple.com/",
        "sparse+",
        "sparsely+https://x/",
        "+https://x/",
    ],
)
def test_malformed_sources_are_refused(source: str) -> None:
    text = f'version = 4\n[[package]]\nname = "x"\nversion = "1.0.0"\nsource = "{source}"\n'
    assert refused(text).line == 5


def test_type_errors_name_the_line() -> None:
    assert refused('version = 4\n[[package]]\nname = 5\nversion = "1.0.0"\n').line == 3
    assert (
        refused('version = 4\n[[package]]\nname = "x"\nversion = "1.0.0"\nsource = 1\n').line == 5
    )
    text = 'version = 4\n[[package]]\nname = "x"\nversion = "1.0.0"\ndependencies = "y"\n'
    assert refused(text).line == 5
    assert refused("version = 4\npackage = 3\n").line == 2
    assert refused("version = 4\npackage = [1]\n").line == 2
    assert refused('[metadata]\n"checksum x" = 1\n').line == 2


def test_malformed_toml_reports_the_parser_line() -> None:
    error = refused('version = 4\n\n[[package]]\nname = "x"\nversion = \n')
    assert error.line == 5
    assert "invalid TOML" in error.message


def test_invalid_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "Cargo.lock"
    path.write_bytes(b'version = 4\n[[package]]\nname = "\xff"\nversion = "1.0.0"\n')
    with pytest.raises(ConfigError) as raised:
        read_lockfile(path)
    assert raised.value.line == 3
    assert "UTF-8" in raised.value.message


def test_huge_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "Cargo.lock"
    with path.open("wb") as handle:
        handle.truncate(MAX_LOCKFILE_BYTES + 1)
    with pytest.raises(ConfigError, match="64 MiB"):
        read_lockfile(path)
    with pytest.raises(ConfigError, match="64 MiB"):
        lock("#" * (MAX_LOCKFILE_BYTES + 1))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_lockfile(tmp_path / "nope.lock")
    with pytest.raises(ConfigError, match="directory"):
        read_lockfile(tmp_path)


def test_legacy_root_table_comes_first() -> None:
    text = (
        '[root]\nname = "app"\nversion = "0.1.0"\n'
        f'dependencies = ["x 1.0.0 ({CRATES_IO})"]\n\n'
        + registry_package("x", "1.0.0", None)
        + f'[metadata]\n"checksum x 1.0.0 ({CRATES_IO})" = "{SUM_A}"\n'
    )
    lockfile = lock(text)
    assert lockfile.version == 1
    assert [(p.name, p.line, p.checksum) for p in lockfile.packages] == [
        ("app", 1, None),
        ("x", 6, SUM_A),
    ]


def test_crlf_and_inline_package_arrays() -> None:
    text = registry_package("x", "1.0.0").replace("\n", "\r\n")
    assert lock("version = 4\r\n" + text).packages[0].line == 2
    entry = f'{{ name = "x", version = "1.0.0", source = "{SPARSE}" }}'
    inline = f"version = 4\npackage = [\n  {entry},\n]\n"
    lockfile = lock(inline)
    assert [(p.name, p.line) for p in lockfile.packages] == [("x", 3)]


def test_patch_unused_entries_are_validated_but_not_packages() -> None:
    ok = registry_package("x", "1.0.0") + '[[patch.unused]]\nname = "p"\nversion = "0.1.0"\n'
    assert [p.name for p in lock("version = 4\n" + ok).packages] == ["x"]
    bad = '[[patch.unused]]\nname = "p"\nversion = "zero"\n'
    assert refused("version = 4\n" + bad).line == 4


def test_source_classification() -> None:
    assert source_type(None) is SourceType.PATH
    assert source_type("path+file:///x") is SourceType.PATH
    assert source_type(CRATES_IO) is SourceType.REGISTRY
    assert source_type(SPARSE) is SourceType.REGISTRY
    assert source_type("git+https://x/y#abc") is SourceType.GIT
    assert source_type("local-registry+file:///x") is SourceType.OTHER
    assert is_crates_io(CRATES_IO) and is_crates_io("sparse+https://index.crates.io/")
    assert not is_crates_io(SPARSE) and not is_crates_io(None)
    assert is_sparse(SPARSE) and not is_sparse(CRATES_IO)
    assert registry_index_url(CRATES_IO) == "https://github.com/rust-lang/crates.io-index"
    assert registry_index_url(SPARSE) == SPARSE
    assert registry_index_url("git+https://x/y") is None


# -- properties --------------------------------------------------------------------------------

_FRAGMENTS = [
    "version = 4\n",
    "version = 3\n",
    "version = 1\n",
    "version = 99\n",
    "[[package]]\n",
    "[root]\n",
    "[metadata]\n",
    "[patch]\n",
    "[[patch.unused]]\n",
    "\n",
    'name = "x"\n',
    'name = "hello_util"\n',
    'name = "../x"\n',
    'version = "1.0.0"\n',
    'version = "0.1.0"\n',
    'version = "1.0"\n',
    f'source = "{CRATES_IO}"\n',
    f'source = "{SPARSE}"\n',
    'source = "git+https://example.com/x?branch=a#0123"\n',
    'source = "bogus"\n',
    f'checksum = "{SUM_A}"\n',
    'checksum = "ABC"\n',
    'dependencies = ["x", "hello_util 0.1.0", "x 1.0.0 (registry+https://a/)"]\n',
    'dependencies = ["x 1.0.0 nope"]\n',
    'replace = "x 1.0.0"\n',
    f'"checksum x 1.0.0 ({CRATES_IO})" = "{SUM_B}"\n',
    '"checksum x 1.0.0" = "<none>"\n',
    '"checksum" = "x"\n',
    "package = []\n",
    "unused = 3\n",
    "x = 1.5\n",
    "d = 1979-05-27\n",
]


def _check_invariants(lockfile: Lockfile, text: str) -> None:
    assert 1 <= lockfile.version <= 4
    total_lines = text.count("\n") + 1
    for package in lockfile.packages:
        assert package.checksum is None or (
            len(package.checksum) == 64 and package.checksum == package.checksum.lower()
        )
        assert package.line is None or 1 <= package.line <= total_lines


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=25))
def test_lockfile_like_text_gives_a_lockfile_or_a_config_error(parts: list[str]) -> None:
    text = "".join(parts)
    try:
        lockfile = lock(text)
    except ConfigError as error:
        assert error.line is None or error.line >= 1
        return
    _check_invariants(lockfile, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_lockfile_or_a_config_error(text: str) -> None:
    try:
        lockfile = lock(text)
    except ConfigError:
        return
    _check_invariants(lockfile, text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_lockfile_or_a_config_error(data: bytes) -> None:
    from cargo_verify._toml_lines import decode_toml_bytes

    try:
        lock(decode_toml_bytes(data, "Cargo.lock"))
    except ConfigError:
        return
