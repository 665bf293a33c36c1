"""The forked verification workers: real sigstore checks, bad trust material, dead workers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
from pathlib import Path

import pytest

from cargo_verify.errors import CargoVerifyError, InfraError
from cargo_verify.mock.registry import TrustedPublisher
from cargo_verify.mock.world import PUBLISH_AUDIENCE, World, WorldOptions
from cargo_verify.model import Code, TrustRule
from cargo_verify.verify import TrustRootSpec, VerifyJob
from cargo_verify.workers import ForkedVerifiers
from tests.conftest import crate_archive

REPOSITORY = "example/worker-test"




@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[VerifyJob]]:
    """A trusted root and three signed crates' verification jobs, from the test world."""
    world = World("http://127.0.0.1:1", WorldOptions(publish_fixtures=False))
    root, _ = world.write_trust_files(tmp_path_factory.mktemp("trust"))
    claims = world.oidc.github_claims(REPOSITORY, "refs/tags/v1.0.0",
                                      audience=PUBLISH_AUDIENCE)
    jobs = []
    for number in range(3):
        name = f"worker-crate-{number}"
        data = crate_archive(name, "1.0.0")
        world.registry.publishers[name] = TrustedPublisher(
            issuer=claims["iss"], repository=REPOSITORY, workflow="release.yml")
        meta = {"name": name, "vers": "1.0.0", "deps": [], "features": {}}
        world.registry.publish_fixture(name, "1.0.0", data, meta, dict(claims))
        bundle = world.registry.bundle(name, "1.0.0")
        assert bundle is not None
        jobs.append(VerifyJob(f"{name}@1.0.0", bundle.decode(), hashlib.sha256(data).hexdigest(),
                              TrustRule(issuer=claims["iss"], repository=REPOSITORY)))
    return root, jobs


async def _run_all(pool: ForkedVerifiers, jobs: list[VerifyJob]) -> list[object]:
    return list(await asyncio.gather(*(pool.run(job) for job in jobs), return_exceptions=True))


def test_workers_verify_and_refuse(signed: tuple[Path, list[VerifyJob]]) -> None:
    root, jobs = signed
    wrong_digest = VerifyJob(jobs[0].package, jobs[0].bundle_json, "0" * 64, jobs[0].rule)
    wrong_signer = VerifyJob(jobs[1].package, jobs[1].bundle_json, jobs[1].sha256_hex,
                             TrustRule(repository="someone-else/*"))
    pool = ForkedVerifiers(TrustRootSpec(path=str(root)), 2)
    pool.start()
    try:
        outcomes = asyncio.run(_run_all(pool, [*jobs * 4, wrong_digest, wrong_signer]))
    finally:
        pool.close()
    assert all(getattr(o, "ok", False) for o in outcomes[:12])
    assert [getattr(o, "code", None) for o in outcomes[12:]] == [
        Code.EVIDENCE_MISMATCH, Code.IDENTITY_MISMATCH]


def test_unusable_trust_material_fails_every_job(
    signed: tuple[Path, list[VerifyJob]], tmp_path: Path
) -> None:
    _, jobs = signed
    broken = tmp_path / "root.json"
    broken.write_text(json.dumps({"mediaType": "something/else"}))
    pool = ForkedVerifiers(TrustRootSpec(path=str(broken)), 2)
    pool.start()
    try:
        outcomes = asyncio.run(_run_all(pool, jobs))
    finally:
        pool.close()
    assert all(isinstance(o, CargoVerifyError) for o in outcomes), outcomes


def test_a_dead_worker_fails_its_jobs_instead_of_passing_them(
    signed: tuple[Path, list[VerifyJob]]
) -> None:
    root, jobs = signed
    pool = ForkedVerifiers(TrustRootSpec(path=str(root)), 2)
    pool.start()

    async def scenario() -> list[object]:
        await _run_all(pool, jobs)  # every worker has said hello: their pids are known
        for worker in pool._pool:
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        return await _run_all(pool, jobs)

    try:
        outcomes = asyncio.run(scenario())
    finally:
        pool.close()
    assert all(isinstance(o, InfraError) for o in outcomes), outcomes


def test_a_prestarted_pool_is_used_once_and_an_unused_one_is_stopped(
    signed: tuple[Path, list[VerifyJob]], tmp_path: Path
) -> None:
    from cargo_verify import pipeline

    root, jobs = signed
    spec = TrustRootSpec(path=str(root))
    pipeline.prestart_verifiers(spec, 1)
    taken = pipeline._take_prestarted(spec)
    assert taken is not None and pipeline._take_prestarted(spec) is None
    try:
        outcomes = asyncio.run(_run_all(taken, jobs[:1]))
    finally:
        taken.close()
    assert getattr(outcomes[0], "ok", False)

    pipeline.prestart_verifiers(spec, 1)  # then nothing needs it: stopped, trust never loaded
    unused = pipeline._prestarted
    assert unused is not None and unused._leader_pid is not None
    leader = unused._leader_pid
    pipeline.discard_prestarted()
    with pytest.raises(ChildProcessError):
        os.waitpid(leader, os.WNOHANG)  # already reaped


def test_workers_are_prestarted_only_when_the_run_will_likely_verify(
    signed: tuple[Path, list[VerifyJob]], tmp_path: Path
) -> None:
    """No verification cache for the lockfile, or a changed lockfile or mochi.toml: the
    workers start importing sigstore while the plan is read. The unchanged pair (the warm
    re-check) starts nothing."""
    from cargo_verify import pipeline
    from cargo_verify.commands.check import plan_check

    root, _ = signed
    lock = tmp_path / "Cargo.lock"
    lock.write_text('version = 4\n\n[[package]]\nname = "a"\nversion = "1.0.0"\n'
                    'source = "sparse+https://index.example/"\nchecksum = "' + "ab" * 32 + '"\n')
    mochi = tmp_path / "mochi.toml"
    mochi.write_text('[rust-dependencies.a]\nversion = "1"\ntrust = { repository = "o/r" }\n')
    cache = tmp_path / "cache"

    def prestarted_after_planning() -> bool:
        pipeline.discard_prestarted()
        plan_check(lock, cwd=tmp_path, env={"CARGO_HOME": str(tmp_path / "home")},
                   trusted_root=str(root), cache_dir=cache)
        started = pipeline._prestarted is not None
        pipeline.discard_prestarted()
        return started

    assert prestarted_after_planning()  # nothing cached for this lockfile yet
    from cargo_verify.cache import VerdictCache

    assert VerdictCache(cache, str(lock)).path.exists()  # planning wrote the plan
    assert not prestarted_after_planning()  # unchanged lockfile and mochi.toml
    mochi.write_text(mochi.read_text().replace("o/r", "o/other"))
    assert prestarted_after_planning()  # a trust entry changed
    assert not prestarted_after_planning()
    lock.write_text(lock.read_text().replace("1.0.0", "1.0.1"))
    assert prestarted_after_planning()  # the lockfile changed
