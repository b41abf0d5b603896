"""Serving an app with uvicorn: what ``App.run()`` and ``micropie run`` share.

The address comes from the arguments, else the ``HOST`` / ``PORT`` environment variables,
else ``127.0.0.1:8000``; the number of worker processes from the arguments, else
``WEB_CONCURRENCY`` (as uvicorn's own command line reads it), else one. Reloading and
several workers make uvicorn import the app afresh in child processes, so they need the
app as an import string (``"module:attribute"``); :func:`import_string` finds it for an
app held in a module-level variable. ``debug`` reaches those children through the
``MICROPIE_DEBUG`` environment variable.

Shutdown waits at most :data:`GRACEFUL_SHUTDOWN` seconds for open connections (uvicorn
alone waits for ever, and an event stream or a long download never ends by itself),
then the lifespan shutdown handlers run.

When httptools is installed, requests are read by :data:`HEAD_LIMITED_HTTP`: uvicorn's
httptools protocol with bounds on the request head (431 past 64 KiB, 408 when it takes
over 10 s; :mod:`micropie.head_limit`). ``http="httptools"`` (or ``"h11"``, ``"auto"``)
chooses uvicorn's own instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._optional import require

__all__ = [
    "DEBUG_ENV",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "GRACEFUL_SHUTDOWN",
    "HEAD_LIMITED_HTTP",
    "STARTUP_FAILURE",
    "WORKERS_ENV",
    "debug_from_environ",
    "default_http",
    "import_string",
    "keep_existing_loggers",
    "serve",
    "server_address",
    "serve_workers",
    "worker_count",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Seconds a stopping server waits for open requests and streams before cancelling them
#: (uvicorn's ``timeout_graceful_shutdown``), so that the shutdown handlers always run.
GRACEFUL_SHUTDOWN = 10
#: The HTTP protocol ``micropie run`` and ``App.run()`` use by default (with httptools).
HEAD_LIMITED_HTTP = "micropie.head_limit:HttpToolsProtocol"
#: The exit status of a worker that failed to start, and then of the server (uvicorn's and
#: gunicorn's).
STARTUP_FAILURE = 3
#: The number of worker processes a platform asks for (uvicorn's ``--workers`` default).
WORKERS_ENV = "WEB_CONCURRENCY"
#: Set to ``1`` to turn on the debug error page of every ``App`` created afterwards.
DEBUG_ENV = "MICROPIE_DEBUG"


def server_address(
    host: str | None, port: int | None, default_port: int = DEFAULT_PORT
) -> tuple[str, int]:
    """``(host, port)``: the given values, else ``$HOST`` / ``$PORT``, else the defaults."""
    if host is None:
        host = os.environ.get("HOST") or DEFAULT_HOST
    if port is None:
        text = os.environ.get("PORT") or str(default_port)
        try:
            port = int(text)
        except ValueError:
            raise ValueError(f"PORT must be a port number, not {text!r}") from None
    return host, port


def worker_count(workers: int | None, *, reload: bool = False) -> int | None:
    """``workers``, else ``$WEB_CONCURRENCY`` when set, else ``None`` (one process).

    Reloading serves one process: then ``$WEB_CONCURRENCY`` gives ``1`` (which keeps
    uvicorn from reading it and warning that it ignores it). Set but empty (a compose
    file's ``WEB_CONCURRENCY=${WEB_CONCURRENCY}``), it counts as unset, as ``PORT`` does:
    ``1``, which keeps uvicorn from reading it (it fails on ``int('')``).
    """
    text = os.environ.get(WORKERS_ENV)
    if workers is not None or text is None:
        return workers
    if reload or not text:
        return 1
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{WORKERS_ENV} must be a whole number of at least 1, not {text!r}")
    return count


def debug_from_environ() -> bool:
    """Whether ``$MICROPIE_DEBUG`` asks for the debug error page."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def default_http() -> str:
    """The HTTP protocol served unless another is asked for: :data:`HEAD_LIMITED_HTTP`
    when httptools is installed, else ``"auto"`` (uvicorn's h11, which bounds a head's
    size itself)."""
    return HEAD_LIMITED_HTTP if importlib.util.find_spec("httptools") else "auto"


def needs_import_string(options: Mapping[str, Any]) -> bool:
    """Whether uvicorn will import the app in child processes (reload, several workers)."""
    return bool(options.get("reload")) or (options.get("workers") or 1) > 1


def serve(app: Any, *, host: str, port: int, debug: bool = False, **options: Any) -> None:
    """Run uvicorn on ``app`` (an ASGI app, or an import string for reload/workers).

    Shutdown waits for open connections at most :data:`GRACEFUL_SHUTDOWN` seconds unless
    ``timeout_graceful_shutdown`` says otherwise (``None``: for ever). Requests are read
    by :func:`default_http` unless ``http`` names another protocol.
    """
    uvicorn = require("uvicorn", feature="serving an app", package="uvicorn")
    if debug:
        os.environ[DEBUG_ENV] = "1"
    options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN)
    if options.get("log_config") is not None:
        options["log_config"] = keep_existing_loggers(options["log_config"])
    if options.get("http") is None:
        options["http"] = default_http()
    if isinstance(app, str) and needs_import_string(options) and not options.get("reload"):
        serve_workers(uvicorn.Config(app, host=host, port=port, **options))
    else:
        uvicorn.run(app, host=host, port=port, **options)


def serve_workers(config: Any) -> None:
    """Run uvicorn's worker supervisor on ``config``; exit 3 when a worker failed to start.

    A worker whose startup handlers raise exits with uvicorn's startup-failure status (3)
    and the supervisor stops, but ``uvicorn.run`` then returns as after Ctrl+C: the
    process would exit 0, and a restart policy on failure (Docker's ``on-failure``,
    systemd's ``Restart=on-failure``) would take the broken release for a clean stop.
    """
    from uvicorn.supervisors import Multiprocess

    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    try:
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.run()
    finally:
        if config.uds and os.path.exists(config.uds):
            os.remove(config.uds)
    if any(worker.process.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
        raise SystemExit(STARTUP_FAILURE)


def keep_existing_loggers(log_config: Any) -> Any:
    """uvicorn's ``log_config`` (a dict, or a ``.json`` / ``.yaml`` / ``.ini`` file) with
    ``disable_existing_loggers`` false unless it says otherwise.

    ``logging.config.dictConfig`` disables every existing logger the configuration does
    not name, and ``App.run()`` configures logging after the script imported micropie:
    its loggers (handler errors, store outages) would say nothing. uvicorn reads ``.ini``
    files this way already.
    """
    if isinstance(log_config, str) and log_config.endswith(".json"):
        with open(log_config, encoding="utf-8") as file:
            log_config = json.load(file)
    elif isinstance(log_config, str) and log_config.endswith((".yaml", ".yml")):
        yaml = require("yaml", feature="a YAML log_config", package="pyyaml")
        with open(log_config, encoding="utf-8") as file:
            log_config = yaml.safe_load(file)
    if isinstance(log_config, dict):
        return {"disable_existing_loggers": False, **log_config}
    return log_config


def import_string(app: object, namespace: Mapping[str, Any]) -> str | None:
    """``"module:name"`` for the module-level variable of ``namespace`` that holds ``app``."""
    module = _module_name(namespace)
    if module is None:
        return None
    for name, value in namespace.items():
        if value is app and not name.startswith("__"):
            return f"{module}:{name}"
    return None


def _module_name(namespace: Mapping[str, Any]) -> str | None:
    name = namespace.get("__name__")
    if name not in ("__main__", "__mp_main__"):
        return name if isinstance(name, str) else None
    spec = namespace.get("__spec__")
    if spec is not None:  # python -m package.module
        module: str = spec.name
        return module
    path = namespace.get("__file__")  # python app.py: its directory is sys.path[0]
    return Path(path).stem if isinstance(path, str) else None
