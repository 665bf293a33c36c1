"""Sigstore verification on every core: forked workers that share one sigstore import.

Importing sigstore and parsing the trusted root costs ~0.7 s of CPU. A pool that does it in
every worker pays it per core; here one *leader* process is forked from the caller, does it
once, and then forks its siblings, which inherit the ready `Verifier` copy-on-write. The
import runs on another core while the caller is busy with the network.

The caller talks to each worker over its own pair of pipes: length-prefixed pickled frames,
a frame carrying a batch of jobs one way and a batch of results the other way. The event
loop watches the result pipes, so no helper thread and no per-job executor round trip is
involved. Each worker has at most `MAX_IN_FLIGHT` jobs outstanding, so work is balanced
between workers until the end. A worker that dies fails its outstanding jobs with
`InfraError`; nothing is ever reported as verified that a worker did not verify.

Linux only (fork after imports is unsafe on macOS); `pipeline.py` falls back to a
`ProcessPoolExecutor` elsewhere.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from cargo_verify.errors import InfraError
from cargo_verify.verify import TrustRootSpec, VerifyJob, VerifyOutcome

if TYPE_CHECKING:
    import asyncio

MAX_IN_FLIGHT = 8  # jobs outstanding per worker (~13 ms of work): enough to never starve
MAX_BATCH = 4  # jobs per frame
_HEADER = struct.Struct("!I")
_READ_SIZE = 1 << 20
_EXIT_GRACE = 5.0  # seconds to wait for workers to exit before killing them


def fork_supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _frame(payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _FrameReader:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append(pickle.loads(self._buffer[_HEADER.size : end]))
            del self._buffer[:end]
        return frames


# -- worker side ----------------------------------------------------------------------------


def _serve(
    spec: TrustRootSpec, jobs_fd: int, results_fd: int, init_error: BaseException | None
) -> None:
    from cargo_verify.verify import run_job

    _write_all(results_fd, _frame(("hello", os.getpid())))
    reader = _FrameReader()
    while True:
        data = os.read(jobs_fd, _READ_SIZE)
        if not data:
            return  # the caller closed the pipe: no more work
        for batch in reader.feed(data):
            answers: list[tuple[int, bool, Any]] = []
            for job_id, job in batch:
                try:
                    if init_error is not None:
                        raise init_error
                    answers.append((job_id, True, run_job(job, spec)))
                except Exception as exc:
                    answers.append((job_id, False, _portable(exc)))
            _write_all(results_fd, _frame(("done", answers)))


def _portable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return InfraError(f"verification failed: {type(exc).__name__}: {exc}")
    return exc


def _import_sigstore() -> None:
    """The expensive, side-effect-free part of getting ready: importing the modules."""
    import sigstore.errors
    import sigstore.hashes
    import sigstore.models
    import sigstore.verify  # noqa: F401
    import sigstore_models.common.v1  # noqa: F401

    import cargo_verify.policy  # noqa: F401  (imported by verify.py on first use)


def _leader(spec: TrustRootSpec, pipes: list[tuple[int, int]]) -> None:
    """Import sigstore once, fork the other workers, serve worker 0, reap the others.

    The trust material is loaded (which for the public-good instance means TUF: network and
    a cache directory) only once the first job arrives: a pool started early for a run that
    then fails to plan, or needs no verification, touches nothing.
    """
    init_error: BaseException | None = None
    # The import builds ~50,000 long-lived objects (pydantic models): collecting garbage
    # meanwhile only re-scans them. Frozen afterwards, they are never scanned again, and the
    # forked siblings do not copy the pages a collection would write to.
    gc.disable()
    try:
        _import_sigstore()
    except Exception as exc:
        init_error = _portable(exc)
    finally:
        gc.freeze()
        gc.enable()
    select.select([jobs_fd for jobs_fd, _ in pipes], [], [])  # work, or the caller's EOF
    if init_error is None:
        try:
            from cargo_verify.verify import verifier_for

            verifier_for(spec)
        except Exception as exc:  # every job will answer with it (a bad trusted root, …)
            init_error = _portable(exc)
    children = []
    for number in range(1, len(pipes)):
        pid = os.fork()
        if pid == 0:
            _child(spec, pipes, number, init_error)
        children.append(pid)
    _close_others(pipes, 0)
    _serve(spec, pipes[0][0], pipes[0][1], init_error)
    os.close(pipes[0][0])
    os.close(pipes[0][1])
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _close_others(pipes: list[tuple[int, int]], keep: int) -> None:
    for number, (jobs_fd, results_fd) in enumerate(pipes):
        if number != keep:
            os.close(jobs_fd)
            os.close(results_fd)


def _child(
    spec: TrustRootSpec, pipes: list[tuple[int, int]], number: int, init_error: BaseException | None
) -> None:
    def work() -> None:
        _close_others(pipes, number)
        _serve(spec, pipes[number][0], pipes[number][1], init_error)

    _exit_after(work)


def _exit_after(work: Callable[[], None]) -> NoReturn:
    """Run a forked process's work, then leave without running the caller's cleanup."""
    code = 0
    try:
        work()
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _detach_signals() -> None:
    """A forked worker leaves Ctrl-C to the caller (which then closes the pipes) and must not
    poke the caller's event loop through an inherited wakeup fd."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_leader(spec: TrustRootSpec, pipes: list[tuple[int, int]]) -> None:
    def work() -> None:
        _detach_signals()
        _leader(spec, pipes)

    _exit_after(work)


# -- caller side ----------------------------------------------------------------------------


class _Worker:
    def __init__(self, number: int, jobs_fd: int, results_fd: int) -> None:
        self.number = number
        self.jobs_fd = jobs_fd
        self.results_fd = results_fd
        self.pid: int | None = None
        self.in_flight: dict[int, asyncio.Future[VerifyOutcome]] = {}
        self.outbox = bytearray()
        self.writing = False
        self.alive = True
        self.reader = _FrameReader()


class ForkedVerifiers:
    """The verifier pool of one run: `start()`, `await run(job)` many times, `close()`."""

    def __init__(self, spec: TrustRootSpec, workers: int) -> None:
        self.spec = spec
        self.workers = max(1, workers)
        self._pool: list[_Worker] = []
        self._leader_pid: int | None = None
        self._queue: deque[tuple[int, VerifyJob, asyncio.Future[VerifyOutcome]]] = deque()
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False

    def start(self) -> None:
        if self._leader_pid is not None:
            return
        child_ends: list[tuple[int, int]] = []
        for number in range(self.workers):
            jobs_read, jobs_write = os.pipe()
            results_read, results_write = os.pipe()
            child_ends.append((jobs_read, results_write))
            self._pool.append(_Worker(number, jobs_write, results_read))
        pid = os.fork()
        if pid == 0:
            for worker in self._pool:
                os.close(worker.jobs_fd)
                os.close(worker.results_fd)
            _run_leader(self.spec, child_ends)
        self._leader_pid = pid
        for jobs_read, results_write in child_ends:
            os.close(jobs_read)
            os.close(results_write)
        for worker in self._pool:
            os.set_blocking(worker.jobs_fd, False)
            os.set_blocking(worker.results_fd, False)

    def _attach(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            import asyncio

            self._loop = asyncio.get_running_loop()
            for worker in self._pool:
                self._loop.add_reader(worker.results_fd, self._on_results, worker)
        return self._loop

    async def run(self, job: VerifyJob) -> VerifyOutcome:
        self.start()
        loop = self._attach()
        future: asyncio.Future[VerifyOutcome] = loop.create_future()
        self._next_id += 1
        self._queue.append((self._next_id, job, future))
        if any(w.alive and not w.in_flight for w in self._pool):
            # An idle worker (the leader waits for its first job before loading the trust
            # root and forking its siblings) gets work now, not after the caller has queued
            # every other package of this loop iteration; busy ones get batches.
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    # -- dispatch ---------------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_scheduled = False
        live = [w for w in self._pool if w.alive]
        if not live:
            while self._queue:
                _, _, future = self._queue.popleft()
                if not future.done():
                    future.set_exception(InfraError("every verification worker died"))
            return
        while self._queue:
            worker = min(live, key=lambda w: len(w.in_flight))
            room = MAX_IN_FLIGHT - len(worker.in_flight)
            if room <= 0:
                return
            batch: list[tuple[int, VerifyJob]] = []
            while self._queue and len(batch) < min(room, MAX_BATCH):
                job_id, job, future = self._queue.popleft()
                if future.done():  # cancelled while queued
                    continue
                worker.in_flight[job_id] = future
                batch.append((job_id, job))
            if batch:
                self._send(worker, _frame(batch))

    def _send(self, worker: _Worker, frame: bytes) -> None:
        worker.outbox += frame
        if not worker.writing:
            self._write_some(worker)

    def _write_some(self, worker: _Worker) -> None:
        loop = self._attach()
        try:
            while worker.outbox:
                written = os.write(worker.jobs_fd, worker.outbox)
                del worker.outbox[:written]
        except BlockingIOError:
            pass
        except OSError as exc:
            self._lost(worker, f"cannot send work: {exc}")
            return
        if worker.outbox and not worker.writing:
            worker.writing = True
            loop.add_writer(worker.jobs_fd, self._write_some, worker)
        elif not worker.outbox and worker.writing:
            worker.writing = False
            loop.remove_writer(worker.jobs_fd)

    def _on_results(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.results_fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(worker, f"cannot read results: {exc}")
            return
        if not data:
            self._lost(worker, "it exited")
            return
        for frame in worker.reader.feed(data):
            kind, body = frame
            if kind == "hello":
                worker.pid = body
                continue
            for job_id, ok, value in body:
                future = worker.in_flight.pop(job_id, None)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        self._flush()

    def _lost(self, worker: _Worker, why: str) -> None:
        if not worker.alive:
            return
        worker.alive = False
        loop = self._attach()
        loop.remove_reader(worker.results_fd)
        if worker.writing:
            loop.remove_writer(worker.jobs_fd)
            worker.writing = False
        for future in worker.in_flight.values():
            if not future.done():
                future.set_exception(InfraError(f"verification worker died ({why})"))
        worker.in_flight.clear()
        self._flush()

    # -- shutdown ---------------------------------------------------------------------------
    def abandon(self) -> None:
        """Stop a pool whose work is not wanted, at once (its leader may be importing)."""
        if self._leader_pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._leader_pid, signal.SIGKILL)
        self.close()  # closing the job pipes ends any sibling already forked

    def close(self) -> None:
        if self._next_id == 0 and self._leader_pid is not None:
            with contextlib.suppress(OSError):  # no work was ever sent: nothing to wait for
                os.kill(self._leader_pid, signal.SIGKILL)
        if self._loop is not None:
            for worker in self._pool:
                if worker.alive:
                    self._loop.remove_reader(worker.results_fd)
                if worker.writing:
                    self._loop.remove_writer(worker.jobs_fd)
        for worker in self._pool:
            os.close(worker.jobs_fd)  # EOF: the worker finishes its frame and exits
        deadline = time.monotonic() + _EXIT_GRACE
        if self._leader_pid is not None:
            while True:
                pid, _ = os.waitpid(self._leader_pid, os.WNOHANG)
                if pid or time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            if not pid:
                for worker in self._pool:
                    if worker.pid is not None:
                        with contextlib.suppress(OSError):
                            os.kill(worker.pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.kill(self._leader_pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self._leader_pid, 0)
        for worker in self._pool:
            os.close(worker.results_fd)
        self._pool.clear()
        self._leader_pid = None
