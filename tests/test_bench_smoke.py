"""The benchmark harness runs end to end at N=20 and writes every result it promises.

Not a timing test: only that each run happened, verified every crate, and was recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"
RUNS = ("cold", "cold-0ms", "warm", "warm+cargo", "tarballs-cached", "prefetched",
        "baseline-a", "baseline-a-0ms", "baseline-b")
RUN_KEYS = ("wall_s", "cpu_s", "user_s", "sys_s", "cpu_ms_per_crate", "wall_ms_per_crate",
            "peak_rss_mb", "peak_pss_mb", "max_process_rss_mb", "server_cpu_s", "verified",
            "returncode", "latency_ms", "repeats", "wall_s_samples", "main_cpu_s",
            "helpers_cpu_s")


def test_smoke_benchmark_writes_every_result(tmp_path: Path) -> None:
    output = tmp_path / "smoke.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--output", str(output),
         "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    results = json.loads(output.read_text())

    assert set(results) >= {"machine", "config", "registry", "sizes", "memory", "linearity",
                            "targets", "world_server_cpu_s"}
    assert results["config"]["smoke"] is True
    for when in ("start", "end"):  # the machine's two-core throughput, measured around the runs
        pair = results["machine"][f"two_cores_at_{when}"]
        assert pair["bundles"] == 20 and pair["two_process_throughput"] > 0
    assert results["registry"]["crates"] == 20
    size = results["sizes"]["20"]
    for name in RUNS:
        run = size["runs"][name]
        missing = [key for key in RUN_KEYS if key not in run]
        assert not missing, (name, missing)
        assert run["verified"] == 20, name
        assert run["returncode"] == 0, name
        assert run["wall_s"] > 0 and run["cpu_s"] > 0, name
    # the warm run is answered from the verification cache, without sigstore
    assert size["runs"]["warm"]["evidence"] == ["cache"]
    assert size["warm_imports"]["imports_sigstore"] is False
    # the pre-fetched run re-verifies evidence from the evidence store, as baseline b reads files
    assert size["runs"]["prefetched"]["evidence"] == ["stored"]
    assert size["runs"]["tarballs-cached"]["evidence"] == ["bundle"]
    # a tampered .crate in cargo's cache fails even with a warm verification cache
    assert size["tamper_check"]["ok"] is True
    assert set(size["ratios"]) == {"vs_baseline_a_latency", "vs_baseline_a_0ms",
                                   "vs_baseline_b_prefetched", "vs_baseline_b_tarballs_cached"}
    memory = results["memory"]
    assert memory["verified"] == memory["crates"] and memory["big_tarballs"] >= 1
    assert memory["peak_rss_mb"] > 0
    names = [t["target"] for t in results["targets"]]
    assert len(names) >= 8 and all({"value", "limit", "ok"} <= set(t) for t in results["targets"])
    assert "targets (" in done.stdout and "baseline-b" in done.stdout  # the printed table
