"""Shared pytest set-up: repeatable property tests, the examples' data files in a
temporary directory, a TestClient factory and a real uvicorn server runner."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from hypothesis import HealthCheck, settings
from sentry_sdk.transport import Transport
from starlette.testclient import TestClient

from tests.support import RedisServer, UvicornServer, free_port, run_uvicorn, tls_certificates

ClientFactory = Callable[..., TestClient]

# Property tests: ``make test`` and CI run the same examples every time (derandomized, no
# example database replaying an old failure); ``make fuzz`` (HYPOTHESIS_PROFILE=fuzz)
# draws fresh random examples, FUZZ_EXAMPLES of them per test.
_PROPERTY_TESTS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "repeatable", _PROPERTY_TESTS, max_examples=200, derandomize=True, database=None
)
settings.register_profile(
    "fuzz",
    _PROPERTY_TESTS,
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

#: Environment variables naming the examples' data files (read when an example is imported).
EXAMPLE_DATA = {
    "PASTEBIN_DB": "pastebin.sqlite3",
    "NOTES_DB": "notes.sqlite3",
    "UPLOAD_DIR": "uploads",
}


def pytest_configure(config: pytest.Config) -> None:
    """Point the examples' data files at a temporary directory, never the real ones
    (``make run`` keeps its pastes and notes); servers the tests start inherit it."""
    directory = Path(tempfile.mkdtemp(prefix="micropie-tests-"))
    config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
    for name, filename in EXAMPLE_DATA.items():
        os.environ[name] = str(directory / filename)


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


@pytest.fixture
def tls_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` serving TLS only (``rediss://``), with a CA and certificate made
    for the test; its ``url`` names the CA file, as a client's URL must."""
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        pytest.skip("redis-server and openssl are needed (apt-get install redis-server openssl)")
    server = RedisServer(free_port(), tls_dir=tls_certificates(tmp_path_factory.mktemp("tls")))
    try:
        server.start()
    except RuntimeError:
        pytest.skip("this redis-server was built without TLS")
    try:
        yield server
    finally:
        server.stop()


class MemoryTransport(Transport):
    """Keeps what the SDK would send, instead of sending it."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == kind
        ]


@pytest.fixture
def sentry() -> Iterator[MemoryTransport]:
    """sentry-sdk set up with performance tracing and :class:`MemoryTransport` (no
    integrations of its own); the transport, to read what it would have sent."""
    transport = MemoryTransport()
    sentry_sdk.init(
        dsn="https://public@sentry.invalid/1",
        transport=transport,
        traces_sample_rate=1.0,
        default_integrations=False,
        auto_enabling_integrations=False,
    )
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
