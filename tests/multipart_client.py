"""A raw HTTP/1.1 client for upload tests: streamed multipart bodies, chunked or not,
sent at the test's pace over a plain socket, and the response read back."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterable, Iterator

BOUNDARY = "uploadtestboundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def file_head(name: str, filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def field(name: str, value: str) -> bytes:
    return (
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
    )


def tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def pattern_chunks(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``size`` bytes of a repeating non-trivial pattern, generated on the fly."""
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < size:
        piece = block[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece


def paced(chunks: Iterable[bytes], pause: float) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        time.sleep(pause)


def post(
    port: int,
    path: str,
    body: Iterable[bytes],
    *,
    content_length: int | None = None,
    timeout: float = 20.0,
) -> tuple[int, bytes]:
    """POST ``body`` (chunked unless ``content_length``); the status and body of the answer.

    Sending stops quietly when the server closes the connection early (after answering).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        length = (
            "Transfer-Encoding: chunked"
            if content_length is None
            else f"Content-Length: {content_length}"
        )
        head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {CONTENT_TYPE}\r\n{length}\r\n"
        sock.sendall(head.encode() + b"\r\n")
        try:
            for piece in body:
                if content_length is None:
                    piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                sock.sendall(piece)
            if content_length is None:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()
