"""Shared pytest fixtures: a TestClient factory and a real uvicorn server runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support import UvicornServer, run_uvicorn

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
