"""Upload benchmark: a large multipart upload streamed through uvicorn to a hashing handler.

``python -m benchmarks.upload --size 1GiB`` (``--size`` may be repeated; the default
runs 100 MiB and 1 GiB). For each size a fresh uvicorn process serves :data:`app`; the
client generates the file on the fly (one reused block, never the whole file in memory),
sends it as ``multipart/form-data`` over a plain socket and checks the SHA-256 the
handler computed. Reported: throughput and the server's peak resident memory
(``VmHWM`` from ``/proc/self/status``), which must stay under :data:`RSS_LIMIT_MIB`
whatever the size.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from micropie import App, UploadedFile, limits

from . import markdown_table

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
#: The server's peak resident memory must stay below this, whatever the upload size.
RSS_LIMIT_MIB = 100
BLOCK = MiB
BOUNDARY = "micropie-benchmark-boundary"
_UNITS = {"": 1, "B": 1, "KIB": 1024, "MIB": MiB, "GIB": 1024 * MiB, "KB": 1000, "MB": 10**6}


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

    @limits(max_body_size=None, body_timeout=60.0)
    async def upload(self, file: UploadedFile):
        digest = hashlib.sha256()
        async for chunk in file:
            digest.update(chunk)
        return {"sha256": digest.hexdigest(), "size": file.size}


#: The app uvicorn serves (``benchmarks.upload:app``).
app = UploadBenchmark()


def parse_size(text: str) -> int:
    """``"1GiB"``, ``"100MiB"``, ``"512KiB"`` or a byte count."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).upper() if match else "?"
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 100MiB)")
    return int(match.group(1)) * _UNITS[unit]


def _blocks(size: int) -> Iterator[bytes]:
    block = os.urandom(BLOCK)
    sent = 0
    while sent < size:
        piece = block if size - sent >= BLOCK else block[: size - sent]
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
    size: int
    seconds: float
    baseline_kib: int
    peak_kib: int
    hash_ok: bool

    @property
    def mib_per_s(self) -> float:
        return self.size / MiB / self.seconds

    @property
    def ok(self) -> bool:
        return self.hash_ok and self.peak_kib < RSS_LIMIT_MIB * 1024


def upload(port: int, size: int) -> tuple[float, bool]:
    """Send a ``size``-byte file; the seconds taken and whether the server's hash matched."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    digest = hashlib.sha256()
    request = (
        "POST /upload HTTP/1.1\r\nHost: bench\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(request + head)
        for block in _blocks(size):
            digest.update(block)
            sock.sendall(block)
        sock.sendall(tail)
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = json.loads(response.read())
    seconds = time.perf_counter() - started
    return seconds, answer == {"sha256": digest.hexdigest(), "size": size}


@contextmanager
def serve() -> Iterator[int]:
    """A fresh one-process uvicorn serving :data:`app`; yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.upload:app", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        for _ in range(200):
            with suppress(OSError):
                _get_json(port, "/memory")
                break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(size: int) -> UploadResult:
    """Upload ``size`` bytes to a fresh server and measure it."""
    with serve() as port:
        baseline = _get_json(port, "/memory")["hwm_kib"]
        seconds, hash_ok = upload(port, size)
        peak = _get_json(port, "/memory")["hwm_kib"]
    return UploadResult(size, seconds, baseline, peak, hash_ok)


def format_table(results: list[UploadResult]) -> str:
    rows = [
        [
            f"{r.size / MiB:,.0f} MiB",
            f"{r.seconds:.2f}",
            f"{r.mib_per_s:,.0f}",
            f"{r.baseline_kib / 1024:.1f} MiB",
            f"{r.peak_kib / 1024:.1f} MiB",
            "yes" if r.hash_ok else "NO",
        ]
        for r in results
    ]
    columns = [">upload", ">seconds", ">MiB/s", ">server RSS idle", ">server peak RSS", "sha256 ok"]
    return markdown_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upload", description=__doc__)
    parser.add_argument("--size", type=parse_size, action="append", help="e.g. 1GiB, 100MiB")
    args = parser.parse_args(argv)
    sizes = args.size or [100 * MiB, 1024 * MiB]
    results = [run(size) for size in sizes]
    print(format_table(results))
    print(f"\nserver peak RSS limit: {RSS_LIMIT_MIB} MiB")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
