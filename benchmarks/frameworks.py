"""micropie among its peers: the same app in six frameworks, served by uvicorn under ``wrk``.

The apps are in :mod:`benchmarks.peers` (micropie, Starlette, FastAPI, BlackSheep, Muffin
and a raw ASGI app). For each set-up (``c64``: one uvicorn worker, ``wrk -t1 -c64``;
``c1000``: ``uvicorn --workers 2``, ``wrk -t2 -c1000``) every app gets its own server,
started once; its answers to every case are checked first (status and body, the session
cookie it sets), then it is warmed up. Then, round after round, each case is loaded on
each app in turn, the order rotating every case and round, so drift in machine speed
falls on all apps alike. Each run is counted over a steady-state window only
(:mod:`benchmarks.wrk_window`). Reported per case and app: the ratio of its requests/s
to Starlette's in the same round, and of its requests per server CPU-second (median,
min and max over the rounds), the median req/s and the server's CPU time per request,
and every run that had socket errors or wrong statuses.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import markdown_table
from .peers import CASES, Case, render_page
from .server import ROOT, free_port, run_wrk, wait_until_up, wrk_available
from .wrk_window import Sample, Window, measure, process_tree, write_script

#: The apps, in table order: name → (uvicorn target, column label).
APPS: dict[str, tuple[str, str]] = {
    name: (f"benchmarks.peers.{name}_app:app", label)
    for name, label in (
        ("micropie", "micropie"),
        ("starlette", "Starlette"),
        ("fastapi", "FastAPI"),
        ("blacksheep", "BlackSheep"),
        ("muffin", "Muffin"),
        ("raw", "raw ASGI"),
    )
}
#: The app every ratio is taken against.
BASELINE = "starlette"
#: The floor: micropie's own cost is measured against it, and it is left out of the ranks.
RAW = "raw"
#: Apps that have no session case (no signed-cookie session in the framework or app).
NO_SESSIONS = frozenset({"muffin", "raw"})
#: uvicorn's listen backlog (its default is 2048; the kernel caps it at somaxconn).
BACKLOG = 4096


@dataclass(frozen=True)
class Setup:
    """How the servers run, how wrk loads them, and how each run is counted."""

    name: str
    workers: int
    threads: int
    connections: int
    rounds: int = 5
    window: Window = Window(warmup=0.2, length=0.8)

    @property
    def title(self) -> str:
        worker = "worker" if self.workers == 1 else "workers"
        return f"uvicorn {self.workers} {worker}, wrk -t{self.threads} -c{self.connections}"

    @property
    def method(self) -> str:
        return (
            f"{self.rounds} rounds; each run counts the responses and the server's CPU time "
            f"of {self.window.length:g} s, after {self.window.warmup:g} s of load on the "
            "same connections"
        )


SETUPS = {
    "c64": Setup("c64", workers=1, threads=1, connections=64, window=Window(0.2, 0.8)),
    "c1000": Setup("c1000", workers=2, threads=2, connections=1000, window=Window(0.5, 1.5)),
}


#: The request that starts the session the session case reads and writes.
LOGIN = Case("login", "/login")


def supports(app: str, case: Case) -> bool:
    """Whether ``app`` has the case (Muffin and the raw app have no sessions)."""
    return not (case.session and app in NO_SESSIONS)


def expected_body(case: Case) -> bytes | None:
    """The body ``case`` must be answered with (``None``: only the status counts)."""
    return render_page() if case.name == "Jinja2 page" else case.answer


# -- one app's server -------------------------------------------------------------------


@dataclass
class PeerServer:
    """A running uvicorn serving one app (master and worker processes)."""

    app: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    cookie: str | None = None  # the session cookie its /login set, as ``name=value``

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pids(self) -> list[int]:
        """The server's processes: the one started and every worker it forked."""
        return process_tree(self.process.pid)

    def request(self, case: Case, cookie: str | None = None) -> tuple[int, bytes, list[str]]:
        """Send ``case`` once: status, body and the ``Set-Cookie`` values."""
        headers = {"Host": f"{self.host}:{self.port}"}
        if case.content_type:
            headers["Content-Type"] = case.content_type
        if cookie:
            headers["Cookie"] = cookie
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(case.method, case.path, body=case.body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.headers.get_all("set-cookie") or []
        finally:
            connection.close()


@contextmanager
def serve(app: str, workers: int = 1) -> Iterator[PeerServer]:
    """Serve one peer app with uvicorn on 127.0.0.1 (httptools, uvloop when installed)."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", APPS[app][0], "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log", "--backlog", str(BACKLOG),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    server = PeerServer(app, "127.0.0.1", port, process)
    try:
        wait_until_up(server.url + "/hello", process, timeout=60)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: How an app is asked: ``(case, cookie) → (status, body, Set-Cookie values)``.
Requester = Callable[[Case, str | None], tuple[int, bytes, list[str]]]


def check(app: str, request: Requester, cases: Iterable[Case] = CASES) -> str | None:
    """Fail unless ``app`` answers every case it supports as expected.

    For the session case it first logs in and returns the cookie it got (``name=value``,
    for the load); the answer must set a new one (the session was written).
    """
    session_cookie = None
    for case in cases:
        if not supports(app, case):
            continue
        cookie = None
        if case.session:
            status, _, cookies = request(LOGIN, None)
            if status != 200 or not cookies:
                raise AssertionError(f"{app}: /login answered {status} without a cookie")
            cookie = session_cookie = cookies[0].split(";", 1)[0]
        status, body, cookies = request(case, cookie)
        wanted = expected_body(case)
        right = status == case.status and (wanted is None or _same(body, wanted, case.json))
        if case.session and not cookies:
            right = False
        if not right:
            raise AssertionError(f"{app} {case.name}: answered {status} {body[:200]!r}")
    return session_cookie


def _same(body: bytes, wanted: bytes, as_json: bool) -> bool:
    if not as_json:
        return body == wanted
    try:
        return bool(json.loads(body) == json.loads(wanted))
    except ValueError:
        return False


def wrk_script(case: Case, cookie: str | None, directory: Path) -> Path:
    """The wrk script sending ``case`` (with the session ``cookie``) and counting answers."""
    headers = {}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    if cookie:
        headers["Cookie"] = cookie
    name = f"{abs(hash((case.name, cookie)))}.lua"
    return write_script(directory / name, case.method, case.body, headers, case.status)


# -- the runs ------------------------------------------------------------------------------


@dataclass
class Results:
    """Every sample of one set-up, by case and app, in round order."""

    setup: Setup
    apps: list[str]
    cases: list[Case]
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # about the machine, for the report

    def rates(self, case: str, app: str) -> list[float]:
        return [sample.requests_per_s for sample in self.samples.get((case, app), [])]

    def ratios(self, case: str, app: str, against: str = BASELINE) -> list[float]:
        """Per-round req/s ratios of ``app`` to ``against`` (empty if either is missing)."""
        mine, theirs = self.rates(case, app), self.rates(case, against)
        return [a / b for a, b in zip(mine, theirs, strict=False) if b]

    def cpu_ratios(self, case: str, app: str, against: str = BASELINE) -> list[float]:
        """Per-round ratios of requests per server CPU-second, ``app`` to ``against``.

        Steadier than req/s on a shared machine: it does not move with how much of
        the CPU the server got, only with what each request cost it.
        """
        mine = [s.cpu_us for s in self.samples.get((case, app), [])]
        theirs = [s.cpu_us for s in self.samples.get((case, against), [])]
        return [b / a for a, b in zip(mine, theirs, strict=False) if a and b]

    def median_rate(self, case: str, app: str) -> float | None:
        rates = self.rates(case, app)
        return statistics.median(rates) if rates else None

    def cpu_us(self, case: str, app: str) -> float | None:
        values = [s.cpu_us for s in self.samples.get((case, app), []) if s.cpu_us is not None]
        return statistics.median(values) if values else None

    def flagged(self) -> list[str]:
        """One line per run that had socket errors, wrong statuses or a window cut short."""
        lines = []
        for case in self.cases:
            for app in self.apps:
                for round_, sample in enumerate(self.samples.get((case.name, app), []), 1):
                    if sample.problems:
                        problems = "; ".join(sample.problems)
                        lines.append(f"round {round_}, {case.name}, {APPS[app][1]}: {problems}")
        return lines

    def ranking(self, case: str, by_cpu: bool = False) -> list[str]:
        """The framework apps (not raw) with the case, fastest first: by the median of
        their per-round ratios to Starlette (req/s, or requests per server CPU-second),
        the figures the tables show."""
        ratios = self.cpu_ratios if by_cpu else self.ratios
        rated = [(ratios(case, app), app) for app in self.apps if app != RAW]
        order = sorted(((statistics.median(r), app) for r, app in rated if r), reverse=True)
        return [app for _, app in order]

    def rank(self, case: str, app: str, by_cpu: bool = False) -> int | None:
        order = self.ranking(case, by_cpu)
        return order.index(app) + 1 if app in order else None

    def mean_rank(self, app: str, by_cpu: bool = False) -> float | None:
        ranks = [self.rank(case.name, app, by_cpu) for case in self.cases]
        known = [rank for rank in ranks if rank is not None]
        return statistics.mean(known) if known else None


def run(
    setup: Setup,
    apps: Sequence[str] = tuple(APPS),
    cases: Sequence[Case] = CASES,
    warmup: float = 1.0,
) -> Results:
    """Serve every app, check its answers, warm each up for ``warmup`` seconds, then load
    each case on each app, interleaved, for ``setup.rounds`` rounds."""
    if not wrk_available():
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    results = Results(setup, list(apps), list(cases), notes=prepare_machine(setup))
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="micropie-peers-") as tmp:
        servers = {app: stack.enter_context(serve(app, setup.workers)) for app in apps}
        for server in servers.values():
            server.cookie = check(server.app, server.request, cases)
            run_wrk(server.url + "/hello", warmup, setup.connections, setup.threads)
        scripts = {
            (case.name, app): wrk_script(case, servers[app].cookie if case.session else None,
                                         Path(tmp))
            for case in cases for app in apps
        }  # fmt: skip
        turn = 0
        for _ in range(setup.rounds):
            pids = {app: server.pids() for app, server in servers.items()}  # once a round
            for case in cases:
                turn += 1
                order = [apps[(turn + i) % len(apps)] for i in range(len(apps))]
                for app in order:
                    if supports(app, case):
                        server = servers[app]
                        sample = measure(
                            server.url + case.path, scripts[case.name, app], setup.window,
                            setup.connections, setup.threads, pids[app],
                        )  # fmt: skip
                        results.samples.setdefault((case.name, app), []).append(sample)
    return results


def prepare_machine(setup: Setup) -> list[str]:
    """Let this process and its children (wrk, uvicorn) open a socket per connection;
    return notes on kernel limits that would shape the run."""
    needed = setup.connections * 2 + 256  # wrk's sockets, the servers', files
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise RuntimeError(
                f"{setup.connections} connections need {needed} open files; the hard limit "
                f"is {hard} (raise it with ulimit -Hn as root)"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    notes: list[str] = []
    try:
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return notes
    if somaxconn < min(setup.connections, BACKLOG):
        notes.append(
            f"net.core.somaxconn is {somaxconn}: the kernel cuts uvicorn's --backlog "
            f"{BACKLOG} to it, below {setup.connections} connections"
        )
    return notes


# -- tables ----------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    """``median (min–max)`` of ``values``, two decimals."""
    if not values:
        return "–"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.2f}"
    return f"{middle:.2f} ({min(values):.2f}–{max(values):.2f})"


def ratio_table(results: Results, by_cpu: bool = False) -> str:
    """Per case: each app's req/s (or requests per server CPU-second) over Starlette's,
    median (min–max) over the rounds."""
    columns = ["case", *(f">{APPS[app][1]}" for app in results.apps), ">micropie rank"]
    ratios = results.cpu_ratios if by_cpu else results.ratios
    rows = []
    for case in results.cases:
        rank = results.rank(case.name, "micropie", by_cpu)
        rows.append(
            [
                case.name,
                *(spread(ratios(case.name, app)) for app in results.apps),
                "–" if rank is None else f"{rank} of {len(results.ranking(case.name, by_cpu))}",
            ]
        )
    ranks = [results.mean_rank(app, by_cpu) for app in results.apps]
    rows.append(
        [
            "mean rank (without raw ASGI)",
            *("–" if rank is None or app == RAW else f"{rank:.1f}"
              for app, rank in zip(results.apps, ranks, strict=True)),
            "",
        ]
    )  # fmt: skip
    return markdown_table(columns, rows)


def rate_table(results: Results) -> str:
    """Per case: each app's median req/s and its server CPU µs per request."""
    columns = ["case", *(f">{APPS[app][1]}" for app in results.apps)]
    rows = []
    for case in results.cases:
        cells = []
        for app in results.apps:
            rate, cpu = results.median_rate(case.name, app), results.cpu_us(case.name, app)
            if rate is None:
                cells.append("–")
            else:
                cells.append(f"{rate:,.0f} / {'n/a' if cpu is None else f'{cpu:.1f}'}")
        rows.append([case.name, *cells])
    return markdown_table(columns, rows)


def report(results: Results) -> str:
    """One set-up's tables and its suspect runs, as Markdown."""
    setup = results.setup
    flagged = results.flagged()
    parts = [
        f"### {setup.title}\n\n{setup.method}.",
        "Requests/s ÷ Starlette's in the same round, median (min–max):",
        ratio_table(results),
        "Requests per server CPU-second ÷ Starlette's, median (min–max):",
        ratio_table(results, by_cpu=True),
        "Median requests/s / server CPU µs per request:",
        rate_table(results),
        *results.notes,
        "Runs with socket errors, wrong statuses or a window cut short: "
        + (f"{len(flagged)}:\n\n" + "\n".join(f"- {line}" for line in flagged) if flagged
           else "none."),
    ]  # fmt: skip
    return "\n\n".join(parts)
