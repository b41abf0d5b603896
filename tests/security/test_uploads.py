"""SPEC §8: hostile uploads — file names, broken and oversize multipart bodies."""

from __future__ import annotations

import logging

import pytest

from micropie import App, MultipartFileError

from .raw import body_receive, call

BOUNDARY = "xYzZY"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
TOO_LARGE = (413, "413 Payload Too Large")


def part(name: str, data: bytes, filename: bytes | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'.encode()
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    head = b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
    if filename is not None:
        head += b"Content-Type: application/octet-stream\r\n"
    return head + b"\r\n" + data + b"\r\n"


def multipart(*parts: bytes, end: bool = True) -> bytes:
    return b"".join(parts) + (b"--" + BOUNDARY.encode() + b"--\r\n" if end else b"")


def make_app(target, **options):
    class Uploads(App):
        async def hello(self):
            return "hello"

        async def upload(self, file):
            saved = await file.save(target)
            return {"filename": file.filename, "raw": file.raw_filename, "saved": str(saved)}

        async def read(self, file):
            try:
                return str(len(await file.read()))
            except MultipartFileError as exc:
                return 400, f"broken: {exc}"

    return Uploads(**options)


def assert_still_serves(client, tmp_path):
    body = multipart(part("file", b"fine", b"fine.txt"))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert response.json()["filename"] == "fine.txt"
    assert (tmp_path / "up" / "fine.txt").read_bytes() == b"fine"


@pytest.fixture
def upload_dir(tmp_path):
    (tmp_path / "up").mkdir()
    return tmp_path / "up"


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        (b"../../etc/passwd", "passwd"),
        (b"/etc/passwd", "passwd"),
        (b"..\\..\\windows\\win.ini", "win.ini"),
        (b"C:\\Windows\\System32\\evil.dll", "evil.dll"),
        (b"evil\x00.txt", "evil.txt"),
        (b"a\x00/../../b.txt", "b.txt"),
        (b"new\tline\x7f.txt", "newline.txt"),
        (b"rtl\xe2\x80\xaetxt.exe", "rtltxt.exe"),
        (b"%2e%2e%2fx", "%2e%2e%2fx"),
    ],
)
def test_upload_filename_cannot_escape_the_directory(
    client_factory, tmp_path, upload_dir, raw, safe
):
    client = client_factory(make_app(upload_dir))
    response = client.post(
        "/upload", content=multipart(part("file", b"data", raw)), headers=MULTIPART
    )
    assert response.status_code == 200
    result = response.json()
    assert result["filename"] == safe
    assert result["saved"] == str(upload_dir.resolve() / safe)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [safe]
    assert_still_serves(client, tmp_path)


@pytest.mark.parametrize("raw", [b"..", b".", b"/", b"../", b"\x00\x01", b""])
def test_upload_filename_with_nothing_usable_is_saved_as_upload(
    client_factory, tmp_path, upload_dir, raw
):
    client = client_factory(make_app(upload_dir))
    response = client.post(
        "/upload", content=multipart(part("file", b"data", raw)), headers=MULTIPART
    )
    assert response.status_code == 200
    assert response.json()["filename"] == ""
    assert (upload_dir / "upload").read_bytes() == b"data"
    assert [p for p in tmp_path.iterdir() if p.is_file()] == []


def test_upload_save_replaces_a_symlink_planted_in_the_directory_without_following_it(
    client_factory, tmp_path, upload_dir
):
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    (upload_dir / "link.txt").symlink_to(outside)
    client = client_factory(make_app(upload_dir))
    body = multipart(part("file", b"overwrite", b"link.txt"))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert response.status_code == 200
    assert outside.read_text() == "untouched"
    assert (upload_dir / "link.txt").read_bytes() == b"overwrite"
    assert not (upload_dir / "link.txt").is_symlink()
    assert_still_serves(client, tmp_path)


@pytest.mark.parametrize("end", [b"", b"--not-the-boundary"], ids=["cut-short", "bad-ending"])
def test_a_broken_upload_cannot_erase_a_file_by_name(tmp_path, upload_dir, end):
    (upload_dir / "important.db").write_bytes(b"keep")
    app = make_app(upload_dir)
    head = part("file", b"", b"important.db")[: -len(b"\r\n")]
    chunks = [head, *([b"x" * (512 * 1024)] * 6), end]
    headers = [
        (b"content-type", MULTIPART["content-type"].encode()),
        (b"transfer-encoding", b"chunked"),
    ]
    answer = call(app, b"/upload", method="POST", headers=headers, receive=body_receive(*chunks))
    assert answer.status == 400
    assert [p.name for p in upload_dir.iterdir()] == ["important.db"]
    assert (upload_dir / "important.db").read_bytes() == b"keep"
    assert call(app, b"/hello").text == "hello"


def test_missing_boundary_is_400(client_factory, tmp_path, upload_dir):
    client = client_factory(make_app(upload_dir))
    body = multipart(part("file", b"data", b"a.txt"))
    response = client.post("/upload", content=body, headers={"content-type": "multipart/form-data"})
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Missing boundary in multipart/form-data Content-Type",
    )
    assert_still_serves(client, tmp_path)


BROKEN_BODIES = [
    b"garbage without any boundary",
    multipart(part("file", b"data", b"a.txt"), end=False),
    b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n",
    b"--" + BOUNDARY.encode() + b"\r\nno colon header\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--",
    b"--" + BOUNDARY.encode() + b"X\r\n",
    b"--"
    + BOUNDARY.encode()
    + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--"
    + BOUNDARY.encode()
    + b"-x",
]


def test_broken_multipart_bodies_log_no_warnings(client_factory, tmp_path, upload_dir, caplog):
    """python-multipart warns about each malformed body; a client sending many would
    flood the server's log (printed even with no logging set up): debug level only."""
    caplog.set_level(logging.DEBUG)
    client = client_factory(make_app(upload_dir))
    for body in BROKEN_BODIES:
        assert client.post("/upload", content=body, headers=MULTIPART).status_code == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any(r.name == "micropie.multipart" for r in caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        b"garbage without any boundary",
        multipart(part("file", b"data", b"a.txt"), end=False),
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n",
        b"--"
        + BOUNDARY.encode()
        + b"\r\nno colon header\r\n\r\nx\r\n--"
        + BOUNDARY.encode()
        + b"--",
    ],
    ids=["garbage", "truncated", "nameless-part", "bad-part-header"],
)
def test_broken_multipart_is_400(client_factory, tmp_path, upload_dir, body):
    client = client_factory(make_app(upload_dir))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert response.status_code == 400
    assert response.text.startswith("400 Bad Request: ")
    assert list(upload_dir.iterdir()) == []
    assert_still_serves(client, tmp_path)


def test_truncated_upload_is_400(client_factory, tmp_path, upload_dir):
    client = client_factory(make_app(upload_dir))
    body = multipart(part("file", b"x" * (3 * 1024 * 1024), b"big.bin"), end=False)
    response = client.post("/read", content=body, headers=MULTIPART)
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Malformed multipart body: it ends before the closing boundary",
    )
    assert_still_serves(client, tmp_path)


def test_upload_broken_while_the_handler_reads_raises_in_the_reader(upload_dir):
    app = make_app(upload_dir)
    head = part("file", b"", b"big.bin")[: -len(b"\r\n")]
    chunks = [head, *([b"x" * (512 * 1024)] * 6), b"--not-the-boundary"]
    headers = [
        (b"content-type", MULTIPART["content-type"].encode()),
        (b"transfer-encoding", b"chunked"),
    ]
    answer = call(app, b"/read", method="POST", headers=headers, receive=body_receive(*chunks))
    assert answer.status == 400
    assert answer.text.startswith("broken: ")
    assert call(app, b"/hello").text == "hello"


def test_oversize_multipart_is_413(client_factory, tmp_path, upload_dir):
    client = client_factory(make_app(upload_dir, max_body_size=10_000))
    body = multipart(part("file", b"x" * 20_000, b"big.bin"))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert (response.status_code, response.text) == TOO_LARGE
    assert list(upload_dir.iterdir()) == []
    assert_still_serves(client, tmp_path)


def test_too_many_parts_is_413(client_factory, tmp_path, upload_dir):
    client = client_factory(make_app(upload_dir, max_form_parts=5))
    body = multipart(*(part(f"f{i}", b"v") for i in range(6)), part("file", b"d", b"a.txt"))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert (response.status_code, response.text) == TOO_LARGE
    assert_still_serves(client, tmp_path)


def test_oversize_text_field_is_413(client_factory, tmp_path, upload_dir):
    client = client_factory(make_app(upload_dir, max_form_field_size=100))
    body = multipart(part("note", b"x" * 101), part("file", b"d", b"a.txt"))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert (response.status_code, response.text) == TOO_LARGE
    assert_still_serves(client, tmp_path)


def test_many_header_bytes_in_a_part_are_harmless(client_factory, tmp_path, upload_dir):
    client = client_factory(make_app(upload_dir, max_body_size=200_000))
    noisy = part("file", b"d", b"a.txt").replace(
        b"\r\n\r\n", b"\r\nX-Pad: " + b"p" * 100_000 + b"\r\n\r\n", 1
    )
    response = client.post("/upload", content=multipart(noisy), headers=MULTIPART)
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Malformed multipart body",
    )
    assert_still_serves(client, tmp_path)
