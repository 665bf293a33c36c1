"""Cargo configuration: discovery, includes, merging, environment, [source] replacement and
this project's [sigstore] table, with file:line origins and errors."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cargo_verify.cargo_home import SourceKind
from cargo_verify.config import CargoConfig, load_cargo_config
from cargo_verify.errors import ConfigError
from cargo_verify.model import TrustRule

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
CRATES_IO_SPARSE = "sparse+https://index.crates.io/"
LOCAL_SPARSE = "sparse+http://127.0.0.1:8765/index/"


class World:
    """A project directory tree and a separate $CARGO_HOME under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "cargo-home"
        self.project = root / "work" / "project"
        self.cwd = self.project / "crates" / "member"
        self.cwd.mkdir(parents=True)
        self.home.mkdir()

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def load(self, cwd: Path | None = None, /, **env: str) -> CargoConfig:
        environment = {"CARGO_HOME": str(self.home), "HOME": str(self.root), **env}
        return load_cargo_config(cwd or self.cwd, environment)

    def error(self, **env: str) -> ConfigError:
        with pytest.raises(ConfigError) as raised:
            self.load(**env)
        return raised.value


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# -- discovery and merging -------------------------------------------------------------------


def test_files_are_read_deepest_first_then_cargo_home(world: World) -> None:
    member = world.write("work/project/crates/member/.cargo/config.toml", "")
    project = world.write("work/project/.cargo/config.toml", "")
    home = world.write("cargo-home/config.toml", "")
    assert world.load().files == (member, project, home)


def test_deeper_files_win_and_cargo_home_loses(world: World) -> None:
    world.write(
        "cargo-home/config.toml",
        '[install]\nverify = "home"\n[registries.a]\nindex = "sparse+http://h/"\n'
        '[registries.b]\nindex = "sparse+http://home-b/"\n',
    )
    world.write("work/.cargo/config.toml", '[install]\nverify = "work"\n')
    world.write(
        "work/project/.cargo/config.toml",
        '\n[install]\nverify = "project"\n[registries.a]\nindex = "sparse+http://p/"\n',
    )
    config = world.load()
    assert config.install_verify == "project"
    assert config.origin("install.verify") == f"{world.project}/.cargo/config.toml:3"
    assert config.registries == {"a": "sparse+http://p/", "b": "sparse+http://home-b/"}
    assert config.origin("registries.b.index") == f"{world.home}/config.toml:6"


def test_legacy_config_wins_over_config_toml_with_a_warning(world: World) -> None:
    world.write("work/project/.cargo/config", '[install]\nverify = "legacy"\n')
    world.write("work/project/.cargo/config.toml", '[install]\nverify = "new"\n')
    config = world.load()
    assert config.install_verify == "legacy"
    assert any("both" in w and "Using" in w for w in config.warnings)
    os.remove(world.project / ".cargo" / "config.toml")
    assert any("deprecated" in w for w in world.load().warnings)


def test_a_legacy_symlink_to_config_toml_is_not_warned_about(world: World) -> None:
    world.write("work/project/.cargo/config.toml", '[install]\nverify = "x"\n')
    (world.project / ".cargo" / "config").symlink_to("config.toml")
    config = world.load()
    assert config.install_verify == "x"
    assert config.warnings == ()


def test_cargo_home_is_not_read_twice_when_the_walk_passes_it(world: World) -> None:
    home = world.write("work/.cargo/config.toml", '[install]\nverify = "once"\n')
    config = world.load(CARGO_HOME=str(world.root / "work" / ".cargo"))
    assert config.files == (home,)
    assert config.cargo_home == world.root / "work" / ".cargo"


def test_cargo_home_defaults_to_home_dot_cargo(world: World) -> None:
    home = world.write(".cargo/config.toml", '[install]\nverify = "h"\n')
    config = load_cargo_config(world.cwd, {"HOME": str(world.root)})
    assert config.cargo_home == world.root / ".cargo"
    assert config.files == (home,)
    assert config.install_verify == "h"


def test_tables_against_scalars_across_files_are_an_error(world: World) -> None:
    world.write("cargo-home/config.toml", "[install]\nverify = { a = 1 }\n")
    world.write("work/project/.cargo/config.toml", '[install]\nverify = "x"\n')
    error = world.error()
    assert error.file == str(world.home / "config.toml") and error.line == 2
    assert "failed to merge" in error.message


@pytest.mark.parametrize(
    ("text", "line"), [("[foo]\nx = 1.5\n", 2), ("[sigstore]\n\nwhen = 2024-01-01\n", 3)]
)
def test_floats_and_dates_are_refused_like_cargo(world: World, text: str, line: int) -> None:
    path = world.write("work/project/.cargo/config.toml", text)
    error = world.error()
    assert (error.file, error.line) == (str(path), line)
    assert "unsupported TOML configuration type" in error.message


def test_malformed_toml_names_file_and_line(world: World) -> None:
    path = world.write("work/project/.cargo/config.toml", '[install]\nverify = "x\n')
    error = world.error()
    assert (error.file, error.line) == (str(path), 2)


def test_unknown_keys_outside_sigstore_are_cargos_business(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml",
        '[build]\njobs = 3\n[future-table]\nx = "y"\n[registries.r]\nindex = "sparse+http://r/"\n'
        'token = "t"\nmystery = true\n',
    )
    assert world.load().registries == {"r": "sparse+http://r/"}


# -- include ---------------------------------------------------------------------------------


def test_includes_load_first_and_the_including_file_wins(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml",
        'include = ["a.toml", { path = "b.toml" }, { path = "gone.toml", optional = true }]\n'
        '[install]\nverify = "main"\n',
    )
    world.write(
        "work/project/.cargo/a.toml",
        '[sigstore]\nunsigned = "allow"\njobs = 2\n[net]\noffline = true\n',
    )
    world.write(
        "work/project/.cargo/b.toml", '[sigstore]\nunsigned = "deny"\n[install]\nverify = "b"\n'
    )
    config = world.load()
    assert config.install_verify == "main"
    assert config.sigstore.unsigned == "deny"  # the later include beats the earlier one
    assert config.sigstore.origin("unsigned") == f"{world.project}/.cargo/b.toml:2"
    assert config.sigstore.jobs == 2
    assert config.net_offline is True
    assert [p.name for p in config.files] == ["config.toml", "b.toml", "a.toml"]


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ('["missing.toml"]', "missing.toml"),
        ('"single.toml"', "expected a list"),
        ('["extra.json"]', "ending with `.toml`"),
        ('["*.toml"]', "glob"),
        ("[1]", "string or table"),
        ("[{ optional = true }]", "missing field `path`"),
        ('[{ path = "a.toml", optional = "yes" }]', "boolean"),
    ],
)
def test_bad_includes(world: World, include: str, message: str) -> None:
    path = world.write("work/project/.cargo/config.toml", f"\ninclude = {include}\n")
    world.write("work/project/.cargo/a.toml", "")
    error = world.error()
    assert (error.file, error.line) == (str(path), 2)
    assert message in error.message


def test_include_cycles_are_refused(world: World) -> None:
    world.write("work/project/.cargo/config.toml", 'include = ["a.toml"]\n')
    world.write("work/project/.cargo/a.toml", 'include = ["config.toml"]\n')
    assert "cycle" in world.error().message


# -- registries and the environment ----------------------------------------------------------


def test_registry_index_from_environment(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml", '[registries.local]\nindex = "sparse+http://f/"\n'
    )
    config = world.load(
        CARGO_REGISTRIES_LOCAL_INDEX="sparse+http://env/",
        CARGO_REGISTRIES_MY_REG_INDEX="sparse+http://only-env/",
    )
    assert config.registries["local"] == "sparse+http://env/"
    assert config.origin("registries.local.index") == (
        "environment variable `CARGO_REGISTRIES_LOCAL_INDEX`"
    )
    assert config.registry_index("my-Reg") == "sparse+http://only-env/"
    assert config.registry_index("unknown") is None


def test_bad_registry_index_is_an_error(world: World) -> None:
    path = world.write("work/project/.cargo/config.toml", "[registries.x]\nindex = 5\n")
    error = world.error()
    assert (error.file, error.line) == (str(path), 2)


def test_install_verify_and_environment_overrides(world: World) -> None:
    world.write("cargo-home/config.toml", '[install]\nverify = "sigstore"\n')
    assert world.load().install_verify == "sigstore"
    assert world.load(CARGO_INSTALL_VERIFY="none").install_verify == "none"
    assert world.load(CARGO_NET_OFFLINE="true").net_offline is True
    assert world.load(CARGO_HTTP_CAINFO="ca.pem").http_cainfo == world.cwd / "ca.pem"


# -- [source] replacement --------------------------------------------------------------------


def test_crates_io_is_fetched_over_sparse_unless_configured_otherwise(world: World) -> None:
    resolved = world.load().resolve_source(CRATES_IO)
    assert resolved.effective == CRATES_IO_SPARSE
    assert resolved.kind is SourceKind.SPARSE
    assert resolved.index_url == CRATES_IO_SPARSE
    assert not resolved.is_replaced and not resolved.is_local
    git = world.load(CARGO_REGISTRIES_CRATES_IO_PROTOCOL="git").resolve_source(CRATES_IO)
    assert git.effective == CRATES_IO and git.index_url == CRATES_IO.removeprefix("registry+")
    assert world.load().resolve_source(LOCAL_SPARSE).effective == LOCAL_SPARSE


def test_vendored_crates_io(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml",
        '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
        '[source.vendored-sources]\ndirectory = "vendor"\n',
    )
    for source in (CRATES_IO, CRATES_IO_SPARSE):
        resolved = world.load().resolve_source(source)
        assert resolved.kind is SourceKind.DIRECTORY
        assert resolved.local_path == world.project / "vendor"  # relative to the project
        assert resolved.via == ("vendored-sources",)
        assert resolved.origin == f"{world.project}/.cargo/config.toml:2"
        assert resolved.is_local and resolved.index_url is None


def test_cargo_vendor_output_for_an_alternate_registry(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml",
        f'[source."{LOCAL_SPARSE}"]\nregistry = "{LOCAL_SPARSE}"\n'
        'replace-with = "vendored-sources"\n[source.vendored-sources]\ndirectory = "/abs/vendor"\n',
    )
    resolved = world.load().resolve_source(LOCAL_SPARSE)
    assert resolved.local_path == Path("/abs/vendor")
    assert world.load().resolve_source(CRATES_IO).effective == CRATES_IO_SPARSE


def test_replacement_chains_and_registry_names(world: World) -> None:
    world.write(
        "cargo-home/config.toml",
        '[source.mirror]\nregistry = "sparse+http://127.0.0.1:9000/m/"\n'
        f'[registries.corp]\nindex = "{LOCAL_SPARSE}"\n',
    )
    world.write(
        "work/project/.cargo/config.toml",
        '[source.crates-io]\nreplace-with = "a"\n[source.a]\nlocal-registry = "lr"\n'
        'replace-with = "mirror"\n',
    )
    resolved = world.load().resolve_source(CRATES_IO)
    assert resolved.effective == "sparse+http://127.0.0.1:9000/m/"
    assert resolved.via == ("a", "mirror")
    assert resolved.index_url == "sparse+http://127.0.0.1:9000/m/"
    world.write("work/project/.cargo/config.toml", '[source.crates-io]\nreplace-with = "corp"\n')
    assert world.load().resolve_source(CRATES_IO).effective == LOCAL_SPARSE


def test_local_registry_replacement(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml",
        '[source.crates-io]\nreplace-with = "lr"\n[source.lr]\nlocal-registry = "/srv/local reg"\n',
    )
    resolved = world.load().resolve_source(CRATES_IO)
    assert resolved.kind is SourceKind.LOCAL_REGISTRY
    assert resolved.local_path == Path("/srv/local reg")
    assert resolved.effective == "local-registry+file:///srv/local%20reg"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[source.crates-io]\nreplace-with = "nowhere"\n', "could not find a configured source"),
        (
            '[source.crates-io]\nreplace-with = "a"\n[source.a]\nregistry = "https://a/"\n'
            'replace-with = "b"\n[source.b]\nregistry = "https://b/"\nreplace-with = "a"\n',
            "cycle",
        ),
        (
            '[source.crates-io]\nreplace-with = "g"\n[source.g]\ngit = "https://example.com/g"\n',
            "supports checksums",
        ),
    ],
)
def test_replacement_errors(world: World, text: str, message: str) -> None:
    path = world.write("work/project/.cargo/config.toml", text)
    config = world.load()
    with pytest.raises(ConfigError, match=message) as raised:
        config.resolve_source(CRATES_IO)
    assert raised.value.file == str(path)
    assert raised.value.line is not None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[source.x]\nregistry = "https://x/"\ndirectory = "v"\n', 1, "more than one"),
        ('[source.x]\nreplace-with = "y"\n', 1, "no source location"),
        ('[source.x]\ndirectory = "v"\nbranch = "main"\n', 3, "requires a `git` key"),
        ("[source.x]\nregistry = 5\n", 2, "must be a string"),
        ('[source.x]\nregistry = "not a url"\n', 2, "invalid URL"),
        (
            '[source.x]\nregistry = "https://same/"\n[source.y]\nregistry = "https://same"\n',
            None,
            "already defined",
        ),
    ],
)
def test_source_definition_errors(world: World, text: str, line: int | None, message: str) -> None:
    path = world.write("work/project/.cargo/config.toml", text)
    error = world.error()
    assert message in error.message
    assert error.file == str(path)
    if line is not None:
        assert error.line == line


# -- [sigstore] ------------------------------------------------------------------------------

FULL = """\
[sigstore]
trusted-root = "sigstore/trusted_root.json"
rekor-url = "http://127.0.0.1:3000"
unsigned = "deny"
rekor-search = true
jobs = 8
cache-dir = "/var/cache/cv"
offline = true

[sigstore.trust.mochi-example]
issuer = "https://token.actions.githubusercontent.com"
subject = "repo:example/mochi-example:ref:refs/tags/v*"
repository = "example/mochi-example"
workflow = "release.yml"
environment = "release"
ref = "refs/tags/v*"

[sigstore.exceptions.legacy-crate]
reason = "upstream does not sign yet"
expires = "2026-06-30"
version = "=1.2.3"
"""


def test_the_whole_sigstore_table(world: World) -> None:
    path = world.write("work/project/.cargo/config.toml", FULL)
    settings = world.load().sigstore
    assert settings.trusted_root == world.project / "sigstore" / "trusted_root.json"
    assert settings.rekor_url == "http://127.0.0.1:3000"
    assert settings.unsigned == "deny"
    assert settings.rekor_search is True
    assert settings.jobs == 8
    assert settings.cache_dir == Path("/var/cache/cv")
    assert settings.offline is True
    assert settings.origin("jobs") == f"{path}:6"
    assert settings.trust_for("mochi_example") == TrustRule(
        issuer="https://token.actions.githubusercontent.com",
        subject="repo:example/mochi-example:ref:refs/tags/v*",
        repository="example/mochi-example",
        workflow="release.yml",
        environment="release",
        ref="refs/tags/v*",
        origin=f"{path}:10",
    )
    exception = settings.exception_for("legacy-crate")
    assert exception is not None
    assert exception.reason == "upstream does not sign yet"
    assert exception.expires == date(2026, 6, 30)
    assert exception.version == "=1.2.3"
    assert exception.origin == f"{path}:18"


def test_defaults(world: World) -> None:
    settings = world.load().sigstore
    assert (settings.unsigned, settings.rekor_search, settings.offline) == ("warn", False, False)
    assert settings.trusted_root is None and settings.jobs is None
    assert settings.origin("unsigned") == "default"
    assert dict(settings.trust) == {} and dict(settings.exceptions) == {}


def test_real_cargo_ignores_our_table_silently(world: World, tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "main.rs").write_text("fn main() {}\n")
    (app / "Cargo.toml").write_text(
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (app / ".cargo").mkdir()
    (app / ".cargo" / "config.toml").write_text(FULL + '[install]\nverify = "sigstore"\n')
    cargo = shutil.which("cargo")
    assert cargo is not None, "cargo must be installed (design §4)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO")}
    env["CARGO_HOME"] = str(world.home)
    result = subprocess.run(
        [cargo, "generate-lockfile", "--offline"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert load_cargo_config(app, {"CARGO_HOME": str(world.home)}).sigstore.unsigned == "deny"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[sigstore]\nunsinged = "deny"\n', 2, "did you mean `unsigned`"),
        ('[sigstore]\nunsigned = "maybe"\n', 2, '"deny", "warn" or "allow"'),
        ('[sigstore]\njobs = "4"\n', 2, "integer"),
        ("[sigstore]\njobs = 0\n", 2, "integer from 1"),
        ("[sigstore]\njobs = true\n", 2, "integer"),
        ('[sigstore]\noffline = "yes"\n', 2, "boolean"),
        ("[sigstore]\nrekor-search = 1\n", 2, "boolean"),
        ('[sigstore]\nrekor-url = "rekor.example"\n', 2, "http"),
        ('[sigstore]\ntrusted-root = ""\n', 2, "non-empty"),
        ('sigstore = "on"\n', 1, "must be a table"),
        ('[sigstore]\ntrust = "x"\n', 2, "table of crate names"),
        ('[sigstore.trust]\nfoo = "x"\n', 2, "must be a table"),
        ('[sigstore.trust.foo]\nissuer = "https://i"\nsubjct = "x"\n', 3, "did you mean `subject`"),
        ('[sigstore.trust.foo]\nsubject = ""\n', 2, "non-empty string"),
        ("[sigstore.trust.foo]\nsubject = 3\n", 2, "non-empty string"),
        ("\n[sigstore.trust.foo]\n", 2, "is empty"),
        ('[sigstore.trust.foo]\nissuer = "token.actions"\n', 2, "http"),
        (
            '[sigstore.trust.foo-bar]\nsubject = "a"\n[sigstore.trust.Foo_Bar]\nsubject = "b"\n',
            3,
            "same crate",
        ),
        ('[sigstore.exceptions.foo]\nexpires = "2026-01-01"\n', 1, "non-empty `reason`"),
        ('[sigstore.exceptions.foo]\nreason = "  "\n', 1, "non-empty `reason`"),
        ('[sigstore.exceptions.foo]\nreason = "r"\nexpires = "tomorrow"\n', 3, "YYYY-MM-DD"),
        ('[sigstore.exceptions.foo]\nreason = "r"\nexpires = "2026-1-1"\n', 3, "YYYY-MM-DD"),
        ('[sigstore.exceptions.foo]\nreason = "r"\nversion = ">=1 <2"\n', 3, "version"),
        ('[sigstore.exceptions.foo]\nreason = "r"\nwhy = "x"\n', 3, "unknown key `why`"),
        ('[sigstore.exceptions.foo]\nreason = "r"\nexpires = 20260101\n', 3, "must be a string"),
    ],
)
def test_sigstore_errors_name_file_and_line(
    world: World, text: str, line: int, message: str
) -> None:
    path = world.write("work/project/.cargo/config.toml", text)
    error = world.error()
    assert message in error.message
    assert (error.file, error.line) == (str(path), line)


def test_errors_in_a_losing_file_are_still_reported(world: World) -> None:
    path = world.write("cargo-home/config.toml", '[sigstore]\nunsigned = "nope"\n')
    world.write("work/project/.cargo/config.toml", '[sigstore]\nunsigned = "deny"\n')
    error = world.error()
    assert (error.file, error.line) == (str(path), 2)


def test_project_trust_entry_replaces_the_home_entry_whole(world: World) -> None:
    world.write(
        "cargo-home/config.toml",
        '[sigstore]\nunsigned = "deny"\njobs = 3\n'
        '[sigstore.trust.foo]\nissuer = "https://home"\nrepository = "home/repo"\n'
        '[sigstore.trust.only-home]\nsubject = "x"\n',
    )
    project = world.write(
        "work/project/.cargo/config.toml",
        '[sigstore]\nunsigned = "allow"\n[sigstore.trust.FOO]\nsubject = "repo:p/foo:*"\n',
    )
    settings = world.load().sigstore
    assert settings.unsigned == "allow"
    assert settings.jobs == 3
    assert settings.origin("jobs") == f"{world.home}/config.toml:3"
    assert settings.trust_for("foo") == TrustRule(subject="repo:p/foo:*", origin=f"{project}:3")
    rule = settings.trust_for("only_home")
    assert rule is not None and rule.origin == f"{world.home}/config.toml:7"


def test_sigstore_scalars_from_the_environment(world: World) -> None:
    world.write("work/project/.cargo/config.toml", '[sigstore]\nunsigned = "allow"\njobs = 2\n')
    settings = world.load(
        CARGO_SIGSTORE_UNSIGNED="deny",
        CARGO_SIGSTORE_OFFLINE="true",
        CARGO_SIGSTORE_TRUSTED_ROOT="root.json",
    ).sigstore
    assert settings.unsigned == "deny"
    assert settings.origin("unsigned") == "environment variable `CARGO_SIGSTORE_UNSIGNED`"
    assert settings.offline is True
    assert settings.trusted_root == world.cwd / "root.json"
    assert settings.jobs == 2
    with pytest.raises(ConfigError, match="CARGO_SIGSTORE_JOBS"):
        world.load(CARGO_SIGSTORE_JOBS="many")
    with pytest.raises(ConfigError, match="CARGO_SIGSTORE_UNSIGNED"):
        world.load(CARGO_SIGSTORE_UNSIGNED="sometimes")


def test_exception_versions(world: World) -> None:
    world.write(
        "work/project/.cargo/config.toml",
        '[sigstore.exceptions.a]\nreason = "r"\nversion = "1.2.3"\n'
        '[sigstore.exceptions.b]\nreason = "r"\nversion = "^1.2"\n'
        '[sigstore.exceptions.c]\nreason = "r"\n',
    )
    settings = world.load().sigstore
    exact, req, every = (settings.exception_for(n) for n in "abc")
    assert exact is not None and req is not None and every is not None
    assert exact.matches_version("1.2.3") and not exact.matches_version("1.2.4")
    assert req.matches_version("1.9.0") and not req.matches_version("2.0.0")
    assert every.matches_version("0.0.1")
    assert not req.matches_version("not-a-version")


def test_deeply_nested_tables_are_an_error_not_a_crash(world: World) -> None:
    world.write("work/project/.cargo/config.toml", "x." + ".".join(["a"] * 600) + " = 1\n")
    assert "nested too deeply" in world.error().message


_FRAGMENTS = [
    "[sigstore]\n",
    "[sigstore.trust.foo]\n",
    "[sigstore.exceptions.foo]\n",
    "[source.crates-io]\n",
    "[source.v]\n",
    "[registries.r]\n",
    "[install]\n",
    'unsigned = "deny"\n',
    "jobs = 4\n",
    "jobs = -1\n",
    'issuer = "https://i"\n',
    'subject = "repo:*"\n',
    'reason = "r"\n',
    'expires = "2026-01-01"\n',
    'version = "^1"\n',
    'replace-with = "v"\n',
    'directory = "vendor"\n',
    'registry = "sparse+http://x/"\n',
    'index = "sparse+http://r/"\n',
    'verify = "sigstore"\n',
    'include = ["other.toml"]\n',
    "x = 1.5\n",
    "bogus = true\n",
    "\n",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12))
def test_any_config_gives_settings_or_a_config_error(parts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / ".cargo").mkdir()
        (root / ".cargo" / "config.toml").write_text("".join(parts))
        (root / ".cargo" / "other.toml").write_text('[sigstore]\nunsigned = "warn"\n')
        try:
            config = load_cargo_config(root, {"CARGO_HOME": str(root / "home")})
        except ConfigError as error:
            assert error.line is None or error.line >= 1
            return
        assert config.sigstore.unsigned in ("deny", "warn", "allow")
        for source in (CRATES_IO, LOCAL_SPARSE):
            with contextlib.suppress(ConfigError):
                config.resolve_source(source)
