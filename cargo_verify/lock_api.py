"""Lock time for Mochi: the Python API behind `cargo-verify add` and `cargo-verify lock-hook`.

    verify_one("mochi-example", "^0.1", settings=...)  -> CrateResult   (no files touched)
    add_crate("mochi-example", "^0.1", manifest=Path("mochi.toml"))  -> AddResult
    run_lock_hook(Path("mochi.lock.new"), Path("mochi.lock"))  -> LockHookResult

Resolution follows cargo (highest matching version that is not yanked; pre-releases only when
the requirement names one), the download and the Sigstore verification are the pipeline's,
and every write goes through `atomic.atomic_write` inside `deferred_interrupts`, after all
checks passed and both new file contents exist in memory. On any failure nothing is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cargo_verify.atomic import atomic_write, deferred_interrupts, pause_point
from cargo_verify.cargo_home import SourceKind, download_source
from cargo_verify.config import CargoConfig, crate_key, load_cargo_config
from cargo_verify.errors import ConfigError, InfraError, UsageError
from cargo_verify.http import HttpSettings, make_client
from cargo_verify.manifest import read_manifest
from cargo_verify.manifest_edit import add_dependency
from cargo_verify.mochi_lock import (
    LOCK_FILE_NAME,
    LockEntry,
    parse_lock,
    read_lock_or_empty,
)
from cargo_verify.model import Code, Package, Report, Status, TrustRule, Verdict
from cargo_verify.pinning import RECORD_FILE_NAME, PinOutcome, check_pins, record_path_for
from cargo_verify.pipeline import (
    UNSIGNED_POLICIES,
    Policies,
    Settings,
    UnsignedException,
    verify_packages,
)
from cargo_verify.registry import CRATES_IO_SPARSE, IndexError_, SparseRegistry
from cargo_verify.semver import Version, VersionReq, select_version
from cargo_verify.trust_config import resolve_exception, resolve_trust
from cargo_verify.verify import TrustRootSpec

__all__ = [
    "AddProgress",
    "AddResult",
    "CrateResult",
    "LockHookResult",
    "Resolution",
    "add_crate",
    "parse_spec",
    "resolve",
    "run_lock_hook",
    "settings_for",
    "verify_one",
]

CRATES_IO_LOCK_SOURCE = "registry+https://github.com/rust-lang/crates.io-index"
MAX_INDEX_VERSION = 2  # cargo 1.95 skips index lines with a higher `v`
_CRATE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """The version a requirement selects, as cargo would lock it."""

    name: str  # as published (the index may spell `_`/`-` differently from the request)
    requirement: str  # as given; "*" when none was
    version: str
    checksum: str
    source: str  # the lock's `source`: `sparse+URL`, or cargo's crates.io source string
    index_url: str  # the sparse index the lines came from (after source replacement)
    skipped_yanked: tuple[str, ...] = ()  # matching versions passed over because yanked

    def package(self) -> Package:
        return Package(self.name, self.version, self.source, self.checksum)


@dataclass(frozen=True)
class CrateResult:
    """One crate resolved, fetched and verified: the JSON report's fields, plus the request."""

    name: str
    version: str
    source: str | None
    checksum: str | None
    status: Status
    reason: str | None
    code: Code | None
    rekor_log_index: int | None
    issuer: str | None
    identity: str | None
    matched_form: str | None
    policy: str | None
    evidence: str | None
    requirement: str
    download_url: str | None
    download_bytes: int | None
    verdict: Verdict = field(repr=False, compare=False)

    @classmethod
    def from_verdict(
        cls, verdict: Verdict, requirement: str, download: tuple[str, int] | None
    ) -> CrateResult:
        package = verdict.package
        return cls(
            name=package.name, version=package.version, source=package.source,
            checksum=package.checksum, status=verdict.status, reason=verdict.reason,
            code=verdict.code, rekor_log_index=verdict.rekor_log_index, issuer=verdict.issuer,
            identity=verdict.identity, matched_form=verdict.matched_form, policy=verdict.policy,
            evidence=verdict.evidence, requirement=requirement,
            download_url=download[0] if download else None,
            download_bytes=download[1] if download else None, verdict=verdict,
        )

    @property
    def ok(self) -> bool:
        """Verified, or unsigned where the unsigned setting allows it."""
        return self.status in (Status.VERIFIED, Status.UNSIGNED)

    @property
    def exit_code(self) -> int:
        return Report((self.verdict,)).exit_code

    def to_json(self) -> dict[str, Any]:
        out = self.verdict.to_json()
        out["requirement"] = self.requirement
        if self.download_url is not None:
            out["download"] = {"url": self.download_url, "bytes": self.download_bytes}
        return out


@dataclass(frozen=True)
class AddResult:
    crate: CrateResult
    manifest: Path
    lock: Path
    manifest_requirement: str  # what `version` now says (or would have said) in mochi.toml
    written: bool

    @property
    def exit_code(self) -> int:
        return self.crate.exit_code

    def to_json(self) -> dict[str, Any]:
        report = Report((self.crate.verdict,), lockfile=str(self.lock)).to_json()
        report["packages"] = [self.crate.to_json()]
        report["manifest"] = str(self.manifest)
        report["written"] = self.written
        return report


@dataclass(frozen=True)
class LockHookResult:
    candidate: Path
    lock: Path
    report: Report  # one verdict per candidate entry, recorded evidence compared
    accepted: bool
    changed: bool  # the lock file was replaced (False when refused or already identical)

    @property
    def exit_code(self) -> int:
        return 0 if self.accepted else (self.report.exit_code or 1)

    def to_json(self) -> dict[str, Any]:
        out = self.report.to_json()
        out["candidate"] = str(self.candidate)
        out["accepted"] = self.accepted
        out["changed"] = self.changed
        return out


class AddProgress:
    """Observer of `add_crate` / `verify_one`; the CLI renders these, the API default is silent."""

    def resolved(self, resolution: Resolution) -> None:
        """Step 1 done."""

    def downloading(self, url: str, received: int, done: bool) -> None:
        """Step 2: called with 0 bytes first, then after every chunk, then with done=True."""

    def verified(self, result: CrateResult) -> None:
        """Step 3 done (passed or not)."""

    def recorded(self, result: AddResult) -> None:
        """Step 4: both files written."""


# -- settings and policies -----------------------------------------------------------------


def settings_for(
    project_dir: Path,
    *,
    trusted_root: str | None = None,
    offline: bool | None = None,
    unsigned: str | None = None,
    config: CargoConfig | None = None,
    use_caches: bool = False,
) -> Settings:
    """Settings from the flags given, then cargo config as seen from `project_dir`.

    `use_caches` lets the pipeline hash crates already in cargo's download cache and answer
    from the configured verdict cache (`[sigstore] cache-dir`) instead of downloading and
    verifying again. `add` never does (it always downloads and verifies); the lock hook does.
    """
    config = config if config is not None else load_cargo_config(project_dir)
    sig = config.sigstore
    policy = unsigned or sig.unsigned
    if policy not in UNSIGNED_POLICIES:
        raise UsageError(f"unsigned must be one of {', '.join(UNSIGNED_POLICIES)}, "
                         f"not {policy!r}")
    root = trusted_root or (str(sig.trusted_root) if sig.trusted_root is not None else None)
    return Settings(
        trust_root=TrustRootSpec(root, bool(offline if offline is not None else sig.offline)),
        unsigned=policy,
        rekor_search=sig.rekor_search,
        rekor_url=sig.rekor_url,
        cache_dir=sig.cache_dir if use_caches else None,
        jobs=sig.jobs or 0,
        cargo_home=config.cargo_home if use_caches else None,
    )


def _index_for(config: CargoConfig) -> Callable[[str], str | None]:
    """A lock source → the sparse index to fetch it from, after `[source]` replacement."""

    def index_for(source: str) -> str | None:
        resolved = config.resolve_source(source)
        if resolved.kind is SourceKind.SPARSE:
            return resolved.effective
        effective = download_source(resolved.effective, config.crates_io_protocol)
        return effective if effective.startswith("sparse+") else None

    return index_for


def _policies(
    cli_rule: TrustRule | None, manifest_rules: Mapping[str, TrustRule], config: CargoConfig
) -> Policies:
    """Trust rules by design §3.2 precedence, exceptions from cargo config, source mapping."""
    today = date.today()

    def rule_for(name: str) -> TrustRule:
        return resolve_trust(name, cli_rule, manifest_rules, config)

    def exception_for(package: Package) -> UnsignedException | None:
        match = resolve_exception(package.name, package.version, config, today)
        if match is None:
            return None
        exception = match.exception
        return UnsignedException(exception.reason, exception.origin,
                                 exception.expires if match.expired else None)

    return Policies(rule_lookup=rule_for, exception_lookup=exception_for,
                    source_map=_index_for(config))


# -- resolution ----------------------------------------------------------------------------


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`NAME[@REQ]` → (name, requirement or None); the requirement is checked for syntax."""
    name, at, requirement = spec.partition("@")
    name = name.strip()
    if not _CRATE_NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a crate name (ASCII letters, digits, `-` and `_`, "
            "starting with a letter)"
        )
    if not at:
        return name, None
    VersionReq.parse(requirement)
    return name, requirement


def _registry_source(registry: str | None, config: CargoConfig) -> str:
    """The lock `source` for `--registry` (a sparse index URL or a registry name)."""
    if registry is None:
        return CRATES_IO_LOCK_SOURCE
    if "://" not in registry:
        index = config.registry_index(registry)
        if index is None:
            raise UsageError(f"no registry named `{registry}` in cargo config "
                             "(give a sparse index URL or configure [registries])")
        registry = index
    if registry == CRATES_IO_SPARSE or registry.startswith("registry+"):
        if registry in (CRATES_IO_SPARSE, CRATES_IO_LOCK_SOURCE):
            return CRATES_IO_LOCK_SOURCE
        raise UsageError(f"{registry} is a git-protocol index; only sparse registries work")
    url = registry.removeprefix("sparse+")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--registry must be a sparse index URL, found {registry!r}")
    return "sparse+" + (url if url.endswith("/") else url + "/")


_Candidate = tuple[Version, bool, dict[str, Any]]  # version, yanked, raw index line


def _usable_lines(lines: Mapping[str, dict[str, Any]]) -> list[_Candidate]:
    out = []
    for text, raw in lines.items():
        v = raw.get("v", 1)
        if not isinstance(v, int) or v > MAX_INDEX_VERSION or not isinstance(raw.get("deps"), list):
            continue  # cargo skips lines it cannot use
        try:
            version = Version.parse(text)
        except UsageError:
            continue
        out.append((version, raw.get("yanked") is True, raw))
    return out


def _no_match(name: str, requirement: str, req: VersionReq,
              candidates: list[_Candidate]) -> UsageError:
    matching = [v for v, _, _ in candidates if req.matches(v)]
    if matching:
        listed = ", ".join(str(v) for v in sorted(matching, reverse=True))
        return UsageError(
            f"every version of {name} matching \"{requirement}\" is yanked ({listed}); "
            "cargo does not select yanked versions"
        )
    available = sorted((v for v, yanked, _ in candidates if not yanked), reverse=True)
    listed = ", ".join(str(v) for v in available[:10]) or "none"
    hint = ""
    pre = next((v for v in available if v.pre and req.matches(Version(v.major, v.minor, v.patch))),
               None)
    if pre is not None:
        hint = (" (a pre-release is selected only when the requirement names one, "
                f"e.g. \"^{pre}\")")
    return UsageError(
        f"no version of {name} matches \"{requirement}\"{hint}; available: {listed}"
    )


async def _resolve(
    name: str, requirement: str | None, index_url: str, source: str, http: HttpSettings
) -> Resolution:
    async with make_client(http) as client:
        registry = SparseRegistry(index_url, client, http)
        try:
            lines = await registry.versions(name)
            published = name
            if lines is None:  # cargo also finds `foo_bar` when asked for `foo-bar`
                for alternative in {name.replace("-", "_"), name.replace("_", "-")} - {name}:
                    lines = await registry.versions(alternative)
                    if lines is not None:
                        published = alternative
                        break
        except IndexError_ as exc:
            raise InfraError(f"unusable registry index at {index_url}: {exc}") from exc
    if lines is None:
        raise UsageError(f"no crate named `{name}` in the registry {index_url}")
    candidates = [(v, y, raw) for v, y, raw in _usable_lines(lines)
                  if raw.get("name", published).lower() == published.lower()]
    if candidates:
        published = str(candidates[0][2].get("name", published))
    req = VersionReq.parse(requirement if requirement is not None else "*")
    chosen = select_version(req, ((v, y) for v, y, _ in candidates))
    if chosen is None and requirement is None:
        # Like `cargo add` without a version: fall back to the newest pre-release.
        chosen = max((v for v, yanked, _ in candidates if not yanked), default=None)
    if chosen is None:
        raise _no_match(published, requirement or "*", req, candidates)
    raw = next(raw for v, _, raw in candidates if v == chosen and raw.get("yanked") is not True)
    checksum = raw.get("cksum")
    if not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", checksum):
        raise InfraError(f"index line for {published} {chosen} has no valid `cksum`")
    skipped = tuple(str(v) for v, yanked, _ in candidates
                    if yanked and req.matches(v) and v > chosen)
    return Resolution(published, requirement or "*", str(raw.get("vers")), checksum.lower(),
                      source, index_url, skipped)


def resolve(
    name: str,
    requirement: str | None = None,
    *,
    registry: str | None = None,
    config: CargoConfig | None = None,
    http: HttpSettings | None = None,
) -> Resolution:
    """Select the version cargo would lock for `name = "requirement"` from the sparse index."""
    config = config if config is not None else load_cargo_config()
    source = _registry_source(registry, config)
    index_url = _index_for(config)(source)
    if index_url is None:
        raise UsageError(f"{source} cannot be fetched as a sparse index (check [source] "
                         "replacement in cargo config)")
    return asyncio.run(_resolve(name, requirement, index_url, source, http or HttpSettings()))


# -- verify one crate ----------------------------------------------------------------------


def _cli_rule(trust: Mapping[str, str] | None) -> TrustRule | None:
    if not trust:
        return None
    return TrustRule(issuer=trust.get("issuer"), subject=trust.get("subject"),
                     origin="command line")


def _verify_resolution(
    resolution: Resolution,
    policies: Policies,
    settings: Settings,
    progress: AddProgress,
    adjust: Callable[[Report], Report] | None = None,
) -> CrateResult:
    download: list[tuple[str, int]] = []

    def on_download(package: Package, url: str, received: int, done: bool) -> None:
        progress.downloading(url, received, done)
        if done:
            download.append((url, received))

    report = verify_packages([resolution.package()], settings, policies, on_download=on_download)
    if adjust is not None:
        report = adjust(report)
    (verdict,) = report.verdicts
    result = CrateResult.from_verdict(verdict, resolution.requirement,
                                      download[-1] if download else None)
    progress.verified(result)
    return result


def verify_one(
    name: str,
    requirement: str | None = None,
    *,
    registry: str | None = None,
    trust: Mapping[str, str] | None = None,
    manifest: Path | None = None,
    settings: Settings | None = None,
    progress: AddProgress | None = None,
    project_dir: Path | None = None,
    accept_identity: Collection[str] = (),
) -> CrateResult:
    """Resolve, fetch and verify one crate; writes nothing.

    `trust` ({"issuer": …, "subject": …}) beats the entry in `manifest` (a mochi.toml), which
    beats cargo config's `[sigstore.trust.NAME]`; without any, the default policy applies.
    The signer is checked against cargo-verify-pins.toml in `project_dir`, as `add_crate` does.
    """
    project_dir = project_dir or (manifest.parent if manifest is not None else Path.cwd())
    config = load_cargo_config(project_dir)
    settings = settings or settings_for(project_dir, config=config)
    progress = progress or AddProgress()
    resolution = resolve(name, requirement, registry=registry, config=config, http=settings.http)
    progress.resolved(resolution)
    manifest_rules = read_manifest(manifest).trust_rules() if manifest is not None else {}
    policies = _policies(_cli_rule(trust), manifest_rules, config)
    record = project_dir / RECORD_FILE_NAME

    def pin(report: Report) -> Report:
        return check_pins(report, record, accept_identity, rule_for=policies.rule_for,
                          create=True).report

    return _verify_resolution(resolution, policies, settings, progress, adjust=pin)


# -- add -----------------------------------------------------------------------------------


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found (run in a Mochi project or pass its path)",
                          path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", path) from None


def add_crate(
    name: str,
    requirement: str | None = None,
    *,
    manifest: Path = Path("mochi.toml"),
    lock: Path | None = None,
    registry: str | None = None,
    trust: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    progress: AddProgress | None = None,
    accept_identity: Collection[str] = (),
) -> AddResult:
    """Resolve, fetch and verify a crate, then record it in mochi.toml and mochi.lock.

    Identity pinning (docs/identity-pinning.md): the signer is checked against
    cargo-verify-pins.toml next to the lock and recorded there; a changed signer or a lost
    signature fails unless the crate is named in `accept_identity`.

    Files are written only when the crate passed (verified, or unsigned where allowed);
    otherwise both stay byte-identical and `written` is False. Usage, configuration and
    infrastructure problems raise CargoVerifyError subclasses, also before any write.
    """
    lock = lock if lock is not None else manifest.parent / LOCK_FILE_NAME
    project_dir = manifest.parent
    config = load_cargo_config(project_dir)
    settings = settings or settings_for(project_dir, config=config)
    progress = progress or AddProgress()
    if trust is not None and not trust:
        trust = None
    # Read and validate both files first: a broken mochi.toml or lock fails before any work.
    manifest_bytes = _read_bytes(manifest, "mochi.toml")
    parsed_manifest = read_manifest(manifest, str(manifest))
    old_lock = read_lock_or_empty(lock)

    existing = next((d for d in parsed_manifest.dependencies.values()
                     if crate_key(d.crate) == crate_key(name)), None)
    if requirement is None and existing is not None and existing.version is not None:
        requirement = existing.version  # like `cargo add`: keep the requirement already there

    resolution = resolve(name, requirement, registry=registry, config=config, http=settings.http)
    progress.resolved(resolution)
    policies = _policies(_cli_rule(trust), parsed_manifest.trust_rules(), config)
    pins: list[PinOutcome] = []

    def pin(report: Report) -> Report:
        pins.append(check_pins(report, record_path_for(lock), accept_identity,
                               rule_for=policies.rule_for, create=True))
        return pins[-1].report

    result = _verify_resolution(resolution, policies, settings, progress, adjust=pin)
    written_requirement = requirement if requirement is not None else resolution.version
    outcome = AddResult(result, manifest, lock, written_requirement, written=False)
    if not result.ok:
        return outcome
    key = existing.name if existing is not None else resolution.name
    new_manifest = add_dependency(manifest_bytes, key, written_requirement,
                                  dict(trust) if trust else None, file=str(manifest))
    new_lock = old_lock.with_entry(LockEntry.from_verdict(result.verdict))
    new_lock_bytes = new_lock.render().encode("utf-8")
    pause_point("before-commit", lock)
    with deferred_interrupts():
        # Lock first: a lock entry without its mochi.toml line is harmless (Mochi prunes it),
        # a mochi.toml dependency without a verified lock entry would be re-resolved unchecked.
        atomic_write(lock, new_lock_bytes)
        pause_point("between-files", manifest)
        if new_manifest != manifest_bytes:
            atomic_write(manifest, new_manifest)
        for pinned in pins:
            pinned.write()
    outcome = dataclasses.replace(outcome, written=True)
    progress.recorded(outcome)
    return outcome


# -- lock hook -----------------------------------------------------------------------------


def _compare_recorded(entry: LockEntry, verdict: Verdict) -> Verdict:
    """Turn a pass into a failure when the candidate's recorded evidence is not what was found."""
    if verdict.status is Status.UNSIGNED and entry.signed:
        return dataclasses.replace(
            verdict, status=Status.FAILED, code=Code.SIGNED_THEN_UNSIGNED, warning=False,
            reason=(f"{entry.key}: the lock records Rekor entry {entry.rekor_log_index} signed by "
                    f"{entry.identity}, but no Sigstore evidence was found"),
        )
    if verdict.status is not Status.VERIFIED or not entry.signed:
        return verdict
    if verdict.issuer != entry.issuer or verdict.identity != entry.identity:
        return dataclasses.replace(
            verdict, status=Status.FAILED, code=Code.IDENTITY_CHANGED,
            reason=(f"{entry.key}: the lock records signer {entry.identity} (issuer "
                    f"{entry.issuer}), but the evidence names {verdict.identity} (issuer "
                    f"{verdict.issuer})"),
        )
    if verdict.rekor_log_index != entry.rekor_log_index:
        return dataclasses.replace(
            verdict, status=Status.FAILED, code=Code.EVIDENCE_MISMATCH,
            reason=(f"{entry.key}: the lock records Rekor entry {entry.rekor_log_index}, "
                    f"but the evidence is entry {verdict.rekor_log_index}"),
        )
    return verdict


def run_lock_hook(
    candidate: Path,
    lock: Path = Path(LOCK_FILE_NAME),
    *,
    manifest: Path | None = None,
    settings: Settings | None = None,
    progress: Callable[[str, Verdict | None], None] | None = None,
) -> LockHookResult:
    """Verify every entry of `candidate`; only if all pass, atomically replace `lock` with it.

    The candidate's bytes are read once; exactly those bytes are verified and installed. The
    trust rules come from `manifest` (default: mochi.toml next to `lock`, when present) and
    cargo config. A refused candidate leaves `lock` untouched.
    """
    project_dir = lock.parent
    config = load_cargo_config(project_dir)
    settings = settings or settings_for(project_dir, config=config, use_caches=True)
    data = _read_bytes(candidate, "candidate lock")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("candidate lock is not UTF-8", candidate) from None
    parsed = parse_lock(text.removeprefix("\ufeff"), str(candidate))
    manifest = manifest if manifest is not None else project_dir / "mochi.toml"
    manifest_rules = read_manifest(manifest).trust_rules() if manifest.exists() else {}
    packages = parsed.packages()
    policies = _policies(None, manifest_rules, config)
    report = verify_packages(packages, settings, policies, lockfile=str(candidate),
                             progress=progress)
    verdicts = tuple(_compare_recorded(e, v) for e, v in zip(parsed.entries, report.verdicts,
                                                             strict=True))
    report = dataclasses.replace(report, verdicts=verdicts)
    accepted = report.exit_code == 0  # nothing failed and nothing lacks a verdict
    changed = False
    if accepted:
        try:
            unchanged = lock.read_bytes() == data
        except OSError:
            unchanged = False
        if not unchanged:
            with deferred_interrupts():
                atomic_write(lock, data)
            changed = True
    return LockHookResult(candidate, lock, report, accepted, changed)
