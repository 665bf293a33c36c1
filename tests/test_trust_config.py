"""Policy resolution: CLI > mochi.toml > project config > $CARGO_HOME config > default."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cargo_verify.config import CargoConfig, load_cargo_config
from cargo_verify.manifest import parse_manifest
from cargo_verify.model import TrustRule
from cargo_verify.trust_config import DEFAULT_RULE, resolve_exception, resolve_trust


def _config(tmp_path: Path) -> CargoConfig:
    home, project = tmp_path / "home", tmp_path / "project"
    (home).mkdir()
    (project / ".cargo").mkdir(parents=True)
    (home / "config.toml").write_text(
        '[sigstore.trust.everywhere]\nsubject = "home"\n'
        '[sigstore.trust.home-only]\nsubject = "home"\n'
        '[sigstore.exceptions.old]\nreason = "home reason"\n'
    )
    (project / ".cargo" / "config.toml").write_text(
        '[sigstore.trust.everywhere]\nsubject = "project"\n'
        '[sigstore.exceptions.old]\nreason = "not signed yet"\nexpires = "2026-03-31"\n'
        'version = "<2"\n'
    )
    return load_cargo_config(project, {"CARGO_HOME": str(home), "HOME": str(tmp_path)})


def test_precedence(tmp_path: Path) -> None:
    config = _config(tmp_path)
    manifest = parse_manifest(
        '[rust-dependencies.everywhere]\ntrust = { subject = "mochi" }\n', "mochi.toml"
    ).trust_rules()
    cli = TrustRule(subject="cli", origin="--trust-subject")

    assert resolve_trust("everywhere", cli, manifest, config) is cli
    assert resolve_trust("everywhere", None, manifest, config).origin == "mochi.toml:2"
    from_project = resolve_trust("everywhere", None, {}, config)
    assert (from_project.subject, from_project.origin) == (
        "project",
        f"{tmp_path}/project/.cargo/config.toml:1",
    )
    from_home = resolve_trust("home-only", None, manifest, config)
    assert (from_home.subject, from_home.origin) == ("home", f"{tmp_path}/home/config.toml:3")
    default = resolve_trust("unknown", None, manifest, config)
    assert default == DEFAULT_RULE and default.origin == "default" and default.is_default
    assert resolve_trust("unknown", None, None, None) == DEFAULT_RULE


def test_an_empty_cli_rule_does_not_hide_configured_ones(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert resolve_trust("everywhere", TrustRule(), {}, config).subject == "project"


def test_crate_names_match_like_crates_io(tmp_path: Path) -> None:
    config = _config(tmp_path)
    manifest = {"My_Crate": TrustRule(subject="m", origin="mochi.toml:9")}
    assert resolve_trust("my-crate", None, manifest, config).origin == "mochi.toml:9"
    assert resolve_trust("Home_Only", None, {}, config).subject == "home"


def test_exceptions_apply_until_they_expire(tmp_path: Path) -> None:
    config = _config(tmp_path)
    match = resolve_exception("old", "1.5.0", config, date(2026, 3, 31))
    assert match is not None and match.applies and not match.expired
    assert match.exception.reason == "not signed yet"  # the project entry, whole
    assert "not signed yet" in match.describe()

    expired = resolve_exception("old", "1.5.0", config, date(2026, 4, 1))
    assert expired is not None and not expired.applies
    assert "expired on 2026-03-31" in expired.describe()
    assert f"{tmp_path}/project/.cargo/config.toml:3" in expired.describe()

    assert resolve_exception("old", "2.0.0", config, date(2026, 1, 1)) is None  # version
    assert resolve_exception("other", "1.0.0", config, date(2026, 1, 1)) is None
    assert resolve_exception("old", "1.0.0", None, date(2026, 1, 1)) is None
