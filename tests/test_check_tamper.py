"""Every way a lockfile's package can be tampered with fails exactly that package.

Each test locks a project with real cargo, breaks one thing (on the server through the test
world's fault switches, in cargo's cache, in the lockfile or in the trust policy) and checks
that `cargo-verify check` fails the affected package with the right code and a reason naming
it, while every other registry package is still verified.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import RunningWorld, WorldOptions, serve_in_thread
from tests.conftest import (
    FROZEN,
    CheckRun,
    CheckRunner,
    LockedProject,
    index_log_index,
    lock_project,
)

SIGNED_DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
mochi-log = { version = "0.1", registry = "mochi" }
"""
SIGNED_PACKAGES = {"mochi-example@0.1.1", "mochi-log@0.1.0", "mochi-util@0.1.1", "mochi-util@0.2.0"}
WITH_UNSIGNED = """\
mochi-log = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
"""


def registry_packages(run: CheckRun) -> list[dict[str, Any]]:
    return [p for p in run.document["packages"] if p["source"] is not None]


def assert_only_failure(run: CheckRun, key: str, code: str, *in_reason: str) -> dict[str, Any]:
    """`key` failed with `code` and a reason naming it; every other registry package verified."""
    assert run.exit_code == 1, run.stdout
    failed: dict[str, Any] | None = None
    for package in registry_packages(run):
        this = f"{package['name']}@{package['version']}"
        if this == key:
            failed = package
            assert package["status"] == "failed", package
            assert package["code"] == code, package
            assert key in package["reason"], package
            for text in in_reason:
                assert text in package["reason"], package
        else:
            assert package["status"] == "verified", package
    assert failed is not None, f"{key} is not in the report"
    return failed




@pytest.fixture
def signed_project(world: RunningWorld, tmp_path: Path) -> LockedProject:
    """Locked against the shared world (tests using it must not change the world)."""
    return lock_project(tmp_path, {"mochi": world}, SIGNED_DEPENDENCIES)


@pytest.fixture
def private_project(fresh_world: RunningWorld, tmp_path: Path) -> LockedProject:
    """Locked against a private world, for fault switches."""
    return lock_project(tmp_path, {"mochi": fresh_world}, SIGNED_DEPENDENCIES)


def test_untampered_project_verifies(signed_project: LockedProject, check_cli: CheckRunner) -> None:
    run = check_cli(signed_project, "--format", "json")
    assert run.exit_code == 0
    statuses = {f"{p['name']}@{p['version']}": p["status"] for p in registry_packages(run)}
    assert statuses == dict.fromkeys(SIGNED_PACKAGES, "verified")


# -- bytes ------------------------------------------------------------------------------------


def test_tarball_changed_on_the_server(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    fresh_world.world.faults.set({"tarball": {"mochi-log@0.1.0": "swap"}})  # type: ignore[attr-defined]

    run = check_cli(private_project, "--format", "json")

    failed = assert_only_failure(run, "mochi-log@0.1.0", "tarball-mismatch", "download")
    assert failed["checksum"] in failed["reason"]  # expected digest shown next to the found one


def _repack_with_extra_line(crate: Path) -> None:
    """Rewrite a cached .crate as a valid archive whose src/lib.rs has one line more."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(crate.read_bytes()))) as archive:
        for info in archive.getmembers():
            handle = archive.extractfile(info)
            data = handle.read() if handle is not None else None
            if data is not None and info.name.endswith("/src/lib.rs"):
                data += b'\npub fn injected() { std::process::abort() }\n'
                info.size = len(data)
            members.append((info, data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    crate.write_bytes(gzip.compress(out.getvalue()))


def test_tampered_crate_in_cargos_cache(
    signed_project: LockedProject, check_cli: CheckRunner
) -> None:
    signed_project.cargo("fetch")
    (cached,) = signed_project.cargo_home.glob("registry/cache/127.0.0.1-*/mochi-log-0.1.0.crate")
    before = hashlib.sha256(cached.read_bytes()).hexdigest()
    _repack_with_extra_line(cached)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() != before

    run = check_cli(signed_project, "--format", "json")

    failed = assert_only_failure(run, "mochi-log@0.1.0", "tarball-mismatch", "cargo cache")
    assert str(cached) in failed["reason"]


def test_a_fifo_or_directory_named_like_a_cached_crate_is_not_read(
    signed_project: LockedProject, check_cli: CheckRunner
) -> None:
    signed_project.cargo("fetch")
    cache = signed_project.cargo_home
    (log,) = cache.glob("registry/cache/127.0.0.1-*/mochi-log-0.1.0.crate")
    (example,) = cache.glob("registry/cache/127.0.0.1-*/mochi-example-0.1.1.crate")
    log.unlink()
    os.mkfifo(log)
    example.unlink()
    example.mkdir()

    def unblock() -> None:
        # Opening the FIFO for reading would block until a writer comes: this one comes after
        # 10 s with bytes that cannot match, so such a bug fails the test instead of hanging it.
        time.sleep(10)
        try:
            fd = os.open(log, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: nobody is reading
        except OSError:
            return
        os.write(fd, b"not a crate")
        os.close(fd)

    threading.Thread(target=unblock, daemon=True).start()
    run = check_cli(signed_project, "--format", "json")

    assert run.exit_code == 0, run.stdout  # both downloaded instead, and verified
    statuses = {f"{p['name']}@{p['version']}": p["status"] for p in registry_packages(run)}
    assert statuses == dict.fromkeys(SIGNED_PACKAGES, "verified")


def test_lockfile_checksum_edited(signed_project: LockedProject, check_cli: CheckRunner) -> None:
    lock = signed_project.lockfile
    text = lock.read_text()
    original = next(
        p["checksum"] for p in _lock_packages(text) if p["name"] == "mochi-example"
    )
    forged = hashlib.sha256(b"another mochi-example").hexdigest()
    lock.write_text(text.replace(original, forged))

    run = check_cli(signed_project, "--format", "json")

    assert_only_failure(run, "mochi-example@0.1.1", "checksum-mismatch", forged, original)


def _lock_packages(text: str) -> list[dict[str, Any]]:
    import tomllib

    packages = tomllib.loads(text)["package"]
    assert isinstance(packages, list)
    return packages


def test_index_cksum_disagrees_with_lockfile(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    other = hashlib.sha256(b"not the published crate").hexdigest()
    fresh_world.world.faults.set({"index": {"mochi-util@0.2.0": {"cksum": other}}})  # type: ignore[attr-defined]

    run = check_cli(private_project, "--format", "json")

    assert_only_failure(run, "mochi-util@0.2.0", "checksum-mismatch", other)


# -- evidence ---------------------------------------------------------------------------------


def test_index_names_another_crates_rekor_entry(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    borrowed = index_log_index(fresh_world, "mochi-util", "0.2.0")
    fresh_world.world.faults.set(  # type: ignore[attr-defined]
        {"index": {"mochi-log@0.1.0": {"sigstore": {"rekor_log_index": borrowed}}}}
    )

    run = check_cli(private_project, "--format", "json")

    assert_only_failure(run, "mochi-log@0.1.0", "evidence-mismatch", f"entry {borrowed}")
    assert run.packages["mochi-util@0.2.0"]["rekor_log_index"] == borrowed


def test_index_names_another_crates_bundle(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    borrowed = "/bundles/mochi-util/0.2.0/bundle.sigstore.json"
    fresh_world.world.faults.set(  # type: ignore[attr-defined]
        {"index": {"mochi-log@0.1.0": {"sigstore": {"bundle": borrowed}}}}
    )

    run = check_cli(private_project, "--format", "json")

    assert_only_failure(run, "mochi-log@0.1.0", "evidence-mismatch")


def test_bundle_and_log_index_disagree(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    own_bundle = "/bundles/mochi-log/0.1.0/bundle.sigstore.json"
    other_entry = index_log_index(fresh_world, "mochi-util", "0.2.0")
    fresh_world.world.faults.set(  # type: ignore[attr-defined]
        {"index": {"mochi-log@0.1.0": {
            "sigstore": {"bundle": own_bundle, "rekor_log_index": other_entry}
        }}}
    )

    run = check_cli(private_project, "--format", "json")

    assert_only_failure(run, "mochi-log@0.1.0", "evidence-mismatch", f"entry {other_entry}")


def test_rekor_serves_another_entrys_body(tmp_path: Path, check_cli: CheckRunner) -> None:
    running = serve_in_thread(WorldOptions(evidence="rekor", clock=FixedClock(FROZEN)))
    try:
        project = lock_project(tmp_path, {"mochi": running}, SIGNED_DEPENDENCIES)
        entry = index_log_index(running, "mochi-log", "0.1.0")
        other = index_log_index(running, "mochi-util", "0.2.0")
        running.world.faults.set(  # type: ignore[attr-defined]
            {"rekor_entry": {str(entry): {"body_from": other}}}
        )

        run = check_cli(project, "--format", "json")
    finally:
        running.stop()

    assert_only_failure(run, "mochi-log@0.1.0", "evidence-mismatch", f"entry {entry}")


def test_lockfile_version_not_in_the_index(
    signed_project: LockedProject, check_cli: CheckRunner
) -> None:
    lock = signed_project.lockfile
    lock.write_text(lock.read_text().replace(
        'name = "mochi-log"\nversion = "0.1.0"', 'name = "mochi-log"\nversion = "0.1.9"'
    ))

    run = check_cli(signed_project, "--format", "json")

    assert_only_failure(run, "mochi-log@0.1.9", "not-in-index")


TRUST_OTHER_REPO = (
    '[rust-dependencies.mochi-log]\nversion = "^0.1"\n'
    'trust = { issuer = "https://token.actions.githubusercontent.com", '
    'subject = "repo:example/mochi-util:*" }\n'
)
TRUST_OTHER_ISSUER = """\
[rust-dependencies.mochi-example]
version = "^0.1"
trust = { issuer = "https://gitlab.com", subject = "repo:example/mochi-example:*" }
"""


def test_publisher_not_allowed_by_trust_entry(
    signed_project: LockedProject, check_cli: CheckRunner
) -> None:
    (signed_project.directory / "mochi.toml").write_text(TRUST_OTHER_REPO)

    run = check_cli(signed_project, "--format", "json")

    failed = assert_only_failure(
        run, "mochi-log@0.1.0", "identity-mismatch",
        "expected repo:example/mochi-util:*", "repo:example/mochi-log:",
    )
    assert failed["identity"] == (
        "https://github.com/example/mochi-log/.github/workflows/release.yml@refs/tags/v0.1.0"
    )


def test_issuer_mismatch(signed_project: LockedProject, check_cli: CheckRunner) -> None:
    (signed_project.directory / "mochi.toml").write_text(TRUST_OTHER_ISSUER)

    run = check_cli(signed_project, "--format", "json")

    assert_only_failure(
        run, "mochi-example@0.1.1", "identity-mismatch",
        "issuer: expected https://gitlab.com, found https://token.actions.githubusercontent.com",
    )


@pytest.fixture
def other_ca_world() -> Iterator[RunningWorld]:
    """A second world with another seed: its own CA, Rekor key and signed fixtures."""
    running = serve_in_thread(WorldOptions(seed="another-certificate-authority",
                                           clock=FixedClock(FROZEN)))
    yield running
    running.stop()


def test_evidence_from_a_ca_not_in_the_trusted_root(
    world: RunningWorld, other_ca_world: RunningWorld, tmp_path: Path, check_cli: CheckRunner
) -> None:
    # mochi-example (and its mochi-util) come from the trusted world, mochi-log (and its
    # mochi-util) from the other one; the configured trusted root is the first world's.
    dependencies = (
        'mochi-example = { version = "0.1", registry = "mochi" }\n'
        'mochi-log = { version = "0.1", registry = "elsewhere" }\n'
    )
    project = lock_project(tmp_path, {"mochi": world, "elsewhere": other_ca_world}, dependencies)

    run = check_cli(project, "--format", "json")

    assert run.exit_code == 1
    by_source: dict[str, set[str]] = {}
    for package in registry_packages(run):
        key = f"{package['name']}@{package['version']}"
        by_source.setdefault(package["source"], set()).add(key)
        if package["source"] == world.world.index_url:
            assert package["status"] == "verified", package
        else:
            assert package["source"] == other_ca_world.world.index_url
            assert package["status"] == "failed", package
            assert package["code"] == "signature-invalid", package
            assert key in package["reason"], package
    assert by_source == {
        world.world.index_url: {"mochi-example@0.1.1", "mochi-util@0.1.1"},
        other_ca_world.world.index_url: {"mochi-log@0.1.0", "mochi-util@0.2.0"},
    }


def test_other_worlds_registry_against_this_trusted_root(
    world: RunningWorld, other_ca_world: RunningWorld, tmp_path: Path, check_cli: CheckRunner
) -> None:
    project = lock_project(tmp_path, {"mochi": other_ca_world}, SIGNED_DEPENDENCIES)
    own_root = project.trusted_root
    foreign_root, _ = world.world.write_trust_files(tmp_path / "foreign")

    trusted = check_cli(project, "--format", "json", "--trusted-root", str(own_root))
    foreign = check_cli(project, "--format", "json", "--trusted-root", str(foreign_root))

    assert trusted.exit_code == 0
    assert foreign.exit_code == 1
    for package in registry_packages(foreign):
        assert package["status"] == "failed" and package["code"] == "signature-invalid", package


# -- unsigned ---------------------------------------------------------------------------------


@pytest.fixture
def unsigned_project(world: RunningWorld, tmp_path: Path) -> LockedProject:
    return lock_project(tmp_path, {"mochi": world}, WITH_UNSIGNED)


def test_unsigned_crate_is_a_warning_by_default(
    unsigned_project: LockedProject, check_cli: CheckRunner
) -> None:
    run = check_cli(unsigned_project, "--format", "json")

    assert run.exit_code == 0
    assert run.packages["legacy-unsigned@0.1.0"]["status"] == "unsigned"
    assert run.packages["legacy-unsigned@0.1.0"]["code"] == "unsigned"


def test_unsigned_crate_under_deny(unsigned_project: LockedProject, check_cli: CheckRunner) -> None:
    run = check_cli(unsigned_project, "--format", "json", "--unsigned", "deny")

    assert_only_failure(run, "legacy-unsigned@0.1.0", "unsigned", "deny")


def test_unsigned_crate_with_trust_entry(
    unsigned_project: LockedProject, check_cli: CheckRunner
) -> None:
    (unsigned_project.directory / "mochi.toml").write_text(
        '[rust-dependencies.legacy-unsigned]\nversion = "^0.1"\n'
        'trust = { issuer = "https://token.actions.githubusercontent.com" }\n'
    )

    run = check_cli(unsigned_project, "--format", "json", "--unsigned", "allow")

    assert_only_failure(run, "legacy-unsigned@0.1.0", "unsigned-with-trust-entry", "mochi.toml:3")


# -- infrastructure ---------------------------------------------------------------------------


def test_one_failing_endpoint_does_not_stop_the_run(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    fresh_world.world.faults.set(  # type: ignore[attr-defined]
        {"http_errors": [{"path": "/index/mo/ch/mochi-log", "status": 500, "times": 1000}]}
    )

    output = private_project.directory / "report.json"

    # JSON goes to the file, the human report to the terminal.
    run = check_cli(private_project, "--format", "json", "--output", str(output))

    assert run.exit_code == 3, run.stdout
    document = json.loads(output.read_text())
    for package in document["packages"]:
        if package["name"] == "mochi-log":
            assert package["status"] == "failed"
            assert package["code"] == "infrastructure-error"
            assert "mochi-log@0.1.0" in package["reason"] and "500" in package["reason"]
        elif package["source"] is not None:
            assert package["status"] == "verified", package
    assert document["summary"]["infrastructure_errors"] == 1
    (problem,) = [line for line in run.stdout.splitlines() if "error[" in line]
    assert problem.lstrip().startswith("error[infrastructure-error]: mochi-log@0.1.0")
    assert run.stdout.splitlines()[-1] == (
        "INCOMPLETE: 3 verified, 0 unsigned, 1 skipped, 1 failed (1 without a verdict)"
    )


def test_infrastructure_error_does_not_hide_a_real_failure(
    fresh_world: RunningWorld, private_project: LockedProject, check_cli: CheckRunner
) -> None:
    fresh_world.world.faults.set(  # type: ignore[attr-defined]
        {
            "http_errors": [{"path": "/index/mo/ch/mochi-log", "status": 500, "times": 1000}],
            "tarball": {"mochi-example@0.1.1": "truncate"},
        }
    )

    run = check_cli(private_project, "--format", "json")

    assert run.exit_code == 1
    assert run.packages["mochi-log@0.1.0"]["code"] == "infrastructure-error"
    assert run.packages["mochi-example@0.1.1"]["code"] == "tarball-mismatch"
    assert run.packages["mochi-util@0.1.1"]["status"] == "verified"
