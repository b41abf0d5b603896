"""Run the benchmarks and print their tables: ``python -m benchmarks [options]``.

By default: the in-process dispatch table, the typed JSON API table (micropie and
FastAPI in process), the scaling table, uvicorn's protocol without sockets and the
peers tables (micropie, Starlette, FastAPI, BlackSheep, Muffin and a raw ASGI app under
wrk, at c64 with one worker and at c1000 with two) with the table of issue 17's
targets, in about seventeen minutes on two cores. ``--only server`` adds the older
micropie-against-Starlette server table. ``--seconds``, ``--rounds``, ``--duration``,
``--server-rounds`` and the ``--peers-…`` options make longer runs; ``--record PATH``
writes the output into the results section of PATH (``docs/benchmarks.md``);
``--profile CASE`` prints a cProfile of micropie for one dispatch case instead.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import starlette
import uvicorn

from . import dispatch, frameworks, record, scaling, server, targets
from .peers import CASES as PEER_CASES
from .wrk_window import Window

SECTIONS = ("dispatch", "typed", "scaling", "protocol", "server", "peers")
DEFAULT_SECTIONS = ("dispatch", "typed", "scaling", "protocol", "peers")
# written separately; run as their own scripts
EXTRA_MODULES = ("upload", "sessions", "json_stall", "broadcast")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=0.1, help="length of one timed round")
    parser.add_argument("--rounds", type=int, default=15, help="in-process rounds per app")
    parser.add_argument("--case", action="append", help="dispatch case to run (repeatable)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per wrk run")
    parser.add_argument("--server-rounds", type=int, default=6, help="wrk runs per app and path")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument(
        "--uvicorn-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="extra uvicorn option, e.g. --uvicorn-option=--loop=asyncio (repeatable)",
    )
    for setup in frameworks.SETUPS.values():
        prefix = "--peers" if setup.name == "c64" else f"--peers-{setup.name}"
        parser.add_argument(
            f"{prefix}-rounds", type=int, default=setup.rounds,
            help=f"peers rounds at {setup.name} (default {setup.rounds})",
        )  # fmt: skip
        parser.add_argument(
            f"{prefix}-duration", type=float, default=setup.window.length,
            help=f"seconds counted per wrk run at {setup.name} (default {setup.window.length:g})",
        )  # fmt: skip
        parser.add_argument(
            f"{prefix}-warmup", type=float, default=setup.window.warmup,
            help=f"seconds of load before counting at {setup.name} "
            f"(default {setup.window.warmup:g})",
        )  # fmt: skip
    parser.add_argument(
        "--peers-setup", choices=tuple(frameworks.SETUPS), action="append",
        help="peers set-up to run (repeatable; default both)",
    )  # fmt: skip
    parser.add_argument(
        "--peers-app", choices=tuple(frameworks.APPS), action="append",
        help="peer app to serve (repeatable; default all)",
    )  # fmt: skip
    parser.add_argument(
        "--peers-case", choices=[case.name for case in PEER_CASES], action="append",
        help="peers case to load (repeatable; default all)",
    )  # fmt: skip
    parser.add_argument("--profile", metavar="CASE", help="cProfile one dispatch case")
    parser.add_argument("--profile-app", choices=("micropie", "starlette"), default="micropie")
    for name in EXTRA_MODULES:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            action="store_true",
            help=f"also run python -m benchmarks.{name}",
        )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--record", metavar="PATH", type=Path,
        help="write the peers section into PATH between its markers (docs/benchmarks.md)",
    )  # fmt: skip
    return parser.parse_args(argv)


PEER_PACKAGES = ("fastapi", "blacksheep", "muffin", "jinja2", "itsdangerous", "uvloop", "httptools")


def header() -> str:
    versions = ", ".join(f"{name} {_version(name)}" for name in PEER_PACKAGES)
    return (
        f"Python {platform.python_version()}, Starlette {starlette.__version__}, "
        f"uvicorn {uvicorn.__version__}, {versions}, {_wrk_version()}; {platform.machine()}"
        f"{_cpu_model()}, {_cpu_count()} CPU(s), load average {_load()} at the start"
    )


def _wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "wrk not installed"
    return " ".join(done.stdout.split()[:2]) or "wrk"


def _cpu_model() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    models = [line.partition(":")[2].strip() for line in info.splitlines()
              if line.startswith("model name")]  # fmt: skip
    return f" ({models[0]})" if models else ""


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _load() -> str:
    import os

    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_dispatch(args: argparse.Namespace) -> bool:
    print("\n## In-process dispatch (requests/s, median of rounds)\n", flush=True)
    results = dispatch.run(args.seconds, args.rounds, args.case)
    print(dispatch.format_table(results), flush=True)
    return all(r.met for r in results)


def run_typed(args: argparse.Namespace) -> bool:
    from . import typed  # needs FastAPI and Pydantic (the dev extra)

    print("\n## Typed JSON API: micropie and FastAPI, Pydantic models in and out (req/s)\n")
    results = typed.run(args.seconds, args.rounds)
    print(typed.format_table(results), flush=True)
    return all(r.met for r in results)


def run_scaling(args: argparse.Namespace) -> bool:
    print("\n## Scaling: GET /greet/alice with N handlers\n", flush=True)
    results = scaling.run(args.seconds, args.rounds)
    print(scaling.format_table(results), flush=True)
    met = results[-1].vs_baseline >= scaling.SCALING_TARGET
    print(
        f"\nmicropie at {results[-1].size:,} handlers: {results[-1].vs_baseline:.2f}× its "
        f"1-handler rate (target ≥ {scaling.SCALING_TARGET:.2f}×): {'met' if met else 'MISSED'}"
    )
    return met


def run_protocol(args: argparse.Namespace) -> bool:
    print(
        "\n## uvicorn's HTTP protocol without sockets, collector on (requests per CPU second)\n",
        flush=True,
    )
    results = server.run_protocol(args.seconds, args.rounds)
    print(server.format_protocol_table(results), flush=True)
    return all(r.ratio >= server.SERVER_TARGET for r in results)


def run_server(args: argparse.Namespace) -> bool:
    print(
        f"\n## Server: uvicorn (1 worker) under wrk -t1 -c{args.connections} "
        f"-d{args.duration:g}s, {args.server_rounds} alternating rounds\n",
        flush=True,
    )
    if not server.wrk_available():
        print("skipped: wrk is not installed (apt-get install -y wrk; `make bench` does it)")
        return False
    results = server.run(
        args.duration, args.server_rounds, args.connections, options=args.uvicorn_option
    )
    print(server.format_table(results), flush=True)
    errors = sum(r.errors for r in results)
    print(
        f"\nsocket errors + non-2xx/3xx responses: {errors}; target micropie/starlette "
        f"≥ {server.SERVER_TARGET:.2f}×: {'met' if all(r.met for r in results) else 'MISSED'}"
    )
    return all(r.met for r in results)


def peer_setups(args: argparse.Namespace) -> list[frameworks.Setup]:
    """The set-ups to run, with the rounds and windows the options ask for."""
    setups = []
    for name in args.peers_setup or list(frameworks.SETUPS):
        prefix = "peers" if name == "c64" else f"peers_{name}"
        window = Window(getattr(args, f"{prefix}_warmup"), getattr(args, f"{prefix}_duration"))
        setup = frameworks.SETUPS[name]
        setups.append(replace(setup, rounds=getattr(args, f"{prefix}_rounds"), window=window))
    return setups


def run_peers(args: argparse.Namespace) -> bool:
    print(
        "\n## Peers: the same app in six frameworks under wrk (uvicorn, httptools, uvloop)\n",
        flush=True,
    )
    if not server.wrk_available():
        print("skipped: wrk is not installed (apt-get install -y wrk; `make bench` does it)")
        return False
    apps = args.peers_app or list(frameworks.APPS)
    cases = [c for c in PEER_CASES if not args.peers_case or c.name in args.peers_case]
    runs = []
    for setup in peer_setups(args):
        runs.append(frameworks.run(setup, apps, cases))
        print(frameworks.report(runs[-1]) + "\n", flush=True)
    summary = targets.Summary(runs)
    print(summary.report(), flush=True)
    return summary.met()


def run_extra(name: str) -> bool:
    print(f"\n## benchmarks.{name}\n", flush=True)
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False)
    return done.returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        print(dispatch.profile(args.profile, kind=args.profile_app))
        return 0
    if args.record and (problem := record.check(args.record)):
        print(f"cannot record into {args.record}: {problem}", file=sys.stderr)
        return 2
    print("# micropie benchmarks\n")
    with record.capture() as output:
        print(record.provenance(sys.argv[1:] if argv is None else argv, header()), flush=True)
        met = run_sections(args)
    if args.record:
        record.write(args.record, output.getvalue())
        print(f"\n(recorded in {args.record})")
    return 1 if args.strict and not met else 0


def run_sections(args: argparse.Namespace) -> bool:
    """Run the sections asked for; whether every target they check was met."""
    runners: dict[str, Callable[[argparse.Namespace], bool]] = {
        "dispatch": run_dispatch,
        "typed": run_typed,
        "scaling": run_scaling,
        "protocol": run_protocol,
        "server": run_server,
        "peers": run_peers,
    }
    met = True
    for section in args.only or DEFAULT_SECTIONS:
        met = runners[section](args) and met
    for name in EXTRA_MODULES:
        if getattr(args, name):
            met = run_extra(name) and met
    return met


if __name__ == "__main__":
    sys.exit(main())
