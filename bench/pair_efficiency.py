"""How much faster two cores verify than one, on this machine, right now.

    python bench/pair_efficiency.py STATE_DIR TRUSTED_ROOT [--bundles 300]

Runs sigstore-python's verification (cargo-verify's `run_job`, as a worker runs it) over the
same bundles of a benchmark registry in one process, then in two processes at once, and
prints one JSON line: CPU per bundle alone and side by side, and the throughput of two
processes relative to one (2.0 = two independent cores). On a VM whose two vCPUs share a
physical core, or a busy host, it is well below 2: that bounds any speed-up of a parallel
verifier over a one-process baseline doing the same checks (baseline b).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

_WORKER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
import synth
from cargo_verify.verify import TrustRootSpec, run_job, verifier_for
spec = TrustRootSpec(path=sys.argv[2])
verifier_for(spec)
jobs = synth.verify_jobs(Path(sys.argv[1]), int(sys.argv[3]))
run_job(jobs[0], spec)
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
started = time.perf_counter(); cpu = time.process_time()
for job in jobs:
    assert run_job(job, spec).ok, job.package
print(json.dumps({"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
"""


def _run(state: Path, root: Path, bundles: int, processes: int) -> list[dict[str, float]]:
    command = [sys.executable, "-c", _WORKER, str(state), str(root), str(bundles),
               str(Path(__file__).resolve().parent)]
    running = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    for process in running:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in running:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in running:
        out, _ = process.communicate(timeout=300)
        if process.returncode != 0:
            raise SystemExit(f"pair_efficiency worker failed (exit {process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def measure(state: Path, root: Path, bundles: int = 300) -> dict[str, float]:
    started = time.perf_counter()
    (alone,) = _run(state, root, bundles, 1)
    pair = _run(state, root, bundles, 2)
    pair_wall = max(r["wall"] for r in pair)
    return {
        "bundles": bundles,
        "alone_cpu_ms_per_bundle": round(alone["cpu"] * 1000 / bundles, 3),
        "pair_cpu_ms_per_bundle": round(sum(r["cpu"] for r in pair) * 1000 / (2 * bundles), 3),
        # bundles per second of two processes at once over that of one alone
        "two_process_throughput": round(2 * alone["wall"] / pair_wall, 2),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("state", type=Path, help="a benchmark registry state directory")
    parser.add_argument("root", type=Path, help="the trusted root its world serves")
    parser.add_argument("--bundles", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(measure(args.state, args.root, args.bundles)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
