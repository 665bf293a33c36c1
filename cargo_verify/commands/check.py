"""`cargo-verify check` (and `cargo verify`): verify every registry package of a Cargo.lock."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cargo_verify.errors import ConfigError, UsageError
from cargo_verify.model import Package, Report, TrustRule
from cargo_verify.pipeline import Policies, Settings, UnsignedException, verify_packages
from cargo_verify.verify import TrustRootSpec

CRATES_IO_SPARSE = "sparse+https://index.crates.io/"


@dataclass(frozen=True)
class CheckPlan:
    """Everything a run needs, resolved from flags, mochi.toml and cargo config."""

    lockfile: Path
    packages: list[Package]
    settings: Settings
    policies: Policies


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cargo-verify")) / "verdicts"


def plan_check(
    lockfile: Path | None = None,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    trusted_root: str | None = None,
    offline: bool | None = None,
    unsigned: str | None = None,
    jobs: int | None = None,
    rekor_url: str | None = None,
    rekor_search: bool | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    mochi_toml: Path | None = None,
    cli_rules: dict[str, TrustRule] | None = None,
    today: date | None = None,
) -> CheckPlan:
    """Resolve settings with design §3.2 precedence: flag > mochi.toml > cargo config > default."""
    from cargo_verify.config import load_cargo_config
    from cargo_verify.lockfile import read_lockfile
    from cargo_verify.manifest import read_trust_rules
    from cargo_verify.trust_config import resolve_exception, resolve_trust

    cwd = cwd or Path.cwd()
    env = dict(os.environ if env is None else env)
    path = lockfile if lockfile is not None else cwd / "Cargo.lock"
    if not path.is_absolute():
        path = cwd / path
    if not path.is_file():
        raise UsageError(f"lockfile not found: {path} (pass --lockfile PATH)")
    lock = read_lockfile(path)
    config = load_cargo_config(cwd, env)
    sig = config.sigstore
    manifest_path = mochi_toml if mochi_toml is not None else path.parent / "mochi.toml"
    manifest_rules: dict[str, TrustRule] = {}
    if manifest_path.is_file():
        manifest_rules = read_trust_rules(manifest_path, _display(manifest_path, cwd))
    elif mochi_toml is not None:
        raise UsageError(f"mochi.toml not found: {mochi_toml}")

    unsigned_policy = unsigned or sig.unsigned
    if unsigned_policy not in ("deny", "warn", "allow"):
        raise ConfigError(f"unsigned must be deny, warn or allow, not {unsigned_policy!r}")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    root = trusted_root or (str(sig.trusted_root) if sig.trusted_root else None)
    if root is not None and not Path(root).is_file():
        raise UsageError(f"trusted root not found: {root}")
    settings = Settings(
        trust_root=TrustRootSpec(path=root, offline=bool(offline or sig.offline)),
        unsigned=unsigned_policy,
        jobs=jobs or sig.jobs or 0,
        rekor_search=bool(rekor_search if rekor_search is not None else sig.rekor_search),
        rekor_url=rekor_url or sig.rekor_url,
        cache_dir=(cache_dir or sig.cache_dir or default_cache_dir()) if use_cache else None,
        cargo_home=config.cargo_home,
    )
    day = today or date.today()
    rules = cli_rules or {}

    def rule_for(name: str) -> TrustRule:
        return resolve_trust(name, rules.get(name), manifest_rules, config)

    def exception_for(package: Package) -> UnsignedException | None:
        match = resolve_exception(package.name, package.version, config, day)
        if match is None:
            return None
        exc = match.exception
        return UnsignedException(
            reason=exc.reason,
            origin=exc.origin,
            expired_on=exc.expires if match.expired else None,
        )

    def index_for(source: str) -> str | None:
        resolved = config.resolve_source(source)
        if resolved.kind.name == "SPARSE":
            return resolved.effective
        from cargo_verify.cargo_home import download_source

        effective = download_source(resolved.effective, config.crates_io_protocol)
        return effective if effective.startswith("sparse+") else None

    policies = Policies(
        rule_lookup=rule_for, exception_lookup=exception_for, source_map=index_for
    )
    return CheckPlan(path, lock.packages, settings, policies)


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def run_plan(plan: CheckPlan, *, show_progress: bool = True) -> Report:
    from cargo_verify.report.human import ProgressDisplay

    registry_count = sum(1 for p in plan.packages if p.is_registry)
    with ProgressDisplay(registry_count if show_progress else 0) as progress:
        return verify_packages(
            plan.packages, plan.settings, plan.policies,
            lockfile=str(plan.lockfile), progress=progress,
        )


def run_check(args: argparse.Namespace) -> int:
    from cargo_verify.report import Format, reporter_for

    plan = plan_check(
        Path(args.lockfile) if args.lockfile else None,
        trusted_root=args.trusted_root,
        offline=args.offline,
        unsigned=args.unsigned,
        jobs=args.jobs,
        rekor_url=args.rekor_url,
        rekor_search=args.rekor_search,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        use_cache=not args.no_cache,
        mochi_toml=Path(args.mochi_toml) if args.mochi_toml else None,
    )
    report = run_plan(plan)
    report = _relative_lockfile(report)
    fmt = Format(args.format)
    root = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
    options: dict[str, object] = (
        {"verbose": not args.quiet} if fmt is Format.HUMAN else {"root": root}
    )
    rendered = reporter_for(fmt, **options).render(report)
    if args.output:
        from cargo_verify.atomic import atomic_write

        atomic_write(Path(args.output), rendered.encode())
        if fmt is not Format.HUMAN:
            sys.stdout.write(reporter_for(Format.HUMAN, verbose=not args.quiet).render(report))
    else:
        sys.stdout.write(rendered)
    if fmt is Format.GITHUB and os.environ.get("GITHUB_STEP_SUMMARY"):
        from cargo_verify.report.github import step_summary

        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(step_summary(report))
    return report.exit_code


def _relative_lockfile(report: Report) -> Report:
    if report.lockfile is None:
        return report
    from dataclasses import replace

    return replace(report, lockfile=_display(Path(report.lockfile), Path.cwd()))
