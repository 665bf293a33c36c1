"""Orchestration: packages in, verdicts out, network in parallel, Sigstore off the loop.

Per registry package: the crate's index file (fetched once per crate), the version line, the
tarball hash (cargo's cache or a download, always re-hashed), the evidence (bundle URL, Rekor
entry by log index, or opt-in Rekor search by hash), then sigstore-python verification in a
worker pool. Nothing here imports sigstore: a run answered from the verification cache never
loads it.
"""

from __future__ import annotations

import atexit
import contextvars
import datetime as dt
import errno
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from cargo_verify.cache import VerdictCache, cache_key
from cargo_verify.cargo_home import crate_file_name, sha256_and_close
from cargo_verify.errors import InfraError
from cargo_verify.evidence_store import EvidenceKey, EvidenceStore, StoredEvidence
from cargo_verify.http import HttpSettings, NotFound, fetch, make_client
from cargo_verify.model import Code, Package, Report, Status, TrustRule, Verdict
from cargo_verify.registry import (
    CRATES_IO_SPARSE,
    IndexError_,
    SigstoreRef,
    SparseRegistry,
)
from cargo_verify.transparency import (
    EvidenceError,
    bundle_from_hashedrekord,
    parse_rekor_response,
)
from cargo_verify.verify import TrustRootSpec, VerifyJob, VerifyOutcome, run_job
from cargo_verify.workers import ForkedVerifiers, fork_supported

if TYPE_CHECKING:  # imported where used: a run answered from the cache never needs them
    import asyncio
    import concurrent.futures

UNSIGNED_POLICIES = ("deny", "warn", "allow")
MAX_SEARCH_ENTRIES = 10
PUBLIC_GOOD_REKOR = "https://rekor.sigstore.dev"
_SHA256_RE = re.compile(r"\b[0-9a-f]{64}\b")
STORED_PREFIX = "stored "  # in a verdict's `evidence`: it came from the evidence store


@dataclass(frozen=True)
class UnsignedException:
    """A per-crate allowance to be unsigned, with the reason a person gave."""

    reason: str
    origin: str
    expired_on: dt.date | None = None  # set when the exception no longer applies


@dataclass(frozen=True)
class Settings:
    trust_root: TrustRootSpec = field(default_factory=TrustRootSpec)
    unsigned: str = "warn"
    jobs: int = 0  # 0 = one verification worker per core
    concurrency: int = 64  # packages in flight on the network
    rekor_search: bool = False
    rekor_url: str | None = None
    cache_dir: Path | None = None
    cargo_home: Path | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    timeout: float | None = None  # seconds for the whole run; packages left then get no verdict


class Policies:
    """Where each crate's trust rule, unsigned exception and index URL come from."""

    def __init__(
        self,
        rules: dict[str, TrustRule] | None = None,
        exceptions: dict[str, UnsignedException] | None = None,
        source_map: Callable[[str], str | None] | None = None,
        rule_lookup: Callable[[str], TrustRule] | None = None,
        exception_lookup: Callable[[Package], UnsignedException | None] | None = None,
    ) -> None:
        self.rules = rules or {}
        self.exceptions = exceptions or {}
        self._source_map = source_map
        self._index_urls: dict[str, str | None] = {}  # source replacement is fixed for a run
        self._rule_lookup = rule_lookup
        self._rules_seen: dict[str, TrustRule] = {}
        self._exception_lookup = exception_lookup

    def rule_for(self, name: str) -> TrustRule:
        if self._rule_lookup is not None:
            rule = self._rules_seen.get(name)  # asked several times per crate in a run
            if rule is None:
                rule = self._rules_seen[name] = self._rule_lookup(name)
            return rule
        return self.rules.get(name, TrustRule())

    def exception_for(self, package: Package) -> UnsignedException | None:
        if self._exception_lookup is not None:
            return self._exception_lookup(package)
        return self.exceptions.get(package.name)

    def index_url(self, source: str) -> str | None:
        """The sparse index to fetch a lockfile source from, after source replacement."""
        if self._source_map is not None:
            if source not in self._index_urls:
                self._index_urls[source] = self._source_map(source)
            return self._index_urls[source]
        if source in (
            "registry+https://github.com/rust-lang/crates.io-index",
            CRATES_IO_SPARSE,
        ):
            return CRATES_IO_SPARSE
        if source.startswith("sparse+"):
            return source
        return None


Progress = Callable[[str, Verdict | None], None]  # event name, verdict when one is final
# A .crate download: package, URL, bytes received so far, finished? (0 bytes first, then chunks).
DownloadProgress = Callable[[Package, str, int, bool], None]


def _worker_init(spec: TrustRootSpec) -> None:
    from cargo_verify.verify import verifier_for

    verifier_for(spec)  # import sigstore and parse the trust root once per worker


def _warm(spec: TrustRootSpec) -> bool:
    return True


class _Verifiers:
    """Runs sigstore verification off the event loop: a process pool over every core.

    On Linux the workers are forked from one process that imported sigstore once
    (workers.py); elsewhere a ProcessPoolExecutor (one thread when a single worker).
    """

    def __init__(self, spec: TrustRootSpec, workers: int) -> None:
        self.spec = spec
        self.workers = max(1, workers)
        self._pool: concurrent.futures.Executor | None = None
        self._forked: ForkedVerifiers | None = None
        if fork_supported():
            self._forked = _take_prestarted(spec) or ForkedVerifiers(spec, self.workers)

    def start(self) -> None:
        if self._forked is not None:
            self._forked.start()
            return
        if self._pool is not None:
            return
        import concurrent.futures
        import multiprocessing

        if self.workers == 1:
            self._pool = concurrent.futures.ThreadPoolExecutor(1)
            self._pool.submit(_worker_init, self.spec)
            return
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_worker_init, initargs=(self.spec,)
        )
        for _ in range(self.workers):  # start every worker now, overlapping network I/O
            self._pool.submit(_warm, self.spec)

    async def run(self, job: VerifyJob) -> VerifyOutcome:
        slot = _network_slot.get()
        if slot is not None:
            slot.release()  # let another package use the network while this one waits
        if self._forked is not None:
            return await self._forked.run(job)
        import asyncio
        import concurrent.futures.process

        self.start()
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, run_job, job, self.spec)
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise InfraError(f"verification worker died: {exc}") from exc

    def close(self) -> None:
        if self._forked is not None:
            self._forked.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Settled:
    results: list[Verdict | None]  # by package position; None while pending
    pending: list[int]  # positions still to check over the network
    cache: VerdictCache | None
    evidence: EvidenceStore | None


_prestarted: ForkedVerifiers | None = None
_prestarted_lock = threading.Lock()  # API callers may plan and verify from several threads


def prestart_verifiers(spec: TrustRootSpec, jobs: int = 0) -> None:
    """Fork the verification workers now, before the lockfile is parsed.

    They import sigstore on another core meanwhile; the next run with the same trust root
    uses them, and a run that needs no verification stops them. Only worth calling when a
    run is likely to verify something (an empty verification cache).
    """
    global _prestarted
    discard_prestarted()
    if fork_supported():
        pool = ForkedVerifiers(spec, jobs or (os.cpu_count() or 1))
        pool.start()
        with _prestarted_lock:
            replaced, _prestarted = _prestarted, pool
        if replaced is not None:
            replaced.abandon()


def discard_prestarted() -> None:
    global _prestarted
    with _prestarted_lock:
        pool, _prestarted = _prestarted, None
    if pool is not None:
        pool.abandon()


def _take_prestarted(spec: TrustRootSpec) -> ForkedVerifiers | None:
    global _prestarted
    with _prestarted_lock:
        pool, _prestarted = _prestarted, None
    if pool is not None and pool.spec != spec:
        pool.abandon()
        return None
    return pool


atexit.register(discard_prestarted)


class _NetworkSlot:
    """One of the `concurrency` places of packages on the network.

    A package gives its place back when it hands its evidence to a verifier, so packages
    waiting for CPU never keep others off the network (the pipeline stays full).
    """

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> _NetworkSlot:
        await self._semaphore.acquire()
        self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._semaphore.release()


_network_slot: contextvars.ContextVar[_NetworkSlot | None] = contextvars.ContextVar(
    "_network_slot", default=None
)


_INLINE_HASH_BYTES = 1 << 20  # smaller files are hashed on the loop: a thread hop costs more
_ABSENT_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP})


def _open_regular_file(path: str) -> BinaryIO | None:
    """The file opened for reading, or None unless it is a regular file (a FIFO or device in
    cargo's cache must not block or stream forever; absent is absent). One open and one fstat:
    cheaper than testing first, and no window between the test and the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: opening a FIFO
    except OSError as error:
        if error.errno in _ABSENT_ERRNOS:
            return None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return open(fd, "rb")


async def _hash_cached(path: str) -> str | None:
    """SHA-256 of a `.crate` in cargo's cache; None if there is no such regular file."""
    import asyncio

    handle = _open_regular_file(path)
    if handle is None:
        return None
    if os.fstat(handle.fileno()).st_size <= _INLINE_HASH_BYTES:
        return sha256_and_close(handle)
    return await asyncio.to_thread(sha256_and_close, handle)


def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an evidence fetch nobody awaited must not warn at exit


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        policies: Policies,
        progress: Progress | None = None,
        on_download: DownloadProgress | None = None,
    ):
        self.settings = settings
        self.policies = policies
        self.progress = progress or (lambda event, verdict: None)
        self.on_download = on_download
        self._registries: dict[str, SparseRegistry] = {}
        self._root_digest: str | None = None
        self._cargo_cache_exists: bool | None = None
        self._crate_dirs: dict[str, str | None] = {}
        self._root_rekor_url: str | None = None
        self._evidence: EvidenceStore | None = None

    # -- public entry -------------------------------------------------------------------
    async def run(self, packages: Sequence[Package], lockfile: str | None = None) -> Report:
        settled = self._settle(packages, lockfile)
        await self._verify_pending(packages, settled)
        return self._conclude(packages, lockfile, settled)

    def _settle(self, packages: Sequence[Package], lockfile: str | None) -> _Settled:
        """Everything decided without the network: skips, early failures, cache hits."""
        if self.settings.timeout is not None:
            deadline = time.monotonic() + self.settings.timeout
            self.settings = replace(
                self.settings, http=replace(self.settings.http, deadline=deadline)
            )
        cache = None
        if self.settings.cache_dir:
            scope = os.path.abspath(lockfile) if lockfile else None
            cache = VerdictCache(self.settings.cache_dir, scope)
            self._evidence = EvidenceStore(self.settings.cache_dir, scope)
        results: list[Verdict | None] = [None] * len(packages)
        pending: list[int] = []
        for i, package in enumerate(packages):
            early = self._early_verdict(package)
            if early is not None:
                results[i] = early
            else:
                pending.append(i)
        if pending and cache is not None:
            still: list[int] = []
            for i in pending:
                hit = self._cached(cache, packages[i])
                if hit is not None:
                    results[i] = hit
                else:
                    still.append(i)
            pending = still
        for verdict in results:
            if verdict is not None:
                self.progress("done", verdict)
        return _Settled(results, pending, cache, self._evidence)

    async def _verify_pending(self, packages: Sequence[Package], settled: _Settled) -> None:
        import asyncio

        results, pending, cache = settled.results, settled.pending, settled.cache
        if pending:
            workers = self.settings.jobs or (os.cpu_count() or 1)
            workers = min(workers, len(pending))
            verifiers = _Verifiers(self.settings.trust_root, workers)
            if len(pending) > 0:
                verifiers.start()
            try:
                client = make_client(self.settings.http)
                async with client:
                    self._client = client
                    semaphore = asyncio.Semaphore(max(1, self.settings.concurrency))

                    async def one(i: int) -> None:
                        async with _NetworkSlot(semaphore) as slot:
                            _network_slot.set(slot)
                            verdict = await self._check_guarded(packages[i], verifiers)
                        results[i] = verdict
                        if cache is not None and verdict.status is Status.VERIFIED:
                            self._store(cache, verdict)
                        self.progress("done", verdict)

                    await asyncio.gather(*(one(i) for i in pending))
            finally:
                verifiers.close()

    def _conclude(
        self, packages: Sequence[Package], lockfile: str | None, settled: _Settled
    ) -> Report:
        discard_prestarted()  # started for nothing: every package was settled without it
        if settled.cache is not None:
            settled.cache.flush()
        if settled.evidence is not None and settled.evidence.has_additions:
            settled.evidence.flush({
                key for key in map(self._evidence_key, packages) if key is not None
            })
        final = tuple(v for v in settled.results if v is not None)
        assert len(final) == len(packages)
        return Report(verdicts=final, lockfile=lockfile)

    # -- cheap decisions ----------------------------------------------------------------
    def _early_verdict(self, package: Package) -> Verdict | None:
        if package.source is None:
            return Verdict(package, Status.SKIPPED, Code.PATH_SOURCE,
                           "path dependency or workspace member (local code, nothing to verify)")
        if package.source.startswith("git+"):
            return Verdict(package, Status.SKIPPED, Code.GIT_SOURCE,
                           f"git dependency ({package.source}): no registry checksum or signature")
        if not package.is_registry:
            return Verdict(package, Status.FAILED, Code.UNSUPPORTED_SOURCE,
                           f"{package.key}: unsupported source {package.source!r}")
        if not package.checksum:
            return Verdict(package, Status.FAILED, Code.CHECKSUM_MISSING,
                           f"{package.key} from {package.source} has no checksum in the lockfile; "
                           "regenerate it with cargo (expected a sha256 checksum, found none)")
        index = self.policies.index_url(package.source)
        if index is None:
            return Verdict(package, Status.FAILED, Code.UNSUPPORTED_SOURCE,
                           f"{package.key}: {package.source} is a git-protocol registry index; "
                           "only sparse registries can be verified (configure a sparse mirror "
                           "with [source] replacement)")
        if not index.removeprefix("sparse+").startswith(("http://", "https://")):
            return Verdict(package, Status.FAILED, Code.UNSUPPORTED_SOURCE,
                           f"{package.key}: sparse index {index} is not an http(s) URL")
        return None

    def _root(self) -> str:
        if self._root_digest is None:
            from cargo_verify.verify import trust_root_digest

            self._root_digest = trust_root_digest(self.settings.trust_root)
        return self._root_digest

    def _cached(self, cache: VerdictCache, package: Package) -> Verdict | None:
        rule = self.policies.rule_for(package.name)
        record = cache.get(cache_key(package, rule, self._root()))
        if record is None:
            return None
        cached_tarball = self._cargo_cache_file(package)
        handle = _open_regular_file(cached_tarball) if cached_tarball is not None else None
        if handle is not None and sha256_and_close(handle) != package.checksum:
            return None  # re-run the full check so the tampered file is reported
        return Verdict(
            package,
            Status.VERIFIED,
            rekor_log_index=record.get("rekor_log_index"),
            issuer=record.get("issuer"),
            identity=record.get("identity"),
            matched_form=record.get("matched_form"),
            repository=record.get("repository"),
            workflow=record.get("workflow"),
            policy=rule.describe(),
            evidence=f"cache ({record.get('evidence')})",
        )

    def _store(self, cache: VerdictCache, verdict: Verdict) -> None:
        rule = self.policies.rule_for(verdict.package.name)
        cache.put(
            cache_key(verdict.package, rule, self._root()),
            {
                "rekor_log_index": verdict.rekor_log_index,
                "issuer": verdict.issuer,
                "identity": verdict.identity,
                "matched_form": verdict.matched_form,
                "repository": verdict.repository,
                "workflow": verdict.workflow,
                "evidence": (verdict.evidence or "").removeprefix(STORED_PREFIX) or None,
            },
        )

    def _evidence_key(self, package: Package) -> EvidenceKey | None:
        if package.source is None or package.checksum is None:
            return None
        index = self.policies.index_url(package.source)
        if index is None:
            return None
        return (index, package.name, package.version, package.checksum)

    def _remember(self, package: Package, evidence: StoredEvidence) -> None:
        key = self._evidence_key(package)
        if self._evidence is not None and key is not None:
            self._evidence.add(key, evidence)

    # -- the network + verify path ------------------------------------------------------
    async def _check_guarded(self, package: Package, verifiers: _Verifiers) -> Verdict:
        import asyncio

        deadline = self.settings.http.deadline
        try:
            async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()):
                verdict = await self._check(package, verifiers)
                if verdict.code is Code.EVIDENCE_MISMATCH:
                    verdict = await self._name_replay(package, verdict)
            return verdict
        except TimeoutError:
            limit = f"the {self.settings.timeout:g} s deadline (--timeout)" if (
                self.settings.timeout is not None) else "the time allowed"
            return Verdict(package, Status.FAILED, Code.INFRA,
                           f"{package.key}: no verdict within {limit}")
        except InfraError as exc:
            return Verdict(package, Status.FAILED, Code.INFRA,
                           f"{package.key}: no verdict, {exc.diagnostics()}")
        except IndexError_ as exc:
            return Verdict(package, Status.FAILED, Code.EVIDENCE_INVALID,
                           f"{package.key}: unusable registry index data: {exc}")
        except EvidenceError as exc:
            return Verdict(package, Status.FAILED, Code.EVIDENCE_INVALID,
                           f"{package.key}: unusable Sigstore evidence: {exc}")
        except Exception as exc:  # a bug must never turn into a pass or kill the whole run
            return Verdict(package, Status.FAILED, Code.INFRA,
                           f"{package.key}: no verdict, internal error {type(exc).__name__}: {exc}")

    async def _name_replay(self, package: Package, verdict: Verdict) -> Verdict:
        """Say so when mismatched evidence is that of another release of the same crate."""
        assert package.source is not None
        lines = await self._registry(package.source).versions(package.name) or {}
        found = set(_SHA256_RE.findall(verdict.reason or "")) - {package.checksum}
        for version, line in lines.items():
            if version != package.version and str(line.get("cksum", "")).lower() in found:
                note = (f"; that is the evidence of {package.name} {version}: a replay of "
                        "another release's signature")
                return replace(verdict, reason=(verdict.reason or "") + note)
        return verdict

    def _registry(self, source: str) -> SparseRegistry:
        url = self.policies.index_url(source)
        assert url is not None
        registry = self._registries.get(url)
        if registry is None:
            registry = self._registries[url] = SparseRegistry(url, self._client, self.settings.http)
        return registry

    def _cargo_cache_file(self, package: Package) -> str | None:
        """Where cargo's cache would hold this package's `.crate` (it may be absent there)."""
        home = self.settings.cargo_home
        if home is None or package.source is None:
            return None
        if self._cargo_cache_exists is None:  # looked up once: most runs have no such cache
            self._cargo_cache_exists = (home / "registry" / "cache").is_dir()
        if not self._cargo_cache_exists:
            return None
        source = self.policies.index_url(package.source) or package.source
        if source not in self._crate_dirs:  # the same directory for every crate of a source
            from cargo_verify.cargo_home import crate_cache_dir

            where = crate_cache_dir(home, source)
            self._crate_dirs[source] = None if where is None else str(where[0])
        directory = self._crate_dirs[source]
        file_name = crate_file_name(package.name, package.version)
        if directory is None or file_name is None:
            return None
        return os.path.join(directory, file_name)

    async def _check(self, package: Package, verifiers: _Verifiers) -> Verdict:
        assert package.source is not None and package.checksum is not None
        registry = self._registry(package.source)
        rule = self.policies.rule_for(package.name)
        fail = _failer(package, rule)
        known: str | None = None  # the tarball's digest, once it was checked
        stored = self._stored_evidence(package)
        if stored is not None:  # used only to pass; otherwise checked from the registry
            hashed = await self._tarball_digest(registry, package, fail)
            if isinstance(hashed, Verdict):
                return hashed
            passed = await self._verify_stored(package, rule, stored, hashed, verifiers)
            if passed is not None:
                return passed
            known = hashed
        line = await registry.line(package.name, package.version)
        if line is None:
            return fail(Code.NOT_IN_INDEX,
                        f"{package.key} is not in the index at {registry.file_url(package.name)} "
                        "(expected a version line, found none)")
        if line.cksum != package.checksum:
            return fail(Code.CHECKSUM_MISMATCH,
                        f"{package.key}: index cksum differs from Cargo.lock "
                        f"(expected {package.checksum}, found {line.cksum})")
        evidence = self._prefetch_evidence(registry, line.sigstore)  # overlaps the tarball
        hashed = known or await self._tarball_digest(registry, package, fail)
        if isinstance(hashed, Verdict):
            return hashed
        digest = hashed
        ref = line.sigstore
        if ref is not None:
            assert evidence is not None
            if ref.bundle_url is not None:
                bundle = await evidence
                expected_index = ref.rekor_log_index
                outcome = await verifiers.run(VerifyJob(package.key, bundle, digest, rule))
                if (
                    outcome.ok
                    and expected_index is not None
                    and outcome.log_index != expected_index
                ):
                    return fail(Code.EVIDENCE_MISMATCH,
                                f"{package.key}: bundle is for Rekor entry {outcome.log_index}, "
                                f"but the index names entry {expected_index}")
                if outcome.ok:
                    self._remember(package, StoredEvidence("bundle", bundle, expected_index))
                return self._from_outcome(package, rule, outcome, "bundle")
            assert ref.rekor_log_index is not None
            bundle_doc, entry_digest = await evidence
            if entry_digest != digest:
                return fail(Code.EVIDENCE_MISMATCH,
                            f"{package.key}: Rekor entry {ref.rekor_log_index} signs sha256 "
                            f"{entry_digest or '(no sha256 digest)'}, but the .crate is sha256 "
                            f"{digest}")
            outcome = await verifiers.run(VerifyJob(package.key, bundle_doc, digest, rule))
            if outcome.ok:
                self._remember(package, StoredEvidence("rekor", bundle_doc, ref.rekor_log_index))
            return self._from_outcome(package, rule, outcome, "rekor")
        if self.settings.rekor_search:
            found = await self._search(registry, package, digest, rule, verifiers)
            if found is not None:
                return found
        return self._unsigned(package, rule)

    async def _tarball_digest(
        self, registry: SparseRegistry, package: Package, fail: Callable[[Code, str], Verdict]
    ) -> str | Verdict:
        """The `.crate`'s SHA-256 (cargo's cache, re-hashed, or a download) if it is the one
        Cargo.lock names; otherwise the failed verdict."""
        assert package.checksum is not None
        cached = self._cargo_cache_file(package)
        digest = await _hash_cached(cached) if cached is not None else None
        if digest is not None:
            where = f"cargo cache file {cached}"
        else:
            url = await registry.download_url(package.name, package.version, package.checksum)
            try:
                digest, _size = await self._download(registry, package, url)
            except NotFound:
                return fail(Code.TARBALL_MISMATCH,
                            f"{package.key}: download {url} returned not found")
            where = f"download {url}"
        if digest != package.checksum:
            return fail(Code.TARBALL_MISMATCH,
                        f"{package.key}: .crate bytes do not match Cargo.lock "
                        f"(expected sha256 {package.checksum}, found {digest} in {where})")
        return digest

    def _stored_evidence(self, package: Package) -> StoredEvidence | None:
        key = self._evidence_key(package)
        if self._evidence is None or key is None:
            return None
        return self._evidence.get(key)

    async def _verify_stored(
        self, package: Package, rule: TrustRule, stored: StoredEvidence, digest: str,
        verifiers: _Verifiers,
    ) -> Verdict | None:
        """The verdict if the stored evidence verifies under today's policy; None if not."""
        outcome = await verifiers.run(VerifyJob(package.key, stored.bundle_json, digest, rule))
        if not outcome.ok:
            return None
        if stored.log_index is not None and outcome.log_index != stored.log_index:
            return None
        return self._from_outcome(package, rule, outcome, STORED_PREFIX + stored.kind)

    def _prefetch_evidence(
        self, registry: SparseRegistry, ref: SigstoreRef | None
    ) -> asyncio.Future[Any] | None:
        """Start fetching the evidence (bundle, or Rekor entry as a bundle) in the background.

        Its outcome is only used after the tarball matched; an unused one is still retrieved.
        """
        if ref is None:
            return None
        import asyncio

        task: asyncio.Future[Any]
        if ref.bundle_url is not None:
            task = asyncio.ensure_future(self._fetch_bundle(registry, ref.bundle_url))
        else:
            assert ref.rekor_log_index is not None
            task = asyncio.ensure_future(
                self._rekor_evidence(registry, ref.rekor_url, ref.rekor_log_index)
            )
        task.add_done_callback(_retrieve_outcome)
        return task

    async def _rekor_evidence(
        self, registry: SparseRegistry, rekor_url: str | None, log_index: int
    ) -> tuple[str, str | None]:
        # A configured Rekor (flag or [sigstore] rekor-url, e.g. a mirror) wins; then the
        # index line's, the registry's config.json, the trusted root. All answers are
        # verified against the trusted root's log key, so the choice is about reachability.
        rekor = self.settings.rekor_url or rekor_url or await self._rekor_url(registry)
        return await self._rekor_bundle(rekor, log_index)

    async def _download(
        self, registry: SparseRegistry, package: Package, url: str
    ) -> tuple[str, int]:
        report = self.on_download
        if report is None:
            return await registry.tarball_sha256(url)
        report(package, url, 0, False)
        digest, size = await registry.tarball_sha256(
            url, lambda received: report(package, url, received, False)
        )
        report(package, url, size, True)
        return digest, size

    async def _fetch_bundle(self, registry: SparseRegistry, url: str) -> str:
        from cargo_verify.http import MAX_JSON_BYTES

        try:
            raw = await fetch(self._client, url, self.settings.http, max_bytes=MAX_JSON_BYTES)
        except NotFound as exc:
            # The registry names evidence it cannot produce: a refusal, not an outage.
            raise EvidenceError(f"the index names bundle {url}, which is not found") from exc
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EvidenceError(f"bundle {url} is not UTF-8") from exc

    async def _rekor_url(self, registry: SparseRegistry) -> str:
        if self.settings.rekor_url:
            return self.settings.rekor_url
        configured = await registry.rekor_url_default()
        if configured:
            return configured
        return self._trusted_root_rekor()

    def _trusted_root_rekor(self) -> str:
        if self._root_rekor_url is None:
            url = PUBLIC_GOOD_REKOR
            path = self.settings.trust_root.path
            if path is not None:
                try:
                    doc = json.loads(Path(path).read_bytes())
                    root = doc.get("trustedRoot", doc)
                    url = str(root["tlogs"][0]["baseUrl"])
                except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
                    raise InfraError(f"no Rekor URL: {path} lists no transparency log") from None
            self._root_rekor_url = url
        return self._root_rekor_url

    async def _rekor_json(self, url: str, post: object | None = None) -> Any:
        from cargo_verify.http import MAX_JSON_BYTES

        raw = await fetch(
            self._client, url, self.settings.http, max_bytes=MAX_JSON_BYTES,
            method="POST" if post is not None else "GET", json_body=post,
        )
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EvidenceError(f"{url} did not return JSON") from exc

    async def _rekor_bundle(self, rekor: str, log_index: int) -> tuple[str, str | None]:
        url = f"{rekor.rstrip('/')}/api/v1/log/entries?logIndex={log_index}"
        try:
            document = await self._rekor_json(url)
        except NotFound as exc:
            raise EvidenceError(f"Rekor has no entry {log_index} ({url})") from exc
        entry = parse_rekor_response(document, expected_log_index=log_index)
        return json.dumps(bundle_from_hashedrekord(entry)), entry.artifact_sha256

    async def _search(
        self,
        registry: SparseRegistry,
        package: Package,
        digest: str,
        rule: TrustRule,
        verifiers: _Verifiers,
    ) -> Verdict | None:
        rekor = (await self._rekor_url(registry)).rstrip("/")
        uuids = await self._rekor_json(
            f"{rekor}/api/v1/index/retrieve", post={"hash": f"sha256:{digest}"}
        )
        if not isinstance(uuids, list):
            raise EvidenceError("Rekor search did not return a list")
        rejected: list[str] = []
        for uuid in uuids[:MAX_SEARCH_ENTRIES]:
            if not isinstance(uuid, str) or not uuid.isalnum():
                raise EvidenceError(f"Rekor search returned a bad UUID {uuid!r}")
            response = await self._rekor_json(f"{rekor}/api/v1/log/entries/{uuid}")
            entry = parse_rekor_response(response)
            if entry.artifact_sha256 != digest:
                continue
            try:
                bundle = json.dumps(bundle_from_hashedrekord(entry))
            except EvidenceError:
                continue
            outcome = await verifiers.run(VerifyJob(package.key, bundle, digest, rule))
            if outcome.ok:
                return self._from_outcome(package, rule, outcome, "rekor-search")
            rejected.append(f"entry {entry.log_index}: {outcome.reason}")
        if rejected:
            verdict = self._unsigned(package, rule)
            note = "; Rekor search found entries but none counts: " + " | ".join(rejected)
            return replace(verdict, reason=(verdict.reason or "") + note)
        return None

    # -- verdicts -------------------------------------------------------------------------
    def _from_outcome(
        self, package: Package, rule: TrustRule, outcome: VerifyOutcome, evidence: str
    ) -> Verdict:
        if outcome.ok:
            return Verdict(
                package, Status.VERIFIED,
                rekor_log_index=outcome.log_index, issuer=outcome.issuer,
                identity=outcome.identity, matched_form=outcome.matched_form,
                repository=outcome.repository, workflow=outcome.workflow,
                policy=rule.describe(), evidence=evidence,
            )
        found = ""
        if outcome.code is Code.IDENTITY_MISMATCH:
            # The policy names the one field that did not match; the problem line must
            # still show the signer's whole identity (issuer and SAN) next to what was expected.
            missing = [
                f"{label} {value}"
                for label, value, shown in (
                    ("issuer", outcome.issuer, f"found {outcome.issuer}"),
                    ("SAN", outcome.identity, f"san {outcome.identity}"),
                )
                if value and shown not in (outcome.reason or "")
            ]
            if missing:
                found = f" (found signer {', '.join(missing)})"
        elif outcome.issuer or outcome.identity:
            found = f" (signer: issuer {outcome.issuer}, SAN {outcome.identity})"
        return Verdict(
            package, Status.FAILED, outcome.code or Code.SIGNATURE_INVALID,
            f"{package.key}: {outcome.reason}{found}",
            rekor_log_index=outcome.log_index, issuer=outcome.issuer,
            identity=outcome.identity, repository=outcome.repository,
            workflow=outcome.workflow, policy=rule.describe(), evidence=evidence,
        )

    def _unsigned(self, package: Package, rule: TrustRule) -> Verdict:
        if not rule.is_default:
            return Verdict(
                package, Status.FAILED, Code.UNSIGNED_WITH_TRUST,
                f"{package.key} has no Sigstore evidence, but {rule.describe()} requires a "
                "signature (expected a signed publish, found none)",
                policy=rule.describe(),
            )
        exception = self.policies.exception_for(package)
        expired_note = ""
        if exception is not None and exception.expired_on is not None:
            expired_note = (
                f" (its exception at {exception.origin} expired on "
                f"{exception.expired_on.isoformat()})"
            )
            exception = None
        if exception is not None:
            return Verdict(
                package, Status.UNSIGNED, Code.UNSIGNED,
                f"{package.key} is unsigned; allowed by the exception at {exception.origin}: "
                f"{exception.reason}",
                policy=rule.describe(),
            )
        base = f"{package.key} has no Sigstore evidence{expired_note}"
        if self.settings.unsigned == "deny":
            return Verdict(package, Status.FAILED, Code.UNSIGNED,
                           f"{base} and unsigned = \"deny\"", policy=rule.describe())
        return Verdict(
            package, Status.UNSIGNED, Code.UNSIGNED,
            f"{base} (unsigned = \"{self.settings.unsigned}\")",
            policy=rule.describe(), warning=self.settings.unsigned == "warn",
        )


def _failer(package: Package, rule: TrustRule) -> Callable[[Code, str], Verdict]:
    def fail(code: Code, reason: str) -> Verdict:
        return Verdict(package, Status.FAILED, code, reason, policy=rule.describe())

    return fail


def verify_packages(
    packages: Sequence[Package],
    settings: Settings,
    policies: Policies,
    *,
    lockfile: str | None = None,
    progress: Progress | None = None,
    on_download: DownloadProgress | None = None,
) -> Report:
    """Synchronous entry point (the CLI and the Python API both use it).

    A run answered entirely without the network (cache hits, skips) never starts an event
    loop or imports asyncio: a warm re-check of a large lockfile stays fast.
    """
    pipeline = Pipeline(settings, policies, progress, on_download)
    settled = pipeline._settle(packages, lockfile)
    if settled.pending:
        import asyncio

        asyncio.run(pipeline._verify_pending(packages, settled))
    return pipeline._conclude(packages, lockfile, settled)
