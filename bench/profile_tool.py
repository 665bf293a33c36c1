"""Profiles for bench/README.md (cProfile, CPU time rather than wall time).

    python bench/profile_tool.py OUT.txt check ARGS...          the tool's main process
    python bench/profile_tool.py --worker OUT.txt ROOT STATE N  sigstore checks of N bundles

The first form runs `cargo-verify ARGS` in-process under cProfile; forked verification
workers switch the profiler off (they are profiled by the second form, which runs the same
`run_job` a worker runs over N bundles of the benchmark registry, in one process).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path


def _summary(profile: cProfile.Profile, title: str, elapsed_cpu: float) -> str:
    out = io.StringIO()
    out.write(f"{title}\nCPU time: {elapsed_cpu:.3f} s (profiler overhead included)\n\n")
    for key, count in (("cumulative", 45), ("tottime", 30)):
        out.write(f"--- top {count} by {key} ---\n")
        stats = pstats.Stats(profile, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(count)
    return out.getvalue()


def profile_main(output: Path, argv: list[str]) -> int:
    from cargo_verify._cli import main

    profile = cProfile.Profile(time.process_time)
    os.register_at_fork(after_in_child=profile.disable)
    started = time.process_time()
    profile.enable()
    try:
        code = main(argv)
    finally:
        profile.disable()
    elapsed = time.process_time() - started
    output.write_text(_summary(profile, "cargo-verify " + " ".join(argv), elapsed))
    return code


def profile_worker(output: Path, root: str, state: Path, count: int) -> int:
    import synth

    from cargo_verify.verify import TrustRootSpec, run_job, verifier_for

    spec = TrustRootSpec(path=root)
    verifier_for(spec)
    jobs = synth.verify_jobs(state, count)
    run_job(jobs[0], spec)  # first-use imports out of the picture
    started = time.process_time()
    for job in jobs:
        if not run_job(job, spec).ok:
            raise SystemExit(f"{job.package} did not verify")
    plain = (time.process_time() - started) / len(jobs)
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for job in jobs:
        run_job(job, spec)
    profile.disable()
    title = (f"verification worker: run_job over {len(jobs)} bundles; "
             f"{plain * 1000:.3f} ms CPU per bundle without the profiler")
    output.write_text(_summary(profile, title, plain * len(jobs)))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        sys.exit(profile_worker(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]),
                                int(sys.argv[5])))
    sys.exit(profile_main(Path(sys.argv[1]), sys.argv[2:]))
