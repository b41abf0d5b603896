"""Shared pytest fixtures: a TestClient factory and a real uvicorn server runner."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support import RedisServer, UvicornServer, free_port, run_uvicorn

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_factory() -> Iterator[ClientFactory]:
    """Build ``TestClient``s for apps defined inside a test; closed afterwards."""
    clients: list[TestClient] = []

    def make(app: Any, **kwargs: Any) -> TestClient:
        client = TestClient(app, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def uvicorn_server() -> Iterator[Callable[..., UvicornServer]]:
    """Start ``uvicorn <target>`` subprocesses on free 127.0.0.1 ports; stopped afterwards."""
    servers: list[UvicornServer] = []

    def start(target: str, **kwargs: Any) -> UvicornServer:
        server = run_uvicorn(target, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The URL of a throwaway ``redis-server`` shared by a test module."""
    for server in _redis_server():
        yield server.url


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own, which the test may stop and start again."""
    yield from _redis_server()
