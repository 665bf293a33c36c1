"""Benchmark: `cargo-verify check` on lockfiles of N crates, against the baselines it replaces.

    python bench/run.py [--sizes 100,500,1000] [--latency-ms 20] [--smoke] [--profile]

One command does everything: it publishes a synthetic registry of N crates into a test-world
state directory (signed through the registry's managed-signing path; re-used on the next run),
serves it from a separate process (bench/world_server.py) whose CPU is measured on its own, and
for every size times, on the same data:

  cold         empty verification cache and empty cargo cache, at the injected latency
  cold-0ms     the same with latency off
  warm         the same lockfile again (verification cache filled by `cold`)
  warm+cargo   warm, with every `.crate` in cargo's cache (each one is re-hashed)
  tarballs-cached  empty verification cache, `.crate` files in cargo's cache, index files and
               evidence over HTTP, latency off
  prefetched   what baseline b gets: `.crate` files in cargo's cache and the evidence in
               cargo-verify's evidence store (as after a trust-policy change), empty
               verification cache, latency off
  baseline-a   the same work sequentially with httpx + sigstore's Verifier (latency on/off)
  baseline-b   `sigstore verify identity` over pre-fetched tarballs and bundles

It checks every run's outcome (every crate verified; a tampered cargo-cache file fails), runs
a memory check on a registry with 20 MB tarballs, prints a table and the targets, and writes
everything to bench/results/bench-<time>.json (and latest.json). `--smoke` is the N=20
version CI runs. `--profile` adds a cProfile run of the cold check (text in bench/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pair_efficiency
import synth
from measure import Measurement, WorldServer, run_measured

from cargo_verify.cargo_home import registry_cache_dir_name

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
MB = 1024 * 1024


def compile_package() -> None:
    """Byte-compile cargo_verify first, as an installed package is (PYTHONDONTWRITEBYTECODE
    would otherwise make every run recompile it)."""
    import compileall

    import cargo_verify

    compileall.compile_dir(str(Path(cargo_verify.__file__).parent), quiet=1)


def calibration_ms() -> float:
    """A fixed pure-Python loop, best of three: how fast this machine is right now."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def tool_command() -> list[str]:
    script = BIN / "cargo-verify"
    return [str(script)] if script.exists() else [PYTHON, "-m", "cargo_verify"]


def machine_info() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "calibration_loop_ms_at_start": calibration_ms(),
    }


class SizeBench:
    """All runs for one lockfile size."""

    def __init__(
        self, size: int, crates: list[synth.SynthCrate], server: WorldServer, work: Path,
        state: Path, latency_ms: float, label: str = "",
    ) -> None:
        self.size = size
        self.crates = crates
        self.server = server
        self.work = work / f"project-{label or size}"
        self.state = state
        self.latency_ms = latency_ms
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.lockfile = self.work / "Cargo.lock"
        synth.write_lockfile(self.lockfile, crates, server.index_url)
        synth.write_mochi_toml(self.work / "mochi.toml", crates)
        self.samples: dict[str, list[dict[str, Any]]] = {}

    # -- environments ---------------------------------------------------------------------
    def _fresh(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def _cargo_home_with_crates(self, name: str) -> Path:
        home = self._fresh(name)
        cache = home / "registry" / "cache" / registry_cache_dir_name(self.server.index_url)
        cache.mkdir(parents=True)
        for crate in self.crates:
            shutil.copyfile(
                self.state / "registry" / "crates" / crate.name / f"{crate.version}.crate",
                cache / f"{crate.name}-{crate.version}.crate",
            )
        return home

    def _evidence_only(self, filled_cache: Path) -> Path:
        """A verification cache directory holding only the evidence store of `filled_cache`."""
        directory = self._fresh("cache-prefetched")
        stores = list(filled_cache.glob("evidence-*.bin"))
        if len(stores) != 1:
            raise SystemExit(f"expected one evidence store in {filled_cache}, found {stores}")
        shutil.copyfile(stores[0], directory / stores[0].name)
        return directory

    def _prefetched_files(self) -> list[Path]:
        directory = self._fresh("prefetched")
        files = []
        for crate in self.crates:
            target = directory / f"{crate.name}-{crate.version}.crate"
            shutil.copyfile(
                self.state / "registry" / "crates" / crate.name / f"{crate.version}.crate", target
            )
            shutil.copyfile(
                self.state / "registry" / "bundles" / crate.name / f"{crate.version}.sigstore.json",
                Path(f"{target}.sigstore.json"),
            )
            files.append(target)
        return files

    # -- runs -------------------------------------------------------------------------------
    def _record(self, name: str, measured: Measurement, verified: int, **extra: Any) -> None:
        entry = measured.summary()
        entry.update(
            verified=verified,
            crates=self.size,
            cpu_ms_per_crate=round(measured.cpu_s * 1000 / self.size, 3),
            wall_ms_per_crate=round(measured.wall_s * 1000 / self.size, 3),
            load_average=round(os.getloadavg()[0], 2),
            **extra,
        )
        self.samples.setdefault(name, []).append(entry)

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        """Per run kind, the repetition with the median wall time, with every sample's times."""
        out = {}
        for name, samples in self.samples.items():
            ordered = sorted(samples, key=lambda e: e["wall_s"])
            entry = dict(ordered[(len(ordered) - 1) // 2])
            entry.update(repeats=len(samples), wall_s_samples=[e["wall_s"] for e in samples],
                         cpu_s_samples=[e["cpu_s"] for e in samples])
            out[name] = entry
        return out

    def check(
        self, name: str, latency_ms: float, cache_dir: Path, cargo_home: Path,
        expect_exit: int = 0, profile_out: Path | None = None,
        expect_evidence: str | None = None,
    ) -> dict[str, Any]:
        self.server.set_latency(latency_ms)
        command = tool_command()
        env = dict(os.environ, CARGO_HOME=str(cargo_home))
        if profile_out is not None:
            command = [PYTHON, str(BENCH_DIR / "profile_tool.py"), str(profile_out)]
        command += [
            "check", "--format", "json", "--trusted-root", str(self.server.trusted_root),
            "--cache-dir", str(cache_dir), "--lockfile", str(self.lockfile),
        ]
        measured = run_measured(command, cwd=self.work, env=env, server_pid=self.server.pid)
        try:
            report = json.loads(measured.stdout)
        except ValueError:
            raise SystemExit(
                f"{name}: cargo-verify printed no JSON (exit {measured.returncode}):\n"
                f"{measured.stderr[-3000:]}"
            ) from None
        statuses = [p["status"] for p in report["packages"] if p.get("source")]
        verified = statuses.count("verified")
        if measured.returncode != expect_exit or (expect_exit == 0 and verified != self.size):
            problems = [p for p in report["packages"] if p.get("status") == "failed"][:3]
            raise SystemExit(
                f"{name}: expected exit {expect_exit} with {self.size} verified, got exit "
                f"{measured.returncode} with {verified}: {problems}\n{measured.stderr[-2000:]}"
            )
        evidence = sorted({str(p.get("evidence", "")).split(" ")[0] for p in report["packages"]
                           if p.get("status") == "verified"})
        if expect_evidence is not None and evidence != [expect_evidence]:
            raise SystemExit(f"{name}: expected every verdict from {expect_evidence} evidence, "
                             f"found {evidence}")
        if profile_out is None:
            self._record(name, measured, verified, latency_ms=latency_ms, evidence=evidence)
        return {"report": report, "measured": measured}

    def baseline_a(self, name: str, latency_ms: float) -> None:
        self.server.set_latency(latency_ms)
        command = [
            PYTHON, str(BENCH_DIR / "baseline_sequential.py"), "--lockfile", str(self.lockfile),
            "--trusted-root", str(self.server.trusted_root), "--identity", synth.IDENTITY,
            "--issuer", synth.ISSUER,
        ]
        measured = run_measured(command, cwd=self.work, env=dict(os.environ),
                                server_pid=self.server.pid)
        answer = json.loads(measured.stdout.strip().splitlines()[-1]) if measured.stdout else {}
        if measured.returncode != 0 or answer.get("verified") != self.size:
            raise SystemExit(f"{name} failed: {measured.stdout[-2000:]}{measured.stderr[-2000:]}")
        self._record(name, measured, int(answer["verified"]), latency_ms=latency_ms)

    def baseline_b(self, files: list[Path]) -> None:
        command = [
            str(BIN / "sigstore"), "--trust-config", str(self.server.trust_config), "verify",
            "identity", "--offline", "--cert-identity", synth.IDENTITY, "--cert-oidc-issuer",
            synth.ISSUER, *map(str, files),
        ]
        measured = run_measured(command, cwd=files[0].parent, env=dict(os.environ),
                                server_pid=self.server.pid)
        verified = (measured.stdout + measured.stderr).count("OK: ")
        if measured.returncode != 0 or verified != self.size:
            raise SystemExit(f"baseline-b failed: {measured.stderr[-2000:]}")
        self._record("baseline-b", measured, verified, latency_ms=0)

    def tamper_check(self, cache_dir: Path) -> dict[str, Any]:
        """A modified `.crate` in cargo's cache must fail even with a warm verification cache."""
        home = self._cargo_home_with_crates("cargo-home-tampered")
        victim = self.crates[0]
        path = next(home.rglob(f"{victim.name}-{victim.version}.crate"))
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
        result = self.check("tampered", 0, cache_dir, home, expect_exit=1)
        failed = [p for p in result["report"]["packages"] if p.get("status") == "failed"]
        ok = [p["name"] for p in failed] == [victim.name] and failed[0].get("code") == (
            "tarball-mismatch"
        )
        return {"tampered_crate": victim.name, "failed": [p["name"] for p in failed],
                "code": failed[0].get("code") if failed else None, "ok": ok}

    def warm_imports(self, cache_dir: Path) -> dict[str, Any]:
        """Which heavy modules a warm run imports (it must not need sigstore)."""
        command = [PYTHON, "-X", "importtime", "-m", "cargo_verify", "check", "--format", "json",
                   "--trusted-root", str(self.server.trusted_root), "--cache-dir", str(cache_dir),
                   "--lockfile", str(self.lockfile)]
        done = subprocess.run(command, cwd=self.work, capture_output=True, text=True,
                              env=dict(os.environ, CARGO_HOME=str(self._fresh("cargo-home-imp"))))
        modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                   if line.startswith("import time:")}
        heavy = sorted(m for m in ("sigstore", "httpx", "rich", "cryptography", "pydantic")
                       if m in modules)
        return {"heavy_modules_imported": heavy, "imports_sigstore": "sigstore" in modules}

    def prepare(self) -> None:
        self.cargo_home = self._cargo_home_with_crates("cargo-home-full")
        self.files = self._prefetched_files()

    def repetition(self) -> None:
        """One run of each kind, interleaved, so that machine drift spreads over all kinds."""
        latency, cargo_home = self.latency_ms, self.cargo_home
        self.cold_cache = self._fresh("cache-cold")
        self.check("cold", latency, self.cold_cache, self._fresh("cargo-home-empty"))
        self.check("warm", latency, self.cold_cache, self._fresh("cargo-home-empty"))
        self.cache_0 = self._fresh("cache-cold-0")
        self.check("cold-0ms", 0, self.cache_0, self._fresh("cargo-home-empty"))
        self.check("warm+cargo", 0, self.cache_0, cargo_home)
        self.check("tarballs-cached", 0, self._fresh("cache-tarballs"), cargo_home)
        self.check("prefetched", 0, self._evidence_only(self.cold_cache), cargo_home,
                   expect_evidence="stored")
        self.baseline_b(self.files)

    def finish(self, with_checks: bool) -> dict[str, Any]:
        latency = self.latency_ms
        self.baseline_a("baseline-a", latency)
        self.baseline_a("baseline-a-0ms", 0)
        extra: dict[str, Any] = {}
        if with_checks:
            extra["tamper_check"] = self.tamper_check(self.cache_0)
            extra["warm_imports"] = self.warm_imports(self.cold_cache)
        runs = self.runs
        ratios = {
            "vs_baseline_a_latency": _ratio(runs["baseline-a"], runs["cold"]),
            "vs_baseline_a_0ms": _ratio(runs["baseline-a-0ms"], runs["cold-0ms"]),
            "vs_baseline_b_prefetched": _ratio(runs["baseline-b"], runs["prefetched"]),
            "vs_baseline_b_tarballs_cached": _ratio(runs["baseline-b"], runs["tarballs-cached"]),
        }
        return {"size": self.size, "latency_ms": latency, "runs": runs, "ratios": ratios, **extra}


def _ratio(baseline: dict[str, Any], ours: dict[str, Any]) -> float:
    return round(baseline["wall_s"] / ours["wall_s"], 2) if ours["wall_s"] else 0.0


def memory_run(work: Path, count: int, big: dict[int, int], latency_ms: float) -> dict[str, Any]:
    """Cold check of a registry with some very large tarballs: memory must stay flat."""
    state = work / f"state-big-{count}-{len(big)}x{max(big.values()) // MB}mb"
    registry = synth.build_registry(state, count, big)
    server = WorldServer(state, PYTHON)
    try:
        bench = SizeBench(count, list(registry.crates), server, work, state, latency_ms,
                          label="memory")
        bench.check("memory", 0, bench._fresh("cache"), bench._fresh("cargo-home"))
        entry = bench.runs["memory"]
    finally:
        server.stop()
    sizes = [c.size for c in registry.crates]
    entry.update(
        big_tarballs=len(big), largest_tarball_mb=round(max(sizes) / MB, 1),
        total_tarball_mb=round(sum(sizes) / MB, 1),
    )
    return entry


def profile_cold(
    size: int, registry: synth.SynthRegistry, server: WorldServer, work: Path, state: Path,
    latency_ms: float,
) -> dict[str, Any]:
    out = RESULTS_DIR / f"profile-cold-{size}.txt"
    bench = SizeBench(size, list(registry.crates)[:size], server, work, state, latency_ms,
                      label="profile")
    bench.check("profile", latency_ms, bench._fresh("cache"), bench._fresh("cargo-home"),
                profile_out=out)
    worker_out = RESULTS_DIR / f"profile-worker-{size}.txt"
    subprocess.run(
        [PYTHON, str(BENCH_DIR / "profile_tool.py"), "--worker", str(worker_out),
         str(server.trusted_root), str(state), str(min(size, 300))],
        check=True,
    )
    return {"main_process": str(out), "worker": str(worker_out)}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target on the median repetition, and on the best one (the least disturbed by
    other load on the machine; only where several repetitions exist)."""
    sizes = results["sizes"]
    largest = sizes[max(sizes, key=int)]
    runs = largest["runs"]
    size = largest["size"]

    def best(name: str) -> float:
        return float(min(runs[name]["wall_s_samples"]))

    def ratio(baseline: str, ours: str) -> float:
        return round(best(baseline) / best(ours), 2)

    best_cpu = round(min(runs["cold"]["cpu_s_samples"]) * 1000 / size, 3)
    targets: list[tuple[str, float, float | None, str, float, str]] = [
        ("cold wall, latency on", runs["cold"]["wall_s"], best("cold"), "<=", 3.0, "s"),
        ("cold CPU per crate, latency on", runs["cold"]["cpu_ms_per_crate"], best_cpu, "<=",
         4.0, "ms"),
        ("speed-up vs baseline a, latency on", largest["ratios"]["vs_baseline_a_latency"],
         ratio("baseline-a", "cold"), ">=", 10.0, "x"),
        ("speed-up vs baseline a, latency off", largest["ratios"]["vs_baseline_a_0ms"],
         ratio("baseline-a-0ms", "cold-0ms"), ">=", 2.0, "x"),
        ("speed-up vs baseline b, pre-fetched", largest["ratios"]["vs_baseline_b_prefetched"],
         ratio("baseline-b", "prefetched"), ">=", 1.5, "x"),
        ("warm re-check wall", runs["warm"]["wall_s"], best("warm"), "<=", 0.25, "s"),
        ("peak memory with 20 MB tarballs (RSS sum)", results["memory"]["peak_rss_mb"], None,
         "<=", 200.0, "MB"),
    ]
    peak = max(r["peak_rss_mb"] for s in sizes.values() for n, r in s["runs"].items()
               if not n.startswith("baseline"))
    targets.append(("peak memory of every cargo-verify run (RSS sum)", peak, None, "<=", 200.0,
                    "MB"))
    linear = results["linearity"]
    if linear.get("marginal_growth") is not None:
        targets.append(("linear growth: marginal CPU per crate, last step vs first step",
                        linear["marginal_growth"], None, "<=", 1.5, "x"))

    def holds(value: float, op: str, limit: float) -> bool:
        return value <= limit if op == "<=" else value >= limit

    out = []
    for name, value, best_value, op, limit, unit in targets:
        out.append({
            "target": f"{name} ({size} crates)", "value": value, "op": op, "limit": limit,
            "unit": unit, "ok": holds(value, op, limit), "best": best_value,
            "ok_best": holds(best_value, op, limit) if best_value is not None else None,
        })
    return out


def linearity(sizes: dict[str, Any]) -> dict[str, Any]:
    rows = sorted((v["size"], v["runs"]["cold"]) for v in sizes.values())
    per_crate = {str(n): {"wall_ms": r["wall_ms_per_crate"], "cpu_ms": r["cpu_ms_per_crate"]}
                 for n, r in rows}
    result: dict[str, Any] = {"per_crate_cold": per_crate, "marginal_growth": None}
    if len(rows) >= 3:
        # The least CPU of each size's repetitions: the figure machine noise disturbs least.
        (n1, r1), (n2, r2), (n3, r3) = rows[-3:]
        c1, c2, c3 = (min(r["cpu_s_samples"]) for r in (r1, r2, r3))
        first = (c2 - c1) / (n2 - n1) * 1000
        second = (c3 - c2) / (n3 - n2) * 1000
        result.update(marginal_cpu_ms_per_crate={f"{n1}-{n2}": round(first, 3),
                                                 f"{n2}-{n3}": round(second, 3)},
                      marginal_growth=round(second / first, 3) if first > 0 else None)
    return result


ROW_ORDER = ["cold", "cold-0ms", "warm", "warm+cargo", "tarballs-cached", "prefetched",
             "baseline-a", "baseline-a-0ms", "baseline-b"]


def print_table(results: dict[str, Any]) -> None:
    header = (f"{'N':>5} {'run':<15} {'lat ms':>6} {'wall s':>8} {'CPU s':>7} {'CPU ms/cr':>9} "
              f"{'RSS MB':>7} {'world CPU':>9} {'ok':>5}")
    print(header)
    print("-" * len(header))
    for key in sorted(results["sizes"], key=int):
        entry = results["sizes"][key]
        for name in ROW_ORDER:
            run = entry["runs"][name]
            print(f"{entry['size']:>5} {name:<15} {run['latency_ms']:>6g} {run['wall_s']:>8.3f} "
                  f"{run['cpu_s']:>7.3f} {run['cpu_ms_per_crate']:>9.3f} "
                  f"{run['peak_rss_mb']:>7.1f} {run['server_cpu_s'] or 0:>9.3f} "
                  f"{run['verified']:>5}")
        r = entry["ratios"]
        print(f"{'':>5} speed-up: {r['vs_baseline_a_latency']}x vs a ({entry['latency_ms']:g} ms),"
              f" {r['vs_baseline_a_0ms']}x vs a (0 ms), {r['vs_baseline_b_prefetched']}x vs b"
              f" ({r['vs_baseline_b_tarballs_cached']}x with index and evidence over HTTP)")
    machine = results["machine"]
    for when in ("start", "end"):
        pair = machine.get(f"two_cores_at_{when}")
        if pair:
            print(f"two verifier processes vs one at {when}: {pair['two_process_throughput']}x "
                  f"throughput (CPU per bundle {pair['alone_cpu_ms_per_bundle']} ms alone, "
                  f"{pair['pair_cpu_ms_per_bundle']} ms side by side)")
    memory = results["memory"]
    print(f"\nmemory run: {memory['crates']} crates, {memory['big_tarballs']} of "
          f"{memory['largest_tarball_mb']} MB: peak RSS {memory['peak_rss_mb']:.1f} MB "
          f"(PSS {memory['peak_pss_mb'] or 0:.1f} MB), wall {memory['wall_s']:.3f} s")
    linear = results["linearity"]
    print("cold per crate: " + ", ".join(
        f"N={n}: {v['wall_ms']:.2f} ms wall / {v['cpu_ms']:.2f} ms CPU"
        for n, v in linear["per_crate_cold"].items()))
    if linear.get("marginal_cpu_ms_per_crate"):
        print(f"marginal CPU per crate: {linear['marginal_cpu_ms_per_crate']}")
    for key in ("tamper_check", "warm_imports"):
        for entry in results["sizes"].values():
            if key in entry:
                print(f"{key} (N={entry['size']}): {entry[key]}")
    print("\ntargets (median repetition; best repetition in brackets):")
    for target in results["targets"]:
        mark = "PASS" if target["ok"] else "FAIL"
        best = ""
        if target["best"] is not None:
            best = f" [best {target['best']}: {'pass' if target['ok_best'] else 'fail'}]"
        print(f"  [{mark}] {target['target']}: {target['value']} {target['unit']} "
              f"(target {target['op']} {target['limit']}){best}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sizes", default="100,500,1000",
                        help="comma-separated lockfile sizes (default 100,500,1000)")
    parser.add_argument("--latency-ms", type=float, default=20.0,
                        help="per-request latency injected by the test world (default 20)")
    parser.add_argument("--smoke", action="store_true",
                        help="N=20, small big-tarball run, temporary work dir (for CI)")
    parser.add_argument("--profile", action="store_true", help="also profile the cold run")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each cargo-verify "
                        "run and of baseline b; the median is reported (default 3; baseline a "
                        "runs once)")
    parser.add_argument("--work-dir", type=Path, help="where registries and projects live "
                        "(default bench/results/work; re-used between runs)")
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/)")
    args = parser.parse_args(argv)
    sizes = [20] if args.smoke else sorted({int(x) for x in args.sizes.split(",") if x.strip()})
    if args.smoke:
        latency = args.latency_ms if args.latency_ms != 20.0 else 5.0
        big = {1: 2 * MB, 2: 2 * MB}
        big_count = 5
    else:
        latency = args.latency_ms
        big = {n: 20 * MB for n in range(1, 11)}
        big_count = 100
    temporary = None
    if args.work_dir is not None:
        work = args.work_dir
    elif args.smoke:
        temporary = tempfile.TemporaryDirectory(prefix="cv-bench-")
        work = Path(temporary.name)
    else:
        work = RESULTS_DIR / "work"
    work.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        repeats = 1 if args.smoke else max(1, args.repeat)
        results = run_benchmark(sizes, latency, work, big, big_count, args.profile, args.smoke,
                                repeats)
    finally:
        if temporary is not None:
            temporary.cleanup()
    output = args.output or RESULTS_DIR / time.strftime("bench-%Y%m%d-%H%M%S.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    if args.output is None:
        (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nresults: {output}")
    return 0


def run_benchmark(
    sizes: list[int], latency: float, work: Path, big: dict[int, int], big_count: int,
    profile: bool, smoke: bool, repeats: int,
) -> dict[str, Any]:
    compile_package()
    results: dict[str, Any] = {
        "machine": machine_info(),
        "config": {"sizes": sizes, "latency_ms": latency, "smoke": smoke, "repeats": repeats,
                   "command": " ".join(["python bench/run.py", *sys.argv[1:]])},
    }
    largest = max(sizes)
    state = work / f"state-{largest}"
    registry = synth.build_registry(state, largest)
    results["registry"] = {"crates": len(registry.crates), "build_seconds":
                           round(registry.build_seconds, 2), "state_dir": str(state)}
    bundles = min(300, largest)
    server = WorldServer(state, PYTHON)
    started = server.cpu_seconds()
    try:
        results["machine"]["two_cores_at_start"] = pair_efficiency.measure(
            state, server.trusted_root, bundles)
        benches = [SizeBench(size, list(registry.crates)[:size], server, work, state, latency)
                   for size in sizes]
        for bench in benches:
            bench.prepare()
        for number in range(repeats):  # sizes interleaved too: drift must not fake a trend
            for bench in benches:
                bench.repetition()
            print(f"repetition {number + 1}/{repeats}: done", file=sys.stderr, flush=True)
        results["sizes"] = {str(b.size): b.finish(b.size == largest) for b in benches}
        if profile:
            results["profile"] = profile_cold(largest, registry, server, work, state, latency)
        results["world_server_cpu_s"] = round(server.cpu_seconds() - started, 3)
        results["machine"]["two_cores_at_end"] = pair_efficiency.measure(
            state, server.trusted_root, bundles)
    finally:
        server.stop()
    results["memory"] = memory_run(work, big_count, big, latency)
    results["linearity"] = linearity(results["sizes"])
    results["targets"] = evaluate(results)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["calibration_loop_ms_at_end"] = calibration_ms()
    return results


if __name__ == "__main__":
    sys.exit(main())
