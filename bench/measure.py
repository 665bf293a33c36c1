"""Measuring one command: wall time, CPU of its whole process tree, peak memory of the tree.

CPU comes from `getrusage(RUSAGE_CHILDREN)` around the run: the command and every process
it forked and reaped (the verifier's workers are reaped by their leader, the leader by the
tool) are counted once they exit. Peak memory is sampled from /proc every 10 ms: the sum of
the resident set sizes over the tree (an upper bound: pages shared copy-on-write between a
parent and its forked workers are counted in each), and the sum of proportional set sizes
(shared pages split between the processes sharing them) where the kernel provides them.
The test world runs as a separate process; its CPU is read from /proc/<pid>/stat.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")
_SAMPLE_SECONDS = 0.01
# Reading smaps_rollup costs ~0.3 ms per process once sigstore is loaded: at every sample it
# took ~14% of a core from the measured run (which wants both cores), so PSS is read 10x
# less often than RSS.
_PSS_EVERY = 10


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    cpu_s: float  # user + sys of the command's process tree
    user_s: float
    sys_s: float
    peak_rss_mb: float  # max over samples of the summed RSS of the tree
    peak_pss_mb: float | None
    max_process_rss_mb: float  # ru_maxrss of the largest single process
    main_cpu_s: float | None  # last sampled CPU of the command's own process
    helpers_cpu_s: float | None  # last sampled CPU of its descendants (verifier workers)
    server_cpu_s: float | None
    returncode: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["stdout"], data["stderr"]
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items()}


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(x) for x in handle.read().split()]
    except (OSError, ValueError):
        return []


def _tree(root: int) -> list[int]:
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(_children(pid))
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _pss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0
        self.peak_pss: int | None = None
        self.cpu_by_pid: dict[int, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        count = 0
        while not self._stop_event.is_set():
            pids = _tree(self.pid)
            self.peak_rss = max(self.peak_rss, sum(_rss_bytes(p) for p in pids))
            for pid in pids:
                cpu = _cpu_seconds_or_none(pid)
                if cpu is not None:
                    self.cpu_by_pid[pid] = cpu
            if count % _PSS_EVERY == 0:
                pss = [_pss_bytes(p) for p in pids]
                if pss and all(value is not None for value in pss):
                    total = sum(value for value in pss if value is not None)
                    self.peak_pss = max(self.peak_pss or 0, total)
            count += 1
            self._stop_event.wait(_SAMPLE_SECONDS)

    def split(self) -> tuple[float | None, float | None]:
        if not self.cpu_by_pid:
            return None, None
        main = self.cpu_by_pid.get(self.pid, 0.0)
        return main, sum(self.cpu_by_pid.values()) - main

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (its own, not its children's)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _cpu_seconds_or_none(pid: int) -> float | None:
    try:
        return process_cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None


def run_measured(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    server_pid: int | None = None,
) -> Measurement:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = process_cpu_seconds(server_pid) if server_pid else None
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = _Sampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = None
    if server_pid and server_before is not None:
        server_cpu = process_cpu_seconds(server_pid) - server_before
    user = after.ru_utime - before.ru_utime
    main_cpu, helpers_cpu = sampler.split()
    system = after.ru_stime - before.ru_stime
    return Measurement(
        wall_s=wall,
        cpu_s=user + system,
        user_s=user,
        sys_s=system,
        peak_rss_mb=sampler.peak_rss / 2**20,
        peak_pss_mb=sampler.peak_pss / 2**20 if sampler.peak_pss is not None else None,
        max_process_rss_mb=after.ru_maxrss / 1024,
        main_cpu_s=main_cpu,
        helpers_cpu_s=helpers_cpu,
        server_cpu_s=server_cpu,
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
    )


class WorldServer:
    """bench/world_server.py in its own process."""

    def __init__(self, state: Path, python: str) -> None:
        script = Path(__file__).with_name("world_server.py")
        self.process = subprocess.Popen(
            [python, str(script), "--state", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the test world did not start:\n{stderr}")
        self.info: dict[str, Any] = json.loads(line)
        self.base: str = self.info["base"]
        self.index_url: str = self.info["registry_index"]
        self.trusted_root = Path(self.info["trusted_root"])
        self.trust_config = Path(self.info["trust_config"])
        self.pid = self.process.pid

    def set_latency(self, latency_ms: float) -> None:
        request = urllib.request.Request(
            self.base + "/_faults",
            data=json.dumps({"latency_ms": latency_ms}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
