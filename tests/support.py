"""Helpers for tests that need a real server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``check`` every 50 ms until it is true (``True``) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def server_state(server: UvicornServer) -> dict[str, Any]:
    """The JSON a test app's ``/state`` handler reports."""
    result: dict[str, Any] = httpx.get(server.url + "/state").json()
    return result


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class UvicornServer:
    """A uvicorn subprocess serving one app on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    stop_signal: int = signal.SIGINT  # gunicorn shuts down gracefully on SIGTERM

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_uvicorn(
    target: str,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 20.0,
) -> UvicornServer:
    """Start ``uvicorn target`` and wait until it answers HTTP.

    ``target`` is an import string such as ``"examples.hello.app:app"``; ``env`` adds
    environment variables (the test can pass configuration this way).
    """
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target,
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
        *(args or []),
    ]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), **(env or {})}
    return start_server(command, port, env=env, cwd=cwd, timeout=timeout)


def start_server(
    command: list[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 20.0,
    probe: str = "/",
    stop_signal: int = signal.SIGINT,
) -> UvicornServer:
    """Start ``command`` (a server that will listen on 127.0.0.1:``port``) and wait until
    it answers HTTP at ``probe`` (any status); its output goes to a log file
    (``server.log()``); :meth:`UvicornServer.stop` sends it ``stop_signal``."""
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"micropie-uvicorn-{port}.log"
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = UvicornServer(process, port, log_path, stop_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            httpx.get(server.url + probe, timeout=1.0)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start within {timeout}s:\n{server.log()}")


@dataclass
class RedisServer:
    """A throwaway ``redis-server`` on 127.0.0.1; it can be restarted.

    Without ``data_dir`` nothing persists (a restart empties it); with one, it keeps an
    append-only file there, so its data outlives a restart as a production Redis's does.
    """

    port: int
    process: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    options: tuple[str, ...] = ()  # more redis-server options, e.g. ("--rename-command", ...)
    tls_dir: Path | None = None  # serve TLS only, with the files of tls_certificates()

    @property
    def url(self) -> str:
        if self.tls_dir is not None:  # redis-py verifies the server against this CA
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls_dir / 'ca.crt'}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (on the same port as before) and wait until it answers PING."""
        import redis

        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        if self.tls_dir is not None:
            command = [
                "redis-server", "--port", "0", "--tls-port", str(self.port),
                "--bind", "127.0.0.1", "--tls-auth-clients", "no",
                "--tls-cert-file", str(self.tls_dir / "server.crt"),
                "--tls-key-file", str(self.tls_dir / "server.key"),
                "--tls-ca-cert-file", str(self.tls_dir / "ca.crt"),
            ]  # fmt: skip
        if self.data_dir is None:
            command += ["--save", "", "--appendonly", "no"]
        else:
            command += ["--save", "", "--appendonly", "yes", "--dir", str(self.data_dir)]
        command += self.options
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        probe = redis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    probe.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop the server and wait until it has exited (its port is closed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """Stall the server (``SIGSTOP``): connections stay open, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server answer again (``SIGCONT``)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def tls_certificates(directory: Path) -> Path:
    """Write a throwaway CA (``ca.crt``) and a certificate for 127.0.0.1 signed by it
    (``server.crt``, ``server.key``) into ``directory`` with ``openssl``; the directory."""
    ca_key, ca_crt = str(directory / "ca.key"), str(directory / "ca.crt")
    key, csr = str(directory / "server.key"), str(directory / "server.csr")
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    new_key = ["-newkey", "rsa:2048", "-nodes", "-days", "2"]
    for command in (
        ["req", "-x509", *new_key, "-subj", "/CN=test-ca", "-keyout", ca_key, "-out", ca_crt],
        ["req", *new_key, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr],
        ["x509", "-req", "-days", "2", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
         "-CAcreateserial", "-extfile", str(extensions), "-out", str(directory / "server.crt")],
    ):  # fmt: skip
        subprocess.run(["openssl", *command], check=True, capture_output=True, timeout=60)
    return directory


def count_on_every_worker(server: UvicornServer, workers: int = 2) -> None:
    """``GET /count`` of ``tests.apps.session_counter`` on a new connection each time,
    keeping the cookie, until ``workers`` worker processes have answered: each answer
    must be the next count (the session followed the visitor from worker to worker)."""
    cookies, pids, visit = httpx.Cookies(), set(), 0
    while len(pids) < workers:
        assert visit < 200, f"{visit} connections all went to workers {pids}"
        visit += 1
        response = httpx.get(server.url + "/count", cookies=cookies, timeout=30)
        cookies.update(response.cookies)
        count, pid = response.text.split()
        assert count == str(visit)
        pids.add(pid)


def spread_over_workers(
    server: UvicornServer, open_client: Callable[[], tuple[T, int]], count: int
) -> list[T]:
    """Open clients until there are ``count`` and every worker of ``server`` holds one.

    ``open_client`` connects one client and returns it with its local TCP port; the
    kernel picks the worker for each connection, so more than ``count`` may be needed.
    """
    clients: list[T] = []
    workers: set[int] = set()
    expected = worker_pids(server)
    while len(clients) < count or workers != expected:
        assert len(clients) < 60, f"60 connections, but only workers {workers} of {expected}"
        client, port = open_client()
        clients.append(client)
        workers.add(worker_of(server, port))
    return clients


def worker_pids(server: UvicornServer) -> set[int]:
    """The pids of a ``uvicorn --workers N`` server's worker processes (Linux ``/proc``)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return {int(pid) for pid in children if b"spawn_main" in _cmdline(int(pid))}


def worker_of(server: UvicornServer, client_port: int) -> int:
    """The pid of the worker holding the TCP connection from 127.0.0.1:``client_port``.

    Found through ``/proc``: the kernel's socket table gives the inode of the server's
    end of the connection, and the worker whose file descriptors include it owns it.
    """
    inode = _server_socket_inode(server.port, client_port)
    for pid in worker_pids(server):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue  # closed meanwhile
    raise LookupError(f"no worker holds the connection from port {client_port}")


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _server_socket_inode(server_port: int, client_port: int) -> str:
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    raise LookupError(f"no connection from port {client_port} to port {server_port}")
