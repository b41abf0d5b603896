"""micropie among its peers: the same app in six frameworks, served by uvicorn under ``wrk``.

The apps are in :mod:`benchmarks.peers` (micropie, Starlette, FastAPI, BlackSheep, Muffin
and a raw ASGI app). For each set-up (``c64``: one uvicorn worker, ``wrk -t1 -c64``;
``c1000``: ``uvicorn --workers 2``, ``wrk -t2 -c1000``) every app gets its own server,
started once; its answers to every case are checked first (status and body, the session
cookie it sets), then it is warmed up. Then, round after round, each case is loaded on
each app in turn, the order rotating every case and round, so drift in machine speed
falls on all apps alike. Reported per case and app: the ratio of its requests/s to
Starlette's in the same round (median, min and max over the rounds), the median req/s
and the server's CPU time per request (all its processes, from ``/proc``).
"""

from __future__ import annotations

import http.client
import json
import os
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
#: Cases micropie must serve at ≥ this share of the raw ASGI app's requests/s.
RAW_CASES = {"plaintext", "path param", "404"}
RAW_TARGET = 0.9
#: Cases micropie must win against Starlette by this factor (templates, sessions).
STARLETTE_TARGETS = {"Jinja2 page": 1.2, "session r/w": 1.2}
#: Cases micropie must serve at least as fast as BlackSheep.
BLACKSHEEP_CASES = {"JSON POST echo", "form POST"}


@dataclass(frozen=True)
class Setup:
    """How the servers run and how wrk loads them."""

    name: str
    workers: int
    threads: int
    connections: int

    @property
    def title(self) -> str:
        worker = "worker" if self.workers == 1 else "workers"
        return f"uvicorn {self.workers} {worker}, wrk -t{self.threads} -c{self.connections}"


SETUPS = {
    "c64": Setup("c64", workers=1, threads=1, connections=64),
    "c1000": Setup("c1000", workers=2, threads=2, connections=1000),
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

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and all its child processes so far."""
        return sum(_cpu_seconds(pid) for pid in _process_tree(self.process.pid))

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


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            parents.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(app: str, workers: int = 1) -> Iterator[PeerServer]:
    """Serve one peer app with uvicorn on 127.0.0.1 (httptools, uvloop when installed)."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", APPS[app][0], "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log", "--backlog", "4096",
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


def wrk_script(case: Case, cookie: str | None, directory: Path) -> str | None:
    """A wrk Lua script sending ``case`` (``None`` for a plain GET)."""
    if case.method == "GET" and not cookie:
        return None
    lines = [f'wrk.method = "{case.method}"']
    if case.body:
        lines.append(f"wrk.body = {_lua_string(case.body)}")
    if case.content_type:
        lines.append(f'wrk.headers["Content-Type"] = "{case.content_type}"')
    if cookie:
        lines.append(f'wrk.headers["Cookie"] = {_lua_string(cookie.encode())}')
    path = directory / f"{abs(hash((case.name, cookie)))}.lua"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _lua_string(value: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in value) + '"'


# -- the runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One wrk run against one app."""

    requests_per_s: float
    cpu_us: float | None  # server CPU time per request
    errors: int  # socket errors, plus unexpected statuses


@dataclass
class Results:
    """Every sample of one set-up, by case and app, in round order."""

    setup: Setup
    apps: list[str]
    cases: list[Case]
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

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

    def errors(self) -> int:
        return sum(sample.errors for runs in self.samples.values() for sample in runs)

    def ranking(self, case: str, by_cpu: bool = False) -> list[str]:
        """The framework apps (not raw) with the case, fastest first: by median req/s,
        or by requests per server CPU-second (the least CPU per request first)."""
        if by_cpu:
            costs = [(self.cpu_us(case, app), app) for app in self.apps if app != RAW]
            return [app for cost, app in sorted(c for c in costs if c[0])]
        rated = [(self.median_rate(case, app), app) for app in self.apps if app != RAW]
        return [app for rate, app in sorted((r for r in rated if r[0]), reverse=True)]

    def rank(self, case: str, app: str, by_cpu: bool = False) -> int | None:
        order = self.ranking(case, by_cpu)
        return order.index(app) + 1 if app in order else None

    def mean_rank(self, app: str, by_cpu: bool = False) -> float | None:
        ranks = [self.rank(case.name, app, by_cpu) for case in self.cases]
        known = [rank for rank in ranks if rank is not None]
        return statistics.mean(known) if known else None


def run(
    setup: Setup,
    duration: float = 1.0,
    rounds: int = 3,
    apps: Sequence[str] = tuple(APPS),
    cases: Sequence[Case] = CASES,
    warmup: float = 1.0,
) -> Results:
    """Serve every app, check its answers, then load each case on each app, interleaved."""
    if not wrk_available():
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    results = Results(setup, list(apps), list(cases))
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
        for _ in range(rounds):
            for case in cases:
                turn += 1
                order = [apps[(turn + i) % len(apps)] for i in range(len(apps))]
                for app in order:
                    if supports(app, case):
                        sample = _measure(servers[app], case, setup, duration, scripts)
                        results.samples.setdefault((case.name, app), []).append(sample)
    return results


def _measure(
    server: PeerServer,
    case: Case,
    setup: Setup,
    duration: float,
    scripts: dict[tuple[str, str], str | None],
) -> Sample:
    before = server.cpu_seconds()
    run = run_wrk(
        server.url + case.path,
        duration,
        setup.connections,
        setup.threads,
        script=scripts[case.name, server.app],
    )
    cpu = server.cpu_seconds() - before
    unexpected = run.non_2xx if case.status < 300 else 0  # wrk counts a 404 as non-2xx
    return Sample(
        run.requests_per_s,
        cpu / run.requests * 1e6 if run.requests else None,
        run.socket_errors + unexpected,
    )


# -- tables and goals ----------------------------------------------------------------------


def _spread(values: list[float]) -> str:
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
                *(_spread(ratios(case.name, app)) for app in results.apps),
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


@dataclass(frozen=True)
class Goal:
    """One acceptance check of issue 17 on one set-up, in req/s and per server CPU-second."""

    text: str
    values: list[float]  # req/s ratios, one per round
    target: float
    cpu_values: list[float] = field(default_factory=list)  # per-CPU-second ratios

    @property
    def met(self) -> bool:
        return bool(self.values) and statistics.median(self.values) >= self.target

    @property
    def cpu_met(self) -> bool:
        return bool(self.cpu_values) and statistics.median(self.cpu_values) >= self.target

    def line(self) -> str:
        def verdict(met: bool) -> str:
            return "met" if met else "MISSED"

        return (
            f"- {self.text} (target ≥ {self.target:.2f}): req/s {_spread(self.values)} "
            f"{verdict(self.met)}; per server CPU-second {_spread(self.cpu_values)} "
            f"{verdict(self.cpu_met)}"
        )


def goals(results: Results) -> list[Goal]:
    """The issue's goals, measured by this set-up's results (for the cases present)."""
    found: list[Goal] = []
    names = {case.name for case in results.cases}

    def goal(case: str, against: str, target: float, text: str = "") -> Goal:
        label = text or APPS[against][1]
        return Goal(
            f"{case}: micropie / {label}",
            results.ratios(case, "micropie", against),
            target,
            results.cpu_ratios(case, "micropie", against),
        )

    if RAW in results.apps:
        found += [goal(case, RAW, RAW_TARGET) for case in sorted(RAW_CASES & names)]
    if BASELINE in results.apps:
        found += [goal(c, BASELINE, t) for c, t in STARLETTE_TARGETS.items() if c in names]
    if "blacksheep" in results.apps:
        found += [goal(case, "blacksheep", 1.0) for case in sorted(BLACKSHEEP_CASES & names)]
    for case in results.cases:
        others = [app for app in results.ranking(case.name) if app != "micropie"]
        if others and results.median_rate(case.name, "micropie"):
            best = others[0]
            found.append(goal(case.name, best, 1.0, f"{APPS[best][1]} (fastest other by req/s)"))
    return found


def report(results: Results) -> str:
    """The ratio table, the req/s and CPU table and the goals, as Markdown."""
    rounds = max((len(runs) for runs in results.samples.values()), default=0)
    parts = [
        f"### {results.setup.title}: req/s ÷ Starlette's, median (min–max) of {rounds} rounds",
        ratio_table(results),
        f"### {results.setup.title}: requests per server CPU-second ÷ Starlette's, "
        f"median (min–max) of {rounds} rounds",
        ratio_table(results, by_cpu=True),
        f"### {results.setup.title}: median req/s / server CPU µs per request",
        rate_table(results),
        f"Socket errors and unexpected statuses: {results.errors()}.",
        "Goals:\n" + "\n".join(goal.line() for goal in goals(results)),
    ]
    return "\n\n".join(parts)
