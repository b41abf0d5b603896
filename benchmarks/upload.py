"""Upload benchmark: large multipart bodies of several shapes through uvicorn.

``python -m benchmarks.upload [--size 1GiB] [--shape file|parts|fields|json]``
(both repeatable; the default sends 1 GiB of every shape). For each shape and size a
fresh uvicorn process serves :data:`app`; the client generates the body on the fly
(one reused block, never the whole body in memory) and sends it over a plain socket:

- ``file``: one file, hashed by the handler (SHA-256 checked by the client);
- ``parts``: files of just under the 1 MiB per-file buffer, hashed one after the other;
- ``fields``: 1 MB text fields: refused with 413 once ``max_buffer_size`` is passed;
- ``json``: a JSON array of 1 MB strings: refused with 413 past ``max_buffer_size``.

Every route raises ``max_body_size`` to unlimited, as an upload route would. Reported:
throughput, the answer, and the server's resident memory at idle and at its peak
(``VmHWM`` from ``/proc/self/status``): the peak may exceed idle by at most
:data:`RSS_LIMIT_MIB` whatever the size or shape.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from micropie import App, UploadedFile, limits
from micropie.uploads import FILE_BUFFER_BYTES

from . import markdown_table

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
#: The server's peak resident memory may exceed its idle memory by at most this much.
RSS_LIMIT_MIB = 64
BLOCK = MiB
BOUNDARY = "micropie-benchmark-boundary"
#: Size of one file in the ``parts`` shape: just under the per-file buffer.
PART_SIZE = FILE_BUFFER_BYTES - 1024
#: Size of one text field (``fields``) or JSON string (``json``).
FIELD_SIZE = 1_000_000
SHAPES = ("file", "parts", "fields", "json")
_UNITS = {"": 1, "B": 1, "KIB": 1024, "MIB": MiB, "GIB": 1024 * MiB, "KB": 1000, "MB": 10**6}
_UNLIMITED: dict[str, Any] = {"max_body_size": None, "max_form_parts": None, "body_timeout": 60.0}


def _proc_status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class UploadBenchmark(App):
    async def hello(self):
        return "ok"

    async def memory(self):
        return {"hwm_kib": _proc_status_kib("VmHWM"), "rss_kib": _proc_status_kib("VmRSS")}

    @limits(**_UNLIMITED)
    async def upload(self, file: UploadedFile):
        digest = hashlib.sha256()
        async for chunk in file:
            digest.update(chunk)
        return {"sha256": digest.hexdigest(), "size": file.size}

    @limits(**_UNLIMITED)
    async def parts(self, count: int):
        """Files ``f0`` .. ``f{count-1}``, hashed in order as they arrive."""
        files = self.request.files
        digest = hashlib.sha256()
        size = 0
        for index in range(count):
            name = f"f{index}"
            while name not in files:  # the parser reaches it as earlier parts are read
                await asyncio.sleep(0.001)
            async for chunk in files[name]:
                digest.update(chunk)
                size += len(chunk)
        return {"sha256": digest.hexdigest(), "size": size}

    @limits(**_UNLIMITED)
    async def fields(self, **fields: str):
        return {"fields": len(fields)}


#: The app uvicorn serves (``benchmarks.upload:app``).
app = UploadBenchmark()


def parse_size(text: str) -> int:
    """``"1GiB"``, ``"100MiB"``, ``"512KiB"`` or a byte count."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).upper() if match else "?"
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 100MiB)")
    return int(match.group(1)) * _UNITS[unit]


def _blocks(size: int, block_size: int = BLOCK) -> Iterator[bytes]:
    block = os.urandom(block_size)
    sent = 0
    while sent < size:
        piece = block if size - sent >= block_size else block[: size - sent]
        sent += len(piece)
        yield piece


def _get_json(port: int, path: str) -> dict[str, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        result: dict[str, int] = json.loads(connection.getresponse().read())
        return result
    finally:
        connection.close()


@dataclass
class UploadResult:
    shape: str
    size: int
    seconds: float
    baseline_kib: int
    peak_kib: int
    status: int
    answer_ok: bool

    @property
    def mib_per_s(self) -> float:
        return self.size / MiB / self.seconds

    @property
    def over_idle_mib(self) -> float:
        return (self.peak_kib - self.baseline_kib) / 1024

    @property
    def ok(self) -> bool:
        return self.answer_ok and self.over_idle_mib < RSS_LIMIT_MIB


def _part_head(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


@dataclass
class Body:
    """One request body of a shape: its path, content type, pieces and expected answer."""

    path: str
    content_type: str
    pieces: Callable[[], Iterator[bytes]]
    check: Callable[[int, dict[str, Any]], bool]


def _file_body(size: int) -> Body:
    digest = hashlib.sha256()

    def pieces() -> Iterator[bytes]:
        yield _part_head("file", "big.bin")
        for block in _blocks(size):
            digest.update(block)
            yield block
        yield _TAIL

    def check(status: int, answer: dict[str, Any]) -> bool:
        return status == 200 and answer == {"sha256": digest.hexdigest(), "size": size}

    return Body("/upload", _MULTIPART, pieces, check)


def _parts_body(size: int) -> Body:
    count = max(size // PART_SIZE, 1)
    digest = hashlib.sha256()

    def pieces() -> Iterator[bytes]:
        for index in range(count):
            yield (b"\r\n" if index else b"") + _part_head(f"f{index}", f"{index}.bin")
            for block in _blocks(PART_SIZE, PART_SIZE):
                digest.update(block)
                yield block
        yield _TAIL

    def check(status: int, answer: dict[str, Any]) -> bool:
        expected = {"sha256": digest.hexdigest(), "size": count * PART_SIZE}
        return status == 200 and answer == expected

    return Body(f"/parts?count={count}", _MULTIPART, pieces, check)


def _refused(status: int, answer: dict[str, Any]) -> bool:
    return status == 413


def _fields_body(size: int) -> Body:
    count = max(size // FIELD_SIZE, 1)
    value = b"x" * FIELD_SIZE

    def pieces() -> Iterator[bytes]:
        for index in range(count):
            yield (b"\r\n" if index else b"") + _part_head(f"t{index}") + value
        yield _TAIL

    return Body("/fields", _MULTIPART, pieces, _refused)


def _json_body(size: int) -> Body:
    count = max(size // FIELD_SIZE, 1)
    item = b'"' + b"x" * (FIELD_SIZE - 3) + b'",'

    def pieces() -> Iterator[bytes]:
        yield b"["
        for _ in range(count):
            yield item
        yield b"0]"

    return Body("/fields", "application/json", pieces, _refused)


_MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
_BODIES: dict[str, Callable[[int], Body]] = {
    "file": _file_body,
    "parts": _parts_body,
    "fields": _fields_body,
    "json": _json_body,
}


def send(port: int, body: Body) -> tuple[float, int, bool]:
    """Send ``body`` (chunked); the seconds taken, the status and whether the answer is right.

    A refusal may come before the whole body is sent: sending then stops.
    """
    request = (
        f"POST {body.path} HTTP/1.1\r\nHost: bench\r\n"
        f"Content-Type: {body.content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(request)
        with suppress(BrokenPipeError, ConnectionResetError):
            for piece in body.pieces():
                sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        raw = response.read()
    seconds = time.perf_counter() - started
    answer = json.loads(raw) if raw.startswith(b"{") else {}
    return seconds, response.status, body.check(response.status, answer)


@contextmanager
def serve(target: str = "benchmarks.upload:app", ready_path: str = "/memory") -> Iterator[int]:
    """A fresh one-process uvicorn serving ``target``; yields its port once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", target, "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        for _ in range(200):
            with suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", ready_path)
                connection.getresponse().read()
                connection.close()
                break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(shape: str, size: int) -> UploadResult:
    """Send ``size`` bytes of ``shape`` to a fresh server and measure it."""
    with serve() as port:
        baseline = _get_json(port, "/memory")["hwm_kib"]
        seconds, status, answer_ok = send(port, _BODIES[shape](size))
        peak = _get_json(port, "/memory")["hwm_kib"]
    return UploadResult(shape, size, seconds, baseline, peak, status, answer_ok)


def format_table(results: list[UploadResult]) -> str:
    rows = [
        [
            r.shape,
            f"{r.size / MiB:,.0f} MiB",
            f"{r.seconds:.2f}",
            f"{r.mib_per_s:,.0f}",
            f"{r.status}{'' if r.answer_ok else ' (wrong)'}",
            f"{r.baseline_kib / 1024:.1f} MiB",
            f"{r.peak_kib / 1024:.1f} MiB",
            f"{r.over_idle_mib:+.1f} MiB",
        ]
        for r in results
    ]
    columns = [
        "shape", ">body", ">seconds", ">MiB/s", "answer",
        ">server RSS idle", ">server peak RSS", ">peak over idle",
    ]  # fmt: skip
    return markdown_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upload", description=__doc__)
    parser.add_argument("--size", type=parse_size, action="append", help="e.g. 1GiB, 100MiB")
    parser.add_argument("--shape", choices=SHAPES, action="append", help="body shape")
    args = parser.parse_args(argv)
    sizes = args.size or [1024 * MiB]
    results = []
    for shape in args.shape or SHAPES:
        for size in sizes:
            results.append(run(shape, size))
    print(format_table(results))
    print(f"\nserver peak RSS over idle: limit {RSS_LIMIT_MIB} MiB")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
