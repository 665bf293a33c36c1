"""Run one fuzz target for a bounded time: coverage-guided with atheris (libFuzzer) when it is
installed, else a seeded random-mutation loop over the same seeds.

    python fuzz/fuzz.py TARGET [--seconds N] [--engine atheris|random] [--artifacts DIR]

Exit 0 when the time ran out without a finding; non-zero with the crashing input saved under
--artifacts (default: $TMPDIR/cargo-verify-fuzz/TARGET/findings) — minimize it, fix the bug,
and add it to fuzz/corpus/TARGET/ so the test suite replays it from then on.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_TOKENS = [b'"', b"'", b"[", b"]", b"[[", b"]]", b"{", b"}", b"=", b"\n", b"\r\n", b"\x00",
           b"\xff", b"\\u0000", b"*", b"..", b"/", b"-1", b"1e999", b"true", b"null",
           b'"version"', b'"sigstore"', b"version = 4", b"[[package]]", b"\xe2\x80\x94"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--engine", choices=("atheris", "random"), default=None)
    parser.add_argument("--artifacts", type=Path, default=None)
    args = parser.parse_args()
    engine = args.engine or ("atheris" if importlib.util.find_spec("atheris") else "random")
    artifacts = args.artifacts or _scratch(args.target) / "findings"
    artifacts.mkdir(parents=True, exist_ok=True)
    if engine == "atheris":
        return _atheris(args.target, args.seconds, artifacts)
    return _random(args.target, args.seconds, artifacts)


def _scratch(name: str) -> Path:
    """Per-target scratch space, reused by every run (atheris exits without cleaning up)."""
    return Path(tempfile.gettempdir()) / "cargo-verify-fuzz" / name


def _work_corpus(name: str) -> Path:
    from fuzz.seeds import all_seeds
    from fuzz.targets import corpus_dir

    work = _scratch(name) / "corpus"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for number, data in enumerate(all_seeds()[name]):
        (work / f"seed-{number:03d}").write_bytes(data)
    saved = corpus_dir(name)
    if saved.is_dir():
        for path in saved.iterdir():
            shutil.copy(path, work / f"saved-{path.name}")
    return work


def _atheris(name: str, seconds: int, artifacts: Path) -> int:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    with atheris.instrument_imports(include=["cargo_verify"]):
        import cargo_verify._toml_lines
        import cargo_verify.config
        import cargo_verify.evidence_store
        import cargo_verify.lockfile
        import cargo_verify.manifest
        import cargo_verify.policy
        import cargo_verify.registry
        import cargo_verify.transparency  # noqa: F401
    from fuzz.targets import TARGETS

    target = TARGETS[name]
    work = _work_corpus(name)
    print(f"fuzz {name}: atheris for {seconds} s, corpus {work}, findings {artifacts}",
          flush=True)
    atheris.Setup(
        [sys.argv[0], f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=3072",
         "-max_len=65536", f"-artifact_prefix={artifacts}/", "-print_final_stats=1", str(work)],
        target,
    )
    atheris.Fuzz()  # exits the process: 0 when time ran out, non-zero on a finding
    return 0


def _random(name: str, seconds: int, artifacts: Path) -> int:
    from fuzz.targets import TARGETS

    target = TARGETS[name]
    seeds = [p.read_bytes() for p in sorted(_work_corpus(name).iterdir())]
    rng = random.Random(f"cargo-verify-{name}")
    print(f"fuzz {name}: random mutation for {seconds} s, findings {artifacts}", flush=True)
    runs = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        data = _mutate(rng, rng.choice(seeds), seeds)
        runs += 1
        try:
            target(data)
        except Exception:
            path = artifacts / f"crash-{hashlib.sha1(data).hexdigest()}"
            path.write_bytes(data)
            traceback.print_exc()
            print(f"fuzz {name}: FINDING after {runs} runs, input saved to {path}")
            return 1
    print(f"fuzz {name}: {runs} runs, no finding")
    return 0


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.randrange(6)
        where = rng.randint(0, len(out))
        if choice == 0 and out:
            out[min(where, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[where:where] = rng.choice(_TOKENS)
        elif choice == 2 and out:
            del out[where : where + rng.randint(1, 16)]
        elif choice == 3 and out:
            start = rng.randrange(len(out))
            out[where:where] = out[start : start + rng.randint(1, 64)]
        elif choice == 4:
            other = rng.choice(seeds)
            start = rng.randint(0, len(other))
            out[where:] = other[start : start + rng.randint(1, 256)]
        else:
            out[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(out)


if __name__ == "__main__":
    sys.exit(main())
