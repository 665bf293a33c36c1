"""$CARGO_HOME, cargo's registry directory names and the `.crate` cache lookup."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cargo_verify.cargo_home import (
    CRATES_IO_LOCK_SOURCE,
    CRATES_IO_SPARSE_INDEX,
    SourceKind,
    cached_crate_path,
    canonical_url,
    cargo_home,
    download_source,
    registry_cache_dir_name,
    source_identity,
    stable_hash,
)
from tests.conftest import crate_archive

# cargo-facts.md §5: directories observed with cargo 1.95.
OBSERVED_DIRS = [
    ("sparse+https://index.crates.io/", None, "index.crates.io-1949cf8c6b5b557f"),
    ("sparse+http://127.0.0.1:8765/index/", None, "127.0.0.1-bdfdd7eae38d3c71"),
    ("sparse+http://127.0.0.1:8766/index/", None, "127.0.0.1-91edde3cbe9c0d21"),
    ("file:///tmp/cv/gitindex", SourceKind.REGISTRY, "-5812e4e896eee4d6"),
    ("file:///tmp/cv/localreg", SourceKind.LOCAL_REGISTRY, "-505b1ed53368a9a8"),
    ("https://github.com/rust-lang/crates.io-index", None, "github.com-25cdd57fae9f0462"),
]

# cargo's own `test_stable_hash` (src/cargo/core/source_id.rs, rust-1.95.0):
# (kind, URL as the `url` crate serialises it, hash_u64, short_hash).
CARGO_STABLE_HASH_VECTORS = [
    (
        SourceKind.REGISTRY,
        "https://github.com/rust-lang/crates.io-index",
        7062945687441624357,
        "25cdd57fae9f0462",
    ),
    (SourceKind.REGISTRY, "https://my-crates.io/", 8310250053664888498, "b2d65deb64f05373"),
    (SourceKind.REGISTRY, "https://your-crates.io/", 14149534903000258933, "755952de063f5dc4"),
    (SourceKind.SPARSE, "sparse+https://my-crates.io", 16249512552851930162, "327cfdbd92dd81e1"),
    (SourceKind.SPARSE, "sparse+https://your-crates.io", 6156697384053352292, "64a713b6a6fb7055"),
    (SourceKind.LOCAL_REGISTRY, "file:///tmp/ws/crate", 11515846423845066584, "58d73c154f81d09f"),
    (SourceKind.DIRECTORY, "file:///tmp/ws/crate", 6127590343904940368, "505191d1f3920955"),
]


@pytest.mark.parametrize(("url", "kind", "expected"), OBSERVED_DIRS)
def test_observed_cargo_directory_names(url: str, kind: SourceKind | None, expected: str) -> None:
    assert registry_cache_dir_name(url, kind) == expected


@pytest.mark.parametrize(("kind", "url", "number", "short"), CARGO_STABLE_HASH_VECTORS)
def test_cargo_stable_hash_vectors(kind: SourceKind, url: str, number: int, short: str) -> None:
    assert stable_hash(kind, url) == number
    assert number.to_bytes(8, "little").hex() == short
    assert registry_cache_dir_name(url, kind).endswith("-" + short)


def test_the_kind_is_part_of_the_hash() -> None:
    url = "file:///tmp/ws/crate"
    names = {registry_cache_dir_name(url, kind) for kind in SourceKind}
    assert len(names) == len(SourceKind)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("sparse+https://index.crates.io/", "sparse+https://index.crates.io/"),  # path "/" stays
        ("sparse+http://127.0.0.1:8765/index/", "sparse+http://127.0.0.1:8765/index"),
        ("https://example.com/a//", "https://example.com/a/"),  # only one slash goes
        ("https://example.com/index.git", "https://example.com/index"),
        ("https://example.com/index.git/", "https://example.com/index"),
        (
            "http://GitHub.com/Rust-Lang/Crates.IO-Index",
            "https://github.com/rust-lang/crates.io-index",
        ),
        ("HTTPS://Example.COM:443", "https://example.com/"),
        ("http://example.com:8080/x/", "http://example.com:8080/x"),
        ("file:///tmp/x/", "file:///tmp/x"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_source_identity_ignores_git_revision_but_not_reference() -> None:
    locked = "git+https://github.com/a/b?branch=main#4f5fe61885e2a9333341805dd11059ae52ac08ce"
    same = source_identity("git+https://github.com/A/b.git?branch=main")
    assert source_identity(locked) == same
    assert source_identity("git+https://github.com/a/b?branch=dev") != same
    assert source_identity("git+https://github.com/a/b") != same
    assert source_identity("nonsense") is None
    assert source_identity("ftp+http://x/") is None


def test_cargo_home_from_environment(tmp_path: Path) -> None:
    assert cargo_home({"CARGO_HOME": "/opt/cargo", "HOME": "/home/u"}) == Path("/opt/cargo")
    assert cargo_home({"CARGO_HOME": "rel", "HOME": "/h"}, cwd=tmp_path) == tmp_path / "rel"
    assert cargo_home({"HOME": "/home/u"}) == Path("/home/u/.cargo")
    assert cargo_home({"CARGO_HOME": "", "HOME": "/home/u"}) == Path("/home/u/.cargo")


def test_crates_io_downloads_from_the_sparse_index() -> None:
    assert download_source(CRATES_IO_LOCK_SOURCE) == CRATES_IO_SPARSE_INDEX
    assert download_source(CRATES_IO_LOCK_SOURCE, "git") == CRATES_IO_LOCK_SOURCE
    other = "sparse+http://127.0.0.1:8765/index/"
    assert download_source(other) == other


def _put(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_cached_crate_path_prefers_the_exact_directory(tmp_path: Path) -> None:
    exact = _put(
        tmp_path / "registry/cache/index.crates.io-1949cf8c6b5b557f/serde-1.0.0.crate", b"real"
    )
    _put(tmp_path / "registry/cache/index.crates.io-6f17d22bba15001f/serde-1.0.0.crate", b"old")
    checksum = hashlib.sha256(b"old").hexdigest()
    # Even a checksum that only the other file matches does not move the lookup away from
    # the file cargo itself would use: the caller re-hashes and reports the mismatch.
    found = cached_crate_path(tmp_path, CRATES_IO_LOCK_SOURCE, "serde", "1.0.0", checksum=checksum)
    assert found == exact


def test_cached_crate_path_fallback_needs_a_matching_checksum(tmp_path: Path) -> None:
    _put(tmp_path / "registry/cache/index.crates.io-6f17d22bba15001f/serde-1.0.0.crate", b"old")
    _put(tmp_path / "registry/cache/evil.example-0000000000000000/serde-1.0.0.crate", b"evil")
    wanted = hashlib.sha256(b"old").hexdigest()
    found = cached_crate_path(tmp_path, CRATES_IO_LOCK_SOURCE, "serde", "1.0.0", checksum=wanted)
    assert found is not None and found.read_bytes() == b"old"
    unknown = hashlib.sha256(b"something else").hexdigest()
    assert (
        cached_crate_path(tmp_path, CRATES_IO_LOCK_SOURCE, "serde", "1.0.0", checksum=unknown)
        is None
    )
    assert cached_crate_path(tmp_path, CRATES_IO_LOCK_SOURCE, "serde", "1.0.0") is None


def test_cached_crate_path_for_alternate_registries_and_mixed_case(tmp_path: Path) -> None:
    source = "sparse+http://127.0.0.1:8765/index/"
    exact = _put(tmp_path / "registry/cache/127.0.0.1-bdfdd7eae38d3c71/MixedCase-0.1.0.crate", b"x")
    assert cached_crate_path(tmp_path, source, "MixedCase", "0.1.0") == exact
    assert cached_crate_path(tmp_path, source, "mixedcase", "0.1.0") is None


def test_cached_crate_path_refuses_unsafe_names_and_non_registries(tmp_path: Path) -> None:
    _put(tmp_path / "registry/cache/x/evil.crate", b"x")
    assert cached_crate_path(tmp_path, CRATES_IO_LOCK_SOURCE, "../x/evil", "1.0.0") is None
    assert cached_crate_path(tmp_path, CRATES_IO_LOCK_SOURCE, "a", "../../x") is None
    assert cached_crate_path(tmp_path, "git+https://x/y#abc", "a", "1.0.0") is None
    assert cached_crate_path(tmp_path, "path+file:///x", "a", "1.0.0") is None


def test_cached_crate_path_in_a_local_registry(tmp_path: Path) -> None:
    crate = _put(tmp_path / "local reg" / "ab-0.1.0.crate", b"x")
    source = f"local-registry+{(tmp_path / 'local reg').as_uri()}"
    assert cached_crate_path(tmp_path, source, "ab", "0.1.0") == crate
    assert cached_crate_path(tmp_path, source, "ab", "0.2.0") is None


# -- real cargo ---------------------------------------------------------------------------




@pytest.fixture
def sparse_registry(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """A one-crate sparse registry on 127.0.0.1 (cargo-facts.md §3), served from a thread."""
    root = tmp_path / "reg"
    crate = crate_archive("MixedCase", "0.1.0")
    _put(root / "dl/MixedCase-0.1.0.crate", crate)
    line = {
        "name": "MixedCase",
        "vers": "0.1.0",
        "deps": [],
        "cksum": hashlib.sha256(crate).hexdigest(),
    }
    _put(root / "index/mi/xe/mixedcase", (json.dumps(line) + "\n").encode())
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    _put(
        root / "index/config.json",
        json.dumps({"dl": f"http://127.0.0.1:{port}/dl/{{crate}}-{{version}}.crate"}).encode(),
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"sparse+http://127.0.0.1:{port}/index/", crate
    finally:
        server.shutdown()
        server.server_close()


def test_real_cargo_puts_the_crate_where_we_look(
    tmp_path: Path, sparse_registry: tuple[str, bytes]
) -> None:
    index, crate = sparse_registry
    home = tmp_path / "home"
    _put(home / "config.toml", f'[registries.local]\nindex = "{index}"\n'.encode())
    app = tmp_path / "app"
    _put(app / "src/main.rs", b"fn main() {}\n")
    _put(
        app / "Cargo.toml",
        b'[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
        b'MixedCase = { version = "0.1", registry = "local" }\n',
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO")}
    env["CARGO_HOME"] = str(home)
    cargo = shutil.which("cargo")
    assert cargo is not None, "cargo must be installed (design §4)"
    subprocess.run(
        [cargo, "fetch", "-q"], cwd=app, env=env, check=True, capture_output=True, timeout=120
    )
    found = cached_crate_path(home, index, "MixedCase", "0.1.0")
    assert found is not None and found.read_bytes() == crate
    assert found.parent.name == registry_cache_dir_name(index)
    assert [p.name for p in (home / "registry/cache").iterdir()] == [found.parent.name]
