"""examples/uploads: the form, saving inside the upload directory, size and hash shown."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from examples.uploads.app import Uploads
from tests.conftest import ClientFactory


def test_uploads_shows_form(client_factory: ClientFactory, tmp_path: Path) -> None:
    response = client_factory(Uploads(tmp_path)).get("/")
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.text
    assert "none yet" in response.text


def test_uploads_saves_and_reports_hash(client_factory: ClientFactory, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    client = client_factory(Uploads(tmp_path))
    files = {"file": ("../../photo <1>.jpg", data, "image/jpeg")}
    response = client.post("/upload", files=files, data={"note": "<hi>"})
    assert response.status_code == 200
    assert hashlib.sha256(data).hexdigest() in response.text
    assert f"{len(data)} bytes" in response.text
    assert "photo &lt;1&gt;.jpg" in response.text
    assert "&lt;hi&gt;" in response.text
    assert (tmp_path / "photo <1>.jpg").read_bytes() == data
    assert "photo &lt;1&gt;.jpg (3145745 bytes)" in client.get("/").text


def test_uploads_accepts_more_than_the_default_limit(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    data = b"z" * (17 * 1024 * 1024)
    response = client_factory(Uploads(tmp_path)).post("/upload", files={"file": ("big", data)})
    assert response.status_code == 200
    assert (tmp_path / "big").stat().st_size == len(data)


def test_uploads_requires_post_and_file(client_factory: ClientFactory, tmp_path: Path) -> None:
    client = client_factory(Uploads(tmp_path))
    assert client.get("/upload").status_code == 405
    response = client.post("/upload", files={"note": (None, "no file")})
    assert response.status_code == 400


def test_uploads_note_after_the_file_is_kept(client_factory: ClientFactory, tmp_path: Path) -> None:
    boundary = "b0und"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.bin"\r\n\r\n'
    ).encode() + b"n" * (3 * 1024 * 1024)
    body += f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nlate'.encode()
    body += f"\r\n--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = client_factory(Uploads(tmp_path)).post("/upload", content=body, headers=headers)
    assert "Note: late" in response.text


def test_uploads_form_sends_the_note_first(client_factory: ClientFactory, tmp_path: Path) -> None:
    page = client_factory(Uploads(tmp_path)).get("/").text
    assert page.index('name="note"') < page.index('name="file"')


def test_uploads_file_never_comes_from_the_query_or_a_text_field(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    client = client_factory(Uploads(tmp_path))
    missing = (400, "400 Bad Request: Missing required parameter 'file'")
    for response in (
        client.post("/upload?file=x"),
        client.post("/upload", data={"file": "x"}),
    ):
        assert (response.status_code, response.text) == missing
    response = client.post("/upload?file=x", files={"file": ("real.txt", b"real")})
    assert response.status_code == 200
    assert (tmp_path / "real.txt").read_bytes() == b"real"
    assert [p.name for p in tmp_path.iterdir()] == ["real.txt"]


def test_uploads_never_replace_a_file_or_hide_one(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    client = client_factory(Uploads(tmp_path))
    for number, name in enumerate(["photo.jpg", "photo.jpg", ".htaccess", "../.env"]):
        response = client.post("/upload", files={"file": (name, b"data %d" % number)})
        assert response.status_code == 200
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == {
        "photo.jpg": b"data 0",
        "photo-1.jpg": b"data 1",
        "htaccess": b"data 2",
        "env": b"data 3",
    }
    listing = client.get("/").text
    assert all(name in listing for name in ["photo.jpg", "photo-1.jpg", "htaccess", "env"])
