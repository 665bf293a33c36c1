"""A/B of two checkouts of cargo-verify on the benchmark's 1,000-crate registry.

    python bench/compare_trees.py OTHER_CHECKOUT [--rounds 4] [--kinds prefetched,cold]

Runs `cargo-verify check` from this tree and from OTHER_CHECKOUT (put first on PYTHONPATH)
alternately, so that the machine's drift hits both alike, and prints for each tree and run
kind the median wall time, CPU of the whole process tree, and its split between the tool's
own process and its verification workers. Kinds: `prefetched` (tarballs and evidence on
disk, latency off) and `cold` (empty caches, 20 ms injected latency), as in bench/run.py.
This is how the changes in bench/README.md were measured against their parent commit.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import run
import synth
from measure import WorldServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("other", type=Path, help="the other checkout (its cargo_verify/ is used)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--kinds", default="prefetched,cold")
    parser.add_argument("--work-dir", type=Path, default=run.RESULTS_DIR / "work")
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / "cargo_verify" / "__init__.py").is_file():
        raise SystemExit(f"{other} has no cargo_verify package")
    kinds = [k for k in args.kinds.split(",") if k]
    state = args.work_dir / "state-1000"
    registry = synth.build_registry(state, 1000)
    run.compile_package()
    compileall.compile_dir(str(other / "cargo_verify"), quiet=1)  # both run from bytecode
    trees = {"this": str(run.BENCH_DIR.parent), "other": str(other)}
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    server = WorldServer(state, run.PYTHON)
    try:
        bench = run.SizeBench(1000, list(registry.crates), server, args.work_dir, state, 20.0,
                              label="compare")
        bench.prepare()
        filled = bench._fresh("cache-cold")
        bench.check("cold", 20.0, filled, bench._fresh("cargo-home-empty"))
        for _ in range(args.rounds):
            for kind in kinds:
                for tree, path in trees.items():
                    with _pythonpath(path):
                        if kind == "prefetched":
                            bench.check(kind, 0, bench._evidence_only(filled), bench.cargo_home,
                                        expect_evidence="stored")
                        elif kind == "cold":
                            bench.check(kind, 20.0, bench._fresh("cache-compare"),
                                        bench._fresh("cargo-home-empty"))
                        else:
                            raise SystemExit(f"unknown kind {kind!r}")
                    samples.setdefault((kind, tree), []).append(bench.samples[kind][-1])
    finally:
        server.stop()
    print(f"{'kind/tree':22} {'wall s':>8} {'CPU s':>7} {'tool':>6} {'workers':>8}   walls")
    for (kind, tree), runs in samples.items():
        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] or 0.0 for r in runs)

        walls = ", ".join(f"{r['wall_s']:.2f}" for r in runs)
        print(f"{kind + '/' + tree:22} {median('wall_s'):8.3f} {median('cpu_s'):7.2f} "
              f"{median('main_cpu_s'):6.2f} {median('helpers_cpu_s'):8.2f}   {walls}")
    return 0


class _pythonpath:
    """PYTHONPATH set to `path` for the commands run meanwhile."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.saved = os.environ.get("PYTHONPATH")

    def __enter__(self) -> None:
        os.environ["PYTHONPATH"] = self.path

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = self.saved


if __name__ == "__main__":
    sys.exit(main())
