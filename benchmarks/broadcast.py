"""Broadcast fan-out: deliveries per second and delivery latency, in memory and on Redis.

For 1, 100 and 1,000 subscribers, two figures per backend:

- **throughput**: one publisher awaits ``publish`` for a burst of messages; the figure is
  deliveries (messages × subscribers) per second from the first publish to the last
  delivery;
- **latency**: then messages are published at a steady rate (``--rate`` per second) and
  each subscriber notes, per message, the time from ``publish`` to its ``async for``
  receiving it (``time.monotonic`` is one clock for all processes of a Linux machine);
  p50 and p99 over every delivery.

``memory://`` runs the subscribers and the publisher in this process. ``redis://``
splits the subscribers over two worker processes, each with its own ``Broadcast`` (one
Redis subscription per worker), and publishes from this one, as ``uvicorn --workers 2``
would. Redis is ``$REDIS_URL`` or, when unset, a throwaway ``redis-server``::

    .venv/bin/python -m benchmarks.broadcast [--sizes 1 100 1000] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from micropie import Broadcast, Subscriber

from . import markdown_table
from .sessions import redis_url

CHANNEL = "bench"
WORKERS = 2
#: Deliveries a burst aims at: fewer messages for more subscribers keeps runs short.
BURST_DELIVERIES = 200_000


def burst_size(subscribers: int) -> int:
    return max(200, min(5000, BURST_DELIVERIES // subscribers))


@dataclass
class Result:
    backend: str
    subscribers: int
    deliveries_per_second: float
    p50_ms: float
    p99_ms: float
    lost: int


class Group:
    """``count`` subscribers in this process, each noting what it receives, phase by phase."""

    def __init__(self, broadcast: Broadcast, count: int, burst: int, paced: int) -> None:
        self.broadcast = broadcast
        self.count = count
        self.burst, self.paced = burst, paced
        self.burst_received = 0
        self.burst_last = 0.0
        self.latencies = array("d")
        self.burst_done = asyncio.Event()
        self.paced_done = asyncio.Event()
        self._ready = asyncio.Event()
        self._waiting = [count, count, count]  # subscribing, burst, paced
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe everyone; return once every subscription is live."""
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self.count)]
        if self.count:
            await self._ready.wait()
        while not self.broadcast.connected:
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        queue = self.burst + self.paced + 10
        async with self.broadcast.subscribe(CHANNEL, max_queue=queue) as subscriber:
            self._arrived(0, self._ready)
            await self._burst(subscriber)
            await self._paced(subscriber)

    async def _burst(self, subscriber: Subscriber) -> None:
        async for message in subscriber:
            if message.get("end"):
                self.burst_last = max(self.burst_last, time.monotonic())
                self._arrived(1, self.burst_done)
                return
            self.burst_received += 1

    async def _paced(self, subscriber: Subscriber) -> None:
        latencies = self.latencies
        async for message in subscriber:
            if message.get("end"):
                self._arrived(2, self.paced_done)
                return
            latencies.append(time.monotonic() - message["t"])

    def _arrived(self, step: int, event: asyncio.Event) -> None:
        self._waiting[step] -= 1
        if self._waiting[step] == 0:
            event.set()


async def publish_burst(broadcast: Broadcast, messages: int) -> float:
    """Publish ``messages`` then the end marker; the monotonic time it started."""
    started = time.monotonic()
    for number in range(messages):
        await broadcast.publish(CHANNEL, {"n": number})
    await broadcast.publish(CHANNEL, {"end": True})
    return started


async def publish_paced(broadcast: Broadcast, messages: int, rate: float) -> None:
    """Publish ``messages`` stamped with their send time, ``rate`` per second."""
    start = time.monotonic()
    for number in range(messages):
        delay = start + number / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await broadcast.publish(CHANNEL, {"t": time.monotonic()})
    await broadcast.publish(CHANNEL, {"end": True})


def summarise(
    backend: str,
    subscribers: int,
    burst: int,
    started: float,
    last: float,
    received: int,
    latencies: Sequence[float],
    paced: int,
) -> Result:
    expected = subscribers * (burst + paced)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Result(
        backend,
        subscribers,
        received / (last - started) if last > started else 0.0,
        quantiles[49] * 1000,
        quantiles[98] * 1000,
        expected - received - len(latencies),
    )


async def run_memory(subscribers: int, paced: int, rate: float) -> Result:
    burst = burst_size(subscribers)
    async with Broadcast("memory://") as broadcast:
        group = Group(broadcast, subscribers, burst, paced)
        await group.start()
        started = await publish_burst(broadcast, burst)
        await group.burst_done.wait()
        await publish_paced(broadcast, paced, rate)
        await group.paced_done.wait()
    return summarise(
        "memory, 1 process",
        subscribers,
        burst,
        started,
        group.burst_last,
        group.burst_received,
        group.latencies,
        paced,
    )


def worker(url: str, count: int, burst: int, paced: int, pipe: Connection) -> None:
    """A worker process: ``count`` subscribers; reports to the parent through ``pipe``."""
    asyncio.run(_worker(url, count, burst, paced, pipe))


async def _worker(url: str, count: int, burst: int, paced: int, pipe: Connection) -> None:
    async with Broadcast(url) as broadcast:
        group = Group(broadcast, count, burst, paced)
        await group.start()
        pipe.send("ready")
        if count:
            await group.burst_done.wait()
        pipe.send((group.burst_received, group.burst_last))
        if count:
            await group.paced_done.wait()
        pipe.send_bytes(group.latencies.tobytes())


async def run_redis(url: str, subscribers: int, paced: int, rate: float) -> Result:
    burst = burst_size(subscribers)
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for index in range(WORKERS):
        count = subscribers // WORKERS + (1 if index < subscribers % WORKERS else 0)
        parent, child = context.Pipe()
        process = context.Process(target=worker, args=(url, count, burst, paced, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        async with Broadcast(url) as broadcast:
            for pipe in pipes:
                assert await asyncio.to_thread(pipe.recv) == "ready"
            started = await publish_burst(broadcast, burst)
            bursts = [await asyncio.to_thread(pipe.recv) for pipe in pipes]
            await publish_paced(broadcast, paced, rate)
            latencies = array("d")
            for pipe in pipes:
                latencies.frombytes(await asyncio.to_thread(pipe.recv_bytes))
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    return summarise(
        f"Redis, {WORKERS} workers",
        subscribers,
        burst,
        started,
        max(last for _, last in bursts),
        sum(received for received, _ in bursts),
        latencies,
        paced,
    )


def format_table(results: list[Result]) -> str:
    columns = ["backend", ">subscribers", ">deliveries/s", ">p50 latency", ">p99 latency"]
    columns.append(">lost")
    rows = [
        [
            result.backend,
            f"{result.subscribers:,}",
            f"{result.deliveries_per_second:,.0f}",
            f"{result.p50_ms:.2f} ms",
            f"{result.p99_ms:.2f} ms",
            str(result.lost),
        ]
        for result in results
    ]
    return markdown_table(columns, rows)


async def run(sizes: Sequence[int], paced: int, rate: float, url: str | None) -> list[Result]:
    results = []
    for size in sizes:
        results.append(await run_memory(size, paced, rate))
        if url is not None:
            results.append(await run_redis(url, size, paced, rate))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broadcast", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--paced", type=int, default=100, help="messages in the latency run")
    parser.add_argument("--rate", type=float, default=100.0, help="latency run messages/s")
    args = parser.parse_args(argv)
    with redis_url() as url:
        if url is None:
            print("Redis skipped: no REDIS_URL and no redis-server binary")
        results = asyncio.run(run(args.sizes, args.paced, args.rate, url))
    burst = ", ".join(f"{size:,}: {burst_size(size):,}" for size in args.sizes)
    print(f"burst messages per size ({burst}); latency run: {args.paced} at {args.rate:g}/s\n")
    print(format_table(results))


if __name__ == "__main__":
    main()
