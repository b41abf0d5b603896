"""JSON stall benchmark: does one large JSON body hold up every other request?

``python -m benchmarks.json_stall [--rounds 3] [--size 16MiB] [--shape objects]``. A
fresh one-worker uvicorn serves :data:`app`. One client posts a JSON body of many small
containers (just under the 16 MiB default ``max_body_size``), or with ``--shape`` one of
the hostile :data:`SHAPES` (deeply nested, integers over 64 bits), round after round, while another
client sends ``GET /`` on a keep-alive connection every :data:`INTERVAL_MS`. Each GET's
latency counts from when it was due, so a stalled server is charged for every GET it
held up, not just the one waiting (no coordinated omission). Reported: the time each
large body took to be answered and the latency of the GETs due meanwhile (median,
p99, max), next to the same for an idle server. The target: the p99 of those GETs
stays under :data:`P99_TARGET_MS`.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from micropie import App

from . import markdown_table
from .upload import parse_size, serve

MiB = 1024 * 1024
#: The GETs answered while a large body is processed must stay under this p99.
P99_TARGET_MS = 100.0
#: A GET is due every this many milliseconds.
INTERVAL_MS = 20.0
#: One small container of the body: ``{"a":[1,2],"b":{"c":"x"}}``.
ITEM = b'{"a":[1,2],"b":{"c":"x"}}'


class StallBenchmark(App):
    async def index(self):
        return "ok"

    async def ingest(self):
        return {"items": len(self.request.get_json["items"])}


#: The app uvicorn serves (``benchmarks.json_stall:app``).
app = StallBenchmark()


def json_body(size: int) -> tuple[bytes, int]:
    """A JSON object ``{"items": [...]}`` of about ``size`` bytes (never more)."""
    count = (size - len(b'{"items":[]}')) // (len(ITEM) + 1)
    body = b'{"items":[' + b",".join([ITEM] * count) + b"]}"
    return body, count


#: The answer to a body refused as malformed JSON.
BAD_JSON = (400, b"400 Bad Request: Bad JSON")


def nested_body(size: int) -> tuple[bytes, tuple[int, bytes]]:
    """``size`` opening brackets: nested past any parser's limit (400)."""
    return b"[" * size, BAD_JSON


def nested_objects_body(size: int) -> tuple[bytes, tuple[int, bytes]]:
    """``{"a":{"a":...1}}`` as deep as ``size`` allows (400)."""
    depth = (size - 1) // len(b'{"a":}')
    return b'{"a":' * depth + b"1" + b"}" * depth, BAD_JSON


def long_digits_body(size: int) -> tuple[bytes, tuple[int, bytes]]:
    """``{"items": [1, 1, ..., 111…1]}`` (31 digits): an integer over 64 bits sends the whole body
    to the exact parse (200)."""
    count = (size - len(b'{"items":[]}') - 31) // 2
    body = b'{"items":[' + b"1," * count + b"1" * 31 + b"]}"
    return body, (200, b'{"items":%d}' % (count + 1))


def objects_body(size: int) -> tuple[bytes, tuple[int, bytes]]:
    body, count = json_body(size)
    return body, (200, b'{"items":%d}' % count)


#: ``--shape`` choices: each builds a body of about ``size`` bytes and its expected answer.
SHAPES: dict[str, Callable[[int], tuple[bytes, tuple[int, bytes]]]] = {
    "objects": objects_body,
    "nested": nested_body,
    "nested-objects": nested_objects_body,
    "long-digits": long_digits_body,
}


@dataclass
class StallResult:
    label: str
    post_seconds: float
    latencies_ms: list[float]

    def quantile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]

    @property
    def p99(self) -> float:
        return self.quantile(0.99)


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=120)


def _get(connection: http.client.HTTPConnection, due: float) -> float:
    """One ``GET /`` on a keep-alive connection; milliseconds from ``due`` to its answer."""
    connection.request("GET", "/")
    response = connection.getresponse()
    if response.read() != b"ok" or response.status != 200:
        raise RuntimeError(f"GET / answered {response.status}")
    return (time.perf_counter() - due) * 1000


def paced_gets(port: int, keep_going: Callable[[int], bool]) -> list[float]:
    """GETs due every :data:`INTERVAL_MS` while ``keep_going(count)``; their latencies."""
    connection = _connection(port)
    latencies: list[float] = []
    started = time.perf_counter()
    try:
        while keep_going(len(latencies)):
            due = started + len(latencies) * INTERVAL_MS / 1000
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            latencies.append(_get(connection, due))
    finally:
        connection.close()
    return latencies


def idle_latencies(port: int, count: int = 400) -> list[float]:
    return paced_gets(port, lambda done: done < count)


def overlapping_latencies(
    port: int, body: bytes, expected: tuple[int, bytes]
) -> tuple[float, list[float]]:
    """Post ``body`` while GETs run; the POST's seconds and the overlapping GET latencies."""
    done = threading.Event()
    latencies: list[float] = []

    def probe() -> None:
        latencies.extend(paced_gets(port, lambda _: not done.is_set()))

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.05)  # the prober is running before the body goes out
    started = time.perf_counter()
    connection = _connection(port)
    try:
        connection.request("POST", "/ingest", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = (response.status, response.read())
    finally:
        connection.close()
        seconds = time.perf_counter() - started
        done.set()
        prober.join()
    if answer != expected:
        raise RuntimeError(f"POST /ingest answered {answer[0]} {answer[1][:200]!r}")
    return seconds, latencies


def run(size: int, rounds: int, shape: str = "objects") -> list[StallResult]:
    body, expected = SHAPES[shape](size)
    with serve("benchmarks.json_stall:app", "/") as port:
        idle_latencies(port, 50)  # warm up
        results = [StallResult("idle server", 0.0, idle_latencies(port))]
        overlapping: list[float] = []
        seconds: list[float] = []
        for _ in range(rounds):
            post_seconds, latencies = overlapping_latencies(port, body, expected)
            seconds.append(post_seconds)
            overlapping.extend(latencies)
        label = f"during {len(body) / MiB:.1f} MiB JSON ({shape}) × {rounds}"
        results.append(StallResult(label, max(seconds), overlapping))
    return results


def format_table(results: list[StallResult]) -> str:
    rows = [
        [
            r.label,
            f"{r.post_seconds:.2f}" if r.post_seconds else "-",
            f"{len(r.latencies_ms):,}",
            f"{r.quantile(0.5):.1f}",
            f"{r.p99:.1f}",
            f"{max(r.latencies_ms):.1f}",
        ]
        for r in results
    ]
    columns = ["GET /", ">slowest POST s", ">GETs", ">p50 ms", ">p99 ms", ">max ms"]
    return markdown_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.json_stall", description=__doc__)
    parser.add_argument("--size", type=parse_size, default=16 * MiB - 64 * 1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="objects")
    args = parser.parse_args(argv)
    results = run(args.size, args.rounds, args.shape)
    print(format_table(results))
    p99 = results[-1].p99
    met = p99 < P99_TARGET_MS
    print(
        f"\nconcurrent GET / p99 while the JSON body is processed: {p99:.1f} ms "
        f"(target < {P99_TARGET_MS:.0f} ms): {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
