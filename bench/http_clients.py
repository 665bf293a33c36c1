"""CPU per request of httpx's AsyncClient against cargo-verify's lean client.

    python bench/http_clients.py [--requests 3000]

Serves the test world (uvicorn) in a child process and fetches an index file, a tarball and
a bundle in turn with each client at several concurrency levels, reporting wall time and the
client process's CPU per request. This is the measurement behind replacing httpx in the
fetch layer (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from typing import Any

PATHS = (
    "/index/mo/ch/mochi-example",
    "/dl/mochi-util/0.1.0/download",
    "/bundles/mochi-util/0.1.0/bundle.sigstore.json",
)


def _serve(queue: Any) -> None:
    from cargo_verify.mock.world import WorldOptions, serve_in_thread

    running = serve_in_thread(WorldOptions())
    queue.put(running.url)
    time.sleep(3600)


def _client(kind: str, concurrency: int) -> Any:
    if kind == "httpx":
        import httpx

        limits = httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency
        )
        return httpx.AsyncClient(http2=True, limits=limits)
    from cargo_verify.transport import LeanClient

    return LeanClient(
        connect_timeout=10, read_timeout=30, write_timeout=30,
        max_connections=concurrency, user_agent="bench",
    )


async def _run(kind: str, base: str, requests: int, concurrency: int) -> tuple[float, float]:
    client = _client(kind, concurrency)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            response = await client.send(
                client.build_request("GET", base + PATHS[i % len(PATHS)]), stream=True
            )
            async for _ in response.aiter_bytes():
                pass
            await response.aclose()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await client.aclose()
    return wall, cpu * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    queue: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    base = queue.get(timeout=60)
    try:
        print(f"{'client':8} {'concurrency':>11} {'wall s':>8} {'CPU ms/request':>15}")
        for kind, concurrency in (("httpx", 8), ("httpx", 64), ("lean", 8), ("lean", 64)):
            wall, cpu = asyncio.run(_run(kind, base, args.requests, concurrency))
            print(f"{kind:8} {concurrency:>11} {wall:>8.2f} {cpu:>15.3f}")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
