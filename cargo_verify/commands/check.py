"""`cargo-verify check` (and `cargo verify`): verify every registry package of a Cargo.lock."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from cargo_verify.cache import VerdictCache
from cargo_verify.errors import CargoVerifyError, ConfigError, UsageError
from cargo_verify.http import HttpSettings
from cargo_verify.model import Package, Report, TrustRule
from cargo_verify.pipeline import (
    Policies,
    Settings,
    UnsignedException,
    prestart_verifiers,
    verify_packages,
)
from cargo_verify.verify import TrustRootSpec

if TYPE_CHECKING:
    from cargo_verify.report import Format

CRATES_IO_SPARSE = "sparse+https://index.crates.io/"
DEFAULT_TIMEOUT = 900.0  # seconds for a whole run


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
    timeout: float | None = None,
) -> CheckPlan:
    """Resolve settings with design §3.2 precedence: flag > mochi.toml > cargo config > default."""
    from cargo_verify.config import crate_key, load_cargo_config
    from cargo_verify.plan_cache import lockfile_packages, trust_rules
    from cargo_verify.trust_config import resolve_exception, resolve_trust

    cwd = cwd or Path.cwd()
    env = dict(os.environ if env is None else env)
    path = lockfile if lockfile is not None else cwd / "Cargo.lock"
    if not path.is_absolute():
        path = cwd / path
    if not path.is_file():
        raise UsageError(f"lockfile not found: {path} (pass --lockfile PATH)")
    config = load_cargo_config(cwd, env)
    sig = config.sigstore
    root = trusted_root or (str(sig.trusted_root) if sig.trusted_root else None)
    if root is not None and not Path(root).is_file():
        if trusted_root is None:  # from cargo config: name the file and line that set it
            raise ConfigError(f"trusted root not found: {root}", sig.origin("trusted-root"))
        raise UsageError(f"trusted root not found: {root}")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    cache_root = (cache_dir or sig.cache_dir or default_cache_dir()) if use_cache else None
    verdicts = VerdictCache(cache_root, os.path.abspath(path)) if cache_root else None
    manifest_path = mochi_toml if mochi_toml is not None else path.parent / "mochi.toml"
    manifest_display = _display(manifest_path, cwd)
    if _likely_to_verify(verdicts, path, manifest_path, manifest_display):
        # Let the workers import sigstore on another core while the lockfile is parsed
        # (pipeline.prestart_verifiers); a run that then needs no verification stops them.
        prestart_verifiers(TrustRootSpec(path=root, offline=bool(offline or sig.offline)),
                           jobs or sig.jobs or 0)
    # An unchanged lockfile or mochi.toml is then a JSON load, not a parse (plan_cache.py).
    packages = lockfile_packages(path, verdicts)
    manifest_rules: dict[str, TrustRule] = {}
    if manifest_path.is_file():
        manifest_rules = trust_rules(manifest_path, manifest_display, verdicts)
    elif mochi_toml is not None:
        raise UsageError(f"mochi.toml not found: {mochi_toml}")

    unsigned_policy = unsigned or sig.unsigned
    if unsigned_policy not in ("deny", "warn", "allow"):
        raise ConfigError(f"unsigned must be deny, warn or allow, not {unsigned_policy!r}")
    settings = Settings(
        trust_root=TrustRootSpec(path=root, offline=bool(offline or sig.offline)),
        unsigned=unsigned_policy,
        jobs=jobs or sig.jobs or 0,
        rekor_search=bool(rekor_search if rekor_search is not None else sig.rekor_search),
        rekor_url=rekor_url or sig.rekor_url,
        cache_dir=cache_root,
        cargo_home=config.cargo_home,
        http=HttpSettings(cainfo=str(config.http_cainfo) if config.http_cainfo else None),
        # A slow-drip server defeats per-read timeouts; without an overall deadline a CI
        # gate could hang forever. 0 switches the deadline off.
        timeout=DEFAULT_TIMEOUT if timeout is None else (timeout or None),
    )
    day = today or date.today()
    rules = cli_rules or {}

    # Each crate's manifest entry looked up by normalized name (first wins, as resolve_trust
    # scans), so a mochi.toml of 1,000 entries costs O(1) per crate instead of O(entries).
    by_key: dict[str, tuple[str, TrustRule]] = {}
    for entry_name, entry_rule in manifest_rules.items():
        by_key.setdefault(crate_key(entry_name), (entry_name, entry_rule))

    def rule_for(name: str) -> TrustRule:
        found = by_key.get(crate_key(name))
        manifest = dict([found]) if found is not None else None
        return resolve_trust(name, rules.get(name), manifest, config)

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
    if verdicts is not None:
        verdicts.flush_plan()  # only now: a plan that failed leaves nothing behind
    return CheckPlan(path, packages, settings, policies)


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def _likely_to_verify(
    verdicts: VerdictCache | None, lockfile: Path, manifest: Path, manifest_display: str
) -> bool:
    """Whether this run will most likely verify something: nothing was verified for this
    lockfile yet, or it or its mochi.toml changed since (new crates, new trust entries). An
    unchanged pair is the warm re-check, which must not import sigstore at all."""
    from cargo_verify.plan_cache import is_unchanged

    if verdicts is None or not verdicts.path.exists():
        return True
    if not is_unchanged("lockfile", lockfile, verdicts):
        return True
    return manifest.is_file() and not is_unchanged("mochi", manifest, verdicts, manifest_display)


def run_plan(plan: CheckPlan, *, show_progress: bool = True) -> Report:
    from cargo_verify.report.human import ProgressDisplay

    registry_count = sum(1 for p in plan.packages if p.is_registry)
    with ProgressDisplay(registry_count if show_progress else 0) as progress:
        return verify_packages(
            plan.packages, plan.settings, plan.policies,
            lockfile=str(plan.lockfile), progress=progress,
        )


def run_check(args: argparse.Namespace) -> int:
    """Verify each lockfile named (default ./Cargo.lock); the worst exit code wins.

    Several lockfiles (a monorepo, or the staged files pre-commit passes) are checked one
    after another; a lockfile that cannot be read is reported and the others still run.
    """
    from cargo_verify.report import Format

    lockfiles = lockfile_arguments(args)
    fmt = Format(args.format)
    if len(lockfiles) > 1 and fmt in (Format.JSON, Format.SARIF):
        raise UsageError(
            f"--format {fmt} writes one document per lockfile: "
            f"run once per lockfile ({len(lockfiles)} given)"
        )
    if len(lockfiles) == 1:
        report = _check_one(lockfiles[0], args)
        _emit([report], args, fmt)
        return report.exit_code
    reports: list[Report] = []
    codes: list[int] = []
    for lockfile in lockfiles:
        try:
            report = _check_one(lockfile, args)
        except CargoVerifyError as exc:
            print(f"cargo-verify: error: {exc.diagnostics()}", file=sys.stderr)
            codes.append(exc.exit_code)
            continue
        reports.append(report)
        codes.append(report.exit_code)
    _emit(reports, args, fmt)
    return combined_exit_code(codes)


def lockfile_arguments(args: argparse.Namespace) -> list[Path | None]:
    """`--lockfile` and the positional paths, in order; `[None]` means ./Cargo.lock."""
    named: list[str] = [args.lockfile] if args.lockfile else []
    positional: list[str] = getattr(args, "lockfiles", None) or []
    paths = [Path(p) for p in (*named, *positional)]
    unique: list[Path | None] = list(dict.fromkeys(paths))
    return unique or [None]


# A definite failure says most about the commit or build being gated, then a broken
# input, then a missing verdict.
_EXIT_PRIORITY = (1, 2, 3)


def combined_exit_code(codes: list[int]) -> int:
    """The exit code of a run over several lockfiles: 1 > 2 > 3 > 0."""
    for code in _EXIT_PRIORITY:
        if code in codes:
            return code
    return max(codes, default=0)


def _check_one(lockfile: Path | None, args: argparse.Namespace) -> Report:
    plan = plan_check(
        lockfile,
        trusted_root=args.trusted_root,
        offline=args.offline,
        unsigned=args.unsigned,
        jobs=args.jobs,
        rekor_url=args.rekor_url,
        rekor_search=args.rekor_search,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        use_cache=not args.no_cache,
        mochi_toml=Path(args.mochi_toml) if args.mochi_toml else None,
        timeout=getattr(args, "timeout", None),
    )
    report = run_plan(plan)
    if _pinning_applies(plan, args):
        from cargo_verify.commands.pin import apply_record  # docs/identity-pinning.md

        report = apply_record(report, plan, args)
    return _relative_lockfile(report)


PIN_RECORD_FILE_NAME = "cargo-verify-pins.toml"  # pin_record.RECORD_FILE_NAME (tested equal)


def _pinning_applies(plan: CheckPlan, args: argparse.Namespace) -> bool:
    """False when `apply_record` would return the report unchanged and print nothing: no pin
    record next to the lockfile and nothing asked of it. The pinning modules then stay
    unimported (~10 ms of a warm re-check)."""
    if getattr(args, "accept_identity", None) or getattr(args, "update_pins", False):
        return True
    return (plan.lockfile.parent / PIN_RECORD_FILE_NAME).exists()


def _emit(reports: list[Report], args: argparse.Namespace, fmt: Format) -> None:
    """Print (or write to --output) every report; the human report stays on the terminal."""
    from cargo_verify.report import Format, reporter_for

    def render(report_format: Format) -> str:
        if report_format is Format.HUMAN:
            reporter = reporter_for(report_format, verbose=not args.quiet)
        else:
            root = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
            reporter = reporter_for(report_format, root=root)
        # Human reports get a blank line between lockfiles; machine formats stay line-exact.
        separator = "\n" if report_format is Format.HUMAN else ""
        return separator.join(reporter.render(report) for report in reports)

    rendered = render(fmt)
    if args.output:
        from cargo_verify.atomic import atomic_write

        atomic_write(Path(args.output), rendered.encode())
        rendered = rendered if fmt is Format.HUMAN else render(Format.HUMAN)
    sys.stdout.write(rendered)
    if fmt is Format.GITHUB and os.environ.get("GITHUB_STEP_SUMMARY"):
        from cargo_verify.report.github import step_summary

        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.writelines(step_summary(report) for report in reports)


def _relative_lockfile(report: Report) -> Report:
    if report.lockfile is None:
        return report
    from dataclasses import replace

    return replace(report, lockfile=_display(Path(report.lockfile), Path.cwd()))
