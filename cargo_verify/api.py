"""The public Python API: the same engine and Report the CLI uses."""

from __future__ import annotations

from pathlib import Path

from cargo_verify.model import Report, TrustRule


def verify_lockfile(
    lockfile: str | Path | None = None,
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    trusted_root: str | Path | None = None,
    offline: bool | None = None,
    unsigned: str | None = None,
    jobs: int | None = None,
    rekor_url: str | None = None,
    rekor_search: bool | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    mochi_toml: str | Path | None = None,
    trust: dict[str, TrustRule] | None = None,
) -> Report:
    """Verify every registry package of a Cargo.lock; settings not given come from cargo
    config and mochi.toml exactly as for `cargo-verify check`, and the identity-pinning
    record next to the lockfile (cargo-verify-pins.toml) is applied read-only, as `check`
    does. Raises CargoVerifyError subclasses for usage and configuration problems (exit code
    2 on the command line)."""
    from cargo_verify.commands.check import plan_check, run_plan
    from cargo_verify.pin_record import record_path_for
    from cargo_verify.pinning import check_pins

    plan = plan_check(
        Path(lockfile) if lockfile is not None else None,
        cwd=Path(cwd) if cwd is not None else None,
        env=env,
        trusted_root=str(trusted_root) if trusted_root is not None else None,
        offline=offline,
        unsigned=unsigned,
        jobs=jobs,
        rekor_url=rekor_url,
        rekor_search=rekor_search,
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
        use_cache=use_cache,
        mochi_toml=Path(mochi_toml) if mochi_toml is not None else None,
        cli_rules=trust,
    )
    report = run_plan(plan, show_progress=False)
    return check_pins(
        report, record_path_for(plan.lockfile), rule_for=plan.policies.rule_for
    ).report
