"""Multipart uploads (SPEC §8): the uploaded file object, binding, errors, safe saving."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from micropie import App, MultipartFileError, UploadedFile, limits
from micropie.uploads import FILE_BUFFER_BYTES, safe_filename
from tests import multipart_client as mc
from tests.conftest import ClientFactory
from tests.security.raw import body_receive, call, http_scope
from tests.support import UvicornServer, server_state, wait_until

BOUNDARY = "testboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int) -> bytes:
    return os.urandom(size)


def raw_part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n"
    return head.encode() + data + b"\r\n"


def raw_body(*parts: bytes, end: bool = True) -> bytes:
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


NAMELESS_PART = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n"


class HashApp(App):
    async def upload(self, file: UploadedFile, title: str = ""):
        digest = hashlib.sha256()
        async for chunk in file:
            digest.update(chunk)
        return {
            "title": title,
            "filename": file.filename,
            "raw_filename": file.raw_filename,
            "content_type": file.content_type,
            "sha256": digest.hexdigest(),
            "size": file.size,
        }


def test_upload_streams_file_with_integrity(client_factory: ClientFactory) -> None:
    data = payload(3 * FILE_BUFFER_BYTES + 123)
    files = {"file": ("report.bin", data, "application/x-test")}
    response = client_factory(HashApp()).post("/upload", files=files, data={"title": "T"})
    assert response.status_code == 200
    assert response.json() == {
        "title": "T",
        "filename": "report.bin",
        "raw_filename": "report.bin",
        "content_type": "application/x-test",
        "sha256": sha256(data),
        "size": len(data),
    }


def test_file_without_content_type_is_octet_stream(client_factory: ClientFactory) -> None:
    body = raw_body(raw_part("file", b"abc", filename="a.txt"))
    response = client_factory(HashApp()).post(
        "/upload", content=body, headers={"content-type": MULTIPART}
    )
    assert response.json()["content_type"] == "application/octet-stream"


def test_read_in_pieces(client_factory: ClientFactory) -> None:
    data = payload(FILE_BUFFER_BYTES * 2 + 7)

    class Pieces(App):
        async def upload(self, file):
            first = await file.read(10)
            middle = await file.read(FILE_BUFFER_BYTES)
            rest = await file.read()
            again = await file.read()
            sizes = [len(first), len(middle), len(again)]
            return {"sizes": sizes, "sha": sha256(first + middle + rest)}

    response = client_factory(Pieces()).post("/upload", files={"file": ("x", data)})
    assert response.json() == {"sizes": [10, FILE_BUFFER_BYTES, 0], "sha": sha256(data)}


def test_micropie_item_access_and_content_queue(client_factory: ClientFactory) -> None:
    data = payload(FILE_BUFFER_BYTES + 99)

    class Compat(App):
        async def upload(self):
            file = self.request.files["file"]
            queue: asyncio.Queue[bytes | None] = file["content"]
            chunks = []
            while (chunk := await queue.get()) is not None:
                chunks.append(chunk)
            return [file["filename"], file["content_type"], sha256(b"".join(chunks))]

    files = {"file": ("c.txt", data, "text/plain")}
    response = client_factory(Compat()).post("/upload", files=files)
    assert response.json() == ["c.txt", "text/plain", sha256(data)]


def test_unknown_item_raises_key_error() -> None:
    file = UploadedFile("f", "a.txt", "text/plain", {})
    assert file.get("filename") == "a.txt"
    assert file.get("nope", 1) == 1
    assert "content" in file
    with pytest.raises(KeyError):
        file["nope"]


def test_text_fields_after_small_file_are_bound(client_factory: ClientFactory) -> None:
    class Form(App):
        async def upload(self, file, note: str, count: int):
            return [(await file.read()).decode(), note, count]

    body = raw_body(
        raw_part("file", b"hello", filename="h.txt"),
        raw_part("note", "caf\u00e9".encode()),
        raw_part("count", b"3"),
    )
    response = client_factory(Form()).post(
        "/upload", content=body, headers={"content-type": MULTIPART}
    )
    assert response.json() == ["hello", "caf\u00e9", 3]


def test_several_files_and_repeated_fields(client_factory: ClientFactory) -> None:
    class Many(App):
        async def upload(self, a, b, tag: list[str]):
            return [(await a.read()).decode(), (await b.read()).decode(), tag]

    files = [("a", ("a.txt", b"AAA")), ("b", ("b.txt", b"BBB"))]
    data = {"tag": ["x", "y"]}
    response = client_factory(Many()).post("/upload", files=files, data=data)
    assert response.json() == ["AAA", "BBB", ["x", "y"]]


def test_repeated_file_name_binds_the_first(client_factory: ClientFactory) -> None:
    class Repeat(App):
        async def upload(self, f):
            return (await f.read()).decode()

    files = [("f", ("1.txt", b"one")), ("f", ("2.txt", b"two"))]
    assert client_factory(Repeat()).post("/upload", files=files).text == "one"


def test_missing_file_uses_default(client_factory: ClientFactory) -> None:
    class Optional(App):
        async def upload(self, note: str, file=None):
            return f"{note} {file is None}"

    response = client_factory(Optional()).post("/upload", files={"note": (None, "n")})
    assert response.text == "n True"


def test_missing_required_file_is_400(client_factory: ClientFactory) -> None:
    response = client_factory(HashApp()).post("/upload", files={"title": (None, "t")})
    assert response.status_code == 400
    assert response.text == "400 Bad Request: Missing required parameter 'file'"


class FileOnly(App):
    async def upload(self, file: UploadedFile, name: str = "-"):
        return {"type": type(file).__name__, "data": (await file.read()).decode(), "name": name}

    async def maybe(self, file: UploadedFile | None = None):
        return "none" if file is None else (await file.read()).decode()


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/upload?file=x", {}),
        ("/upload?file", {}),
        ("/upload", {"data": {"file": "x"}}),
        ("/upload", {"files": {"file": (None, "x")}}),
        ("/upload", {"json": {"file": "x"}}),
    ],
    ids=["query", "bare-query", "urlencoded", "multipart-text", "json"],
)
def test_file_parameter_never_binds_a_string(
    client_factory: ClientFactory, path: str, kwargs: dict[str, object]
) -> None:
    client = client_factory(FileOnly())
    response = client.post(path, **kwargs)
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Missing required parameter 'file'",
    )
    assert client.post(path.replace("upload", "maybe"), **kwargs).text == "none"


def test_file_parameter_takes_no_path_segment(client_factory: ClientFactory) -> None:
    client = client_factory(FileOnly())
    files = {"file": ("f.txt", b"real")}
    answer = client.post("/upload/bob", files=files).json()
    assert answer == {"type": "UploadedFile", "data": "real", "name": "bob"}
    assert client.post("/maybe/x", files=files).status_code == 404


def test_real_upload_wins_over_query_and_text_field(client_factory: ClientFactory) -> None:
    files = [("file", (None, "text")), ("file", ("f.txt", b"real"))]
    response = client_factory(FileOnly()).post("/upload?file=query", files=files)
    assert response.json() == {"type": "UploadedFile", "data": "real", "name": "-"}


def test_unread_upload_is_drained(client_factory: ClientFactory) -> None:
    class Ignore(App):
        async def upload(self, file):
            return "ignored"

        async def index(self):
            return "next"

    client = client_factory(Ignore())
    data = payload(4 * FILE_BUFFER_BYTES)
    assert client.post("/upload", files={"file": ("big", data)}).text == "ignored"
    assert client.get("/").text == "next"


async def read_via_queue(file: UploadedFile) -> bytes:
    """MicroPie's way: ``file["content"].get()`` until ``None``."""
    queue = file["content"]
    chunks = []
    while (chunk := await queue.get()) is not None:
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("via", ["read", "queue"])
def test_broken_upload_raises_in_reader(client_factory: ClientFactory, via: str) -> None:
    class Reader(App):
        async def upload(self, a: UploadedFile, b: UploadedFile):
            first = await a.read()
            try:
                await (b.read() if via == "read" else read_via_queue(b))
            except MultipartFileError as exc:
                with pytest.raises(MultipartFileError):  # and again on every later read
                    await (b.read(1) if via == "read" else b["content"].get())
                return f"{len(first)} caught: {exc.detail}"
            return "complete"

    # ``a`` fills its buffer, so the handler starts; ``b`` then breaks (no closing boundary).
    big = raw_part("a", b"y" * (2 * FILE_BUFFER_BYTES), filename="a")
    body = raw_body(big, raw_part("b", b"tail", filename="b"), end=False)
    response = client_factory(Reader()).post(
        "/upload", content=body, headers={"content-type": MULTIPART}
    )
    assert response.text == (
        f"{2 * FILE_BUFFER_BYTES} caught: "
        "400 Bad Request: Malformed multipart body: it ends before the closing boundary"
    )


def test_uncaught_upload_error_answers_its_status(client_factory: ClientFactory) -> None:
    body = raw_body(raw_part("file", b"y" * (2 * FILE_BUFFER_BYTES), filename="y"), end=False)
    response = client_factory(HashApp()).post(
        "/upload", content=body, headers={"content-type": MULTIPART}
    )
    assert response.status_code == 400
    assert response.text.startswith("400 Bad Request: Malformed multipart body")


@pytest.mark.parametrize(
    ("content_type", "body", "detail"),
    [
        ("multipart/form-data", raw_body(raw_part("a", b"1")), "Missing boundary"),
        (MULTIPART, b"garbage without boundary", "Malformed multipart body"),
        (MULTIPART, raw_body(raw_part("a", b"1"), end=False), "ends before the closing"),
        (MULTIPART, NAMELESS_PART.encode(), "Multipart part without a name"),
    ],
)
def test_malformed_multipart_is_400(
    client_factory: ClientFactory, content_type: str, body: bytes, detail: str
) -> None:
    response = client_factory(HashApp()).post(
        "/upload", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.text.startswith("400 Bad Request: ")
    assert detail in response.text


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\notes.txt", "notes.txt"),
        ("dir/sub\\x.txt", "x.txt"),
        ("a\x00b\x1f\x7fc.txt", "abc.txt"),
        ("\u202etxt.exe", "txt.exe"),
        ("  spaced.txt  ", "spaced.txt"),
        ("..", ""),
        (".", ""),
        ("/", ""),
        ("", ""),
        ("\u00e9t\u00e9.txt", "\u00e9t\u00e9.txt"),
        ("x" * 300, "x" * 255),
        ("\u00e9" * 200, "\u00e9" * 127),
        ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # one spelling of each name
        ("\uff0e\uff0e\uff0fx.txt", "x.txt"),  # fullwidth ../
        ("\u2025\uff0fx", "x"),  # two-dot leader, fullwidth slash
        ("a\uff3cb\ufe68c.txt", "c.txt"),  # fullwidth and small backslashes
        ("\ufb01le.txt", "file.txt"),
        ("\uff0e\uff0e", ""),
        (".htaccess", "htaccess"),
        ("..env", "env"),
        ("dir/.bashrc", "bashrc"),
        (". .x", "x"),
        ("...", ""),
        ("\uff0ehidden", "hidden"),  # a fullwidth dot
        (".upload-abc123.part", "upload-abc123.part"),  # save()'s temporary names
        ("name.", "name."),
    ],
)
def test_safe_filename(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe


class SaveApp(App):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    async def upload(self, file):
        try:
            path = await file.save(self.directory)
        except (OSError, ValueError) as exc:
            return 409, type(exc).__name__
        return {"path": str(path), "raw": file.raw_filename}


def multipart_file(filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    return raw_body(raw_part("file", data, filename=filename)), {"content-type": MULTIPART}


@pytest.mark.parametrize(
    ("filename", "saved_as"),
    [
        ("../../escape.txt", "escape.txt"),
        ("/etc/cron.d/evil", "evil"),
        ("..\\..\\win.txt", "win.txt"),
        ("..", "upload"),
        ("nul\x00byte.txt", "nulbyte.txt"),
    ],
)
def test_save_to_directory_stays_inside(
    client_factory: ClientFactory, tmp_path: Path, filename: str, saved_as: str
) -> None:
    inside = tmp_path / "uploads"
    inside.mkdir()
    data = payload(FILE_BUFFER_BYTES + 5)
    body, headers = multipart_file(filename, data)
    response = client_factory(SaveApp(inside)).post("/upload", content=body, headers=headers)
    assert response.json() == {"path": str(inside / saved_as), "raw": filename}
    assert [p.name for p in inside.iterdir()] == [saved_as]
    assert sha256((inside / saved_as).read_bytes()) == sha256(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]


def test_save_replaces_a_symlink_without_following_it(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    inside = tmp_path / "uploads"
    inside.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (inside / "link.txt").symlink_to(outside)
    body, headers = multipart_file("link.txt", b"overwrite")
    response = client_factory(SaveApp(inside)).post("/upload", content=body, headers=headers)
    assert response.json()["path"] == str(inside / "link.txt")
    assert outside.read_text() == "keep me"
    assert not (inside / "link.txt").is_symlink()
    assert (inside / "link.txt").read_bytes() == b"overwrite"


def test_save_to_explicit_file_path(client_factory: ClientFactory, tmp_path: Path) -> None:
    target = tmp_path / "chosen.bin"
    body, headers = multipart_file("whatever.txt", b"data")
    response = client_factory(SaveApp(target)).post("/upload", content=body, headers=headers)
    assert response.json()["path"] == str(target)
    assert target.read_bytes() == b"data"


def test_save_removes_partial_file_on_broken_upload(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    class Save(App):
        async def upload(self, a, b):
            await a.save(tmp_path)
            try:
                await b.save(tmp_path)
            except MultipartFileError:
                return "broken"
            return "saved"

    big = raw_part("a", b"q" * (2 * FILE_BUFFER_BYTES), filename="a.bin")
    body = raw_body(big, raw_part("b", b"tail", filename="b.bin"), end=False)
    response = client_factory(Save()).post(
        "/upload", content=body, headers={"content-type": MULTIPART}
    )
    assert response.text == "broken"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


class SaveModes(App):
    def __init__(self, directory: Path, **options: Any) -> None:
        super().__init__(**options)
        self.directory = directory

    async def replace(self, file: UploadedFile):
        return (await file.save(self.directory)).name

    async def keep(self, file: UploadedFile):
        return (await file.save(self.directory, overwrite=False)).name

    async def broken(self, file: UploadedFile):
        try:
            await file.save(self.directory)
        except MultipartFileError as exc:
            return f"broken: {exc.detail}"
        return "saved"


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_save_replaces_an_existing_file_whole(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_bytes(b"old")
    data = payload(2 * FILE_BUFFER_BYTES + 3)
    body, headers = multipart_file("a.txt", data)
    response = client_factory(SaveModes(tmp_path)).post("/replace", content=body, headers=headers)
    assert response.text == "a.txt"
    assert listing(tmp_path) == {"a.txt": data}
    assert oct((tmp_path / "a.txt").stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize(
    ("filename", "free_names"),
    [
        ("a.txt", ["a-1.txt", "a-2.txt"]),
        ("archive.tar.gz", ["archive.tar-1.gz", "archive.tar-2.gz"]),
        ("README", ["README-1", "README-2"]),
        ("x" * 251 + ".bin", ["x" * 249 + "-1.bin", "x" * 249 + "-2.bin"]),
    ],
)
def test_save_without_overwrite_picks_a_free_name(
    client_factory: ClientFactory, tmp_path: Path, filename: str, free_names: list[str]
) -> None:
    (tmp_path / filename).write_bytes(b"old")
    client = client_factory(SaveModes(tmp_path))
    for number, expected in enumerate(free_names):
        body, headers = multipart_file(filename, b"new %d" % number)
        assert client.post("/keep", content=body, headers=headers).text == expected
    assert listing(tmp_path) == {
        filename: b"old",
        **{name: b"new %d" % number for number, name in enumerate(free_names)},
    }


def test_save_without_overwrite_takes_the_name_when_free(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    body, headers = multipart_file("fresh.txt", b"data")
    response = client_factory(SaveModes(tmp_path)).post("/keep", content=body, headers=headers)
    assert response.text == "fresh.txt"
    assert listing(tmp_path) == {"fresh.txt": b"data"}


def test_save_without_overwrite_never_runs_out_of_names(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    """A client sending one name again and again: past ``-99`` the free name is random
    (the 10,001st upload of a name answered 500, each one before trying every number)."""
    taken = {"a.txt": b"0", **{f"a-{number}.txt": b"%d" % number for number in range(1, 100)}}
    for name, data in taken.items():
        (tmp_path / name).write_bytes(data)
    client = client_factory(SaveModes(tmp_path))
    saved = set()
    for number in range(3):
        body, headers = multipart_file("a.txt", b"new %d" % number)
        response = client.post("/keep", content=body, headers=headers)
        assert re.fullmatch(r"a-[0-9a-f]{8}\.txt", response.text)
        saved.add(response.text)
        assert (tmp_path / response.text).read_bytes() == b"new %d" % number
    after = listing(tmp_path)
    assert (set(after), len(saved)) == (set(taken) | saved, 3)
    assert {name: after[name] for name in taken} == taken


@pytest.mark.parametrize("route", ["/replace", "/keep"])
@pytest.mark.parametrize("inside", [["keep.txt"], []], ids=["full", "empty"])
def test_save_never_replaces_a_directory_of_that_name(
    client_factory: ClientFactory, tmp_path: Path, route: str, inside: list[str]
) -> None:
    """A client naming its file after a subdirectory of the upload directory (it
    answered 500 with the default ``overwrite=True``): the file takes a free name."""
    subdirectory = tmp_path / "reports"
    subdirectory.mkdir()
    for name in inside:
        (subdirectory / name).write_bytes(b"kept")
    (tmp_path / "reports-1").mkdir()  # a directory is never a free name either
    body, headers = multipart_file("reports", b"data")
    response = client_factory(SaveModes(tmp_path)).post(route, content=body, headers=headers)
    assert (response.status_code, response.text) == (200, "reports-2")
    assert (tmp_path / "reports-2").read_bytes() == b"data"
    assert {p.name: p.read_bytes() for p in subdirectory.iterdir()} == dict.fromkeys(
        inside, b"kept"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports", "reports-1", "reports-2"]


def chunked_call(app: App, path: bytes, body: bytes) -> Any:
    """POST ``body`` straight to ``app`` in 64 KiB chunks, so the handler runs meanwhile."""
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    headers = [(b"content-type", MULTIPART.encode()), (b"transfer-encoding", b"chunked")]
    return call(app, path, method="POST", headers=headers, receive=body_receive(*chunks))


def test_broken_upload_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    (tmp_path / "victim.txt").write_bytes(b"precious")
    body = raw_body(raw_part("file", b"z" * (3 * FILE_BUFFER_BYTES), "victim.txt"), end=False)
    answer = chunked_call(SaveModes(tmp_path), b"/broken", body)
    assert answer.text == (  # the handler was saving when the body ended too early
        "broken: 400 Bad Request: Malformed multipart body: it ends before the closing boundary"
    )
    assert listing(tmp_path) == {"victim.txt": b"precious"}


def test_over_limit_upload_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    (tmp_path / "victim.txt").write_bytes(b"precious")
    body, _ = multipart_file("victim.txt", b"z" * (3 * FILE_BUFFER_BYTES))
    answer = chunked_call(
        SaveModes(tmp_path, max_body_size=2 * FILE_BUFFER_BYTES), b"/broken", body
    )
    assert answer.text == "broken: 413 Payload Too Large"  # the handler was saving
    assert listing(tmp_path) == {"victim.txt": b"precious"}


def test_hooks_see_text_fields_of_multipart(client_factory: ClientFactory) -> None:
    from micropie import HttpMiddleware

    class Seen(HttpMiddleware):
        async def before_request(self, request):
            request.seen = request.form("note")

        async def after_request(self, request, status_code, response_body, extra_headers):
            return None

    class Hooked(App):
        async def upload(self, file):
            await file.read()
            return self.request.seen

    app = Hooked()
    app.middlewares.append(Seen())
    response = client_factory(app).post(
        "/upload", files={"file": ("f", b"x")}, data={"note": "hello"}
    )
    assert response.text == "hello"


def test_sync_handler_sees_file_metadata(client_factory: ClientFactory) -> None:
    class Sync(App):
        def upload(self, file):
            return f"{file.filename} {file.content_type}"

    response = client_factory(Sync()).post("/upload", files={"file": ("s.csv", b"1,2", "text/csv")})
    assert response.text == "s.csv text/csv"


def test_streamed_response_reads_the_upload(client_factory: ClientFactory) -> None:
    data = payload(3 * FILE_BUFFER_BYTES)

    class Echo(App):
        async def upload(self, file):
            async def echo():
                async for chunk in file:
                    yield chunk

            return 200, echo(), [("Content-Type", "application/octet-stream")]

    response = client_factory(Echo()).post("/upload", files={"file": ("e", data)})
    assert sha256(response.content) == sha256(data)


# -- real server ----------------------------------------------------------------------------


@pytest.fixture
def uploads_server(uvicorn_server: Callable[..., UvicornServer]) -> UvicornServer:
    return uvicorn_server("tests.apps.uploads_app:app")


@pytest.mark.server
def test_handler_reads_while_the_upload_arrives(uploads_server: UvicornServer) -> None:
    size = 24 * 1024 * 1024
    digest = hashlib.sha256()
    started_mid_upload: list[bool] = []

    def body() -> Iterator[bytes]:
        yield mc.file_head("file", "big.bin")
        for index, chunk in enumerate(mc.pattern_chunks(size)):
            digest.update(chunk)
            yield chunk
            if index == 64:  # 4 MiB in: the handler must be reading already
                started = lambda: server_state(uploads_server)["started"] == 1  # noqa: E731
                started_mid_upload.append(wait_until(started))
        yield mc.field("after", "late")
        yield mc.tail()

    status, answer = mc.post(uploads_server.port, "/hash", body())
    assert status == 200
    assert started_mid_upload == [True]
    assert json.loads(answer) == {
        "sha256": digest.hexdigest(),
        "size": size,
        "after": "unbound",  # arrived after the handler started: not bound ...
        "late": "late",  # ... but in body_params once the file was read
    }


@pytest.mark.server
def test_parser_waits_for_a_slow_handler(uploads_server: UvicornServer) -> None:
    size = 32 * 1024 * 1024
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        yield mc.file_head("file", "slow.bin")
        for chunk in mc.pattern_chunks(size):
            digest.update(chunk)
            yield chunk
        yield mc.tail()

    status, answer = mc.post(uploads_server.port, "/slow", body())
    assert (status, json.loads(answer)) == (200, {"sha256": digest.hexdigest(), "size": size})
    # While the handler slept, the parser stopped at its buffer instead of taking it all.
    assert server_state(uploads_server)["parsed_while_paused"] < 4 * FILE_BUFFER_BYTES


@pytest.fixture
def save_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "saved"
    directory.mkdir()
    return directory


@pytest.fixture
def save_server(uvicorn_server: Callable[..., UvicornServer], save_dir: Path) -> UvicornServer:
    env = {"MICROPIE_TEST_UPLOAD_DIR": str(save_dir)}
    return uvicorn_server("tests.apps.uploads_app:app", env=env)


def open_upload(
    server: UvicornServer, path: str, filename: str, size: int = 100_000_000
) -> socket.socket:
    """A socket that has sent the head of a ``size``-byte upload of ``filename`` to ``path``."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    length = len(mc.file_head("file", filename)) + size + len(mc.tail())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: t\r\n"
        f"Content-Type: {mc.CONTENT_TYPE}\r\nContent-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + mc.file_head("file", filename))
    return sock


def disconnect_mid_upload(server: UvicornServer, path: str, filename: str) -> None:
    """Send 3 MiB of a larger upload, wait for the handler to start, and go away.

    Asserts the handler learnt the client left (``MultipartFileError``) and did not finish.
    """
    with open_upload(server, path, filename) as sock:
        for chunk in mc.pattern_chunks(3 * FILE_BUFFER_BYTES):
            sock.sendall(chunk)
        assert wait_until(lambda: server_state(server)["started"] == 1)
    assert wait_until(lambda: server_state(server)["errors"] != [])
    state = server_state(server)
    assert state["errors"] == ["400 Bad Request: Client disconnected during the upload"]
    assert state["finished"] == 0
    assert httpx.get(server.url + "/").text == "ok"


@pytest.mark.server
@pytest.mark.parametrize("path", ["/hash", "/queue"], ids=["async-for", "queue-get"])
def test_client_disconnect_mid_upload_raises_in_reader(
    uploads_server: UvicornServer, path: str
) -> None:
    disconnect_mid_upload(uploads_server, path, "cut.bin")


@pytest.mark.server
@pytest.mark.parametrize("path", ["/save", "/save?overwrite=false"])
def test_client_disconnect_mid_save_leaves_the_directory_as_it_was(
    save_server: UvicornServer, save_dir: Path, path: str
) -> None:
    (save_dir / "victim.txt").write_bytes(b"precious")
    disconnect_mid_upload(save_server, path, "victim.txt")
    assert listing(save_dir) == {"victim.txt": b"precious"}


@pytest.mark.server
def test_concurrent_saves_of_one_name_never_mix(save_server: UvicornServer, save_dir: Path) -> None:
    size = 4 * FILE_BUFFER_BYTES
    contents = {"a": b"A" * size, "b": b"B" * size}
    sockets = {name: open_upload(save_server, "/save", "same.bin", size) for name in contents}
    try:
        for offset in range(0, size, 256 * 1024):  # interleave the two uploads
            for name, data in contents.items():
                sockets[name].sendall(data[offset : offset + 256 * 1024])
        for name in contents:  # both bodies complete before either answer is read
            sockets[name].sendall(mc.tail())
        answers = []
        for name in contents:
            response = http.client.HTTPResponse(sockets[name])
            response.begin()
            answers.append((response.status, response.read().decode()))
    finally:
        for sock in sockets.values():
            sock.close()
    assert answers == [(200, json.dumps({"name": "same.bin", "size": size}).replace(" ", ""))] * 2
    assert listing(save_dir)["same.bin"] in contents.values()
    assert list(listing(save_dir)) == ["same.bin"]


def test_a_cancelled_upload_stops_reading_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A request cancelled mid-upload (a timeout wrapped around the app, a server's
    graceful-shutdown timeout) ends at once: it read on the rest of the upload first, for
    as long as the client took to send it (here, for ever), holding up the cancellation
    (the body's timeout does not end an upload that keeps arriving)."""

    class Save(App):
        @limits(max_body_size=2**40)  # a route for large uploads
        async def upload(self, file: UploadedFile):
            await file.save(tmp_path)
            return "saved"

    head = raw_part("file", b"", filename="big.bin").removesuffix(b"\r\n")
    chunks = [head, *[b"q" * FILE_BUFFER_BYTES] * 3]
    headers = [(b"content-type", MULTIPART.encode()), (b"transfer-encoding", b"chunked")]
    scope = http_scope(b"/upload", method="POST", headers=headers)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not chunks:  # an endless upload, sent at a steady pace
            await asyncio.sleep(0.01)
            chunks.append(b"q" * 65536)
        return {"type": "http.request", "body": chunks.pop(0), "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def cancel_once_saving() -> bool:
        task = asyncio.create_task(Save()(scope, receive, send))
        while not list(tmp_path.glob(".upload-*.part")):  # the handler is saving
            await asyncio.sleep(0.01)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=60)  # before: never done
        return task in done and task.cancelled()

    assert asyncio.run(cancel_once_saving())
    assert list(tmp_path.iterdir()) == []
    assert sent == []  # nothing answered: the server (or the timeout's owner) answers
