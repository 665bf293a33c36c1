"""Which trust rule and which exception apply to a crate.

Precedence (design §3.2): command-line flag > mochi.toml > project `.cargo/config.toml`
(deeper directories first) > `$CARGO_HOME/config.toml` > the default rule "any OIDC subject".
The cargo-config part of that order is already settled by `config.load_cargo_config`. A rule
is taken whole from the first place that has one for the crate; rules are never merged field
by field, so a narrow rule in one place cannot be widened by another. Crate names match the
way crates.io compares them (case-insensitive, `-` = `_`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from cargo_verify.config import CargoConfig, PolicyException, crate_key
from cargo_verify.model import TrustRule

DEFAULT_RULE = TrustRule()


def resolve_trust(
    crate: str,
    cli_rule: TrustRule | None,
    manifest_rules: Mapping[str, TrustRule] | None,
    cargo_config: CargoConfig | None,
) -> TrustRule:
    """The rule that applies to `crate`; its `origin` says where it came from."""
    if cli_rule is not None and not cli_rule.is_default:
        return cli_rule
    key = crate_key(crate)
    for name, rule in (manifest_rules or {}).items():
        if crate_key(name) == key:
            return rule
    configured = cargo_config.sigstore.trust_for(crate) if cargo_config is not None else None
    return configured if configured is not None else DEFAULT_RULE


@dataclass(frozen=True)
class ExceptionMatch:
    """An exception configured for this crate and version; it applies unless it expired."""

    exception: PolicyException
    expired: bool

    @property
    def applies(self) -> bool:
        return not self.expired

    def describe(self) -> str:
        if self.expired and self.exception.expires is not None:
            return (
                f"the exception for {self.exception.crate} expired on "
                f"{self.exception.expires.isoformat()} ({self.exception.origin}); "
                "it no longer applies"
            )
        return self.exception.describe()


def resolve_exception(
    crate: str, version: str, cargo_config: CargoConfig | None, today: date
) -> ExceptionMatch | None:
    """The `[sigstore.exceptions.<crate>]` entry for this version, if any.

    None when there is no entry or its `version` does not match. An entry whose `expires`
    day is before `today` is returned with `expired=True`, so the caller can report that it
    no longer applies instead of silently ignoring it.
    """
    if cargo_config is None:
        return None
    exception = cargo_config.sigstore.exception_for(crate)
    if exception is None or not exception.matches_version(version):
        return None
    return ExceptionMatch(exception, exception.is_expired(today))
