"""Run the benchmarks and print their tables: ``python -m benchmarks [options]``.

By default: the in-process dispatch table, the scaling table, uvicorn's protocol
without sockets and the server table (uvicorn under wrk), in about two minutes on two
cores. ``--seconds``,
``--rounds``, ``--duration`` and ``--server-rounds`` make longer runs;
``--profile CASE`` prints a cProfile of micropie for one dispatch case instead.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from collections.abc import Sequence

import starlette
import uvicorn

from . import dispatch, scaling, server

SECTIONS = ("dispatch", "scaling", "protocol", "server")
EXTRA_MODULES = ("upload", "sessions")  # written separately; run as their own scripts


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
    parser.add_argument("--profile", metavar="CASE", help="cProfile one dispatch case")
    parser.add_argument("--profile-app", choices=("micropie", "starlette"), default="micropie")
    for name in EXTRA_MODULES:
        parser.add_argument(
            f"--{name}", action="store_true", help=f"also run python -m benchmarks.{name}"
        )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def header() -> str:
    return (
        f"Python {platform.python_version()}, Starlette {starlette.__version__}, "
        f"uvicorn {uvicorn.__version__}, {platform.machine()}, "
        f"{_cpu_count()} CPU(s)"
    )


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_dispatch(args: argparse.Namespace) -> bool:
    print("\n## In-process dispatch (requests/s, median of rounds)\n", flush=True)
    results = dispatch.run(args.seconds, args.rounds, args.case)
    print(dispatch.format_table(results), flush=True)
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


def run_extra(name: str) -> bool:
    print(f"\n## benchmarks.{name}\n", flush=True)
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False)
    return done.returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        print(dispatch.profile(args.profile, kind=args.profile_app))
        return 0
    print(f"# micropie benchmarks\n\n{header()}")
    runners = {
        "dispatch": run_dispatch,
        "scaling": run_scaling,
        "protocol": run_protocol,
        "server": run_server,
    }
    met = True
    for section in args.only or SECTIONS:
        met = runners[section](args) and met
    for name in EXTRA_MODULES:
        if getattr(args, name):
            met = run_extra(name) and met
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
