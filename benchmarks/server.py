"""Server-level benchmark: uvicorn (one worker) under ``wrk``, micropie against Starlette.

Both apps from :mod:`benchmarks.dispatch` are served by their own uvicorn process on
127.0.0.1 (``--log-level warning --no-access-log``); ``wrk --latency`` loads them in
turn, alternating, for a few rounds (a fresh server each round). Reported: the median and best
requests/s, the median latency percentiles, the server's CPU time per request (read
from ``/proc``; it moves less than requests/s when other processes share the
machine), and every socket error and non-2xx/3xx response (all must be zero).
Needs ``wrk`` (Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import markdown_table
from .dispatch import Contender, build_micropie_app, build_starlette_app, compare

ROOT = Path(__file__).resolve().parent.parent
APPS = {
    "micropie": "benchmarks.dispatch:micropie_app",
    "starlette": "benchmarks.dispatch:starlette_app",
}
PATHS = ("/hello", "/greet/alice")
_HOST = b"Host: 127.0.0.1:8000\r\n"


@dataclass(frozen=True)
class RawCase:
    """A raw HTTP/1.1 request for the protocol benchmark, and the answer both apps give."""

    name: str
    request: bytes
    status: int
    body: bytes


PROTOCOL_CASES = (
    RawCase("GET /hello", b"GET /hello HTTP/1.1\r\n" + _HOST + b"\r\n", 200, b"Hello, world!"),
    RawCase(
        "GET /greet/alice",
        b"GET /greet/alice HTTP/1.1\r\n" + _HOST + b"\r\n",
        200,
        b"Hello, alice!",
    ),
    RawCase(
        "POST /submit (form)",
        b"POST /submit HTTP/1.1\r\n"
        + _HOST
        + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 17\r\n\r\n"
        + b"name=alice&age=30",
        200,
        b"alice is 30",
    ),  # fmt: skip
    RawCase(
        "GET /missing/page (404)",
        b"GET /missing/page HTTP/1.1\r\n" + _HOST + b"\r\n",
        404,
        b"404 Not Found",
    ),
)
PERCENTILES = ("50%", "75%", "90%", "99%")
#: micropie must reach this share of Starlette's requests/s.
SERVER_TARGET = 0.95

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
_DURATION = r"([\d.]+)(us|ms|s)"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@dataclass
class WrkRun:
    """What one ``wrk`` run measured."""

    requests_per_s: float
    latency_ms: dict[str, float]
    socket_errors: int = 0
    non_2xx: int = 0
    requests: int = 0
    server_cpu_s: float | None = None  # CPU time the server process used meanwhile
    gc_collections: list[int] | None = None  # the server's collector runs, per generation

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6


def parse_wrk(output: str) -> WrkRun:
    """Read ``wrk --latency`` output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    latency = {
        f"{pct}%": float(value) * _UNITS[unit]
        for pct, value, unit in re.findall(rf"^\s+(\d+)%\s+{_DURATION}\s*$", output, re.M)
    }
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    return WrkRun(
        requests_per_s=float(rate.group(1)),
        latency_ms=latency,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        requests=int(total.group(1)) if total else 0,
    )


def run_wrk(
    url: str, duration: float, connections: int, threads: int = 1, script: str | None = None
) -> WrkRun:
    """Load ``url`` with wrk for ``duration`` seconds (``script``: a wrk Lua file)."""
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(int(duration), 1)}s",
        "--latency", *(["-s", script] if script else []), url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not answer {url} within {timeout}s")


#: Runs uvicorn's command line; SIGUSR1 appends the collector's counts to a file.
_BOOT = """
import gc, json, os, signal, sys
def _dump(*_):
    with open(os.environ["MICROPIE_BENCH_GC_FILE"], "a") as out:
        out.write(json.dumps([s["collections"] for s in gc.get_stats()]) + "\\n")
signal.signal(signal.SIGUSR1, _dump)
sys.argv = ["uvicorn", *sys.argv[1:]]
from uvicorn.main import main
main()
"""


@dataclass(frozen=True)
class Server:
    """A running uvicorn process."""

    url: str
    pid: int
    gc_file: Path

    def gc_collections(self, timeout: float = 2.0) -> list[int] | None:
        """The server's garbage-collector runs so far, per generation."""
        lines = self._gc_lines()
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self._gc_lines()
            if len(now) > len(lines):
                counts: list[int] = json.loads(now[-1])
                return counts
            time.sleep(0.01)
        return None

    def _gc_lines(self) -> list[str]:
        try:
            return self.gc_file.read_text().splitlines()
        except FileNotFoundError:
            return []

    def cpu_seconds(self) -> float | None:
        """User + system CPU time used so far (Linux ``/proc``; ``None`` elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, path: str, duration: float, connections: int) -> WrkRun:
    """One wrk run against ``server``, with the server's CPU time and GC runs over it."""
    gc_before = server.gc_collections()
    before = server.cpu_seconds()
    result = run_wrk(server.url + path, duration, connections)
    after = server.cpu_seconds()
    gc_after = server.gc_collections()
    if before is not None and after is not None:
        result.server_cpu_s = after - before
    if gc_before is not None and gc_after is not None:
        result.gc_collections = [b - a for a, b in zip(gc_before, gc_after, strict=True)]
    return result


@contextmanager
def uvicorn(target: str, options: Sequence[str] = ()) -> Iterator[Server]:
    """Serve ``target`` with one uvicorn worker on 127.0.0.1 (``options`` added)."""
    port = free_port()
    gc_file = Path(tempfile.mkdtemp(prefix="micropie-bench-")) / "gc.jsonl"
    command = [
        sys.executable, "-c", _BOOT, target,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "warning", "--no-access-log", *options,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MICROPIE_BENCH_GC_FILE": str(gc_file)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + PATHS[0], process)
        yield Server(base, process.pid, gc_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(gc_file.parent, ignore_errors=True)


@dataclass
class ServerResult:
    """Both apps on one path over the rounds.

    The ratio is the median of the per-round ratios: the two runs of a round are
    back to back, so load from other processes tends to cancel out.
    """

    path: str
    runs: dict[str, list[WrkRun]] = field(default_factory=dict)

    def rate(self, app: str) -> float:
        return statistics.median(run.requests_per_s for run in self.runs[app])

    def best(self, app: str) -> float:
        return max(run.requests_per_s for run in self.runs[app])

    def latency(self, app: str, percentile: str) -> float:
        return statistics.median(run.latency_ms.get(percentile, 0.0) for run in self.runs[app])

    def cpu_us(self, app: str) -> float | None:
        """Median server CPU time per request, in microseconds."""
        values = [run.cpu_us_per_request for run in self.runs[app]]
        known = [value for value in values if value is not None]
        return statistics.median(known) if known else None

    def gc_per_10k(self, app: str) -> list[float] | None:
        """Collector runs per generation per 10,000 requests, over all rounds."""
        runs = [run for run in self.runs[app] if run.gc_collections is not None]
        requests = sum(run.requests for run in runs)
        if not runs or not requests:
            return None
        counts = [run.gc_collections or [] for run in runs]
        totals = [sum(generation) for generation in zip(*counts, strict=True)]
        return [total * 10_000 / requests for total in totals]

    @property
    def ratio(self) -> float:
        pairs = zip(self.runs["micropie"], self.runs["starlette"], strict=True)
        return statistics.median(a.requests_per_s / b.requests_per_s for a, b in pairs)

    @property
    def errors(self) -> int:
        """Socket errors plus non-2xx/3xx responses, both apps, all rounds."""
        return sum(run.socket_errors + run.non_2xx for runs in self.runs.values() for run in runs)

    @property
    def met(self) -> bool:
        return self.ratio >= SERVER_TARGET and self.errors == 0


def run(
    duration: float = 2.0,
    rounds: int = 6,
    connections: int = 64,
    paths: Iterable[str] = PATHS,
    warmup: float = 1.0,
    options: Sequence[str] = (),
) -> list[ServerResult]:
    """Alternate wrk runs against the two apps, ``rounds`` times for each path.

    Each round starts a fresh uvicorn for each app in turn (order alternating), warms
    it up, then loads every path; only one server runs at a time.
    """
    if not wrk_available():
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    results = [ServerResult(path, {name: [] for name in APPS}) for path in paths]
    for index in range(rounds):
        order = list(APPS) if index % 2 == 0 else list(APPS)[::-1]
        for name in order:
            with uvicorn(APPS[name], options) as server:
                run_wrk(server.url + results[0].path, warmup, connections)
                for result in results:
                    result.runs[name].append(measure(server, result.path, duration, connections))
    return results


def format_table(results: list[ServerResult]) -> str:
    """The results as a Markdown table."""
    columns = [
        "path", "app", ">req/s", ">best req/s", *(f">p{p[:-1]} ms" for p in PERCENTILES),
        ">server CPU µs/req", ">GC runs per 10k req (gen 0/1/2)", ">micropie/starlette",
        ">errors + non-2xx",
    ]  # fmt: skip
    rows = []
    for result in results:
        for name, runs in result.runs.items():
            rows.append(
                [
                    result.path,
                    name,
                    f"{result.rate(name):,.0f}",
                    f"{result.best(name):,.0f}",
                    *(f"{result.latency(name, p):.2f}" for p in PERCENTILES),
                    _optional(result.cpu_us(name)),
                    _gc_cell(result.gc_per_10k(name)),
                    f"{result.ratio:.2f}×" if name == "micropie" else "",
                    str(sum(run.socket_errors + run.non_2xx for run in runs)),
                ]
            )
    return markdown_table(columns, rows)


def _gc_cell(values: list[float] | None) -> str:
    return "n/a" if values is None else " / ".join(f"{value:.1f}" for value in values)


def _optional(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


# -- uvicorn's HTTP protocol without sockets ----------------------------------------------


class _Transport:
    """Enough of an asyncio transport for uvicorn's protocol; counts the writes."""

    def __init__(self) -> None:
        self.writes = 0
        self.last: deque[bytes] = deque(maxlen=2)  # the last response: head, body
        self.waiter: asyncio.Future[None] | None = None
        self.expected = 0

    def get_extra_info(self, name: str) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 51000)}.get(name)

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.last.append(data)
        if self.writes >= self.expected and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class UvicornPipe:
    """Feeds raw HTTP requests to uvicorn's httptools protocol serving ``app``.

    Called like an ASGI app (the arguments are ignored) so the in-process harness
    can time it: each call sends one request and waits for the two writes of its
    response (head, body). Everything uvicorn does per request runs; only the socket
    system calls are missing, so the figure does not move with machine load.
    """

    def __init__(self, app: Any, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        from uvicorn.config import Config
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import ServerState

        config = Config(app=app, lifespan="off", access_log=False, log_level="warning")
        config.load()
        self.request = request
        self.loop = loop
        self.transport = _Transport()
        self.protocol = HttpToolsProtocol(
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]

    async def __call__(self, scope: Any = None, receive: Any = None, send: Any = None) -> None:
        transport = self.transport
        transport.expected = transport.writes + 2
        transport.waiter = self.loop.create_future()
        self.protocol.data_received(self.request)
        await transport.waiter

    def check(self, status: int, body: bytes) -> None:
        """Serve one request and fail unless the answer has ``status`` and ``body``."""
        self.loop.run_until_complete(self())
        head, sent = self.transport.last
        if not head.startswith(f"HTTP/1.1 {status} ".encode()) or sent != body:
            raise AssertionError(f"uvicorn answered {head!r} {sent!r}")


def new_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed (as uvicorn picks), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class UvicornConnections:
    """``connections`` uvicorn connections to one app; each call sends a request on all.

    The requests are in flight together, as under ``wrk -c64``, which is what makes
    objects outliving a request show up as garbage-collector work.
    """

    def __init__(
        self, app: Any, request: bytes, loop: asyncio.AbstractEventLoop, connections: int
    ) -> None:
        self.pipes = [UvicornPipe(app, request, loop) for _ in range(connections)]

    async def __call__(self, scope: Any = None, receive: Any = None, send: Any = None) -> None:
        await asyncio.gather(*(pipe() for pipe in self.pipes))

    def check(self, status: int, body: bytes) -> None:
        for pipe in self.pipes:
            pipe.check(status, body)


@dataclass(frozen=True)
class ProtocolResult:
    """Requests per CPU second through uvicorn's protocol, both apps, one case."""

    case: str
    connections: int
    micropie: float
    starlette: float

    @property
    def ratio(self) -> float:
        return self.micropie / self.starlette


def run_protocol(
    seconds: float = 0.1,
    rounds: int = 15,
    cases: Iterable[RawCase] = PROTOCOL_CASES,
    connections: Iterable[int] = (1, 64),
) -> list[ProtocolResult]:
    """Time both apps behind uvicorn's HTTP protocol (no sockets, collector on).

    For each case and number of concurrent connections; requests per CPU second.
    """
    loop = new_loop()
    results = []
    builders: dict[str, Callable[[], Any]] = {
        "micropie": build_micropie_app,
        "starlette": build_starlette_app,
    }
    try:
        for case in cases:
            for count in connections:
                contenders = {}
                for name, build in builders.items():
                    pipe = UvicornConnections(build(), case.request, loop, count)
                    pipe.check(case.status, case.body)
                    contenders[name] = Contender(pipe, {})
                rates = compare(loop, contenders, seconds, rounds, with_gc=True)
                mine, theirs = rates["micropie"] * count, rates["starlette"] * count
                results.append(ProtocolResult(case.name, count, mine, theirs))
    finally:
        loop.close()
    return results


def format_protocol_table(results: list[ProtocolResult]) -> str:
    """The protocol results as a Markdown table."""
    columns = [
        "request", ">connections", ">micropie req/CPU-s", ">starlette req/CPU-s",
        ">micropie/starlette",
    ]  # fmt: skip
    rows = [
        [
            r.case,
            str(r.connections),
            f"{r.micropie:,.0f}",
            f"{r.starlette:,.0f}",
            f"{r.ratio:.2f}×",
        ]
        for r in results
    ]
    return markdown_table(columns, rows)
