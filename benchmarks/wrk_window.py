"""One ``wrk`` run, counted over a steady-state window only.

A short ``wrk`` run at a thousand connections mostly measures its own start: opening the
sockets, the servers accepting them, and the requests still in flight when it stops. So
each run here loads the server for ``warmup`` seconds before anything is counted, then
counts the responses of the next ``window`` seconds, and reads the server's CPU time
(every process and thread, ns precision from ``/proc``) at the two ends of that window;
then it stops wrk (SIGINT: wrk stops its threads and reports). ``window.lua`` (beside this
module) counts wrk's responses in 5 ms bins against the same monotonic clock, so the
responses are counted over exactly the stretch whose CPU time was read, even when this
process wakes up late. Anything that makes a run suspect is kept in
:attr:`Sample.problems`: wrk's socket errors (``--timeout`` is raised so that only a real
stall counts as one), responses with another status than the case's, a window without
responses, a window cut short by a late first reading.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: The environment variable that hands the harness's clock reading to ``window.lua``.
START_VARIABLE = "MICROPIE_BENCH_START"
#: The Lua text that counts responses per bin (the request is written above it).
TEMPLATE = Path(__file__).with_name("window.lua")
#: Seconds wrk may run past the window before it stops by itself (it is stopped sooner).
MARGIN = 2
#: A window shorter than this share of the one planned makes the run suspect.
SHORT = 0.75
#: wrk ``--timeout`` in seconds: a response slower than this counts as a socket error.
WRK_TIMEOUT = 10


@dataclass(frozen=True)
class Window:
    """How long each run loads the server before counting, and how long it counts."""

    warmup: float
    length: float

    @property
    def wrk_seconds(self) -> int:
        """wrk's ``-d``: whole seconds past the window (wrk is stopped once it closes)."""
        return math.ceil(self.warmup + self.length) + MARGIN


@dataclass(frozen=True)
class Sample:
    """What one run measured over its window."""

    requests_per_s: float
    cpu_us: float | None  # the server's CPU time per request
    problems: tuple[str, ...] = ()  # why the run is suspect; empty for a clean run


def write_script(
    path: Path,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Path:
    """Write a wrk script at ``path`` that sends the request and counts the answers."""
    lines = [f"wrk.method = {_lua_string(method.encode())}"]
    if body:
        lines.append(f"wrk.body = {_lua_string(body)}")
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{_lua_string(name.encode())}] = {_lua_string(value.encode())}")
    lines.append(f"bench_expected_status = {int(status)}")
    path.write_text("\n".join(lines) + "\n" + TEMPLATE.read_text())
    return path


def _lua_string(value: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in value) + '"'


def measure(
    url: str,
    script: Path,
    window: Window,
    connections: int,
    threads: int,
    pids: Sequence[int],
) -> Sample:
    """Load ``url`` with wrk; count the window's responses and the CPU time of ``pids``."""
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{window.wrk_seconds}s",
        f"--timeout={WRK_TIMEOUT}s", "-s", str(script), url,
    ]  # fmt: skip
    start = time.monotonic()
    env = {**os.environ, START_VARIABLE: repr(start)}
    wrk = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        opened, cpu_before = _read_cpu_at(start + window.warmup, pids)
        closed, cpu_after = _read_cpu_at(start + window.warmup + window.length, pids)
        wrk.send_signal(signal.SIGINT)  # wrk ends its threads and prints its report
        out, err = wrk.communicate(timeout=window.wrk_seconds + 60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    if wrk.returncode:
        raise RuntimeError(f"wrk exited with {wrk.returncode}: {err.strip()}")
    unexpected, width, bins = parse_output(out)
    responses = count_between(bins, width, opened - start, closed - start)
    problems = [*_socket_errors(out)]
    if unexpected:
        problems.append(f"{unexpected} responses with another status")
    if closed - opened < SHORT * window.length:
        problems.append(f"window cut to {closed - opened:.2f} s (a reading came late)")
    if closed - start > window.wrk_seconds:
        problems.append("the window closed after wrk had stopped")
    if not responses:
        problems.append("no response in the window")
        return Sample(0.0, None, tuple(problems))
    cpu = cpu_after - cpu_before
    return Sample(responses / (closed - opened), cpu / responses * 1e6, tuple(problems))


def _read_cpu_at(when: float, pids: Sequence[int]) -> tuple[float, float]:
    """Sleep until ``when`` (monotonic), then read the CPU time of ``pids``."""
    time.sleep(max(0.0, when - time.monotonic()))
    now = time.monotonic()
    return now, cpu_seconds(pids)


def parse_output(text: str) -> tuple[int, float, list[int]]:
    """What ``window.lua`` printed: unexpected statuses, the bin width, the bins."""
    unexpected = re.search(r"^bench-unexpected (\d+)$", text, re.M)
    bins = re.search(r"^bench-bins ([\d.e-]+)((?: \d+)*)$", text, re.M)
    if unexpected is None or bins is None:
        raise ValueError(f"no response counts in wrk's output:\n{text}")
    return int(unexpected.group(1)), float(bins.group(1)), [int(n) for n in bins.group(2).split()]


def count_between(bins: Sequence[int], width: float, start: float, end: float) -> float:
    """The responses between ``start`` and ``end`` seconds (a bin cut by either end counts
    in proportion to its overlap)."""
    total = 0.0
    for index, count in enumerate(bins):
        overlap = min(end, (index + 1) * width) - max(start, index * width)
        if overlap > 0:
            total += count * overlap / width
    return total


def _socket_errors(output: str) -> list[str]:
    line = re.search(r"Socket errors: (.*)", output)
    return [f"socket errors: {line.group(1).strip()}"] if line else []


# -- the server's CPU time -----------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time used so far by ``pids``, all their threads (``schedstat``: nanoseconds;
    clock ticks from ``stat`` where the kernel has no ``schedstat``)."""
    return sum(_process_cpu(pid) for pid in pids)


def _process_cpu(pid: int) -> float:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        return sum(_task_cpu(pid, task) for task in tasks)
    except OSError:
        return 0.0


def _task_cpu(pid: int, task: str) -> float:
    try:
        if _SCHEDSTAT:
            return int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0]) / 1e9
        fields = Path(f"/proc/{pid}/task/{task}/stat").read_text().rpartition(")")[2].split()
    except OSError:  # the thread has ended
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SCHEDSTAT = Path("/proc/self/schedstat").exists()
