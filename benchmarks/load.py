"""Load and soak test: ``python -m benchmarks.load`` (``make load``).

Two runs against one uvicorn worker serving the showcase app
(``examples/showcase/app.py``; ``tests/apps/security_app.py`` stands in while it is
missing, or with ``--app``), driven by ``wrk`` with a Lua script that tallies every
status code:

1. **load** — 256 connections for 30 s over a mix of plain, bound, JSON and
   session-writing paths. Must see zero socket errors and zero 5xx.
2. **soak** — 1,000,000 requests, most of them session writes: half reuse the
   connection's session cookie, a quarter start a new session each time (so the
   in-memory backend must expire them: the soak server uses a 2 s session timeout),
   a quarter touch no session. The server's RSS after a warm-up and at the end must
   differ by under 10 %.

``--quick`` shortens both (5 s, 50,000 requests) for a smoke run. Needs ``wrk``
(Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.server import parse_wrk
from tests.support import UvicornServer, run_uvicorn

ROOT = Path(__file__).resolve().parent.parent
SHOWCASE = ROOT / "examples" / "showcase" / "app.py"
SHOWCASE_TARGET = "examples.showcase.app:app"
FALLBACK_TARGET = "tests.apps.security_app:app"
#: Paths the load run cycles through, per app: text, binding, JSON, a session write, a stream.
LOAD_PATHS = {
    SHOWCASE_TARGET: (
        "/", "/hello/greet/Alice", "/hello/greet?name=Bob", "/json/todos",
        "/routing/add/2/3", "/wsgi/visits", "/streaming/count?to=5&delay=0",
    ),
    FALLBACK_TARGET: ("/", "/greet?name=load&times=2", "/data", "/visit", "/stream?chunks=5"),
}  # fmt: skip
SOAK_SESSION_TIMEOUT = 2
RSS_GROWTH_LIMIT = 0.10

# wrk Lua: cycle through paths, keep each thread's session cookie, count statuses.
_LUA = r"""
local paths = {%(paths)s}
local fresh = {%(fresh)s}
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  index = id
  cookie = nil
end

function request()
  index = index + 1
  local i = (index %% #paths) + 1
  local headers = {}
  if cookie ~= nil and not fresh[i] then headers["Cookie"] = cookie end
  return wrk.format("GET", paths[i], headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local set = headers["set-cookie"] or headers["Set-Cookie"]
  if set ~= nil then
    local value = string.match(set, "^(session_id=[^;]*)")
    if value ~= nil and value ~= "session_id=" then cookie = value end
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do total[status] = (total[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, '"' .. status .. '": ' .. n) end
  io.write("STATUSES {" .. table.concat(parts, ", ") .. "}\n")
end
"""


@dataclass
class RunResult:
    """One wrk run: totals, errors and status counts."""

    name: str
    requests: int
    seconds: float
    requests_per_s: float
    socket_errors: int
    non_2xx_3xx: int
    statuses: dict[int, int] = field(default_factory=dict)
    rss_kib: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def lua_script(paths: Sequence[str], fresh: Sequence[bool]) -> str:
    quoted = ", ".join(json.dumps(p) for p in paths)
    flags = ", ".join("true" if f else "false" for f in fresh)
    return _LUA % {"paths": quoted, "fresh": flags}


def run_wrk(
    name: str,
    url: str,
    script: str,
    *,
    connections: int,
    threads: int,
    duration: str,
) -> RunResult:
    """Run wrk with ``script`` and read its summary and status counts."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--timeout", "10s",
        "--latency", "-s", handle.name, url,
    ]  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        Path(handle.name).unlink()
    seconds = time.monotonic() - started
    parsed = parse_wrk(done.stdout)
    counts = (
        done.stdout.split("STATUSES ", 1)[1].splitlines()[0] if "STATUSES" in done.stdout else "{}"
    )
    statuses = {int(k): v for k, v in json.loads(counts).items()}
    return RunResult(
        name=name,
        requests=parsed.requests,
        seconds=seconds,
        requests_per_s=parsed.requests_per_s,
        socket_errors=parsed.socket_errors,
        non_2xx_3xx=parsed.non_2xx,
        statuses=statuses,
    )


def server_state(server: UvicornServer) -> dict[str, int]:
    """The fallback app's ``/debug_state`` (empty for apps without it)."""
    try:
        response = httpx.get(server.url + "/debug_state", timeout=5)
        if response.status_code == 200:
            return {k: v for k, v in response.json().items() if isinstance(v, int)}
    except (httpx.HTTPError, ValueError):
        pass
    return {}


def load_run(target: str, duration: int) -> RunResult:
    """256 connections for ``duration`` seconds over the target's :data:`LOAD_PATHS`."""
    server = run_uvicorn(target, args=["--no-access-log"])
    try:
        paths = LOAD_PATHS.get(target, ("/",))
        script = lua_script(paths, [False] * len(paths))
        result = run_wrk(
            "load", server.url, script, connections=256, threads=2, duration=f"{duration}s"
        )
        result.rss_kib["end"] = rss_kib(server.pid)
        return result
    finally:
        server.stop()


def soak_run(target: str, total: int, segment: int = 15) -> RunResult:
    """At least ``total`` requests, mostly session writes, in ``segment``-second wrk runs.

    RSS is sampled after a warm-up segment and after every segment; the figure that
    counts is the growth from after the warm-up to the end.
    """
    env = {"MICROPIE_SECURITY_SESSION_TIMEOUT": str(SOAK_SESSION_TIMEOUT)}
    server = run_uvicorn(target, env=env, args=["--no-access-log"])
    # /visit keeping the thread's cookie (x2), /visit never sending one, / with no session.
    script = lua_script(["/visit", "/", "/visit", "/visit"], [False, True, False, True])
    options = {"connections": 64, "threads": 2, "duration": f"{segment}s"}
    try:
        rss = {"start": rss_kib(server.pid)}
        run_wrk("warmup", server.url, script, **options)  # type: ignore[arg-type]
        rss["after_warmup"] = rss_kib(server.pid)
        result = RunResult("soak", 0, 0.0, 0.0, 0, 0)
        samples = []
        while result.requests < total:
            part = run_wrk("soak", server.url, script, **options)  # type: ignore[arg-type]
            _add(result, part)
            samples.append(rss_kib(server.pid))
        result.requests_per_s = result.requests / result.seconds
        rss.update(peak=max(samples), end=samples[-1])
        # A quarter of the requests started a session never used again; expiry keeps
        # only those of the last session timeout or so.
        result.sessions["created (about)"] = result.requests // 4
        result.sessions["live at end"] = server_state(server).get("sessions", -1)
        result.rss_kib = rss
        return result
    finally:
        server.stop()


def _add(total: RunResult, part: RunResult) -> None:
    total.requests += part.requests
    total.seconds += part.seconds
    total.socket_errors += part.socket_errors
    total.non_2xx_3xx += part.non_2xx_3xx
    for status, count in part.statuses.items():
        total.statuses[status] = total.statuses.get(status, 0) + count


def report(result: RunResult) -> list[str]:
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(result.statuses.items()))
    lines = [
        f"## {result.name}",
        f"requests: {result.requests:,} in {result.seconds:.1f} s "
        f"({result.requests_per_s:,.0f} req/s)",
        f"socket errors: {result.socket_errors}; non-2xx/3xx: {result.non_2xx_3xx}; "
        f"5xx: {result.server_errors}",
        f"statuses: {statuses}",
    ]
    if result.rss_kib:
        lines.append(
            "server RSS (KiB): " + ", ".join(f"{k} {v:,}" for k, v in result.rss_kib.items())
        )
    if result.sessions:
        lines.append(
            "in-memory sessions: " + ", ".join(f"{k} {v:,}" for k, v in result.sessions.items())
        )
    return lines


def rss_growth(result: RunResult) -> float:
    base = result.rss_kib["after_warmup"]
    return (result.rss_kib["end"] - base) / base


def failures(load: RunResult | None, soak: RunResult | None) -> list[str]:
    problems = []
    for result in (load, soak):
        if result is None:
            continue
        if result.socket_errors:
            problems.append(f"{result.name}: {result.socket_errors} socket errors")
        if result.server_errors:
            problems.append(f"{result.name}: {result.server_errors} 5xx responses")
        if result.non_2xx_3xx:
            problems.append(f"{result.name}: {result.non_2xx_3xx} non-2xx/3xx responses")
    if soak is not None and rss_growth(soak) >= RSS_GROWTH_LIMIT:
        problems.append(f"soak: RSS grew {rss_growth(soak):.1%} (limit {RSS_GROWTH_LIMIT:.0%})")
    return problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s load, 50,000-request soak")
    parser.add_argument("--duration", type=int, help="load run seconds (default 30)")
    parser.add_argument("--requests", type=int, help="soak requests (default 1,000,000)")
    parser.add_argument("--only", choices=("load", "soak"), help="run one of the two")
    parser.add_argument("--app", help="uvicorn target (default: the showcase app)")
    return parser.parse_args(argv)


def default_target() -> str:
    return SHOWCASE_TARGET if SHOWCASE.exists() else FALLBACK_TARGET


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    duration = args.duration or (5 if args.quick else 30)
    total = args.requests or (50_000 if args.quick else 1_000_000)
    load_target = args.app or default_target()
    # The soak needs the short session timeout the fallback app reads from the environment.
    soak_target = args.app or FALLBACK_TARGET
    print(f"# micropie load test ({load_target}; soak on {soak_target})")
    load = soak = None
    if args.only in (None, "load"):
        load = load_run(load_target, duration)
        print("\n".join(report(load)), flush=True)
    if args.only in (None, "soak"):
        soak = soak_run(soak_target, total)
        print("\n".join(report(soak)))
        print(f"RSS growth after warm-up: {rss_growth(soak):+.1%}")
    problems = failures(load, soak)
    print("FAILED: " + "; ".join(problems) if problems else "PASSED")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
