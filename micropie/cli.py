"""The ``micropie`` command line.

``micropie run module:app`` serves an app with uvicorn; ``micropie routes module:app``
prints its route table. Each subcommand is one
``add_<name>_command`` function that adds its parser and sets ``handler``, the function
that runs it and returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import __version__
from .exceptions import MissingDependencyError
from .routes import HandlerRoute, HandlerWebSocketRoute, path_outline
from .serving import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    GRACEFUL_SHUTDOWN,
    HEAD_LIMITED_HTTP,
    serve,
    server_address,
    worker_count,
)

__all__ = ["build_parser", "main"]

Subcommands = Any  # argparse's _SubParsersAction is private
Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        status = handler(args)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. ``micropie routes app:app | head -1``
        _discard_stdout()
        return 1
    return status


def _discard_stdout() -> None:
    """Point stdout at the null device: its reader is gone, and exit flushes it again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (it is replaced, e.g. in tests)
        pass


def build_parser() -> argparse.ArgumentParser:
    """The ``micropie`` parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="micropie", description="MicroPie, the ultra-micro ASGI web framework."
    )
    parser.add_argument("--version", action="version", version=f"micropie {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_run_command(commands)
    add_routes_command(commands)
    return parser


def import_target(text: str) -> str:
    """Check the ``module:attribute`` form of an app's import string."""
    module, _, attribute = text.partition(":")
    if not module or not attribute:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an import string: write module:attribute, e.g. app:app"
        )
    return text


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def add_run_command(commands: Subcommands) -> None:
    """``micropie run module:app [--host H] [--port P] [--reload | --workers N] [--debug]``
    ``[--timeout-graceful-shutdown S] [--root-path PATH] [--http PROTOCOL]``."""
    run = commands.add_parser(
        "run",
        help="serve an app with uvicorn",
        description="Serve an app with uvicorn, importing it from the current directory.",
    )
    run.add_argument("app", type=import_target, metavar="MODULE:APP", help="e.g. app:app")
    run.add_argument("--host", help=f"address to bind (default: $HOST or {DEFAULT_HOST})")
    run.add_argument("--port", type=int, help=f"port to bind (default: $PORT or {DEFAULT_PORT})")
    processes = run.add_mutually_exclusive_group()
    processes.add_argument(
        "--reload", action="store_true", help="restart when a file under this directory changes"
    )
    processes.add_argument(
        "--workers",
        type=positive_int,
        help="number of worker processes (default: $WEB_CONCURRENCY or 1)",
    )
    run.add_argument("--debug", action="store_true", help="show tracebacks on the error page")
    run.add_argument(
        "--timeout-graceful-shutdown",
        type=positive_int,
        default=GRACEFUL_SHUTDOWN,
        metavar="SECONDS",
        help="on SIGTERM/Ctrl+C, cancel requests and streams still open after this long "
        f"(default: {GRACEFUL_SHUTDOWN})",
    )
    run.add_argument(
        "--root-path",
        default="",
        metavar="PATH",
        help="the path prefix a proxy serves the app under and takes off (e.g. /myapp): "
        "links and redirects carry it",
    )
    run.add_argument(
        "--http",
        metavar="PROTOCOL",
        help="uvicorn's HTTP protocol: auto, h11, httptools or module:Class (default: "
        "httptools with a bound on request heads, 431 past 64 KiB and 408 past 10 s: "
        f"{HEAD_LIMITED_HTTP})",
    )
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Serve ``args.app`` until interrupted."""
    try:
        host, port = server_address(args.host, args.port)
        workers = worker_count(args.workers, reload=args.reload)
    except ValueError as exc:
        print(f"micropie run: {exc}", file=sys.stderr)
        return 2
    # Like ``python -m uvicorn``: the app's module is found from the current directory.
    sys.path.insert(0, os.getcwd())
    try:
        serve(
            args.app,
            host=host,
            port=port,
            debug=args.debug,
            reload=args.reload,
            workers=workers,
            timeout_graceful_shutdown=args.timeout_graceful_shutdown,
            http=args.http,
            root_path=args.root_path,
        )
    except MissingDependencyError as exc:
        print(f"micropie run: {exc}", file=sys.stderr)
        return 1
    return 0


def add_routes_command(commands: Subcommands) -> None:
    """``micropie routes module:app``: methods, path template, handler and source per route."""
    routes = commands.add_parser(
        "routes",
        help="print an app's route table",
        description="Print the route table of an app imported from the current directory: "
        "methods, path template, handler and where it is defined, in matching order.",
    )
    routes.add_argument("app", type=import_target, metavar="MODULE:APP", help="e.g. app:app")
    routes.set_defaults(handler=routes_command)


def routes_command(args: argparse.Namespace) -> int:
    """Print the table of ``args.app``'s routes."""
    sys.path.insert(0, os.getcwd())
    try:
        app = load_app(args.app)
    except (ImportError, AttributeError) as exc:
        print(f"micropie routes: cannot load {args.app}: {exc}", file=sys.stderr)
        return 1
    table = getattr(app, "routes", None)
    if not isinstance(table, list):
        print(f"micropie routes: {args.app} has no route table", file=sys.stderr)
        return 1
    rows = [("METHODS", "PATH", "HANDLER", "SOURCE"), *route_rows(table)]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]).rstrip())
    return 0


def load_app(target: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted)."""
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def route_rows(routes: Sequence[Any], prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """Table rows for ``routes``; a mount's own routes follow it, under its path."""
    from starlette.routing import Mount

    for route in routes:
        if isinstance(route, Mount):
            target = getattr(route, "_base_app", route.app)
            path = prefix + route.path
            yield "MOUNT", path or "/", _qualified_name(target), _source(type(target))
            inner = route.routes
            if isinstance(inner, list):
                yield from route_rows(inner, path)
        else:
            methods, path, handler, source = route_row(route)
            yield methods, prefix + path, handler, source


def route_row(route: Any) -> tuple[str, str, str, str]:
    """One table row: methods, path, handler and source location of a Starlette route."""
    from starlette.routing import WebSocketRoute

    endpoint = getattr(route, "endpoint", None)
    if isinstance(route, WebSocketRoute):
        methods = "WS"
    else:
        allowed = set(getattr(route, "methods", None) or ())
        if "GET" in allowed:
            allowed.discard("HEAD")
        methods = ", ".join(sorted(allowed)) if allowed else "ANY"
    plan = getattr(route, "plan", None)
    if isinstance(route, HandlerRoute | HandlerWebSocketRoute) and plan is not None:
        path = path_outline(route.key, plan)  # optional segments in brackets
    else:
        path = getattr(route, "path", "")
    return methods, path, _qualified_name(endpoint), _source(endpoint)


def _qualified_name(target: Any) -> str:
    function = inspect.unwrap(getattr(target, "__func__", target))
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return str(name)


def _source(target: Any) -> str:
    """``file:line`` of ``target``'s definition (relative to the current directory), or ``-``."""
    function = inspect.unwrap(getattr(target, "__func__", target))
    try:
        path = inspect.getsourcefile(function)
        _, line = inspect.getsourcelines(function)
    except (TypeError, OSError):
        return "-"
    if path is None:
        return "-"
    relative = os.path.relpath(path)
    return f"{path if relative.startswith('..') else relative}:{line}"
