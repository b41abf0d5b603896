"""In-process cost of sessions per backend: a session request against a sessionless one.

Calls the ASGI app directly (no server, no sockets) in one event loop. For each backend
it times three requests: ``GET /hello`` without a cookie (no session work), ``GET /peek``
with a session cookie (load, nothing changes) and ``GET /count`` with a session cookie
(load and save). The cases alternate round by round; each figure is the median round,
in microseconds per request: wall-clock time (what a request waits, Redis's round trip
included) and this process's CPU time (what it costs the worker; less disturbed than
the wall clock when other processes load the machine).

Redis runs against ``$REDIS_URL`` or, when unset, a throwaway ``redis-server`` started
on a free port (skipped if the binary is missing)::

    .venv/bin/python -m benchmarks.sessions [--requests 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from micropie import App, CookieSessionBackend, InMemorySessionBackend, RedisSessionBackend
from micropie.sessions import SESSION_TIMEOUT, SessionBackend

SESSION_ID = "6f1c2a3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
SESSION_DATA: dict[str, Any] = {"user": "alice", "count": 0}


class BenchApp(App):
    async def hello(self) -> str:
        return "Hello, world!"

    async def peek(self) -> str:
        return str(self.session.get("user"))

    async def count(self) -> str:
        self.session["count"] = self.session.get("count", 0) + 1
        return "counted"


def scope(path: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench")]
    if cookie is not None:
        headers.append((b"cookie", f"session_id={cookie}".encode()))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }  # fmt: skip


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def call(app: App, request_scope: dict[str, Any]) -> int:
    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(request_scope), receive, send)
    return status


async def time_round(app: App, request_scope: dict[str, Any], requests: int) -> tuple[float, float]:
    """Wall-clock and CPU microseconds per request over ``requests`` calls, the
    collector paused."""
    gc.collect()
    gc.disable()
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(requests):
            await call(app, request_scope)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        return wall / requests * 1e6, cpu / requests * 1e6
    finally:
        gc.enable()


async def time_cases(
    app: App, cases: dict[str, dict[str, Any]], requests: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU microseconds per request of each case; cases alternate
    round by round."""
    for request_scope in cases.values():
        assert await call(app, request_scope) == 200
    figures: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
    for _ in range(rounds):
        for case, request_scope in cases.items():
            figures[case].append(await time_round(app, request_scope, requests))
    return {
        case: (
            statistics.median(wall for wall, _ in values),
            statistics.median(cpu for _, cpu in values),
        )
        for case, values in figures.items()
    }


async def prepare(backend: SessionBackend) -> str:
    """Store the benchmark session; return the cookie value that names it."""
    if isinstance(backend, CookieSessionBackend):
        return backend.encode(SESSION_DATA)
    await backend.save(SESSION_ID, SESSION_DATA, SESSION_TIMEOUT)
    return SESSION_ID


async def bench_backend(name: str, backend: SessionBackend, requests: int, rounds: int) -> None:
    app = BenchApp(backend)
    cookie = await prepare(backend)
    cases = {
        "no session": scope("/hello", None),
        "session read": scope("/peek", cookie),
        "session write": scope("/count", cookie),
    }
    figures = await time_cases(app, cases, requests, rounds)
    for kind, index in (("wall", 0), ("cpu", 1)):
        base = figures["no session"][index]
        row = "  ".join(
            f"{case} {us[index]:7.1f} µs (+{us[index] - base:6.1f})" for case, us in figures.items()
        )
        print(f"{name:8} {kind:4} {row}")
    if isinstance(backend, RedisSessionBackend):
        await backend.aclose()


@contextlib.contextmanager
def redis_url() -> Iterator[str | None]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen(
        [*command, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


async def main(requests: int, rounds: int, url: str | None) -> None:
    print(f"median of {rounds} rounds x {requests} requests, in-process ASGI calls")
    await bench_backend("memory", InMemorySessionBackend(), requests, rounds)
    await bench_backend("cookie", CookieSessionBackend("bench secret"), requests, rounds)
    if url is None:
        print("redis    skipped: no REDIS_URL and no redis-server binary")
    else:
        await bench_backend("redis", RedisSessionBackend(url), requests // 5, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_url() as url:
        asyncio.run(main(args.requests, args.rounds, url))
