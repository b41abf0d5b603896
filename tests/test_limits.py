"""Body limits (SPEC §4, §8): size, form fields, parts, timeout, per-handler overrides."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import httpx
import pytest

from micropie import App, limits
from micropie.body import DEFAULT_LIMITS
from micropie.uploads import FILE_BUFFER_BYTES
from tests import multipart_client as mc
from tests.conftest import ClientFactory
from tests.support import UvicornServer, server_state

MiB = 1024 * 1024
TOO_LARGE = "413 Payload Too Large"


class Limited(App):
    calls = 0

    async def default(self, file=None, **fields):
        Limited.calls += 1
        return "ok" if file is None else str(len(await file.read()))

    @limits(max_body_size=8 * MiB)
    async def raised(self, file):
        return str(len(await file.read()))

    @limits(max_body_size=None)
    async def unlimited(self, file):
        return str(len(await file.read()))

    @limits(max_form_field_size=10, max_form_parts=2)
    async def strict(self, **fields):
        return "ok"


def limited_client(client_factory: ClientFactory):
    Limited.calls = 0
    return client_factory(Limited(max_body_size=MiB))


def test_defaults_match_the_spec() -> None:
    assert DEFAULT_LIMITS.max_body_size == 16 * MiB
    assert DEFAULT_LIMITS.max_form_field_size == MiB
    assert DEFAULT_LIMITS.max_form_parts == 1000
    assert DEFAULT_LIMITS.body_timeout == 5.0
    assert DEFAULT_LIMITS.max_buffer_size == 16 * MiB


class Buffered(App):
    """Raises the body limit to 1 GiB, as an upload route would; the buffer stays bounded."""

    calls = 0

    @limits(max_body_size=2**30, max_form_parts=None, max_buffer_size=4 * MiB)
    async def take(self, **fields):
        Buffered.calls += 1
        return str(len(fields))

    @limits(max_body_size=2**30, max_form_parts=None)
    async def default(self, **fields):
        Buffered.calls += 1
        return str(len(fields))


def many_fields(count: int, size: int) -> dict[str, str]:
    return {f"t{index}": "x" * size for index in range(count)}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"files": {name: (None, value) for name, value in many_fields(5, MiB).items()}},
        {"data": many_fields(5, MiB)},
        {"json": many_fields(5, MiB)},
    ],
    ids=["multipart-text", "urlencoded", "json"],
)
def test_text_past_the_buffer_limit_is_413(client_factory: ClientFactory, kwargs) -> None:
    Buffered.calls = 0
    response = client_factory(Buffered()).post("/take", **kwargs)
    assert (response.status_code, response.text) == (413, TOO_LARGE)
    assert Buffered.calls == 0


def test_text_within_the_buffer_limit_is_accepted(client_factory: ClientFactory) -> None:
    client = client_factory(Buffered())
    assert client.post("/take", data=many_fields(3, MiB)).text == "3"
    assert client.post("/take", files={"a": (None, "x" * MiB)}).text == "1"


def test_default_buffer_limit_applies_when_max_body_size_is_raised(
    client_factory: ClientFactory,
) -> None:
    client = client_factory(Buffered())
    assert client.post("/default", json=many_fields(15, MiB)).text == "15"
    response = client.post("/default", json=many_fields(17, MiB))
    assert (response.status_code, response.text) == (413, TOO_LARGE)


def test_announced_json_past_the_buffer_limit_is_refused_before_reading(
    client_factory: ClientFactory,
) -> None:
    async def never() -> dict[str, object]:
        raise AssertionError("the body must not be read")

    from tests.security.raw import call

    headers = [(b"content-type", b"application/json"), (b"content-length", b"5000000")]
    answer = call(Buffered(), b"/take", method="POST", headers=headers, receive=never)
    assert (answer.status, answer.text) == (413, TOO_LARGE)


def test_unknown_limit_name_is_refused() -> None:
    with pytest.raises(TypeError, match="max_buffer_size"):
        limits(max_buffer=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"files": {"file": ("f", b"x" * (MiB + 1))}},
        {"data": {"field": "x" * (MiB + 1)}},
        {"json": {"field": "x" * (MiB + 1)}},
        {"content": b"x" * (MiB + 1), "headers": {"content-type": "text/plain"}},
    ],
    ids=["multipart", "urlencoded", "json", "any-body"],
)
def test_body_over_max_is_413_before_the_handler(client_factory: ClientFactory, kwargs) -> None:
    response = limited_client(client_factory).post("/default", **kwargs)
    assert response.status_code == 413
    assert response.text == TOO_LARGE
    assert Limited.calls == 0


def test_handler_limit_overrides_app_limit(client_factory: ClientFactory) -> None:
    client = limited_client(client_factory)
    files = {"file": ("f", b"x" * (3 * MiB))}
    assert client.post("/default", files=files).status_code == 413
    assert client.post("/raised", files=files).text == str(3 * MiB)
    assert client.post("/raised", files={"file": ("f", b"x" * (9 * MiB))}).status_code == 413
    assert client.post("/unlimited", files={"file": ("f", b"x" * (9 * MiB))}).text == str(9 * MiB)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"files": {"a": (None, "x" * 11)}},
        {"data": {"a": "x" * 11}},
    ],
    ids=["multipart", "urlencoded"],
)
def test_form_field_over_max_is_413(client_factory: ClientFactory, kwargs) -> None:
    response = limited_client(client_factory).post("/strict", **kwargs)
    assert response.status_code == 413
    assert response.text == TOO_LARGE


def test_field_limit_does_not_apply_to_files(client_factory: ClientFactory) -> None:
    class Files(App):
        @limits(max_form_field_size=10)
        async def upload(self, file):
            return str(len(await file.read()))

    response = client_factory(Files()).post("/upload", files={"file": ("f", b"x" * 1000)})
    assert response.text == "1000"


@pytest.mark.parametrize("kind", ["files", "data"])
def test_too_many_parts_is_413(client_factory: ClientFactory, kind: str) -> None:
    def form(*names: str) -> dict[str, object]:
        if kind == "files":
            return {name: (None, "1") for name in names}
        return {name: "1" for name in names}

    client = limited_client(client_factory)
    assert client.post("/strict", **{kind: form("a", "b")}).text == "ok"
    response = client.post("/strict", **{kind: form("a", "b", "c")})
    assert (response.status_code, response.text) == (413, TOO_LARGE)


def test_invalid_content_length_is_400(client_factory: ClientFactory) -> None:
    response = limited_client(client_factory).post(
        "/default", content=b"a=1", headers={"content-type": mc.CONTENT_TYPE, "content-length": "x"}
    )
    assert response.status_code == 400


# -- real server: limits while the body streams, slow clients ------------------------------


@pytest.fixture
def uploads_server(uvicorn_server: Callable[..., UvicornServer]) -> UvicornServer:
    return uvicorn_server("tests.apps.uploads_app:app")


def upload_body(size: int) -> list[bytes]:
    return [mc.file_head("file", "f.bin"), *mc.pattern_chunks(size), mc.tail()]


@pytest.mark.server
def test_announced_length_over_limit_is_refused_before_the_body(
    uploads_server: UvicornServer,
) -> None:
    status, answer = mc.post(uploads_server.port, "/hash", [], content_length=2**31)
    assert (status, answer.decode()) == (413, TOO_LARGE)


@pytest.mark.server
def test_chunked_body_over_limit_is_413(uploads_server: UvicornServer) -> None:
    status, answer = mc.post(uploads_server.port, "/small", upload_body(4 * MiB))
    assert (status, answer.decode()) == (413, TOO_LARGE)


@pytest.mark.server
def test_limit_reached_while_the_handler_reads(uploads_server: UvicornServer) -> None:
    # /medium allows 4 MiB: the handler starts once a 1 MiB buffer is full, then the
    # body passes the limit; the reader gets the error and the client a 413.
    assert 4 * MiB > FILE_BUFFER_BYTES
    status, answer = mc.post(uploads_server.port, "/medium", upload_body(8 * MiB))
    assert (status, answer.decode()) == (413, TOO_LARGE)
    assert httpx.get(uploads_server.url + "/state").json()["errors"] == [TOO_LARGE]


@pytest.mark.server
def test_many_file_parts_wait_for_the_handler_within_the_buffer(
    uploads_server: UvicornServer,
) -> None:
    count, size = 40, FILE_BUFFER_BYTES - 1000  # each part fits its own file buffer
    digest = hashlib.sha256()

    def body():
        for index in range(count):
            if index:
                yield b"\r\n"
            yield mc.file_head(f"f{index}", f"{index}.bin")
            for chunk in mc.pattern_chunks(size):
                digest.update(chunk)
                yield chunk
        yield mc.tail()

    status, answer = mc.post(uploads_server.port, f"/many?count={count}", body(), timeout=60)
    assert (status, json.loads(answer)) == (200, {"sha256": digest.hexdigest(), "files": count})
    # While the handler paused, the parser held at most the 4 MiB buffer (plus one part).
    assert server_state(uploads_server)["parsed_while_paused"] < 4 * MiB + 2 * FILE_BUFFER_BYTES


@pytest.mark.server
def test_slow_client_within_timeout_succeeds(uploads_server: UvicornServer) -> None:
    chunks = list(mc.pattern_chunks(2 * MiB, chunk=256 * 1024))
    body = [mc.file_head("file", "slow.bin"), *mc.paced(chunks, 0.2), mc.tail()]
    status, answer = mc.post(uploads_server.port, "/hash", body)
    assert status == 200
    assert json.loads(answer)["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()


@pytest.mark.server
@pytest.mark.parametrize("stall_after", [0, 4 * MiB], ids=["before-handler", "while-reading"])
def test_stalled_client_gets_408(uploads_server: UvicornServer, stall_after: int) -> None:
    def body():
        yield mc.file_head("file", "stall.bin")
        yield from mc.pattern_chunks(stall_after)
        yield from mc.paced([b"x"], 2.0)  # body_timeout is 1 s
        yield mc.tail()

    status, answer = mc.post(uploads_server.port, "/hash", body())
    assert (status, answer.decode()) == (408, "408 Request Timeout: Failed to receive body")
